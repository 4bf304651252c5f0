/**
 * Node-only backend of the compute kernels. `make()` gives the native BN kernels of NativeBigInt.ts (OpenSSL's
 * Montgomery arithmetic through the addon, and the addon's own AVX-512 IFMA kernel above 1024 bits where the CPU has
 * it) where the addon loaded, and otherwise this module's fallback,
 * `makeDh()`, named "node-openssl-dh" (also a benchmark's same-run baseline):
 *
 * modular exponentiation in OpenSSL's constant-time Montgomery
 * BN_mod_exp, reached through `crypto.createDiffieHellman(modulus, 2).setPrivateKey(exponent)` and
 * `computeSecret(base)` (= base^exponent mod modulus). OpenSSL checks neither that the "prime" is prime nor
 * that the key is short, so this is an exact modPow for any odd modulus; the conformance suite
 * (core/src/testing/kernel-conformance.ts) holds it to the TS kernel's answers.
 *
 * Creating a DH context costs about one exponentiation (Node runs DH_check on it), so contexts are cached per
 * (modulus, exponent) and per (modulus, base): the Paillier hot loops use few distinct pairs (p−1 mod p²,
 * 2Δs_i mod N², N mod N²; bases h_s and v).
 * A new context also runs DH_check, which on a modulus without small factors (N², p²) costs several full
 * exponentiations (~18 ms at 4096 bits), so a pair seen for the first time with a short exponent (under 1/16 of
 * the modulus bits, e.g. SecureSVM's 42-bit blinding of a margin) is computed by the TS kernel instead, and a
 * short exponent only ever gets a fixed-exponent context.
 * Inputs OpenSSL refuses (base 0, 1 or −1, results 1 or −1, moduli under 512 bits, even moduli) go to the TS
 * kernel.
 *
 * Each `make()` has its own context caches: the Node backends build one per thread (NodeBackends.ts).
 */
import { createDiffieHellman, type DiffieHellman } from "node:crypto"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import * as TsKernels from "@jointly/core/internal/compute/TsKernels"
import { fromBytes, toBytes } from "./BigIntBytes.ts"
import * as NativeBigInt from "./NativeBigInt.ts"

const MIN_MODULUS_BITS = 520
const MAX_MODULUS_BITS = 10_000 // OPENSSL_DH_MAX_MODULUS_BITS
const CACHE_SIZE = 32
const SHORT_EXPONENT_RATIO = 16

const touch = <V>(map: Map<string, V>, key: string, value: V, size: number): void => {
  // Map iteration order is insertion order: delete + set moves the key to the most recent end.
  map.delete(key)
  map.set(key, value)
  if (map.size > size) map.delete(map.keys().next().value!)
}

const newContext = (modulus: bigint, generator: bigint): DiffieHellman => createDiffieHellman(toBytes(modulus), toBytes(generator))

const powByBase = (dh: DiffieHellman, exponent: bigint): bigint => {
  dh.setPrivateKey(toBytes(exponent))
  return fromBytes(dh.generateKeys())
}

const usable = (modulus: bigint): boolean => {
  if ((modulus & 1n) === 0n) return false
  const bits = TsKernels.bitLength(modulus)
  return bits >= MIN_MODULUS_BITS && bits <= MAX_MODULUS_BITS
}

/** The best OpenSSL kernel this process has: native BN where the addon loaded, else the DH route. */
export const make = (): BigIntKernels => NativeBigInt.make().kernels ?? makeDh()

/** Why `make()` fell back to the DH route (undefined when it did not). */
export const nativeProblem = (): string | undefined => NativeBigInt.make().problem

/** A fresh DH-route kernel with empty context caches. */
export const makeDh = (): BigIntKernels => {
  // Two caches: fixed exponent with varying bases (decryption, partial decryption: computeSecret(base)) and
  // fixed base with varying exponents (h_s^r, v^r: setPrivateKey(exponent) + generateKeys()). A pair enters a
  // cache the second time it is seen, so one-off random exponents or bases never evict the useful contexts.
  const byExponent = new Map<string, DiffieHellman>()
  const byBase = new Map<string, DiffieHellman>()
  const seen = new Map<string, true>()

  const opensslPow = (b: bigint, exponent: bigint, modulus: bigint): bigint => {
    const m = modulus.toString(36)
    const ek = m + ":e:" + exponent.toString(36)
    const fixedExponent = byExponent.get(ek)
    if (fixedExponent !== undefined) {
      touch(byExponent, ek, fixedExponent, CACHE_SIZE)
      return fromBytes(fixedExponent.computeSecret(toBytes(b)))
    }
    const bk = m + ":b:" + b.toString(36)
    const fixedBase = byBase.get(bk)
    if (fixedBase !== undefined) {
      touch(byBase, bk, fixedBase, CACHE_SIZE)
      return powByBase(fixedBase, exponent)
    }
    // A short exponent pays for a context only when it is the fixed part (Horner's 2^W over many bases): a base
    // seen twice with short exponents (a duplicate row's margin) would not repay its DH_check.
    const short = TsKernels.bitLength(exponent) * SHORT_EXPONENT_RATIO < TsKernels.bitLength(modulus)
    if (seen.has(bk) && !short) {
      const dh = newContext(modulus, b)
      touch(byBase, bk, dh, CACHE_SIZE)
      return powByBase(dh, exponent)
    }
    if (seen.has(ek)) {
      const dh = newContext(modulus, 2n)
      dh.setPrivateKey(toBytes(exponent))
      touch(byExponent, ek, dh, CACHE_SIZE)
      return fromBytes(dh.computeSecret(toBytes(b)))
    }
    touch(seen, ek, true, 4 * CACHE_SIZE)
    touch(seen, bk, true, 4 * CACHE_SIZE)
    if (short) return TsKernels.modPow(b, exponent, modulus)
    return powByBase(newContext(modulus, b), exponent)
  }

  const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
    if (exponent <= 0n || !usable(modulus)) return TsKernels.modPow(base, exponent, modulus)
    let b = base % modulus
    if (b < 0n) b += modulus
    if (b <= 1n || b === modulus - 1n) return TsKernels.modPow(b, exponent, modulus)
    try {
      return opensslPow(b, exponent, modulus)
    } catch {
      // OpenSSL 3 refuses a shared secret of 1 or modulus − 1 (small-subgroup guard): exact answers for us.
      return TsKernels.modPow(b, exponent, modulus)
    }
  }

  return {
    name: "node-openssl-dh",
    modPow,
    modPowBatch: TsKernels.batchOf(modPow),
    modInverse: TsKernels.modInverse
  }
}
