/**
 * Node-only backend of the compute kernels: modular exponentiation in OpenSSL's constant-time Montgomery
 * BN_mod_exp, reached through `crypto.createDiffieHellman(modulus, 2).setPrivateKey(exponent)` and
 * `computeSecret(base)` (= base^exponent mod modulus). OpenSSL checks neither that the "prime" is prime nor
 * that the key is short, so this is an exact modPow for any odd modulus; the conformance suite
 * (core/src/testing/kernel-conformance.ts) holds it to the TS kernel's answers.
 *
 * Creating a DH context costs about one exponentiation (Node runs DH_check on it), so contexts are cached per
 * (modulus, exponent): the Paillier hot loops use few distinct pairs (p−1 mod p², 2Δs_i mod N², N mod N²).
 * Inputs OpenSSL refuses (base 0, 1 or −1, results 1 or −1, moduli under 512 bits, even moduli) go to the TS
 * kernel.
 *
 * Browsers: do not import this file; use the TS or WASM kernels.
 */
import { createDiffieHellman, type DiffieHellman } from "node:crypto"
import type { BigIntKernels } from "./Kernels.ts"
import * as TsKernels from "./TsKernels.ts"

const toBytes = (x: bigint): Buffer => {
  const hex = x.toString(16)
  return Buffer.from(hex.length % 2 === 0 ? hex : "0" + hex, "hex")
}
const fromBytes = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex")))

const MIN_MODULUS_BITS = 520
const MAX_MODULUS_BITS = 10_000 // OPENSSL_DH_MAX_MODULUS_BITS
const CACHE_SIZE = 32

const cache = new Map<string, DiffieHellman>()

const context = (exponent: bigint, modulus: bigint): DiffieHellman => {
  const key = modulus.toString(36) + ":" + exponent.toString(36)
  const hit = cache.get(key)
  if (hit !== undefined) {
    // Refresh recency: Map iteration order is insertion order.
    cache.delete(key)
    cache.set(key, hit)
    return hit
  }
  const dh = createDiffieHellman(toBytes(modulus), toBytes(2n))
  dh.setPrivateKey(toBytes(exponent))
  cache.set(key, dh)
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!)
  return dh
}

const usable = (modulus: bigint): boolean => {
  if ((modulus & 1n) === 0n) return false
  const bits = TsKernels.bitLength(modulus)
  return bits >= MIN_MODULUS_BITS && bits <= MAX_MODULUS_BITS
}

const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  if (exponent <= 0n || !usable(modulus)) return TsKernels.modPow(base, exponent, modulus)
  let b = base % modulus
  if (b < 0n) b += modulus
  if (b <= 1n || b === modulus - 1n) return TsKernels.modPow(b, exponent, modulus)
  try {
    return fromBytes(context(exponent, modulus).computeSecret(toBytes(b)))
  } catch {
    // OpenSSL 3 refuses a shared secret of 1 or modulus − 1 (small-subgroup guard): exact answers for us.
    return TsKernels.modPow(b, exponent, modulus)
  }
}

const modPowBatch = (
  bases: ReadonlyArray<bigint>,
  exponents: ReadonlyArray<bigint> | bigint,
  modulus: bigint
): Array<bigint> => {
  if (typeof exponents !== "bigint" && exponents.length !== bases.length) {
    throw new RangeError(`modPowBatch: ${bases.length} bases but ${exponents.length} exponents`)
  }
  return bases.map((b, i) => modPow(b, typeof exponents === "bigint" ? exponents : exponents[i]!, modulus))
}

export const nodeKernels: BigIntKernels = {
  name: "node-openssl",
  modPow,
  modPowBatch,
  modInverse: TsKernels.modInverse
}
