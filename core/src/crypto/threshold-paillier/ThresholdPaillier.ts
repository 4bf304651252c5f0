/**
 * Threshold Paillier, t-of-n (PROTOCOLS.md §6 "Threshold Paillier (ours; Damgård–Jurik, s = 1)"), with the
 * Shoup / Damgård–Jurik zero-knowledge proof of a correct decryption share, made non-interactive with
 * Fiat–Shamir over SHA-256, so a party that sends a wrong share is named instead of silently believed.
 *
 * Keys come from the dealer ceremony (Dealer.ts). Encryption is ordinary Paillier under `publicKey.publicKey`
 * (paillier/Paillier.ts). With Δ = n!, share s_i = f(i), f(0) = d (d ≡ 0 mod p'q', d ≡ 1 mod N):
 *
 * - partial decryption (§6): c_i = c^(2Δs_i) mod N²;
 * - proof: log_{c⁴}(c_i²) = log_v(v_i) (= Δs_i), with verification keys v (a random square) and
 *   v_i = v^(Δs_i) mod N². Prover: r of |N²| + |Δ| + 256 + 128 bits, a = c^(4r), b = v^r,
 *   e = SHA-256(statement ‖ a ‖ b), z = r + e·Δ·s_i over the integers. Verifier: c^(4z) = a·c_i^(2e) and
 *   v^z = b·v_i^e (mod N²). Statistical zero knowledge (128-bit slack), soundness 2^-256 in the ROM;
 * - combination (§6): c' = Π_{i∈S} c_i^(2μ_i), μ_i = Δ·Π_{j∈S∖i} j/(j−i) ∈ ℤ; m = L(c')·(4Δ²)^(−1) mod N.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBits } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { bitLength, concat, fromBytes, sha256, toFixed, u16 } from "../paillier/Bytes.ts"
import type { PublicKey } from "../paillier/Keys.ts"
import type { Ciphertext } from "../paillier/Paillier.ts"
import { fail } from "./ThresholdPaillierError.ts"

export interface ThresholdPublicKey {
  readonly _tag: "ThresholdPaillierPublicKey"
  /** The Paillier key everyone encrypts under. */
  readonly publicKey: PublicKey
  readonly threshold: number
  readonly parties: number
  /** Δ = n! */
  readonly delta: bigint
  /** A random square of Z*_{N²}, the base of the verification keys. */
  readonly v: bigint
  /** v_i = v^(Δ·s_i) mod N² for i = 1…n (array position i − 1). */
  readonly verificationKeys: ReadonlyArray<bigint>
}

export interface KeyShare {
  readonly _tag: "ThresholdPaillierKeyShare"
  readonly publicKey: ThresholdPublicKey
  /** 1…n */
  readonly index: number
  readonly share: bigint
}

export interface CorrectnessProof {
  readonly a: bigint
  readonly b: bigint
  readonly z: bigint
}

export interface PartialDecryption {
  readonly _tag: "ThresholdPaillierPartialDecryption"
  readonly index: number
  /** c_i = c^(2Δs_i) mod N² */
  readonly value: bigint
  readonly proof: CorrectnessProof
}

export const factorial = (n: number): bigint => {
  let f = 1n
  for (let i = 2n; i <= BigInt(n); i++) f *= i
  return f
}

/** Bits of the proof's blinding exponent r: |N²| + |Δ| + 256 (challenge) + 128 (statistical slack). */
export const proofRandomBits = (tpk: ThresholdPublicKey): number => tpk.publicKey.bits * 2 + bitLength(tpk.delta) + 256 + 128

const checkIndex = (tpk: ThresholdPublicKey, index: number): void => {
  if (!Number.isInteger(index) || index < 1 || index > tpk.parties) fail("UnknownParty", `index ${index} outside 1…${tpk.parties}`, [index])
}

const checkCiphertextKey = (tpk: ThresholdPublicKey, c: Ciphertext): void => {
  if (c.publicKey.n !== tpk.publicKey.n) fail("KeyMismatch", "ciphertext is not under this threshold key")
}

const width = (tpk: ThresholdPublicKey) => tpk.publicKey.bits / 4

/** Fiat–Shamir challenge: binds the domain, N, v, v_i, the index, c, c_i and the commitments. */
const challenge = (tpk: ThresholdPublicKey, index: number, c: bigint, ci: bigint, a: bigint, b: bigint): bigint => {
  const w = width(tpk)
  const label = new TextEncoder().encode("jointly/threshold-paillier/decryption-share-proof/v1")
  const digest = sha256(
    concat([
      label,
      toFixed(tpk.publicKey.n, tpk.publicKey.bits / 8),
      toFixed(tpk.v, w),
      toFixed(tpk.verificationKeys[index - 1]!, w),
      u16(index),
      toFixed(c, w),
      toFixed(ci, w),
      toFixed(a, w),
      toFixed(b, w)
    ])
  )
  return fromBytes(digest)
}

const prove = (share: KeyShare, c: Ciphertext, value: bigint, kernels: BigIntKernels): PartialDecryption => {
  const tpk = share.publicKey
  const n2 = tpk.publicKey.n2
  const c4 = kernels.modPow(c.value, 4n, n2)
  const r = randomBits(proofRandomBits(tpk))
  const a = kernels.modPow(c4, r, n2)
  const b = kernels.modPow(tpk.v, r, n2)
  const e = challenge(tpk, share.index, c.value, value, a, b)
  const z = r + e * tpk.delta * share.share
  return { _tag: "ThresholdPaillierPartialDecryption", index: share.index, value, proof: { a, b, z } }
}

/** c_i = c^(2Δs_i) mod N² with a proof of correctness. */
export const partialDecrypt = (share: KeyShare, c: Ciphertext, kernels: BigIntKernels = tsKernels): PartialDecryption => {
  checkCiphertextKey(share.publicKey, c)
  const value = kernels.modPow(c.value, 2n * share.publicKey.delta * share.share, share.publicKey.publicKey.n2)
  return prove(share, c, value, kernels)
}

/** Partial decryptions of many ciphertexts: the shares in one kernel batch call (shared exponent), then proofs. */
export const partialDecryptBatch = (share: KeyShare, cs: ReadonlyArray<Ciphertext>, kernels: BigIntKernels = tsKernels): Array<PartialDecryption> => {
  for (const c of cs) checkCiphertextKey(share.publicKey, c)
  const values = kernels.modPowBatch(cs.map((c) => c.value), 2n * share.publicKey.delta * share.share, share.publicKey.publicKey.n2)
  return cs.map((c, i) => prove(share, c, values[i]!, kernels))
}

/** True when the proof shows c_i = c^(2Δs_i) for the s_i behind v_i. */
export const verifyPartialDecryption = (
  tpk: ThresholdPublicKey,
  c: Ciphertext,
  partial: PartialDecryption,
  kernels: BigIntKernels = tsKernels
): boolean => {
  checkCiphertextKey(tpk, c)
  checkIndex(tpk, partial.index)
  const n2 = tpk.publicKey.n2
  const { a, b, z } = partial.proof
  const inGroup = (x: bigint) => x > 0n && x < n2
  if (!inGroup(partial.value) || !inGroup(a) || !inGroup(b) || z < 0n || bitLength(z) > proofRandomBits(tpk) + 1) return false
  const e = challenge(tpk, partial.index, c.value, partial.value, a, b)
  const c4 = kernels.modPow(c.value, 4n, n2)
  const left1 = kernels.modPow(c4, z, n2)
  const right1 = (a * kernels.modPow(partial.value, 2n * e, n2)) % n2
  if (left1 !== right1) return false
  const left2 = kernels.modPow(tpk.v, z, n2)
  const right2 = (b * kernels.modPow(tpk.verificationKeys[partial.index - 1]!, e, n2)) % n2
  return left2 === right2
}

/** μ_i = Δ·Π_{j∈S∖i} j/(j − i), an integer because Δ = n! clears every denominator. */
export const lagrangeAtZero = (delta: bigint, indices: ReadonlyArray<number>, i: number): bigint => {
  let num = delta
  let den = 1n
  for (const j of indices) {
    if (j === i) continue
    num *= BigInt(j)
    den *= BigInt(j - i)
  }
  return num / den
}

export interface CombineOptions {
  /** Verify every proof first (default true). Turning it off trusts every party: only for benchmarks. */
  readonly verify?: boolean
  readonly kernels?: BigIntKernels
}

/**
 * The plaintext residue of c from at least t partial decryptions. Every partial is verified first; any that
 * fails makes the whole call fail with InvalidPartialDecryption naming the parties, so the caller can exclude
 * them (or the protocol can blame them) and retry with other shares.
 */
export const combine = (
  tpk: ThresholdPublicKey,
  c: Ciphertext,
  partials: ReadonlyArray<PartialDecryption>,
  options: CombineOptions = {}
): bigint => {
  const kernels = options.kernels ?? tsKernels
  checkCiphertextKey(tpk, c)
  const seen = new Set<number>()
  for (const p of partials) {
    checkIndex(tpk, p.index)
    if (seen.has(p.index)) fail("DuplicateShare", `two partial decryptions from party ${p.index}`, [p.index])
    seen.add(p.index)
  }
  if (options.verify !== false) {
    const cheaters = partials.filter((p) => !verifyPartialDecryption(tpk, c, p, kernels)).map((p) => p.index)
    if (cheaters.length > 0) fail("InvalidPartialDecryption", "decryption-share proof does not verify", cheaters)
  }
  if (partials.length < tpk.threshold) {
    fail("NotEnoughShares", `${partials.length} partial decryptions, ${tpk.threshold} needed`, partials.map((p) => p.index))
  }
  const chosen = [...partials].sort((x, y) => x.index - y.index).slice(0, tpk.threshold)
  const indices = chosen.map((p) => p.index)
  const { n, n2 } = tpk.publicKey
  let acc = 1n
  for (const p of chosen) {
    const mu = lagrangeAtZero(tpk.delta, indices, p.index)
    const base = mu < 0n ? kernels.modInverse(p.value, n2) : p.value
    acc = (acc * kernels.modPow(base, 2n * (mu < 0n ? -mu : mu), n2)) % n2
  }
  const l = (acc - 1n) / n
  return (l * kernels.modInverse(4n * tpk.delta * tpk.delta, n)) % n
}
