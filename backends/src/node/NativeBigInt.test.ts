/**
 * The native BN kernels with the IFMA kernel off ("off": OpenSSL alone, the path of CPUs without AVX-512 IFMA) held
 * to the kernel conformance suite — the Node composition, which Backends.test.ts holds to it, runs the IFMA kernel
 * above 1024 bits where the CPU has it; then the IFMA kernel at every size it covers ("always") against OpenSSL
 * and the TS kernel on random (modulus, base, exponent) triples and on the edge cases of its limb layout (radix
 * 2^52, limb counts in steps of 8).
 */
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { kernelConformance } from "@jointly/core/internal/testing/kernel-conformance"
import { tsKernels } from "@jointly/core/internal/compute/TsKernels"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import { fromBytes, toBytes } from "./BigIntBytes.ts"
import * as NativeAddon from "./NativeAddon.ts"
import * as NativeBigInt from "./NativeBigInt.ts"

const kernels = (ifma: NativeBigInt.Ifma): BigIntKernels => {
  const made = NativeBigInt.make({ ifma })
  if (made.kernels === undefined) throw new Error(`native BN kernels unavailable: ${made.problem}`)
  return made.kernels
}

kernelConformance(() => kernels("off"))

/** Deterministic pseudo-random integers (SHA-256 in counter mode), so a failure reproduces. */
const stream = (seed: string) => {
  let counter = 0
  const bytes = (n: number): Buffer => {
    const chunks: Array<Buffer> = []
    for (let have = 0; have < n; have += 32) chunks.push(createHash("sha256").update(`${seed}/${counter++}`).digest())
    return Buffer.concat(chunks).subarray(0, n)
  }
  return (bits: number): bigint => (bits === 0 ? 0n : fromBytes(bytes(Math.ceil(bits / 8))) & ((1n << BigInt(bits)) - 1n))
}

/** An odd modulus of exactly `bits` bits. */
const modulusOf = (random: (bits: number) => bigint, bits: number) => random(bits) | (1n << BigInt(bits - 1)) | 1n

const noIfma = !NativeBigInt.ifmaAvailable()

describe.skipIf(noIfma)("the IFMA kernel (skipped only where the CPU lacks AVX-512 IFMA: there OpenSSL runs alone)", () => {
  const ifma = kernels("always")
  const openssl = kernels("off")

  for (const [bits, count] of [[1024, 24], [2048, 12], [3072, 6], [4096, 4]] as const) {
    it(`equals OpenSSL on random triples at ${bits} bits, and the TS kernel on some`, () => {
      const random = stream(`triples/${bits}`)
      for (let i = 0; i < count; i++) {
        const m = modulusOf(random, bits)
        const base = random(bits + 8) % m
        const exponent = random(Number(random(12)) % (bits + 64))
        const got = ifma.modPow(base, exponent, m)
        expect(got, `m=${m.toString(16)} b=${base.toString(16)} e=${exponent.toString(16)}`).toBe(openssl.modPow(base, exponent, m))
        if (i < 2) expect(got).toBe(tsKernels.modPow(base, exponent, m))
      }
    })
  }

  it("equals OpenSSL on the CRT pair, at equal and unequal limb counts", () => {
    const random = stream("pairs")
    for (const [bitsA, bitsB] of [[2048, 2048], [2048, 2040], [2078, 2079], [1536, 3072]] as const) {
      const mA = modulusOf(random, bitsA), mB = modulusOf(random, bitsB)
      const a = [random(bitsA) % mA, random(Math.floor(bitsA / 2)), mA] as const
      const b = [random(bitsB) % mB, random(Math.floor(bitsB / 2) + 13), mB] as const
      expect(ifma.modPowPair!(a, b)).toEqual([openssl.modPow(...a), openssl.modPow(...b)])
    }
  })

  it("edge cases: bases 0, 1, m − 1; exponents 0, 1, all ones, a power of two, longer than m", () => {
    const random = stream("edges")
    // 2^k − 1 and 2^k − 3: just below a power of two; 2078/2079: the last size of a limb count (52·L ≥ bits + 2)
    // and the first of the next (4159: the first past 4096-bit N²'s limb count); 1025 just above OpenSSL's own IFMA size.
    const moduli = [
      (1n << 2048n) - 1n, (1n << 4096n) - 3n, (1n << 1024n) - 1n,
      ...[3, 5, 255, 1025, 2078, 2079, 4159].map((bits) => modulusOf(random, bits))
    ]
    for (const m of moduli) {
      const bits = m.toString(2).length
      const bases = [0n, 1n, m - 1n, random(bits) % m]
      const exponents = [0n, 1n, 2n, (1n << BigInt(bits)) - 1n, (1n << BigInt(bits + 77)) - 1n, 1n << BigInt(bits - 1), m - 1n]
      for (const base of bases) {
        for (const exponent of exponents) {
          expect(ifma.modPow(base, exponent, m), `m=${m.toString(16)} b=${base.toString(16)} e=${exponent.toString(16)}`).toBe(openssl.modPow(base, exponent, m))
        }
      }
      expect(ifma.modPow(m - 1n, 5n, m)).toBe(m - 1n) // (−1)^odd, against no backend: a known answer
    }
  })

  it("reads leading zero bytes of base and exponent as zeros, and refuses an unreduced base", () => {
    const addon = NativeAddon.open().exports as unknown as {
      bnMont: (m: Uint8Array, ifma: boolean) => unknown
      bnModPow: (h: unknown, base: Uint8Array, exponent: Uint8Array, out: Uint8Array) => void
    }
    const random = stream("zeros")
    const m = modulusOf(random, 2048)
    const handle = addon.bnMont(toBytes(m), true)
    const base = random(2000), exponent = random(1000)
    const padded = (x: bigint, zeros: number) => Buffer.concat([Buffer.alloc(zeros), toBytes(x)])
    const out = new Uint8Array(256)
    addon.bnModPow(handle, padded(base, 9), padded(exponent, 40), out)
    expect(fromBytes(out)).toBe(openssl.modPow(base, exponent, m))
    addon.bnModPow(handle, new Uint8Array(0), new Uint8Array(0), out)
    expect(fromBytes(out)).toBe(1n)
    expect(() => addon.bnModPow(handle, toBytes(m), toBytes(exponent), out)).toThrow(RangeError)
    expect(() => addon.bnModPow(handle, toBytes(m + 5n), toBytes(exponent), out)).toThrow(RangeError)
  })
})
