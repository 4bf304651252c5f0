/** The typed-array element set against a plain string set, including duplicates and unaligned views. */
import { describe, expect, it } from "vitest"
import * as ElementSet from "./ElementSet.ts"

const random = (count: number) => {
  const out = new Uint8Array(count * 32)
  for (let at = 0; at < out.length; at += 65_536) crypto.getRandomValues(out.subarray(at, at + 65_536))
  return out
}
const key = (points: Uint8Array, i: number) => Array.from(points.subarray(i * 32, (i + 1) * 32)).join(",")

describe("ElementSet", () => {
  it("answers membership exactly as a string set does, for aligned and unaligned chunks", () => {
    const base = random(5000)
    const probe = random(3000)
    probe.set(base.subarray(100 * 32, 1100 * 32), 500 * 32) // elements 500..1499 of probe are in base
    const withDuplicates = new Uint8Array(base.length + 64)
    withDuplicates.set(base)
    withDuplicates.set(base.subarray(0, 64), base.length)
    const set = ElementSet.of(withDuplicates)
    expect(set.size).toBe(5000)
    const unaligned = new Uint8Array(probe.length + 1).fill(9)
    unaligned.set(probe, 1)
    const reference = new Set(Array.from({ length: 5000 }, (_, i) => key(base, i)))
    for (const view of [probe, unaligned.subarray(1)]) {
      const has = set.within(view)
      for (let i = 0; i < 3000; i++) expect(has(i)).toBe(reference.has(key(probe, i)))
    }
  })

  it("orders elements byte-wise", () => {
    const points = new Uint8Array(96)
    points[0] = 2
    points[32 + 31] = 1
    points[64] = 2
    points[64 + 1] = 1
    const order = [0, 1, 2].sort((a, b) => ElementSet.compare(points, a, b))
    expect(order).toEqual([1, 0, 2])
  })
})
