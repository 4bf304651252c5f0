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
 *
 * Batched proof (`partialDecryptBatchProved`, `verifyPartialDecryptionBatch`): one proof for all k partial
 * decryptions c_{i,1…k} = c_{1…k}^(2Δs_i) a party sends in one round. Coefficients α_j = 1 + (the first 128 bits
 * of SHA-256(seed ‖ j)), with seed = SHA-256(domain ‖ N ‖ v ‖ v_i ‖ i ‖ k ‖ c_1…c_k ‖ c_{i,1}…c_{i,k}) (Fiat–Shamir:
 * fixed only after every c_j and c_{i,j}), give C = Π c_j^(α_j) and D = Π c_{i,j}^(α_j), and the proof above is
 * run on (C, D) (its challenge also binds the seed): log_{C⁴}(D²) = log_v(v_i). Cost: 2 exponentiations of
 * |r| bits to prove and 2 to verify per party and round, instead of 2k each.
 *
 * Soundness of the batch (≥ 120 bits against 2^8 hash queries, ≥ 80 against 2^48). Work in G = the squares of
 * Z*_{N²}, of order N·p'·q' (the squaring conventions c⁴ and c_i² put every checked value in G, removing the
 * elements of order 2 of Z*_{N²} that a prover could otherwise multiply in undetected, e.g. −1). Every
 * non-identity element of G has order ≥ min(p', q') > 2^128. Let δ = Δs_i (fixed by v_i = v^δ), x_j = c_j⁴,
 * y_j = c_{i,j}² and ε_j = y_j·x_j^(−δ) ∈ G; the partials are correct iff every ε_j = 1. If some c_{i,j} is not a
 * unit, D is not one (α_j ≥ 1) and D² = (C⁴)^δ fails. Otherwise the single proof's soundness gives
 * D² = (C⁴)^δ, i.e. Π_j ε_j^(α_j) = 1. Suppose ε_m ≠ 1, of order ω > 2^128. The seed, hence every α_j, is a
 * random-oracle output fixed after the ε_j are; for any values of the α_{j≠m}, ε_m^(α_m) must equal one fixed
 * element, which holds for at most one residue of α_m mod ω, so for at most one of the 2^128 values α_m can take.
 * A prover making Q oracle queries succeeds with probability ≤ Q·2^(−128) plus the single proof's soundness
 * error. The verifier names the party whose batch fails (it cannot tell which of its partials was wrong, and
 * needs not: every partial of a failed batch is rejected). Zero knowledge is the single proof's: (C, D) is a
 * public function of the statement, and the proof on it is the same Σ-protocol with the same 128-bit slack.
 *
 * Several parties' batches at once (`verifyPartialDecryptionBatches`): a combiner that must check m batches of
 * the same round (each from another party) checks their proofs' equations in one random linear combination
 * instead of one by one. With each batch's (C_k, D_k, e_k) as above and verifier-private β_k uniform in
 * [1, 2^128] (drawn after every proof is fixed), it tests
 *   Π_k C_k^(8β_k·z_k) = Π_k a_k^(2β_k)·D_k^(4β_k·e_k)   and   Π_k (v^(z_k))^(2β_k) = Π_k b_k^(2β_k)·v_(i_k)^(2β_k·e_k),
 * the k-th single checks raised to 2β_k. The two 4,600-bit exponents of the left side share their squarings in
 * one multi-exponentiation, and v^(Σ β_k·z_k) is one power, so m batches cost about one single check instead of m.
 * Soundness: let X_k = C_k^(4z_k)·a_k^(−1)·D_k^(−2e_k) (a non-unit a_k or D_k makes the right side a non-unit and
 * the test fail), Y_k = X_k² ∈ G. Y_k = 1 is the single check squared, which is as sound as
 * the single check: squaring is a bijection of G (odd order), so two accepting transcripts with one (a, b) give
 * the same relations in G as the unsquared ones (it admits a, b up to a factor of order 2, which the c⁴, c_i²
 * conventions already make harmless). If some Y_m ≠ 1, its order exceeds 2^128 (as above) and, whatever the
 * other β_k, Y_m^(β_m) hits the one value that balances the product for at most one of the 2^128 values of β_m:
 * error ≤ 2^−128 per equation. The same holds for the v-side with W_k = v^(z_k)·b_k^(−1)·v_(i_k)^(−e_k). A failed
 * test names nobody; the caller then checks the batches one by one to name the party (only when someone cheated).
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import * as KernelTables from "../../compute/KernelTables.ts"
import { randomBits } from "../../compute/Primes.ts"
import { multiExpOf, signedMultiExp, tsKernels } from "../../compute/TsKernels.ts"
import { bitLength, concat, fromBytes, sha256, toFixed, u16, u32 } from "../paillier/Bytes.ts"
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

/** One party's partial decryptions of k ciphertexts with one proof for all of them (module doc). */
export interface PartialDecryptionBatch {
  readonly _tag: "ThresholdPaillierPartialDecryptionBatch"
  readonly index: number
  /** c_{i,j} = c_j^(2Δs_i) mod N² */
  readonly values: ReadonlyArray<bigint>
  readonly proof: CorrectnessProof
}

/** Bits of the batch coefficients α_j − 1 (module doc: soundness ≤ Q·2^−128). */
export const BATCH_COEFFICIENT_BITS = 128

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

/** Fiat–Shamir challenge: binds the domain, N, v, v_i, the index, c, c_i and the commitments (and a batch's seed). */
const challenge = (tpk: ThresholdPublicKey, index: number, c: bigint, ci: bigint, a: bigint, b: bigint, batchSeed?: Uint8Array): bigint => {
  const w = width(tpk)
  const label = batchSeed === undefined
    ? new TextEncoder().encode("jointly/threshold-paillier/decryption-share-proof/v1")
    : concat([new TextEncoder().encode("jointly/threshold-paillier/batch-decryption-share-proof/v1"), batchSeed])
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

/** Proofs made or checked with a key before v^x comes from a fixed-base table (it costs about this many). */
export const V_TABLE_AFTER = 4

/**
 * v^x for the proofs' exponents (a prover's r, a verifier's z, both < 2^(proofRandomBits + 1)): v is fixed per
 * key, so a kernel that keeps fixed-base tables computes it from one (no squarings) once the key has been used
 * a few times, else one modPow.
 */
const powV = (tpk: ThresholdPublicKey, x: bigint, kernels: BigIntKernels): bigint => {
  const table = KernelTables.tableOf(kernels, tpk, tpk.v, tpk.publicKey.n2, proofRandomBits(tpk) + 1, V_TABLE_AFTER)
  return table !== undefined ? table.pow(x) : kernels.modPow(tpk.v, x, tpk.publicKey.n2)
}

/**
 * v^x for an x beyond the table's range (a batched check's Σ β_k·z_k, ~130 bits longer than one z): the table's
 * power of x's low B bits times (v^(2^B))^(x's high bits), v^(2^B) itself one table power (2^B is in range).
 */
const powVWide = (tpk: ThresholdPublicKey, x: bigint, kernels: BigIntKernels): bigint => {
  const bits = BigInt(proofRandomBits(tpk))
  const high = x >> bits
  const low = powV(tpk, x & ((1n << bits) - 1n), kernels)
  return high === 0n ? low : (low * kernels.modPow(powV(tpk, 1n << bits, kernels), high, tpk.publicKey.n2)) % tpk.publicKey.n2
}

const proofOf = (share: KeyShare, c: bigint, value: bigint, kernels: BigIntKernels, batchSeed?: Uint8Array): CorrectnessProof => {
  const tpk = share.publicKey
  const n2 = tpk.publicKey.n2
  const c4 = kernels.modPow(c, 4n, n2)
  const r = randomBits(proofRandomBits(tpk))
  const a = kernels.modPow(c4, r, n2)
  const b = powV(tpk, r, kernels)
  const e = challenge(tpk, share.index, c, value, a, b, batchSeed)
  return { a, b, z: r + e * tpk.delta * share.share }
}

const prove = (share: KeyShare, c: Ciphertext, value: bigint, kernels: BigIntKernels): PartialDecryption =>
  ({ _tag: "ThresholdPaillierPartialDecryption", index: share.index, value, proof: proofOf(share, c.value, value, kernels) })

const checkProof = (tpk: ThresholdPublicKey, index: number, c: bigint, value: bigint, proof: CorrectnessProof, kernels: BigIntKernels, batchSeed?: Uint8Array): boolean => {
  const n2 = tpk.publicKey.n2
  const { a, b, z } = proof
  const inGroup = (x: bigint) => x > 0n && x < n2
  if (!inGroup(value) || !inGroup(a) || !inGroup(b) || z < 0n || bitLength(z) > proofRandomBits(tpk) + 1) return false
  const e = challenge(tpk, index, c, value, a, b, batchSeed)
  const c4 = kernels.modPow(c, 4n, n2)
  const left1 = kernels.modPow(c4, z, n2)
  const right1 = (a * kernels.modPow(value, 2n * e, n2)) % n2
  if (left1 !== right1) return false
  const left2 = powV(tpk, z, kernels)
  const right2 = (b * kernels.modPow(tpk.verificationKeys[index - 1]!, e, n2)) % n2
  return left2 === right2
}

/** The batch's Fiat–Shamir seed: binds the domain, N, v, v_i, the index, k, every c_j and every c_{i,j}. */
const batchSeedOf = (tpk: ThresholdPublicKey, index: number, cs: ReadonlyArray<bigint>, values: ReadonlyArray<bigint>): Uint8Array => {
  const w = width(tpk)
  return sha256(
    concat([
      new TextEncoder().encode("jointly/threshold-paillier/batch-coefficients/v1"),
      toFixed(tpk.publicKey.n, tpk.publicKey.bits / 8),
      toFixed(tpk.v, w),
      toFixed(tpk.verificationKeys[index - 1]!, w),
      u16(index),
      u32(cs.length),
      ...cs.map((c) => toFixed(c, w)),
      ...values.map((x) => toFixed(x, w))
    ])
  )
}

/** α_j ∈ [1, 2^128]: never 0, so a non-unit c_{i,j} always makes D a non-unit (module doc). */
export const batchCoefficients = (seed: Uint8Array, count: number): Array<bigint> =>
  Array.from({ length: count }, (_, j) => 1n + fromBytes(sha256(concat([seed, u32(j)])).subarray(0, BATCH_COEFFICIENT_BITS / 8)))

/** (C, D) = (Π c_j^(α_j), Π c_{i,j}^(α_j)) mod N², with the seed the coefficients came from. */
const combination = (tpk: ThresholdPublicKey, index: number, cs: ReadonlyArray<bigint>, values: ReadonlyArray<bigint>, kernels: BigIntKernels) => {
  const n2 = tpk.publicKey.n2
  const seed = batchSeedOf(tpk, index, cs, values)
  const alphas = batchCoefficients(seed, cs.length)
  const product = (xs: ReadonlyArray<bigint>) => multiExpOf(kernels)(xs, alphas, n2)
  return { seed, c: product(cs), d: product(values) }
}

/**
 * c_{i,j} = c_j^(2Δs_i) mod N² for every c_j (one kernel batch call, shared exponent), with one proof for all of
 * them over a Fiat–Shamir random linear combination (module doc).
 */
export const partialDecryptBatchProved = (share: KeyShare, cs: ReadonlyArray<Ciphertext>, kernels: BigIntKernels = tsKernels): PartialDecryptionBatch => {
  const values = partialDecryptValues(share, cs, kernels)
  return proveBatch(share, cs, values, kernels)
}

/** The values of a batch without its proof (the worker pool computes them in parallel chunks; `proveBatch` then proves them once). */
export const partialDecryptValues = (share: KeyShare, cs: ReadonlyArray<Ciphertext>, kernels: BigIntKernels = tsKernels): Array<bigint> => {
  for (const c of cs) checkCiphertextKey(share.publicKey, c)
  return kernels.modPowBatch(cs.map((c) => c.value), 2n * share.publicKey.delta * share.share, share.publicKey.publicKey.n2)
}

export const proveBatch = (share: KeyShare, cs: ReadonlyArray<Ciphertext>, values: ReadonlyArray<bigint>, kernels: BigIntKernels = tsKernels): PartialDecryptionBatch => {
  if (values.length !== cs.length) fail("InvalidParameters", `${cs.length} ciphertexts, ${values.length} partial decryptions`)
  for (const c of cs) checkCiphertextKey(share.publicKey, c)
  const { seed, c, d } = combination(share.publicKey, share.index, cs.map((x) => x.value), values, kernels)
  return { _tag: "ThresholdPaillierPartialDecryptionBatch", index: share.index, values: [...values], proof: proofOf(share, c, d, kernels, seed) }
}

/**
 * True when the one proof shows c_{i,j} = c_j^(2Δs_i) for every j, except with probability ≤ Q·2^−128 (module
 * doc). False also when the batch does not cover exactly `cs`.
 */
export const verifyPartialDecryptionBatch = (tpk: ThresholdPublicKey, cs: ReadonlyArray<Ciphertext>, batch: PartialDecryptionBatch, kernels: BigIntKernels = tsKernels): boolean => {
  for (const c of cs) checkCiphertextKey(tpk, c)
  checkIndex(tpk, batch.index)
  const n2 = tpk.publicKey.n2
  if (cs.length === 0 || batch.values.length !== cs.length || batch.values.some((x) => x <= 0n || x >= n2)) return false
  const { seed, c, d } = combination(tpk, batch.index, cs.map((x) => x.value), batch.values, kernels)
  return checkProof(tpk, batch.index, c, d, batch.proof, kernels, seed)
}

/**
 * True when every batch's proof verifies (each covering exactly `cs`), in one randomized test (module doc
 * "Several parties' batches at once"): false means at least one does not, or one is malformed; which one,
 * `verifyPartialDecryptionBatch` says.
 */
export const verifyPartialDecryptionBatches = (
  tpk: ThresholdPublicKey,
  cs: ReadonlyArray<Ciphertext>,
  batches: ReadonlyArray<PartialDecryptionBatch>,
  kernels: BigIntKernels = tsKernels
): boolean => {
  for (const c of cs) checkCiphertextKey(tpk, c)
  const n2 = tpk.publicKey.n2
  const inGroup = (x: bigint) => x > 0n && x < n2
  if (cs.length === 0 || batches.length === 0) return false
  const multiExp = multiExpOf(kernels)
  const lhsBases: Array<bigint> = []
  const lhsExponents: Array<bigint> = []
  const rhsBases: Array<bigint> = []
  const rhsExponents: Array<bigint> = []
  let vExponent = 0n
  const vRhsBases: Array<bigint> = []
  const vRhsExponents: Array<bigint> = []
  for (const batch of batches) {
    checkIndex(tpk, batch.index)
    const { a, b, z } = batch.proof
    if (batch.values.length !== cs.length || batch.values.some((x) => !inGroup(x))) return false
    if (!inGroup(a) || !inGroup(b) || z < 0n || bitLength(z) > proofRandomBits(tpk) + 1) return false
    const { seed, c, d } = combination(tpk, batch.index, cs.map((x) => x.value), batch.values, kernels)
    const e = challenge(tpk, batch.index, c, d, a, b, seed)
    // Verifier-private coins, drawn after the proof is fixed (module doc).
    const beta = 1n + randomBits(BATCH_COEFFICIENT_BITS)
    lhsBases.push(c)
    lhsExponents.push(8n * beta * z)
    rhsBases.push(a, d)
    rhsExponents.push(2n * beta, 4n * beta * e)
    vExponent += beta * z
    vRhsBases.push(b, tpk.verificationKeys[batch.index - 1]!)
    vRhsExponents.push(2n * beta, 2n * beta * e)
  }
  if (multiExp(lhsBases, lhsExponents, n2) !== multiExp(rhsBases, rhsExponents, n2)) return false
  const left = powVWide(tpk, vExponent, kernels)
  return (left * left) % n2 === multiExp(vRhsBases, vRhsExponents, n2)
}

/** The per-ciphertext partials of verified batches, for `combine` with `verify: false`. */
export const unbatch = (batch: PartialDecryptionBatch): Array<PartialDecryption> =>
  batch.values.map((value) => ({ _tag: "ThresholdPaillierPartialDecryption", index: batch.index, value, proof: batch.proof }))

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
  return checkProof(tpk, partial.index, c.value, partial.value, partial.proof, kernels)
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
  // Π c_i^(2μ_i) in one multi-exponentiation; the μ_i < 0 terms through one inverse of their product.
  const acc = signedMultiExp(kernels, chosen.map((p) => p.value), chosen.map((p) => 2n * lagrangeAtZero(tpk.delta, indices, p.index)), n2)
  const l = (acc - 1n) / n
  return (l * kernels.modInverse(4n * tpk.delta * tpk.delta, n)) % n
}
