import { describe, expect, it } from "vitest"
import * as Prg from "./Prg.ts"

const seed = (byte: number) => new Uint8Array(32).fill(byte)

describe("Prg", () => {
  it("is deterministic in seed and label, and separates both", () => {
    const a = Prg.expand(seed(1), "mask", 64, 64)
    expect(Prg.expand(seed(1), "mask", 64, 64)).toEqual(a)
    expect(Prg.expand(seed(2), "mask", 64, 64)).not.toEqual(a)
    expect(Prg.expand(seed(1), "other", 64, 64)).not.toEqual(a)
  })

  it("is a prefix-stable stream: a longer expansion starts with the shorter one", () => {
    expect(Prg.expand(seed(3), "x", 100, 128).slice(0, 10)).toEqual(Prg.expand(seed(3), "x", 10, 128))
  })

  it("keeps every element below 2^bits, also for bit widths that are not multiples of 32", () => {
    for (const bits of [1, 7, 31, 32, 33, 64, 100, 128]) {
      const values = Prg.expand(seed(bits), "range", 500, bits)
      expect(values.every((v) => v >= 0n && v < 1n << BigInt(bits))).toBe(true)
      // The top bit is used (not stuck at zero): with 500 draws its absence has probability 2^-500.
      expect(values.some((v) => v >= 1n << BigInt(bits - 1))).toBe(true)
    }
  })

  it("looks uniform: 16 buckets of 64-bit values, chi-square well inside its range", () => {
    const count = 16_000
    const values = Prg.expand(seed(9), "chi", count, 64)
    const buckets = new Array<number>(16).fill(0)
    for (const v of values) buckets[Number(v >> 60n)]! += 1
    const expected = count / 16
    const chi = buckets.reduce((acc, b) => acc + (b - expected) ** 2 / expected, 0)
    // 15 degrees of freedom: P(chi² > 37.7) ≈ 0.001.
    expect(chi).toBeLessThan(37.7)
    // Bits are balanced in every limb position, low limb included.
    const lowOnes = values.reduce((acc, v) => acc + Number(v & 1n), 0)
    expect(Math.abs(lowOnes - count / 2)).toBeLessThan(4 * Math.sqrt(count / 4))
  })

  it("fills a caller-provided buffer with the same limbs and rejects a wrong-sized one", () => {
    const out = new Uint32Array(2 * 50)
    expect(Prg.expandLimbs(seed(5), "buf", 50, 64, out)).toBe(out)
    expect(out).toEqual(Prg.expandLimbs(seed(5), "buf", 50, 64))
    expect(() => Prg.expandLimbs(seed(5), "buf", 50, 64, new Uint32Array(99))).toThrow(RangeError)
    expect(() => Prg.expandLimbs(new Uint8Array(31), "buf", 50, 64)).toThrow(RangeError)
  })

  it("derives each PRG's key under its own HKDF label: same seed and label, unrelated keys and streams", () => {
    const chacha = Prg.streamKey(seed(7), "mask", "chacha20")
    const aes = Prg.streamKey(seed(7), "mask", "aes128-ctr")
    expect([chacha.length, aes.length]).toEqual([32, 16])
    // Not a prefix of the ChaCha20 key: the info label differs, so HKDF's first output block differs.
    expect(Array.from(aes)).not.toEqual(Array.from(chacha.subarray(0, 16)))
    expect(Prg.expand(seed(7), "mask", 64, 64, "aes128-ctr")).not.toEqual(Prg.expand(seed(7), "mask", 64, 64, "chacha20"))
    // ChaCha20 stays the PRG of callers that name none (masked sums, the SecAgg+ graph).
    expect(Prg.expand(seed(7), "mask", 64, 64)).toEqual(Prg.expand(seed(7), "mask", 64, 64, "chacha20"))
  })

  it("knows exactly its PRG names", () => {
    expect(Prg.NAMES.map(Prg.parseName)).toEqual(["chacha20", "aes128-ctr"])
    for (const unknown of ["aes-128-ctr", "AES128-CTR", "rc4", ""]) expect(Prg.parseName(unknown)).toBeUndefined()
    expect(Prg.DEFAULT_NAME).toBe("aes128-ctr")
  })
})
