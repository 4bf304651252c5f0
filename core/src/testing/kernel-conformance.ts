/**
 * The conformance suites every backend of every kernel family must pass, one per family (tfjs' pattern: kernels
 * named once in core, one suite held against every backend, STYLE.md):
 *
 *   kernelConformance        big integers (compute/Kernels.ts): TS, WASM (`@jointly/wasm`), OpenSSL
 *   primesConformance        prime generation (compute/Primes.ts)
 *   prgConformance           the ChaCha20 keystream of mask expansion (crypto/PrgKernel.ts)
 *   x25519Conformance        X25519 and the key agreement over it (crypto/KeyAgreement.ts)
 *   ed25519Conformance       Ed25519 signatures (crypto/Ed25519.ts)
 *   aesConformance           AES-128 of the OT-based PSI (protocols/joint-query/ot-psi/Aes.ts)
 *   groupConformance         the joint-query groups x25519 and ristretto255 (protocols/joint-query/Compute.ts)
 *   ckksConformance          CKKS (protocols/encrypted-linear/Ckks.ts)
 *   modelRuntimeConformance  the model runtime (protocols/federated-learning/ModelRuntime.ts)
 *
 * and `backendConformance`, which builds a whole composition (`@jointly/backends`' Node and portable layers)
 * and runs every suite against the services it provides, and `compositionAgreement`, which holds two
 * compositions to each other family by family (Paillier over each side's big integers and primes included). Where the maths is deterministic a suite holds the
 * backend to core's portable reference byte for byte (@noble's PRG, X25519 and Ed25519, libsodium's WASM groups,
 * a naive exponentiation), so two backends that pass agree with each other.
 *
 *   import { kernelConformance } from "@jointly/core/internal/testing/kernel-conformance"
 *   kernelConformance(() => loadWasmKernels(bytes))
 *
 * Big-integer answers are checked against known values and against a deliberately naive reference
 * exponentiation, on the operand sizes Paillier uses (N², p², up to 6144 bits) and on the edge cases a
 * Montgomery backend gets wrong.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Context, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import * as Kernels from "../compute/Kernels.ts"
import type { BigIntKernels } from "../compute/Kernels.ts"
import * as TsKernels from "../compute/TsKernels.ts"
import * as Primes from "../compute/Primes.ts"
import * as Ed25519 from "../crypto/Ed25519.ts"
import * as KeyAgreement from "../crypto/KeyAgreement.ts"
import * as PaillierJobs from "../crypto/paillier/Jobs.ts"
import * as PaillierKeys from "../crypto/paillier/Keys.ts"
import * as Paillier from "../crypto/paillier/Paillier.ts"
import * as PaillierRandomness from "../crypto/paillier/Randomness.ts"
import * as Prg from "../crypto/Prg.ts"
import * as PrgKernel from "../crypto/PrgKernel.ts"
import * as RingVector from "../protocols/secure-aggregation/RingVector.ts"
import { Ckks, type CkksApi, CkksError, defaultParameters } from "../protocols/encrypted-linear/Ckks.ts"
import { ModelRuntime, type ModelRuntimeApi, ModelRuntimeError } from "../protocols/federated-learning/ModelRuntime.ts"
import * as Compute from "../protocols/joint-query/Compute.ts"
import * as Aes from "../protocols/joint-query/ot-psi/Aes.ts"
import * as ElementSet from "../protocols/joint-query/ElementSet.ts"
import * as Group from "../protocols/joint-query/Group.ts"

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

    // multiExp is optional: a backend without it is served by a product of its own modPows (TsKernels.multiExpOf)
    // or by the TS Straus (TsKernels.multiExp), so both are held to the same answers there.
    const product = (bases: ReadonlyArray<bigint>, exponents: ReadonlyArray<bigint>, m: bigint) =>
      bases.reduce((acc, b, i) => (acc * reference(b, exponents[i]!, m)) % m, 1n)
    const multiExps = async () => {
      const kernels = await k()
      return kernels.multiExp !== undefined ? [kernels.multiExp] : [TsKernels.multiExpOf(kernels), TsKernels.multiExp]
    }

    it("multiExp known answers and edge cases", async () => {
      for (const multiExp of await multiExps()) {
        expect(multiExp([], [], 497n)).toBe(1n)
        expect(multiExp([4n], [13n], 497n)).toBe(445n)
        expect(multiExp([4n, 5n], [0n, 0n], 497n)).toBe(1n)
        expect(multiExp([4n, 5n], [1n, 1n], 497n)).toBe(20n)
        expect(multiExp([0n, 5n], [3n, 2n], 497n)).toBe(0n)
        expect(multiExp([0n, 5n], [0n, 2n], 497n)).toBe(25n)
        expect(multiExp([496n, 500n, -1n], [3n, 2n, 5n], 497n)).toBe(product([496n, 500n, -1n], [3n, 2n, 5n], 497n)) // m − 1, ≥ m, negative
        expect(() => multiExp([4n, 5n], [1n], 497n)).toThrow(RangeError)
        expect(() => multiExp([4n], [-1n], 497n)).toThrow(RangeError)
      }
    })

    for (const bits of [64, 2048, 4096]) {
      it(`multiExp matches the product of reference modPows at ${bits}-bit odd moduli (dense, sparse, mixed widths)`, async () => {
        for (const multiExp of await multiExps()) {
          const random = generator(BigInt(bits) * 104729n + 3n)
          const m = oddModulus(random, bits)
          for (const [count, exponentBits] of [[1, 40], [3, 1], [12, 41], [60, 24], [5, 300]] as const) {
            const bases = Array.from({ length: count }, () => random(bits + 4))
            const exponents = bases.map(() => random(exponentBits))
            expect(multiExp(bases, exponents, m)).toBe(product(bases, exponents, m))
        }
        // Packed blinding's shape: ρ_i·2^(s·i), each exponent zero outside its own 41-bit span.
        const bases = Array.from({ length: 12 }, () => random(bits - 1))
        const shifted = bases.map((_, i) => (random(41) | (1n << 40n)) << BigInt(90 * i))
        expect(multiExp(bases, shifted, m)).toBe(product(bases, shifted, m))
        // One wide exponent among short ones and zeros; the widest first and last.
        const mixed = [random(1100), 0n, 3n, random(17), 0n, random(1100)]
        const mixedBases = mixed.map(() => random(bits - 1))
        expect(multiExp(mixedBases, mixed, m)).toBe(product(mixedBases, mixed, m))
        }
      })
    }

    it("multiExpTable, where the kernel has one: multiExp's answers over the same bases, row after row", async () => {
      const kernels = await k()
      if (kernels.multiExpTable === undefined) return
      const random = generator(59n)
      for (const [bits, exponentBits] of [[64, 6], [2048, 21], [4096, 21], [4096, 300]] as const) {
        const m = oddModulus(random, bits)
        const bases = [...Array.from({ length: 9 }, () => random(bits + 4)), 0n, m - 1n, -3n]
        const pow = kernels.multiExpTable(bases, m, exponentBits)
        for (let row = 0; row < 4; row++) {
          // Sparse rows (zeros where a sign picks the other base), one all zero, one wider than the table's size.
          const exponents = bases.map((_, i) => (row === 2 ? 0n : (i + row) % 3 === 0 ? 0n : random(row === 3 ? exponentBits * 3 : exponentBits)))
          expect(pow(exponents)).toBe(product(bases, exponents, m))
        }
        expect(() => pow(bases.slice(1).map(() => 1n))).toThrow(RangeError)
        expect(() => pow(bases.map(() => -1n))).toThrow(RangeError)
      }
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

    it("fixedBase, where the kernel has one: modPow's answers across the range, refusals outside it, fresh draws", async () => {
      const kernels = await k()
      if (kernels.fixedBase === undefined) return
      const random = generator(41n)
      // The last: a 4096-bit modulus and a ~4500-bit exponent (a threshold proof's), where a backend may narrow its windows.
      for (const [bits, exponentBits] of [[4096, 1024], [2048, 256], [521, 13], [4096, 4483]] as const) {
        const m = oddModulus(random, bits)
        const base = random(bits + 5) // reduced by the kernel
        const table = kernels.fixedBase(base, m, exponentBits)
        expect(table.exponentBits).toBeGreaterThanOrEqual(exponentBits)
        const top = (1n << BigInt(table.exponentBits)) - 1n
        for (const e of [0n, 1n, 255n, 256n, top, random(table.exponentBits), random(table.exponentBits), random(Math.min(40, table.exponentBits))]) {
          expect(table.pow(e)).toBe(reference(base, e, m))
        }
        expect(() => table.pow(top + 1n)).toThrow(RangeError)
        expect(() => table.pow(-1n)).toThrow(RangeError)
      }
      // Draws are powers of the base: with a base of known order q mod a prime p, every draw has order dividing q.
      const p = (1n << 521n) - 1n // prime; 3 has order (p − 1)/2 or p − 1, so g = 3² has order dividing (p − 1)/2
      const g = 9n
      const table = kernels.fixedBase(g, p, 256)
      const draws = Array.from({ length: 4 }, () => table.powRandom())
      for (const x of draws) expect(reference(x, (p - 1n) / 2n, p)).toBe(1n)
      expect(new Set(draws).size).toBe(draws.length)
    })

    it("modPowPair, where the kernel has one: the two modPows' answers, at the CRT halves' sizes and unequal ones", async () => {
      const kernels = await k()
      if (kernels.modPowPair === undefined) return
      const random = generator(43n)
      for (const [bitsA, bitsB] of [[2048, 2048], [1024, 1024], [1536, 2048], [64, 61]] as const) {
        const ma = oddModulus(random, bitsA)
        const mb = oddModulus(random, bitsB)
        const a = [random(bitsA + 3), random(bitsA >> 1), ma] as const
        const b = [-random(bitsB - 1), random(bitsB >> 1), mb] as const
        expect(kernels.modPowPair(a, b)).toEqual([reference(...a), reference(...b)])
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
      // Even moduli, and one equal to the value's multiple plus one (a kernel may route them differently).
      expect(modInverse(3n, 10n)).toBe(7n)
      expect(modInverse(12n, 11n)).toBe(1n)
      expect(() => modInverse(6n, 9n)).toThrow(RangeError)
      expect(() => modInverse(0n, 9n)).toThrow(RangeError)
      expect(() => modInverse(4n, 10n)).toThrow(RangeError)
    })
  })
}

type Load<A> = () => A | Promise<A>

/** The loaded value, once per suite. */
const once = <A>(load: Load<A>): (() => Promise<A>) => {
  let value: Promise<A> | undefined
  return () => (value ??= Promise.resolve(load()))
}

/** Prime generation: exact size, top two bits set (so p·q has 2·bits bits), primality, safe primes on request. */
export const primesConformance = (load: Load<Primes.Primes>): void => {
  describe("Primes conformance", () => {
    const primes = once(load)

    it("makes primes of exactly the requested size with the top two bits set", async () => {
      const { generate } = await primes()
      for (const bits of [256, 512]) {
        const p = await generate(bits, { safe: false })
        expect(p.toString(2).length).toBe(bits)
        expect(p >> BigInt(bits - 2)).toBe(3n)
        expect(Primes.isProbablePrime(p)).toBe(true)
      }
    })

    it("makes safe primes p = 2p' + 1 on request", async () => {
      const { generate } = await primes()
      const s = await generate(160, { safe: true })
      expect(s.toString(2).length).toBe(160)
      expect(Primes.isProbablePrime(s) && Primes.isProbablePrime((s - 1n) / 2n)).toBe(true)
    })
  })
}

/** RFC 8439 A.1 test vector #1: zero key, zero nonce, counter 0. */
const CHACHA20_ZERO = "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"

/**
 * NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt): key, initial counter block, the four plaintext and ciphertext blocks.
 * The keystream is plaintext ⊕ ciphertext; the fourth counter block (…fdfeff + 3 = …feff02) carries across a byte.
 */
const SP800_38A_F51 = {
  key: "2b7e151628aed2a6abf7158809cf4f3c",
  counter: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
  plaintext: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
  ciphertext: "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
}

/**
 * Digests (SHA-256 of the limbs' little-endian bytes) of `Prg.expandLimbs` for seed 00 01 … 1f and the pair-mask
 * label. ChaCha20: the pre-kernel Prg.ts (noble inlined). AES-128-CTR: computed apart from this code base with
 * node:crypto alone (hkdfSync for the key, `aes-128-ctr` over zeros from a zero counter block, top limb masked).
 */
const PINNED_EXPANSIONS: ReadonlyArray<readonly [Prg.Name, number, number, string]> = [
  ["chacha20", 1000, 64, "64b86dfe4ade8eff2002c5e24548d6f12eb27e69b8f5f5848ba07bcade55d3b8"],
  ["chacha20", 777, 33, "60e07b0b6b86b21daa5fc17a565dae88549397b924cad55ac66d15f6a3b41e00"],
  ["chacha20", 5000, 32, "9cacb025f32b34b38babb5359d813ac50fc5fc8ff7a6007044fd6fcd1a8dd3b5"],
  ["aes128-ctr", 1000, 64, "214f38092c76242abf79b5959329dfb0c33b05b0584f3a89462544fef2a15915"],
  ["aes128-ctr", 777, 33, "0c740a5d585c45c39d56d827b67e32752e04bec6996a58a57bc7ab13fbab572a"],
  ["aes128-ctr", 5000, 32, "838a678a755a71e8aef738888e1897c0af86f58b65166e358f813fc8a45b939d"]
]

/** Both PRG ciphers' keystreams: RFC 8439 and SP 800-38A, @noble/ciphers byte for byte, the same bytes streamed in pieces. */
export const prgConformance = (load: Load<PrgKernel.PrgKernel>): void => {
  describe("PrgKernel conformance", () => {
    const kernel = once(load)
    const keystream = (k: PrgKernel.PrgKernel, cipher: PrgKernel.Cipher, key: Uint8Array, iv: Uint8Array, length: number) => {
      const out = new Uint8Array(length).fill(0xaa) // stale bytes must not leak into the keystream
      k.keystream(cipher, key, iv, out)
      return out
    }
    const seeded = (seed: number, length: number) => Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 7 + 1) & 0xff)
    const ciphers = Prg.NAMES

    it("has a name and matches RFC 8439 A.1 test vector #1", async () => {
      const k = await kernel()
      expect(k.name.length).toBeGreaterThan(0)
      expect(bytesToHex(keystream(k, "chacha20", new Uint8Array(32), new Uint8Array(12), 64))).toBe(CHACHA20_ZERO)
    })

    it("matches NIST SP 800-38A F.5.1 (AES-128-CTR), whole and streamed block by block", async () => {
      const k = await kernel()
      const { key, counter, plaintext, ciphertext } = SP800_38A_F51
      const expected = bytesToHex(hexToBytes(plaintext).map((byte, i) => byte ^ hexToBytes(ciphertext)[i]!))
      expect(bytesToHex(keystream(k, "aes128-ctr", hexToBytes(key), hexToBytes(counter), 64))).toBe(expected)
      const next = k.stream("aes128-ctr", hexToBytes(key), hexToBytes(counter))
      const blocks = [16, 16, 16, 16].map((size) => bytesToHex(next(size))).join("")
      expect(blocks).toBe(expected)
    })

    it("increments AES-CTR's counter over all 128 bits: after ff…ff comes 00…00", async () => {
      const k = await kernel()
      const key = seeded(3, 16)
      const wrapped = keystream(k, "aes128-ctr", key, new Uint8Array(16).fill(0xff), 48)
      const fromZero = keystream(k, "aes128-ctr", key, new Uint8Array(16), 32)
      expect(bytesToHex(wrapped.subarray(16))).toBe(bytesToHex(fromZero))
    })

    it("gives @noble/ciphers' keystream byte for byte, at block edges and at mask sizes, for both ciphers", async () => {
      const k = await kernel()
      for (const cipher of ciphers) {
        for (const [i, length] of [0, 1, 15, 16, 17, 63, 64, 65, 127, 4096 + 3, 800_000].entries()) {
          const key = seeded(i, PrgKernel.KEY_BYTES[cipher])
          const iv = seeded(i + 100, PrgKernel.IV_BYTES[cipher])
          const a = keystream(k, cipher, key, iv, length)
          const b = keystream(PrgKernel.noble, cipher, key, iv, length)
          // First differing byte (−1: none); element-wise toEqual on 800 kB takes seconds.
          expect([cipher, length, a.length === b.length ? a.findIndex((byte, j) => byte !== b[j]) : 0]).toEqual([cipher, length, -1])
        }
      }
    })

    it("streams the same keystream in pieces, a short last piece included, for both ciphers", async () => {
      const k = await kernel()
      for (const cipher of ciphers) {
        const key = seeded(9, PrgKernel.KEY_BYTES[cipher])
        const iv = seeded(10, PrgKernel.IV_BYTES[cipher])
        const whole = keystream(k, cipher, key, iv, 64 * 70 + 17)
        const next = k.stream(cipher, key, iv)
        const pieces: Array<number> = []
        for (const size of [64, 640, 192, 3584, 17]) pieces.push(...next(size)) // 4480 + 17 bytes, whole blocks first
        expect(Uint8Array.from(pieces.slice(0, whole.length))).toEqual(whole)
      }
    })

    it("keeps Prg.expandLimbs bit-identical to its pinned expansions, for both PRGs", async () => {
      const k = await kernel()
      const seed = Uint8Array.from({ length: 32 }, (_, i) => i)
      for (const [prg, length, bits, digest] of PINNED_EXPANSIONS) {
        const limbs = Prg.expandLimbs(seed, "jointly/secagg/v1/pair-mask", length, bits, undefined, k, prg)
        expect([prg, length, bits, bytesToHex(sha256(new Uint8Array(limbs.buffer)))]).toEqual([prg, length, bits, digest])
      }
    })

    it("adds masks through its fused path (where it has one) exactly as the keystream path does, for both PRGs", async () => {
      const k = await kernel()
      if (k.addKeystreams === undefined) return
      for (const prg of ciphers) {
        // Lengths around the native chunk (16 KiB) and not a multiple of it; both rings; signs mixed.
        for (const [bits, length] of [[32, 1], [32, 4096 + 7], [64, 2048 + 3], [64, 40_000], [32, 100_003]] as const) {
          const masks = Array.from({ length: 5 }, (_, i) => ({ seed: seeded(bits + i, 32), label: `label-${i}`, sign: (i % 2 === 0 ? 1 : -1) as 1 | -1 }))
          const start = Uint32Array.from({ length: length * (bits / 32) }, (_, i) => (i * 2654435761) >>> 0)
          const fused = { bits, length, limbs: start.slice() }
          RingVector.addMasks(fused, masks, k, prg)
          const streamed = { bits, length, limbs: start.slice() }
          RingVector.addMasks(streamed, masks, PrgKernel.noble, prg)
          expect([prg, bits, length, fused.limbs.findIndex((x, j) => x !== streamed.limbs[j])]).toEqual([prg, bits, length, -1])
        }
      }
    })

    it("adds masks through its asynchronous keystream (where it has one) exactly as the synchronous path does", async () => {
      const k = await kernel()
      if (k.keystreamAsync === undefined) return
      for (const cipher of k.keystreamAsync.ciphers) {
        const key = seeded(5, PrgKernel.KEY_BYTES[cipher])
        const iv = seeded(6, PrgKernel.IV_BYTES[cipher])
        expect(bytesToHex(await k.keystreamAsync.run(cipher, key, iv, 4096 + 16))).toBe(bytesToHex(keystream(PrgKernel.noble, cipher, key, iv, 4096 + 16)))
        for (const [bits, length] of [[32, 4096 + 7], [33, 1000], [64, 2048 + 3]] as const) {
          const masks = Array.from({ length: 3 }, (_, i) => ({ seed: seeded(bits + i, 32), label: `label-${i}`, sign: (i % 2 === 0 ? 1 : -1) as 1 | -1 }))
          const start = RingVector.fromBigInts(Prg.expand(seeded(1, 32), "start", length, bits), bits)
          const viaPromise = { ...start, limbs: start.limbs.slice() }
          await Effect.runPromise(RingVector.addMasksEffect(viaPromise, masks, k, cipher))
          const streamed = { ...start, limbs: start.limbs.slice() }
          RingVector.addMasks(streamed, masks, PrgKernel.noble, cipher)
          expect([cipher, bits, viaPromise.limbs.findIndex((x, j) => x !== streamed.limbs[j])]).toEqual([cipher, bits, -1])
        }
      }
    })

    it("refuses a key or IV of the wrong size rather than shifting the counter", async () => {
      const k = await kernel()
      expect(() => k.keystream("chacha20", new Uint8Array(32), new Uint8Array(8), new Uint8Array(64))).toThrow(RangeError)
      expect(() => k.keystream("aes128-ctr", new Uint8Array(16), new Uint8Array(12), new Uint8Array(64))).toThrow(RangeError)
      expect(() => k.keystream("aes128-ctr", new Uint8Array(32), new Uint8Array(16), new Uint8Array(64))).toThrow(RangeError)
      expect(() => k.stream("chacha20", new Uint8Array(16), new Uint8Array(12))).toThrow(RangeError)
    })
  })
}

/** X25519 (RFC 7748) byte for byte with @noble/curves, and the key agreement over it. */
export const x25519Conformance = (load: Load<KeyAgreement.KeyAgreementApi>): void => {
  describe("X25519 conformance", () => {
    const api = once(load)

    it("matches RFC 7748 §6.1 and @noble/curves on random keys", async () => {
      const { x25519 } = await api()
      expect(x25519.name.length).toBeGreaterThan(0)
      const aliceSecret = hexToBytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
      const bobPublic = hexToBytes("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
      expect(bytesToHex(x25519.publicKey(aliceSecret))).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
      expect(bytesToHex(x25519.sharedSecret(aliceSecret, bobPublic))).toBe("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
      for (let i = 0; i < 20; i++) {
        const a = crypto.getRandomValues(new Uint8Array(32))
        const b = KeyAgreement.noble.publicKey(crypto.getRandomValues(new Uint8Array(32)))
        expect(x25519.publicKey(a)).toEqual(KeyAgreement.noble.publicKey(a))
        expect(x25519.sharedSecret(a, b)).toEqual(KeyAgreement.noble.sharedSecret(a, b))
      }
    })

    it("generates ordinary RFC 7748 key pairs", async () => {
      const k = await api()
      for (let i = 0; i < 5; i++) {
        const pair = k.generateKeyPair()
        expect(KeyAgreement.noble.publicKey(pair.secretKey)).toEqual(pair.publicKey)
        expect(k.publicKeyOf(pair.secretKey)).toEqual(pair.publicKey)
      }
    })

    it("derives the same 32-byte key on both sides, separated by context and by peer; the same key as noble's", async () => {
      const k = await api()
      const reference = KeyAgreement.make(KeyAgreement.noble)
      const [alice, bob, carol] = [k.generateKeyPair(), k.generateKeyPair(), k.generateKeyPair()]
      const ab = k.agree(alice.secretKey, bob.publicKey, "ctx")
      expect(ab).toHaveLength(32)
      expect(k.agree(bob.secretKey, alice.publicKey, "ctx")).toEqual(ab)
      expect(reference.agree(bob.secretKey, alice.publicKey, "ctx")).toEqual(ab)
      expect(k.agree(alice.secretKey, bob.publicKey, "other")).not.toEqual(ab)
      expect(k.agree(alice.secretKey, carol.publicKey, "ctx")).not.toEqual(ab)
    })

    it("rejects malformed and low-order public keys with typed errors", async () => {
      const k = await api()
      const alice = k.generateKeyPair()
      expect(() => k.agree(alice.secretKey, new Uint8Array(31), "ctx")).toThrow(KeyAgreement.KeyAgreementError)
      expect(() => k.publicKeyOf(new Uint8Array(31))).toThrow(KeyAgreement.KeyAgreementError)
      // u = 0 is a low-order point: the shared secret would be all zeros whatever the secret key.
      try {
        k.agree(alice.secretKey, new Uint8Array(32), "ctx")
        expect.unreachable()
      } catch (error) {
        expect(error).toBeInstanceOf(KeyAgreement.KeyAgreementError)
        expect((error as KeyAgreement.KeyAgreementError).reason).toBe("LowOrderPoint")
      }
    })
  })
}

/** Ed25519 (RFC 8032) byte for byte with @noble/curves; only the signer's signature over the same message verifies. */
export const ed25519Conformance = (load: Load<Ed25519.Ed25519Api>): void => {
  describe("Ed25519 conformance", () => {
    const api = once(load)

    it("matches RFC 8032 §7.1 test 2 and @noble/curves on random keys", async () => {
      const { backend, generate } = await api()
      expect(backend.name.length).toBeGreaterThan(0)
      const secret = hexToBytes("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
      const message = hexToBytes("72")
      expect(bytesToHex(backend.publicKey(secret))).toBe("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
      expect(bytesToHex(backend.sign(secret, message))).toBe(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
      )
      for (let i = 0; i < 10; i++) {
        const key = generate()
        const m = crypto.getRandomValues(new Uint8Array(40))
        expect(backend.sign(key.secretKey, m)).toEqual(Ed25519.noble.sign(key.secretKey, m))
        expect(Ed25519.noble.publicKey(key.secretKey)).toEqual(key.publicKey)
      }
    })

    it("accepts only the signer's signature over the same message", async () => {
      const ed = await api()
      const key = ed.generate()
      const other = ed.generate()
      const message = new TextEncoder().encode("advertisement")
      const signature = ed.sign(key, message)
      expect(ed.verify(key.publicKey, message, signature)).toBe(true)
      expect(Ed25519.noble.verify(key.publicKey, message, signature)).toBe(true)
      expect(ed.verify(other.publicKey, message, signature)).toBe(false)
      expect(ed.verify(key.publicKey, new TextEncoder().encode("advertisemenT"), signature)).toBe(false)
      const flipped = signature.slice()
      flipped[10]! ^= 1
      expect(ed.verify(key.publicKey, message, flipped)).toBe(false)
      expect(ed.verify(key.publicKey, message, signature.subarray(0, 63))).toBe(false)
      expect(ed.verify(new Uint8Array(31), message, signature)).toBe(false)
    })
  })
}

/** AES-128 in the OT-based PSI's two batch shapes: FIPS-197, and WebCrypto's bytes at block edges and large batches. */
export const aesConformance = (load: Load<Aes.AesService>): void => {
  describe("AES conformance", () => {
    const aes = once(load)
    const firstDifference = (a: Uint8Array, b: Uint8Array) => (a.length !== b.length ? -2 : a.findIndex((byte, i) => byte !== b[i]))

    it("has a name and inverts the FIPS-197 C.1 AES-128 vector", async () => {
      const service = await aes()
      expect(service.name.length).toBeGreaterThan(0)
      const key = await Effect.runPromise(service.importKey(hexToBytes("000102030405060708090a0b0c0d0e0f")))
      const plain = await Effect.runPromise(service.decryptBlocks(key, hexToBytes("69c4e0d86a7b0430d8cdb78070b4c55a")))
      expect(bytesToHex(plain)).toBe("00112233445566778899aabbccddeeff")
    })

    it("gives WebCrypto's bytes for the CTR keystream and the block permutation, at block edges and large batches", async () => {
      const services = [await aes(), Aes.webCrypto()]
      for (const blocks of [0, 1, 2, 3, 1024, 65_537]) {
        const raw = crypto.getRandomValues(new Uint8Array(16))
        const input = new Uint8Array(blocks * 16)
        for (let at = 0; at < input.length; at += 65_536) crypto.getRandomValues(input.subarray(at, Math.min(input.length, at + 65_536)))
        const [a, b] = await Effect.runPromise(Effect.all(services.map((service) =>
          Effect.gen(function*() {
            const key = yield* service.importKey(raw)
            const start = blocks * 7 + 0xffff_fff0 // counters that carry past 32 bits
            return [yield* service.decryptBlocks(key, input), yield* service.keystream(key, start, blocks * 16)] as const
          })
        )))
        expect(firstDifference(a![0], b![0])).toBe(-1)
        expect(firstDifference(a![1], b![1])).toBe(-1)
      }
    })
  })
}

const groupIds = ["patient-1", "", "ünïcødé ✓", "𝔘 surrogate pair", "a".repeat(300), ...Array.from({ length: 200 }, (_, i) => `id-${i}`)]

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("did not throw")
}

/** The joint-query groups: byte for byte with libsodium's WASM build (Group.ts), through the kernels and the worker jobs. */
export const groupConformance = (load: Load<Compute.GroupKernelSet>): void => {
  describe("group kernels conformance", () => {
    const groups = once(load)

    for (const group of Group.groupNames) {
      const ops = Group.groups[group]

      it(`${group}: hashes and blinds byte-identically to the WASM group, and commutes`, async () => {
        const kernels = (await groups())[group]
        await Promise.all([Group.ready(), kernels.ready()])
        expect(kernels.group).toBe(group)
        const domain = Group.domain("psi", "task-conformance")
        const [a, b] = [ops.randomScalar(), ops.randomScalar()]
        const wasm = ops.hashBlindEncoded(domain, Group.encodeIds(groupIds), a)
        expect(kernels.hashBlind(domain, Group.encodeIds(groupIds), a)).toEqual(wasm)
        const ab = kernels.blind(wasm, b)
        expect(ab).toEqual(ops.blind(wasm, b))
        expect(ab).toEqual(kernels.blind(kernels.hashBlind(domain, Group.encodeIds(groupIds), b), a))
        expect(ElementSet.of(ab).size).toBe(groupIds.length)
      })

      it(`${group}: runs the worker jobs' byte format to the same points`, async () => {
        const set = await groups()
        await Promise.all([Group.ready(), set[group].ready()])
        const jobs = Compute.makeJobs(set)
        const domain = Group.domain("psi", "task-jobs")
        const scalar = ops.randomScalar()
        const hashed = await jobs[Compute.jobNames.hashBlind](Compute.encodeHashBlind(group, domain, groupIds, scalar))
        expect(hashed).toEqual(ops.hashBlindEncoded(domain, Group.encodeIds(groupIds), scalar))
        const other = ops.randomScalar()
        expect(await jobs[Compute.jobNames.blind](Compute.encodeBlind(group, hashed, other))).toEqual(ops.blind(hashed, other))
      })

      it(`${group}: names the first invalid element, like the WASM group`, async () => {
        const kernels = (await groups())[group]
        await Promise.all([Group.ready(), kernels.ready()])
        const points = ops.hashBlindEncoded(Group.domain("psi", "bad"), Group.encodeIds(["x", "y", "z"]), ops.randomScalar())
        points.fill(0xff, 32, 64) // neither a ristretto255 encoding nor a canonical u
        for (const run of [() => kernels.blind(points, ops.randomScalar()), () => kernels.validate(points)]) {
          const error = thrown(run)
          expect(error).toBeInstanceOf(Group.InvalidPointError)
          expect((error as Group.InvalidPointError).index).toBe(1)
        }
        expect((thrown(() => kernels.blind(points.subarray(0, 40), ops.randomScalar())) as Group.InvalidPointError).index).toBe(1)
      })
    }

    it("ristretto255: unblinds with the inverse scalar, as the WASM group does", async () => {
      const kernels = (await groups()).ristretto255
      await Promise.all([Group.ready(), kernels.ready()])
      const r = Group.ristretto255
      const domain = Group.domain("hidden", "task-conformance")
      const [a, b] = [r.randomScalar(), r.randomScalar()]
      const one = new Uint8Array(32)
      one[0] = 1
      const plain = r.hashBlindEncoded(domain, Group.encodeIds(groupIds), one)
      const twice = kernels.blind(kernels.hashBlind(domain, Group.encodeIds(groupIds), a), b)
      expect(kernels.blind(kernels.blind(twice, Group.invertScalar(a)), Group.invertScalar(b))).toEqual(plain)
    })

    it("x25519: rejects non-canonical u and small-order u exactly where the WASM group does", async () => {
      const kernels = (await groups()).x25519
      await Promise.all([Group.ready(), kernels.ready()])
      const good = Group.x25519.hashBlindEncoded(Group.domain("psi", "x"), Group.encodeIds(["a"]), Group.x25519.randomScalar())
      const p = Uint8Array.from([0xed, ...new Array(30).fill(0xff), 0x7f]) // 2^255 − 19 itself: ≡ 0, non-canonical
      const pMinus1 = Uint8Array.from([0xec, ...new Array(30).fill(0xff), 0x7f]) // canonical, small order
      const topBit = good.slice()
      topBit[31]! |= 0x80
      const zero = new Uint8Array(32)
      const one = new Uint8Array(32)
      one[0] = 1
      for (const bad of [p, pMinus1, topBit, zero, one]) {
        const chunk = new Uint8Array(64)
        chunk.set(good)
        chunk.set(bad, 32)
        const scalar = Group.x25519.randomScalar()
        for (const run of [() => kernels.blind(chunk, scalar), () => kernels.validate(chunk)]) {
          expect((thrown(run) as Group.InvalidPointError).index).toBe(1)
        }
      }
    })
  })
}

/** CKKS: sums and linear scores decrypt to the plaintext ones within CKKS' precision; malformed input is a typed error. */
export const ckksConformance = (load: Load<CkksApi>): void => {
  describe("CKKS conformance", () => {
    const ckks = once(load)
    const run = <A>(effect: Effect.Effect<A, CkksError>) => Effect.runPromise(effect)
    const flip = <A>(effect: Effect.Effect<A, CkksError>) => Effect.runPromise(Effect.flip(effect))

    it("adds encrypted vectors: the decrypted sum is the plaintext sum", async () => {
      const api = await ckks()
      const keys = await run(api.generateKeys())
      const a = Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 3)
      const b = Float64Array.from({ length: 5000 }, (_, i) => i / 1000 - 2)
      const sum = await run(api.addCiphertexts(keys.parameters, [await run(api.encryptVector(keys, a)), await run(api.encryptVector(keys, b))]))
      const decrypted = await run(api.decryptVector(keys, sum, a.length))
      expect(Math.max(...decrypted.map((x, i) => Math.abs(x - a[i]! - b[i]!)))).toBeLessThan(1e-6)
    })

    it("scores encrypted rows with a plaintext linear model", async () => {
      const api = await ckks()
      const rows = [[1, 2, 3], [-0.5, 0.25, 4], [0, 0, 0]]
      const model = { weights: [0.5, -1, 2], bias: 0.125 }
      const { keys, request } = await run(api.encryptFeatures(rows))
      const scores = await run(api.decryptScore(keys, await run(api.evaluateLinear(request, model))))
      rows.forEach((row, i) => expect(scores[i]!).toBeCloseTo(row.reduce((s, x, j) => s + x * model.weights[j]!, model.bias), 5))
    })

    it("refuses weak parameters and malformed ciphertexts with CkksError", async () => {
      const api = await ckks()
      expect((await flip(api.generateKeys({ ...defaultParameters, coeffModulusBits: [60, 60, 60, 60, 60] }))).reason).toBe("InvalidParameters")
      const keys = await run(api.generateKeys())
      const [ct] = await run(api.encryptVector(keys, [1, 2, 3]))
      const truncated = await flip(api.addCiphertexts(keys.parameters, [[ct!], [ct!.slice(0, ct!.length - 100)]]))
      expect(truncated).toBeInstanceOf(CkksError)
      expect(truncated.reason).toBe("MalformedCiphertext")
    })
  })
}

/** A 4 → 8 → 2 classifier: small enough for a test, big enough to have hidden weights. */
export const conformanceTopology = {
  class_name: "Sequential",
  config: {
    name: "conformance",
    layers: [
      { class_name: "Dense", config: { units: 8, activation: "relu", batch_input_shape: [null, 4], kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } } } },
      { class_name: "Dense", config: { units: 2, activation: "softmax", kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } } } }
    ]
  }
}

/** Two separable classes: x₀ + x₁ > x₂ + x₃. */
export const conformanceMatrix = (rows: number) => {
  const features = new Float32Array(rows * 4)
  const labels = new Float32Array(rows)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 4; j++) features[i * 4 + j] = ((i * 37 + j * 11) % 17) / 17
    labels[i] = features[i * 4]! + features[i * 4 + 1]! > features[i * 4 + 2]! + features[i * 4 + 3]! ? 1 : 0
  }
  return { key: "conformance", rows, width: 4, features, labels }
}

/** The model runtime: deterministic initial weights, training that learns, typed errors for bad input. */
export const modelRuntimeConformance = (load: Load<ModelRuntimeApi>): void => {
  describe("ModelRuntime conformance", () => {
    const runtime = once(load)
    const run = <A>(effect: Effect.Effect<A, ModelRuntimeError>) => Effect.runPromise(effect)
    const config = { optimizer: "adam", learningRate: 0.05, epochs: 30, batchSize: 16, loss: "categoricalCrossentropy", proximalMu: 0, seed: 7 } as const

    it("initializes deterministically for a seed and trains to better than chance", async () => {
      const r = await runtime()
      const data = conformanceMatrix(128)
      const weights = await run(r.initialize(conformanceTopology, 42))
      expect(weights).toHaveLength(4 * 8 + 8 + 8 * 2 + 2)
      expect(await run(r.initialize(conformanceTopology, 42))).toEqual(weights)
      const before = await run(r.evaluate({ topology: conformanceTopology, weights, loss: config.loss, data }))
      const trained = await run(r.train({ topology: conformanceTopology, weights, config, data }))
      const after = await run(r.evaluate({ topology: conformanceTopology, weights: trained, loss: config.loss, data }))
      expect(after.lossSum).toBeLessThan(before.lossSum)
      expect(after.correct / after.samples).toBeGreaterThan(0.8)
      const outputs = await run(r.predict({ topology: conformanceTopology, weights: trained, features: data.features, rows: data.rows }))
      expect(outputs).toHaveLength(data.rows * 2)
    })

    it("refuses non-finite input and wrong shapes with ModelRuntimeError", async () => {
      const r = await runtime()
      const weights = await run(r.initialize(conformanceTopology, 1))
      const data = conformanceMatrix(8)
      const nan = { ...data, features: data.features.map((x, i) => (i === 5 ? Number.NaN : x)) }
      const failure = await Effect.runPromise(Effect.flip(r.train({ topology: conformanceTopology, weights, config, data: nan })))
      expect(failure).toBeInstanceOf(ModelRuntimeError)
      expect(failure.reason).toBe("ShapeMismatch")
      const short = await Effect.runPromise(Effect.flip(r.predict({ topology: conformanceTopology, weights: weights.subarray(1), features: data.features, rows: data.rows })))
      expect(short.reason).toBe("ShapeMismatch")
    })
  })
}

/**
 * Every suite against the services of one composition (e.g. `NodeBackends.layer()`), built once: the families
 * a host gets, not their parts in isolation.
 */
export const backendConformance = <E>(name: string, layer: () => Layer.Layer<Ckks | ModelRuntime | Aes.Aes, E>): void => {
  describe(name, () => {
    const context = once(() => Effect.runPromise(Effect.scoped(Layer.build(layer()))))
    const get = <I extends Ckks | ModelRuntime | Aes.Aes, S>(key: Context.Key<I, S>) => async () => Context.get(await context(), key)
    kernelConformance(get(Kernels.BigIntKernels))
    primesConformance(get(Primes.Primes))
    prgConformance(get(PrgKernel.PrgKernel))
    x25519Conformance(get(KeyAgreement.KeyAgreement))
    ed25519Conformance(get(Ed25519.Ed25519))
    aesConformance(get(Aes.Aes))
    groupConformance(get(Compute.Groups))
    ckksConformance(get(Ckks))
    modelRuntimeConformance(get(ModelRuntime))
  })
}

/**
 * Two compositions (e.g. `@jointly/backends`' Node and portable layers) held to each other, family by family, on
 * the same inputs: what one computes the other computes to the same bytes where the maths is deterministic, and
 * what one makes with randomness (keys, primes, ciphertexts, signatures) the other reads, verifies and decrypts —
 * so a Node participant and a browser participant of one task interoperate whatever each composed.
 */
export const compositionAgreement = <E1, E2>(
  name: string,
  first: () => Layer.Layer<Ckks | ModelRuntime | Aes.Aes, E1>,
  second: () => Layer.Layer<Ckks | ModelRuntime | Aes.Aes, E2>
): void => {
  describe(name, () => {
    const a = once(() => Effect.runPromise(Effect.scoped(Layer.build(first()))))
    const b = once(() => Effect.runPromise(Effect.scoped(Layer.build(second()))))
    const both = async <I extends Ckks | ModelRuntime | Aes.Aes, S>(key: Context.Key<I, S>): Promise<readonly [S, S]> =>
      [Context.get(await a(), key), Context.get(await b(), key)] as const

    it("big integers: the same modPow, modPowBatch and modInverse at Paillier sizes", async () => {
      const [x, y] = await both(Kernels.BigIntKernels)
      const random = generator(4242n)
      for (const bits of [256, 2048, 4096]) {
        const m = oddModulus(random, bits)
        const bases = Array.from({ length: 4 }, () => random(bits + 4))
        const exponent = random(bits)
        expect(y.modPowBatch(bases, exponent, m)).toEqual(x.modPowBatch(bases, exponent, m))
        for (const base of bases) expect(y.modPow(base, exponent, m)).toBe(x.modPow(base, exponent, m))
        let unit = bases[0]! % m
        while (gcd(unit, m) !== 1n) unit += 1n
        expect(y.modInverse(unit, m)).toBe(x.modInverse(unit, m))
      }
    })

    it("Paillier: keys from one side's primes, ciphertexts decrypted and combined by the other, the same worker-job bytes", async () => {
      const [kx, ky] = await both(Kernels.BigIntKernels)
      const [px, py] = await both(Primes.Primes)
      const policy = { unsafeAllowTestKeySizes: true } as const
      for (const [primes, encryptWith, decryptWith] of [[px, kx, ky], [py, ky, kx]] as const) {
        const keys = await PaillierKeys.generateKeyPair({ ...policy, bits: 512, primes: primes.generate, kernels: encryptWith })
        expect(Primes.isProbablePrime(keys.privateKey.p, 40, decryptWith) && Primes.isProbablePrime(keys.privateKey.q, 40, decryptWith)).toBe(true)
        const values = [0n, 1n, 123_456_789n, keys.publicKey.n - 1n]
        const encrypted = Paillier.encryptBatch(keys.publicKey, values, PaillierRandomness.automatic(keys.publicKey, encryptWith))
        expect(Paillier.decryptBatch(keys.privateKey, encrypted, decryptWith)).toEqual(values)
        const combined = Paillier.multiplyScalar(Paillier.add(encrypted[1]!, encrypted[2]!), 3n, decryptWith)
        expect(Paillier.decrypt(keys.privateKey, combined, encryptWith)).toBe(3n * 123_456_790n)
        // The pool's decryption job: the same input gives the same bytes on both sides.
        const input = PaillierJobs.decryptBatchInput(keys.privateKey, encrypted)
        const decrypt = PaillierJobs.JobNames.decryptBatch
        expect(PaillierJobs.makePaillierJobs(ky, policy)[decrypt]!(input)).toEqual(PaillierJobs.makePaillierJobs(kx, policy)[decrypt]!(input))
      }
    })

    it("PRG: the same ChaCha20 and AES-128-CTR keystreams, whole and streamed", async () => {
      const [x, y] = await both(PrgKernel.PrgKernel)
      for (const cipher of Prg.NAMES) {
        const key = crypto.getRandomValues(new Uint8Array(PrgKernel.KEY_BYTES[cipher]))
        const iv = crypto.getRandomValues(new Uint8Array(PrgKernel.IV_BYTES[cipher]))
        const [outX, outY] = [new Uint8Array(100_003), new Uint8Array(100_003)]
        x.keystream(cipher, key, iv, outX)
        y.keystream(cipher, key, iv, outY)
        expect(bytesToHex(sha256(outY))).toBe(bytesToHex(sha256(outX)))
        expect(y.stream(cipher, key, iv)(640)).toEqual(outX.subarray(0, 640))
      }
    })

    it("X25519: the same public keys and agreed keys; each side's key pairs agree with the other's", async () => {
      const [x, y] = await both(KeyAgreement.KeyAgreement)
      for (let i = 0; i < 5; i++) {
        const [mine, theirs] = [x.generateKeyPair(), y.generateKeyPair()]
        expect(y.publicKeyOf(mine.secretKey)).toEqual(mine.publicKey)
        expect(x.publicKeyOf(theirs.secretKey)).toEqual(theirs.publicKey)
        expect(y.agree(theirs.secretKey, mine.publicKey, "ctx")).toEqual(x.agree(mine.secretKey, theirs.publicKey, "ctx"))
        expect(y.x25519.sharedSecret(mine.secretKey, theirs.publicKey)).toEqual(x.x25519.sharedSecret(mine.secretKey, theirs.publicKey))
      }
    })

    it("Ed25519: the same signatures; each side verifies the other's and refuses a forged one", async () => {
      const [x, y] = await both(Ed25519.Ed25519)
      const message = new TextEncoder().encode("advertisement of round 3")
      for (const [signer, verifier] of [[x, y], [y, x]] as const) {
        const key = signer.generate()
        const signature = signer.sign(key, message)
        expect(verifier.backend.sign(key.secretKey, message)).toEqual(signature)
        expect(verifier.verify(key.publicKey, message, signature)).toBe(true)
        const forged = signature.slice()
        forged[40]! ^= 0x20
        expect(verifier.verify(key.publicKey, message, forged)).toBe(false)
      }
    })

    it("AES: the same CTR keystream and block decryptions", async () => {
      const [x, y] = await both(Aes.Aes)
      const raw = crypto.getRandomValues(new Uint8Array(Aes.KEY_BYTES))
      const blocks = crypto.getRandomValues(new Uint8Array(16 * 4000)) // getRandomValues gives at most 64 KiB
      const [outX, outY] = await Effect.runPromise(Effect.all([x, y].map((service) =>
        Effect.gen(function*() {
          const key = yield* service.importKey(raw)
          return [yield* service.keystream(key, 0xffff_fffe, 16 * 4099), yield* service.decryptBlocks(key, blocks)] as const
        })
      )))
      expect(bytesToHex(sha256(outY![0]))).toBe(bytesToHex(sha256(outX![0])))
      expect(bytesToHex(sha256(outY![1]))).toBe(bytesToHex(sha256(outX![1])))
    })

    it("groups: a PSI run across the two sides — hashed and blinded on one, blinded again on the other — meets", async () => {
      const [x, y] = await both(Compute.Groups)
      for (const group of Group.groupNames) {
        const [gx, gy] = [x[group], y[group]]
        await Promise.all([gx.ready(), gy.ready()])
        const ops = Group.groups[group]
        const domain = Group.domain("psi", "task-agreement")
        const [s, t] = [ops.randomScalar(), ops.randomScalar()]
        const ids = Group.encodeIds(groupIds)
        const hashed = gx.hashBlind(domain, ids, s)
        expect(gy.hashBlind(domain, ids, s)).toEqual(hashed)
        expect(gy.blind(hashed, t)).toEqual(gx.blind(hashed, t))
        // Commutativity across sides: (H(id)^s)^t on one equals (H(id)^t)^s on the other.
        expect(ElementSet.of(gy.blind(hashed, t)).size).toBe(groupIds.length)
        expect(gy.blind(hashed, t)).toEqual(gx.blind(gy.hashBlind(domain, ids, t), s))
      }
    })

    it("CKKS: ciphertexts encrypted on both sides, added on one, decrypt on the other", async () => {
      const [x, y] = await both(Ckks)
      const run = <A>(effect: Effect.Effect<A, CkksError>) => Effect.runPromise(effect)
      for (const [owner, peer] of [[x, y], [y, x]] as const) {
        const keys = await run(owner.generateKeys())
        const u = [1.5, -2, 3.25, 1e3]
        const v = [0.5, 4, -1, -250.125]
        const sum = await run(peer.addCiphertexts(keys.parameters, [await run(owner.encryptVector(keys, u)), await run(peer.encryptVector(keys, v))]))
        const decrypted = await run(owner.decryptVector(keys, sum, u.length))
        decrypted.forEach((value, i) => expect(value).toBeCloseTo(u[i]! + v[i]!, 6))
      }
    })

    it("model runtime: the same initial weights, trained weights and predictions, bit for bit", async () => {
      const data = conformanceMatrix(64)
      const config = { optimizer: "sgd", learningRate: 0.1, epochs: 3, batchSize: 16, loss: "categoricalCrossentropy", proximalMu: 0, seed: 3 } as const
      const outputs = await Promise.all((await both(ModelRuntime)).map((runtime) => Effect.runPromise(Effect.gen(function*() {
        const weights = yield* runtime.initialize(conformanceTopology, 11)
        const trained = yield* runtime.train({ topology: conformanceTopology, weights, config, data })
        return [weights, trained, yield* runtime.predict({ topology: conformanceTopology, weights: trained, features: data.features, rows: data.rows })]
      }))))
      expect(outputs[1]).toEqual(outputs[0])
    })
  })
}
