/**
 * Paillier batch work as job functions `(Uint8Array) => Uint8Array` for the participant worker pool
 * (participant/src/worker/jobs.ts registers them by name): only bytes cross the thread boundary (DESIGN.md §6).
 * Every input is `Bytes.frames([...])`; keys arrive serialized with each batch and are cached per worker by
 * their bytes' digest, so the fixed-base table of a public key is built once per worker, not once per batch.
 *
 *   paillier.encrypt-batch     frames[publicKey, plaintexts]        → ciphertexts
 *   paillier.encrypt-batch-as-owner frames[privateKey, plaintexts]  → ciphertexts (the key holder's: h_s^r by CRT)
 *   paillier.decrypt-batch     frames[privateKey, ciphertexts]      → plaintexts
 *   paillier.randomness-batch  frames[publicKey, u32 count]         → randomness (for RandomnessPool.add)
 *   paillier.randomness-batch-as-owner frames[privateKey, u32 count] → the same randomness, the key holder's (by CRT)
 *   paillier.modpow-batch      frames[modulus, exponent, b_1 … b_k] → frames[b_i^exponent mod modulus]
 *   paillier.linear-combination frames[publicKey, ciphertexts, k_1 … k_m] → one ciphertext Π c_i^(k_i) = [[Σ k_i·m_i]]
 *                              (signed k_i: a sign byte, 1 for negative, then the magnitude big-endian)
 *
 * Key-size policy: the jobs accept only production sizes unless built with `unsafeAllowTestKeySizes`.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { fromBytes, frames, sha256Hex, toFixed, u32, unframe, byteLength, Reader } from "./Bytes.ts"
import type { KeySizePolicy, PrivateKey, PublicKey } from "./Keys.ts"
import * as Paillier from "./Paillier.ts"
import * as Randomness from "./Randomness.ts"
import * as Serialization from "./Serialization.ts"
import { fail } from "./PaillierError.ts"

export type Job = (input: Uint8Array) => Uint8Array

export const JobNames = {
  encryptBatch: "paillier.encrypt-batch",
  encryptBatchAsOwner: "paillier.encrypt-batch-as-owner",
  decryptBatch: "paillier.decrypt-batch",
  randomnessBatch: "paillier.randomness-batch",
  randomnessBatchAsOwner: "paillier.randomness-batch-as-owner",
  modPowBatch: "paillier.modpow-batch",
  linearCombination: "paillier.linear-combination"
} as const

const signedBytes = (k: bigint): Uint8Array => {
  const magnitude = k < 0n ? -k : k
  const out = new Uint8Array(1 + Math.max(1, byteLength(magnitude)))
  out[0] = k < 0n ? 1 : 0
  out.set(toFixed(magnitude, out.length - 1), 1)
  return out
}

const signedFromBytes = (bytes: Uint8Array, what: string): bigint => {
  if (bytes.length < 2 || bytes[0]! > 1) fail("Encoding", `${what}: malformed signed exponent`)
  const magnitude = fromBytes(bytes.subarray(1))
  return bytes[0] === 1 ? -magnitude : magnitude
}

/** A small per-worker cache of decoded keys, keyed by the digest of their bytes. */
export const keyCache = <K>(decode: (bytes: Uint8Array) => K, size = 8) => {
  const cache = new Map<string, K>()
  return (bytes: Uint8Array): K => {
    const id = sha256Hex(bytes)
    const hit = cache.get(id)
    if (hit !== undefined) return hit
    const key = decode(bytes)
    cache.set(id, key)
    if (cache.size > size) cache.delete(cache.keys().next().value!)
    return key
  }
}

const expectFrames = (input: Uint8Array, count: number, what: string): Array<Uint8Array> => {
  const parts = unframe(input, what)
  if (parts.length !== count) fail("Encoding", `${what}: expected ${count} frames, got ${parts.length}`)
  return parts
}

export const makePaillierJobs = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}): Record<string, Job> => {
  const publicKeys = keyCache<PublicKey>((b) => Serialization.decodePublicKey(b, { ...policy, kernels }))
  const privateKeys = keyCache<PrivateKey>((b) => Serialization.decodePrivateKey(b, { ...policy, kernels }))
  return {
    [JobNames.encryptBatch]: (input) => {
      const [pkBytes, plaintexts] = expectFrames(input, 2, JobNames.encryptBatch)
      const pk = publicKeys(pkBytes!)
      const ms = Serialization.decodePlaintexts(pk, plaintexts!)
      return Serialization.encodeCiphertexts(pk, Paillier.encryptBatch(pk, ms, Randomness.automatic(pk, kernels)))
    },
    // The key holder's encryptions under its own key: the same h_s^r values, from tables mod p² and q² joined by
    // CRT (Randomness.withFactors: half the table build and about half a draw of the public key's table mod N²).
    [JobNames.encryptBatchAsOwner]: (input) => {
      const [skBytes, plaintexts] = expectFrames(input, 2, JobNames.encryptBatchAsOwner)
      const sk = privateKeys(skBytes!)
      const ms = Serialization.decodePlaintexts(sk.publicKey, plaintexts!)
      return Serialization.encodeCiphertexts(sk.publicKey, Paillier.encryptBatch(sk.publicKey, ms, Randomness.withFactors(sk, kernels)))
    },
    [JobNames.decryptBatch]: (input) => {
      const [skBytes, ciphertexts] = expectFrames(input, 2, JobNames.decryptBatch)
      const sk = privateKeys(skBytes!)
      const cs = Serialization.decodeCiphertexts(sk.publicKey, ciphertexts!)
      return Serialization.encodePlaintexts(sk.publicKey, Paillier.decryptBatch(sk, cs, kernels))
    },
    [JobNames.randomnessBatch]: (input) => {
      const [pkBytes, countBytes] = expectFrames(input, 2, JobNames.randomnessBatch)
      const pk = publicKeys(pkBytes!)
      const count = new Reader(countBytes!, JobNames.randomnessBatch).u32()
      const source = Randomness.automatic(pk, kernels)
      return Serialization.encodeRandomness(pk, Array.from({ length: count }, source))
    },
    // The key holder's: the same h_s^r values by CRT, as encrypt-batch-as-owner draws them.
    [JobNames.randomnessBatchAsOwner]: (input) => {
      const [skBytes, countBytes] = expectFrames(input, 2, JobNames.randomnessBatchAsOwner)
      const sk = privateKeys(skBytes!)
      const count = new Reader(countBytes!, JobNames.randomnessBatchAsOwner).u32()
      return Serialization.encodeRandomness(sk.publicKey, Array.from({ length: count }, Randomness.withFactors(sk, kernels)))
    },
    [JobNames.linearCombination]: (input) => {
      const [pkBytes, ciphertexts, ...exponents] = unframe(input, JobNames.linearCombination)
      if (pkBytes === undefined || ciphertexts === undefined) fail("Encoding", `${JobNames.linearCombination}: expected key and ciphertext frames`)
      const pk = publicKeys(pkBytes!)
      const cs = Serialization.decodeCiphertexts(pk, ciphertexts!)
      if (cs.length === 0 || cs.length !== exponents.length) fail("Encoding", `${JobNames.linearCombination}: ${cs.length} ciphertexts, ${exponents.length} exponents`)
      const terms = cs.map((c, i) => [c, signedFromBytes(exponents[i]!, JobNames.linearCombination)] as const)
      return Serialization.encodeCiphertexts(pk, [Paillier.linearCombination(terms, kernels)])
    },
    [JobNames.modPowBatch]: (input) => {
      const [modulus, exponent, ...bases] = unframe(input, JobNames.modPowBatch)
      if (modulus === undefined || exponent === undefined) fail("Encoding", `${JobNames.modPowBatch}: expected modulus and exponent frames`)
      const m = fromBytes(modulus!)
      const out = kernels.modPowBatch(bases.map(fromBytes), fromBytes(exponent!), m)
      const width = byteLength(m)
      return frames(out.map((x) => toFixed(x, width)))
    }
  }
}

/** Job inputs, built where the batch is split (the caller side of the pool). */
export const encryptBatchInput = (pk: PublicKey, ms: ReadonlyArray<bigint>): Uint8Array =>
  frames([Serialization.encodePublicKey(pk), Serialization.encodePlaintexts(pk, ms)])
export const encryptBatchAsOwnerInput = (sk: PrivateKey, ms: ReadonlyArray<bigint>): Uint8Array =>
  frames([Serialization.encodePrivateKey(sk), Serialization.encodePlaintexts(sk.publicKey, ms)])
export const decryptBatchInput = (sk: PrivateKey, cs: ReadonlyArray<Paillier.Ciphertext>): Uint8Array =>
  frames([Serialization.encodePrivateKey(sk), Serialization.encodeCiphertexts(sk.publicKey, cs)])
export const randomnessBatchInput = (pk: PublicKey, count: number): Uint8Array => frames([Serialization.encodePublicKey(pk), u32(count)])
export const randomnessBatchAsOwnerInput = (sk: PrivateKey, count: number): Uint8Array => frames([Serialization.encodePrivateKey(sk), u32(count)])
export const modPowBatchInput = (bases: ReadonlyArray<bigint>, exponent: bigint, modulus: bigint): Uint8Array =>
  frames([toFixed(modulus, byteLength(modulus)), toFixed(exponent, Math.max(1, byteLength(exponent))), ...bases.map((b) => toFixed(((b % modulus) + modulus) % modulus, byteLength(modulus)))])

export const linearCombinationInput = (pk: PublicKey, terms: ReadonlyArray<readonly [Paillier.Ciphertext, bigint]>): Uint8Array =>
  frames([Serialization.encodePublicKey(pk), Serialization.encodeCiphertexts(pk, terms.map(([c]) => c)), ...terms.map(([, k]) => signedBytes(k))])

/** The default job table over the TS kernel; workers with a faster kernel call `makePaillierJobs(kernels)`. */
export const paillierJobs: Record<string, Job> = makePaillierJobs()
