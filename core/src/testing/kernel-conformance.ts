/**
 * The one conformance suite every `BigIntKernels` backend must pass (core/src/compute/Kernels.ts): the TS
 * kernel, the Node OpenSSL kernel and the WebAssembly kernel in `@jointly/wasm` all call it from their tests:
 *
 *   import { kernelConformance } from "@jointly/core/testing/kernel-conformance.ts"
 *   kernelConformance(() => loadWasmKernels())
 *
 * Answers are checked against known values and against a deliberately naive reference exponentiation, on the
 * operand sizes Paillier uses (N², p², up to 6144 bits) and on the edge cases a Montgomery backend gets wrong.
 */
import { describe, expect, it } from "vitest"
import type { BigIntKernels } from "../compute/Kernels.ts"

const reference = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  if (modulus === 1n) return 0n
  let b = ((base % modulus) + modulus) % modulus
  let e = exponent
  let r = 1n
  while (e > 0n) {
    if (e & 1n) r = (r * b) % modulus
    b = (b * b) % modulus
    e >>= 1n
  }
  return r
}

// Deterministic inputs (xorshift over bigint) so a failure reproduces; the kernels are not asked for randomness.
const generator = (seed: bigint) => {
  let s = seed
  return (bits: number): bigint => {
    let x = 0n
    for (let got = 0; got < bits; got += 64) {
      s ^= (s << 13n) & 0xffffffffffffffffn
      s ^= s >> 7n
      s ^= (s << 17n) & 0xffffffffffffffffn
      x = (x << 64n) | s
    }
    return x & ((1n << BigInt(bits)) - 1n)
  }
}

const oddModulus = (random: (bits: number) => bigint, bits: number): bigint => random(bits) | (1n << BigInt(bits - 1)) | 1n

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b))

export const kernelConformance = (load: () => BigIntKernels | Promise<BigIntKernels>): void => {
  describe("BigIntKernels conformance", () => {
    let kernels: BigIntKernels
    const k = async () => (kernels ??= await load())

    it("has a name", async () => {
      expect((await k()).name.length).toBeGreaterThan(0)
    })

    it("modPow known answers", async () => {
      const { modPow } = await k()
      expect(modPow(4n, 13n, 497n)).toBe(445n)
      expect(modPow(2n, 10n, 1_000_000_007n)).toBe(1024n)
      expect(modPow(3n, 1_000_000_006n, 1_000_000_007n)).toBe(1n) // Fermat
      expect(modPow(5n, 0n, 7n)).toBe(1n)
      expect(modPow(0n, 5n, 7n)).toBe(0n)
      expect(modPow(1n, 123456789n, 7n)).toBe(1n)
      expect(modPow(6n, 3n, 7n)).toBe(6n) // base = modulus − 1
      expect(modPow(10n, 3n, 7n)).toBe(6n) // base ≥ modulus
      expect(modPow(-1n, 3n, 7n)).toBe(6n) // negative base reduces first
      // 2^(2^64) mod a Mersenne prime: exercises long exponents on a small modulus.
      expect(modPow(3n, 1n << 64n, (1n << 61n) - 1n)).toBe(reference(3n, 1n << 64n, (1n << 61n) - 1n))
    })

    for (const bits of [64, 521, 1024, 2048, 4096, 6144]) {
      it(`modPow matches the reference at ${bits}-bit odd moduli`, async () => {
        const { modPow } = await k()
        const random = generator(BigInt(bits) * 7919n + 1n)
        const trials = bits >= 4096 ? 2 : 4
        for (let i = 0; i < trials; i++) {
          const m = oddModulus(random, bits)
          const base = random(bits + 8) // sometimes ≥ m
          const exponent = random(Math.min(bits, 2048))
          expect(modPow(base, exponent, m)).toBe(reference(base, exponent, m))
          // Edge bases around the modulus, where Montgomery and DH-style backends special-case.
          for (const edge of [0n, 1n, 2n, m - 1n, m, m + 1n]) {
            expect(modPow(edge, exponent, m)).toBe(reference(edge, exponent, m))
          }
          expect(modPow(base, 0n, m)).toBe(1n)
          expect(modPow(base, 1n, m)).toBe(base % m)
        }
      })
    }

    it("modPow on squares of primes (the p², q², N² of Paillier decryption)", async () => {
      const { modPow } = await k()
      // 2^521 − 1 and 2^607 − 1 are Mersenne primes.
      const p = (1n << 521n) - 1n
      const q = (1n << 607n) - 1n
      const random = generator(99n)
      for (const m of [p * p, q * q, p * p * q * q]) {
        const base = random(1300)
        const exponent = random(1200)
        expect(modPow(base, exponent, m)).toBe(reference(base, exponent, m))
      }
      // Fermat/Euler: x^(p(p−1)) ≡ 1 mod p² for x coprime to p.
      expect(modPow(12345n, p * (p - 1n), p * p)).toBe(1n)
    })

    it("modPow with exponent longer than the modulus", async () => {
      const { modPow } = await k()
      const random = generator(5n)
      const m = oddModulus(random, 600)
      const e = random(3000)
      const b = random(599)
      expect(modPow(b, e, m)).toBe(reference(b, e, m))
    })

    it("modPowBatch equals element-wise modPow, shared or per-element exponents", async () => {
      const { modPow, modPowBatch } = await k()
      const random = generator(17n)
      const m = oddModulus(random, 1024)
      const bases = Array.from({ length: 6 }, () => random(1024))
      const exponents = bases.map(() => random(512))
      const shared = random(700)
      expect(modPowBatch(bases, exponents, m)).toEqual(bases.map((b, i) => modPow(b, exponents[i]!, m)))
      expect(modPowBatch(bases, shared, m)).toEqual(bases.map((b) => reference(b, shared, m)))
      expect(modPowBatch([], shared, m)).toEqual([])
      expect(() => modPowBatch(bases, exponents.slice(1), m)).toThrow(RangeError)
    })

    it("repeated bases and repeated exponents (backends that cache per-operand contexts)", async () => {
      const { modPow } = await k()
      const random = generator(31n)
      const m = oddModulus(random, 1536)
      const base = random(1530)
      const exponent = random(768)
      for (let i = 0; i < 4; i++) {
        const e = random(768)
        expect(modPow(base, e, m)).toBe(reference(base, e, m))
        const b = random(1530)
        expect(modPow(b, exponent, m)).toBe(reference(b, exponent, m))
      }
    })

    it("modInverse inverts and refuses non-invertible input", async () => {
      const { modInverse } = await k()
      expect(modInverse(3n, 11n)).toBe(4n)
      expect(modInverse(-3n, 11n)).toBe(7n)
      const random = generator(23n)
      for (const bits of [64, 2048, 4096]) {
        const m = oddModulus(random, bits)
        let a = random(bits + 3)
        while (gcd(a % m, m) !== 1n) a += 1n
        const inv = modInverse(a, m)
        expect(inv >= 0n && inv < m).toBe(true)
        expect((((a % m) * inv) % m + m) % m).toBe(1n)
      }
      expect(() => modInverse(6n, 9n)).toThrow(RangeError)
      expect(() => modInverse(0n, 9n)).toThrow(RangeError)
    })
  })
}
