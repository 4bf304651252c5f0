import { describe, expect, it } from "vitest"
import { randomBytes } from "node:crypto"
import * as MaskedSum from "./MaskedSum.ts"

/** Random signed scores within the bound, some at its edges. */
const scores = (count: number): Array<bigint> =>
  Array.from({ length: count }, (_, i) => {
    const limit = (1n << BigInt(MaskedSum.SCORE_BITS)) - 1n
    if (i === 0) return limit
    if (i === 1) return -limit
    return BigInt.asIntN(60, BigInt(`0x${randomBytes(8).toString("hex")}`))
  })

/** Parties 1..n−1 mask against each other (party 0 is the requester), as the prediction handlers pair them. */
const maskAll = (values: ReadonlyArray<ReadonlyArray<bigint>>, label: string) => {
  const n = values.length
  const seeds = new Map<string, Uint8Array>()
  const seed = (a: number, b: number) => {
    const key = `${Math.min(a, b)}-${Math.max(a, b)}`
    if (!seeds.has(key)) seeds.set(key, new Uint8Array(randomBytes(32)))
    return seeds.get(key)!
  }
  return values.slice(1).map((v, k) => {
    const self = k + 1
    const pairs = Array.from({ length: n - 1 }, (_, j) => j + 1).filter((q) => q !== self).map((q) => ({ seed: seed(self, q), sign: (self < q ? 1 : -1) as 1 | -1 }))
    return MaskedSum.mask(v, pairs, label)
  })
}

describe("MaskedSum", () => {
  it.each([2, 3, 5])("the requester's total of %i parties' masked scores equals the plaintext sum", (n) => {
    const values = Array.from({ length: n }, () => scores(40))
    const masked = maskAll(values, "predict/t1").map((bytes) => MaskedSum.decode(bytes, 40))
    const expected = values[0]!.map((_, i) => values.reduce((sum, v) => sum + v[i]!, 0n))
    expect(MaskedSum.total(values[0]!, masked)).toEqual(expected)
  })

  it("hides each party's scores from the requester when there are two or more others", () => {
    const values = Array.from({ length: 3 }, () => scores(64))
    const [b, c] = maskAll(values, "predict/t2").map((bytes) => MaskedSum.decode(bytes, 64))
    // Neither masked vector is its party's scores, and a different label gives a different mask.
    expect(b!.some((m, i) => m !== BigInt.asUintN(128, values[1]![i]!))).toBe(true)
    expect(c!.some((m, i) => m !== BigInt.asUintN(128, values[2]![i]!))).toBe(true)
    expect(new Set(b!.map((m) => m >> 120n)).size).toBeGreaterThan(16)
  })

  it("refuses a masked vector of the wrong length", () => {
    expect(() => MaskedSum.decode(new Uint8Array(16 * 3 + 1), 3)).toThrow(MaskedSum.MaskedLengthError)
    expect(() => MaskedSum.decode(new Uint8Array(16 * 2), 3)).toThrow(/does not hold 3 elements/)
  })

  it("bounds each score so that a thousand parties' sum still decodes", () => {
    expect(MaskedSum.inRange((1n << BigInt(MaskedSum.SCORE_BITS)) - 1n)).toBe(true)
    expect(MaskedSum.inRange(1n << BigInt(MaskedSum.SCORE_BITS))).toBe(false)
    expect(MaskedSum.inRange(-(1n << BigInt(MaskedSum.SCORE_BITS)))).toBe(false)
  })
})
