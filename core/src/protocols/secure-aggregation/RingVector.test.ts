import { describe, expect, it } from "vitest"
import * as Prg from "../../crypto/Prg.ts"
import * as RingVector from "./RingVector.ts"

const random = (bits: number, count: number) =>
  Prg.expand(crypto.getRandomValues(new Uint8Array(32)), "test", count, bits)

describe("RingVector", () => {
  for (const bits of [13, 32, 64, 100, 128]) {
    it(`adds and subtracts mod 2^${bits} like bigint arithmetic, with carries across limbs`, () => {
      const modulus = 1n << BigInt(bits)
      const a = [...random(bits, 200), modulus - 1n, 0n, modulus - 1n]
      const b = [...random(bits, 200), 1n, 1n, modulus - 1n]
      const sum = RingVector.fromBigInts(a, bits)
      RingVector.addLimbs(sum.limbs, RingVector.fromBigInts(b, bits).limbs, bits)
      expect(RingVector.toBigInts(sum)).toEqual(a.map((x, i) => (x + b[i]!) % modulus))
      const difference = RingVector.fromBigInts(a, bits)
      RingVector.subLimbs(difference.limbs, RingVector.fromBigInts(b, bits).limbs, bits)
      expect(RingVector.toBigInts(difference)).toEqual(a.map((x, i) => (((x - b[i]!) % modulus) + modulus) % modulus))
    })
  }

  it("adds the PRG's mask exactly as Prg.expand describes it, and removes it again", () => {
    const seed = crypto.getRandomValues(new Uint8Array(32))
    const x = random(64, 50)
    const vector = RingVector.fromBigInts(x, 64)
    RingVector.addMask(vector, seed, "m", 1)
    const mask = Prg.expand(seed, "m", 50, 64)
    expect(RingVector.toBigInts(vector)).toEqual(x.map((v, i) => (v + mask[i]!) % (1n << 64n)))
    RingVector.addMask(vector, seed, "m", -1)
    expect(RingVector.toBigInts(vector)).toEqual(x)
  })

  it("round-trips wire bytes and rejects wrong lengths and non-canonical elements", () => {
    const vector = RingVector.fromBigInts([1n, 2n ** 40n, 2n ** 100n - 1n], 100)
    const bytes = RingVector.toBytes(vector)
    expect(bytes).toHaveLength(3 * 4 * 4)
    expect(RingVector.toBigInts(RingVector.fromBytes(bytes, 3, 100))).toEqual([1n, 2n ** 40n, 2n ** 100n - 1n])
    expect(() => RingVector.fromBytes(bytes.slice(1), 3, 100)).toThrow(RangeError)
    const wide = bytes.slice()
    wide[15] = 0xff // element 0's top limb, above bit 100
    expect(() => RingVector.fromBytes(wide, 3, 100)).toThrow(/exceeds/)
    expect(() => RingVector.fromBigInts([-1n], 64)).toThrow(RangeError)
    expect(() => RingVector.fromBigInts([1n << 64n], 64)).toThrow(RangeError)
  })
})
