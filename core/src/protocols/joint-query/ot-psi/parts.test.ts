/**
 * The OT-based PSI's building blocks against plain references: the bit transpose against bit-by-bit reading, the
 * 64-bit reduction against BigInt, cuckoo tables (every element placed once, at one of its locations or in the
 * stash; overflow reported), base OTs (the chosen seed equals the sender's seed of that choice, never the other),
 * and the id encoding (short ids verbatim, long ids keyed, duplicates dropped first-wins).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Aes from "./Aes.ts"
import * as BaseOt from "./BaseOt.ts"
import { transpose } from "./Bits.ts"
import * as Cuckoo from "./Cuckoo.ts"
import * as Encoding from "./Encoding.ts"
import * as Spec from "./spec.ts"
import { seededRandom } from "./TestSupport.ts"

const bit = (m: Uint32Array, stride: number, r: number, c: number) => (m[r * stride + (c >>> 5)]! >>> (c & 31)) & 1

describe("ot-psi building blocks", () => {
  it("transposes bit matrices exactly", () => {
    for (const [rows, cols] of [[32, 32], [512, 128], [256, 512], [96, 1024]] as const) {
      const src = new Uint32Array((rows * cols) / 32)
      crypto.getRandomValues(src)
      const dst = new Uint32Array(src.length)
      transpose(src, rows, cols, dst)
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (bit(src, cols / 32, r, c) !== bit(dst, rows / 32, c, r)) throw new Error(`bit ${r},${c}`)
    }
    expect(() => transpose(new Uint32Array(8), 16, 16, new Uint32Array(8))).toThrow(RangeError)
  })

  it("maps hash words onto bins as x·m/2^53 would, always in range", () => {
    const words = new Uint32Array(3000)
    crypto.getRandomValues(words)
    for (let i = 0; i < words.length; i += 3) {
      const m = (words[i + 2]! % 0x7fff_fffe) + 1
      const x = (BigInt(words[i]!) << 21n) + (BigInt(words[i + 1]!) >> 11n)
      const exact = Number((x * BigInt(m)) >> 53n)
      const got = Encoding.reduce(words[i]!, words[i + 1]!, m)
      expect(got).toBeLessThan(m)
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(1)
    }
    expect(Encoding.reduce(0xffff_ffff, 0xffff_ffff, 7)).toBe(6)
    expect(Encoding.reduce(0, 0, 7)).toBe(0)
  })

  it("places every element once in a cuckoo table, at one of its locations or in the stash", () => {
    const n = 20_000
    const bins = Spec.binCount(n, 1)
    const locations = new Uint32Array(3 * n)
    for (let i = 0; i < locations.length; i++) locations[i] = Math.floor(Math.random() * bins)
    const table = Cuckoo.insert(locations, n, bins, 0)!
    const seen = new Uint8Array(n)
    for (let b = 0; b < bins; b++) {
      const item = table.binItem[b]!
      if (item < 0) continue
      expect(locations[3 * item + table.binTag[b]!]).toBe(b)
      seen[item]!++
    }
    expect(seen.every((s) => s === 1)).toBe(true)
    // Overfull: 40 elements in 38 bins need the stash, and fail without enough of it.
    const tight = new Uint32Array(120).map(() => Math.floor(Math.random() * 38))
    const stashed = Cuckoo.insert(tight, 40, 38, 16)!
    expect(stashed.stash.length).toBeGreaterThanOrEqual(2)
    expect([...stashed.binItem].filter((i) => i >= 0).length + stashed.stash.length).toBe(40)
    expect(Cuckoo.insert(tight, 40, 38, 1)).toBeUndefined()
  })

  it("picks bin counts from the fitted expansion", () => {
    expect(Spec.expansion(1 << 20, 40)).toBeCloseTo(316 / 240, 10)
    expect(Spec.binCount(1_000_000, 1)).toBe(Math.ceil(1_000_000 * (40 + Math.log2(1_000_000) + 256) / 240))
    expect(Spec.binCount(1, 1)).toBeGreaterThanOrEqual(6)
    expect(Spec.valueBytes(1_000_000 * 1_000_000)).toBe(10)
  })

  it("transfers exactly the chosen base-OT seeds", async () => {
    await BaseOt.ready()
    const random = seededRandom("base-ot")
    const context = new TextEncoder().encode("ctx")
    const sender = BaseOt.senderStart(random)
    const choices = random(8)
    const { points, seeds } = BaseOt.receiverChoose(sender.A, choices, 64, random, context)
    const { k0, k1 } = BaseOt.senderSeeds(sender, points, context)
    for (let i = 0; i < 64; i++) {
      const chosen = seeds.subarray(16 * i, 16 * i + 16)
      const [same, other] = (choices[i >>> 3]! >>> (i & 7)) & 1 ? [k1, k0] : [k0, k1]
      expect(chosen).toEqual(same.subarray(16 * i, 16 * i + 16))
      expect(chosen).not.toEqual(other.subarray(16 * i, 16 * i + 16))
    }
    expect(() => BaseOt.senderSeeds(sender, new Uint8Array(32), context)).toThrow(BaseOt.InvalidPointError)
    // A different context gives unrelated seeds.
    expect(BaseOt.senderSeeds(sender, points, new TextEncoder().encode("other")).k0).not.toEqual(k0)
  })

  it("encodes short ids verbatim, long ids under the session key, and drops duplicates first-wins", async () => {
    const ids = ["", "a", "fifteen-bytes-x", "sixteen-bytes-xx", "sixteen-bytes-xy", "a", "日本語", "sixteen-bytes-xx", "ü-twelve-chars", "ü-twelve-chars", "ééééééééé", "ééééééééé", "short"]
    const prepared = Encoding.prepare(ids)
    expect(Array.from(prepared.inputIndex)).toEqual([0, 1, 2, 3, 4, 6, 8, 10, 12])
    expect(prepared.duplicates).toBe(4)
    const complete = (fill: number) => Effect.gen(function*() {
      const aes = yield* Aes.Aes
      return (yield* Encoding.complete(yield* aes.importKey(new Uint8Array(16).fill(fill)), Encoding.prepare(ids))).slice()
    })
    const [one, two] = await Effect.runPromise(Effect.all([complete(1), complete(2)]).pipe(Effect.provide(Aes.portableLayer)))
    const block = (b: Uint8Array, i: number) => Array.from(b.subarray(16 * i, 16 * i + 16))
    const utf8 = (text: string) => Array.from(new TextEncoder().encode(text))
    const padded = (text: string) => [utf8(text).length, ...utf8(text), ...new Array(15 - utf8(text).length).fill(0)]
    expect(block(one!, 0)).toEqual(new Array(16).fill(0))
    expect(block(one!, 2)).toEqual(padded("fifteen-bytes-x"))
    expect(block(one!, 5)).toEqual(padded("日本語"))
    // "ü-twelve-chars" is 14 characters but 15 UTF-8 bytes: still short. Nine "é" are 18 bytes: long, even though
    // their first byte was written as if short; the "short" after their duplicate is padded with zeros.
    expect(block(one!, 6)).toEqual(padded("ü-twelve-chars"))
    expect(block(one!, 7)[0]).toBe(0x10)
    expect(block(one!, 8)).toEqual(padded("short"))
    expect(block(one!, 3)[0]).toBe(0x10)
    expect(block(one!, 3)).not.toEqual(block(one!, 4))
    // Short encodings do not depend on the key; long ones do.
    expect(block(one!, 2)).toEqual(block(two!, 2))
    expect(block(one!, 3)).not.toEqual(block(two!, 3))
  })
})
