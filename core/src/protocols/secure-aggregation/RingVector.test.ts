import { Cause, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import * as OpenSslPrg from "@jointly/backends/internal/node/OpenSslPrg"
import * as Prg from "../../crypto/Prg.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"
import * as RingVector from "./RingVector.ts"

const random = (bits: number, count: number) =>
  Prg.expand(crypto.getRandomValues(new Uint8Array(32)), "test", count, bits)

/** Test helper: a WebCrypto that refuses every key, as a browser without AES-CTR (or a locked-down context) does. */
const refusingSubtle = {
  importKey: () => Promise.reject(new DOMException("The operation is not supported.", "NotSupportedError"))
} as unknown as SubtleCrypto

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

  it("a keystream that rejects (WebCrypto refusing the key) fails addMasksEffect with PrgFailed naming the PRG, not a defect", async () => {
    const refusing = PrgKernel.webCrypto(refusingSubtle)
    const vector = RingVector.fromBigInts(random(64, 8), 64)
    const exit = await Effect.runPromiseExit(RingVector.addMasksEffect(vector, [{ seed: new Uint8Array(32), label: "m", sign: 1 }], refusing, "aes128-ctr"))
    expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(false)
    const error = await Effect.runPromise(Effect.flip(Effect.suspend(() => exit)))
    expect(error).toBeInstanceOf(RingVector.PrgFailed)
    expect(error).toMatchObject({ _tag: "PrgFailed", prg: "aes128-ctr" })
    expect(error.reason).toContain("not supported")
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

  it("checkedCopy copies a vector under the wire's checks; addBytes sums wire bytes, aligned or not, and refuses bad ones", () => {
    for (const bits of [32, 64, 100]) {
      const values = [...random(bits, 37), (1n << BigInt(bits)) - 1n]
      const vector = RingVector.fromBigInts(values, bits)
      const copy = RingVector.checkedCopy(vector, values.length, bits)
      expect(RingVector.toBigInts(copy)).toEqual(values)
      copy.limbs[0] = copy.limbs[0]! ^ 1
      expect(RingVector.toBigInts(vector)).toEqual(values) // a copy, not a view
      expect(RingVector.ownBytes(vector)).toEqual(RingVector.toBytes(vector))

      const other = random(bits, values.length)
      const bytes = RingVector.toBytes(RingVector.fromBigInts(other, bits))
      const expected = values.map((x, i) => (x + other[i]!) % (1n << BigInt(bits)))
      // A decoded message's own buffer (aligned: no copy) and a view at an odd offset (copied first).
      const unaligned = new Uint8Array(bytes.length + 1).subarray(1)
      unaligned.set(bytes)
      for (const wire of [bytes, unaligned]) {
        const acc = RingVector.fromBigInts(values, bits)
        RingVector.addBytes(acc, wire)
        expect(RingVector.toBigInts(acc)).toEqual(expected)
        expect(() => RingVector.addBytes(acc, wire.subarray(4))).toThrow(RangeError)
      }
    }
    expect(() => RingVector.checkedCopy(RingVector.zeros(3, 64), 4, 64)).toThrow(/expected 4 elements/)
    expect(() => RingVector.checkedCopy(RingVector.zeros(3, 64), 3, 32)).toThrow(/mod 2\^32/)
    const wide = RingVector.fromBigInts([1n, 2n, 3n], 100)
    wide.limbs[3 * 4 - 1] = 0xffffffff // element 2's top limb, above bit 100
    expect(() => RingVector.checkedCopy(wide, 3, 100)).toThrow(/element 2 exceeds/)
    const acc = RingVector.fromBigInts([5n, 6n, 7n], 100)
    expect(() => RingVector.addBytes(acc, RingVector.ownBytes(wide))).toThrow(/element 2 exceeds/)
    expect(RingVector.toBigInts(acc)).toEqual([5n, 6n, 7n]) // refused bytes leave the sum unchanged
  })

  for (const bits of [8, 32, 33, 53, 64, 96]) {
    it(`converts signed safe integers mod 2^${bits} without bigints, as BigInt.asUintN/asIntN would`, () => {
      const half = 2 ** (bits - 1)
      const edge = Math.min(half, Number.MAX_SAFE_INTEGER)
      const values = [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32 + 5, -(2 ** 32) - 5, edge - 1, -edge + 1, ...Array.from({ length: 200 }, () => Math.round((Math.random() * 2 - 1) * (edge - 1)) + 0)] // + 0: no −0
        .filter((v) => v < half && v >= -half)
      if (bits > 53) values.push(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER)
      const vector = RingVector.fromSignedIntegers(values, bits)
      expect(RingVector.toBigInts(vector)).toEqual(values.map((v) => BigInt.asUintN(bits, BigInt(v))))
      if (bits <= 64) {
        expect(Array.from(RingVector.toSignedNumbers(vector))).toEqual(values)
        expect(Array.from(RingVector.toSignedNumbers(vector, 2, 5))).toEqual(values.slice(2, 5))
      }
      expect(() => RingVector.fromSignedIntegers([0.5], bits)).toThrow(RangeError)
      if (bits <= 53) expect(() => RingVector.fromSignedIntegers([half], bits)).toThrow(RangeError)
    })
  }

  it("reads sums that wrapped below zero as negative numbers (what a fixed-point decode needs)", () => {
    const a = RingVector.fromSignedIntegers([-3, 5, -(2 ** 40)], 64)
    RingVector.addLimbs(a.limbs, RingVector.fromSignedIntegers([1, -7, 2 ** 39], 64).limbs, 64)
    expect(Array.from(RingVector.toSignedNumbers(a))).toEqual([-2, -2, -(2 ** 39)])
    const b = RingVector.fromSignedIntegers([2 ** 30, -(2 ** 30)], 32)
    RingVector.addLimbs(b.limbs, RingVector.fromSignedIntegers([-(2 ** 30) - 1, 2 ** 29], 32).limbs, 32)
    expect(Array.from(RingVector.toSignedNumbers(b))).toEqual([-1, -(2 ** 29)])
  })

  for (const bits of [13, 32, 64, 96, 128]) {
    it(`addMasks equals one addMask per mask mod 2^${bits}, on both PRG kernels and across chunk edges`, async () => {
      const openssl = OpenSslPrg.make()!
      expect(openssl.name).toBe("node-openssl")
      // addMasks works in chunks of 16384 elements.
      for (const length of [0, 1, 16384, 16385 + 7]) {
        const masks = [1, -1, 1, -1, -1].map((sign, k) => ({
          seed: crypto.getRandomValues(new Uint8Array(32)),
          label: `mask-${k}`,
          sign: sign as 1 | -1
        }))
        const start = RingVector.fromBigInts(random(bits, length), bits)
        const oneByOne = { ...start, limbs: start.limbs.slice() }
        for (const m of masks) RingVector.addMask(oneByOne, m.seed, m.label, m.sign, undefined, PrgKernel.noble)
        const fused = { ...start, limbs: start.limbs.slice() }
        RingVector.addMasks(fused, masks, openssl)
        expect(fused.limbs).toEqual(oneByOne.limbs)
        // Both kernels stream the same keystream as the one-shot expansion, including a short last piece.
        for (const kernel of [PrgKernel.noble, openssl]) {
          const words = Prg.limbsPerElement(bits) * length
          const next = Prg.streamLimbs(masks[0]!.seed, masks[0]!.label, bits, kernel)
          const pieces = new Uint32Array(words)
          for (let done = 0; done < words;) {
            const count = Math.min(Prg.limbsPerElement(bits) * 1024, words - done)
            pieces.set(next(count), done)
            done += count
          }
          expect(pieces).toEqual(Prg.expandLimbs(masks[0]!.seed, masks[0]!.label, length, bits))
        }
      }
    })
  }
})
