/**
 * Secure comparison building blocks in the corrected forms of PROTOCOLS.md §5.4 (Mode B) and §6.3 (ours).
 * Both decide I = [a < 1] for a fixed-point value a carried at scale S² (the product of two S-scaled
 * encodings, §4), i.e. I = [a < S²] over the integers, through the odd, non-zero
 *
 *     u = 2(a − S²) + 1,   sign(u) = sign of (a − S² + ½),   so u < 0 ⇔ a < S²
 *
 * which fixes the source's comparisons, wrong exactly at the threshold a = S² (§5.3, §6.3 "Correct condition").
 * Multiplying an odd u by ρ ∈ [2^κ, 2^(κ+1)) and adding η ∈ [0, ρ) keeps its sign: for u ≥ 1 the result is
 * ≥ ρ > 0, for u ≤ −1 it is ≤ −ρ + η < 0, and |result| ≥ 1, so blinding steps compose.
 *
 * Leakage (stated, not hidden):
 * - Mode B (`signHiddenBlind` → `signOf` → `unblind`): the decryptor C sees z = s·(r1·u + r'), with a secret
 *   random sign s, so the comparison bit is hidden from C; but |z| ≈ r1·|u| with r1 in a 2^κ-wide range
 *   reveals roughly log2|u| (the magnitude of the margin, to about one bit). The provider learns I. C's
 *   reply beta must come back over an authenticated channel: a malicious C can flip it undetected.
 * - §6.3 sequential blinding (`judgeInput` → `blindStep` × n → threshold decryption → `isNegative`): every
 *   party learns I and the blinded value v = ρ_n(…(ρ_1·u + η_1)…) + η_n, hence roughly log2|u|;
 *   colluding parties who pool their ρ_i, η_i learn |u| more precisely (all n together learn u exactly).
 *   Nobody learns a's partial sums (the source posted r1, r3 in clear and leaked a itself).
 * - For a bit-only guarantee use a DGK/Veugen or garbled-circuit comparison (not built here).
 *
 * Headroom (§4 rule and §6.3 step 5): the blinded magnitude must stay below N/2 or the sign wraps; both entry
 * points check it from a caller-supplied bound on |a| and fail with ComparisonError("HeadroomExceeded").
 */
import { Schema } from "effect"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBelow } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import type { PublicKey } from "../paillier/Keys.ts"
import * as Paillier from "../paillier/Paillier.ts"
import type { RandomnessSource } from "../paillier/Randomness.ts"

export class ComparisonError extends Schema.TaggedError<ComparisonError>()("ComparisonError", {
  reason: Schema.Literals(["HeadroomExceeded", "InvalidParameters"]),
  detail: Schema.String
}) {
  override get message() {
    return `secure comparison ${this.reason}: ${this.detail}`
  }
}

/** Statistical masking parameter κ (PROTOCOLS.md §0). */
export const DEFAULT_KAPPA = 40

const abs = (x: bigint) => (x < 0n ? -x : x)

/** Largest |u| for |a| ≤ maxAbsA: |2(a − S²) + 1| ≤ 2·maxAbsA + 2S² + 1. */
export const maxAbsU = (maxAbsA: bigint, scaleSquared: bigint): bigint => 2n * abs(maxAbsA) + 2n * scaleSquared + 1n

/** Draws ρ ∈ [2^κ, 2^(κ+1)) and η ∈ [0, ρ). */
const drawBlinding = (kappa: number): { rho: bigint; eta: bigint } => {
  const rho = (1n << BigInt(kappa)) + randomBelow(1n << BigInt(kappa))
  return { rho, eta: randomBelow(rho) }
}

const checkKappa = (kappa: number) => {
  if (!Number.isInteger(kappa) || kappa < 1 || kappa > 256) throw new ComparisonError({ reason: "InvalidParameters", detail: `κ must be in 1…256, got ${kappa}` })
}

/**
 * §6.3 step 5: |u|·2^(n(κ+1)+1) < N/2, which bounds every intermediate of n sequential blinding steps
 * (|v_i| < (|v_{i−1}| + 1)·2^(κ+1)). Mode B is the case n = 1.
 */
export const checkHeadroom = (pk: PublicKey, maxAbsU: bigint, steps: number, kappa = DEFAULT_KAPPA): void => {
  checkKappa(kappa)
  if (!Number.isInteger(steps) || steps < 1) throw new ComparisonError({ reason: "InvalidParameters", detail: `steps must be ≥ 1, got ${steps}` })
  if ((abs(maxAbsU) << BigInt(steps * (kappa + 1) + 1)) >= pk.halfN) {
    throw new ComparisonError({
      reason: "HeadroomExceeded",
      detail: `|u| ≤ ${maxAbsU} blinded ${steps} time(s) with κ = ${kappa} can reach N/2; use a larger N or smaller values`
    })
  }
}

/** [[u]] = [[a]]² · [[1 − 2S²]] (§6.3 step 1; also Mode B step 1). */
export const judgeInput = (a: Paillier.Ciphertext, scaleSquared: bigint, kernels: BigIntKernels = tsKernels): Paillier.Ciphertext =>
  Paillier.addPlain(Paillier.multiplyScalar(a, 2n, kernels), 1n - 2n * scaleSquared)

export interface BlindOptions {
  /** Public bound on |a| (scaled integers), from the task's value ranges. */
  readonly maxAbsA: bigint
  /** S² for a margin at scale S² (2^32 for S = 2^16). */
  readonly scaleSquared: bigint
  readonly kappa?: number
  readonly kernels?: BigIntKernels
  readonly randomness?: RandomnessSource
}

export interface SignHiddenBlinding {
  /** [[s·(r1·u + r')]], re-randomised, to send to the key owner C. */
  readonly blinded: Paillier.Ciphertext
  /** s = −1; the provider keeps it secret to unblind C's answer. */
  readonly flipped: boolean
}

/** Mode B, provider side (§5.4 steps 1–3). */
export const signHiddenBlind = (a: Paillier.Ciphertext, options: BlindOptions): SignHiddenBlinding => {
  const kappa = options.kappa ?? DEFAULT_KAPPA
  const kernels = options.kernels ?? tsKernels
  checkHeadroom(a.publicKey, maxAbsU(options.maxAbsA, options.scaleSquared), 1, kappa)
  const u = judgeInput(a, options.scaleSquared, kernels)
  const { rho, eta } = drawBlinding(kappa)
  const flipBits = new Uint8Array(1)
  crypto.getRandomValues(flipBits)
  const flipped = (flipBits[0]! & 1) === 1
  const masked = Paillier.addPlain(Paillier.multiplyScalar(u, rho, kernels), eta)
  const signed = flipped ? Paillier.negate(masked, kernels) : masked
  return { blinded: Paillier.rerandomize(signed, options.randomness), flipped }
}

/** Mode B, key-owner side (§5.4 step 4): beta = [z < 0]. */
export const signOf = (sk: Parameters<typeof Paillier.decryptSigned>[0], z: Paillier.Ciphertext, kernels?: BigIntKernels): boolean =>
  Paillier.decryptSigned(sk, z, kernels) < 0n

/** Mode B, provider side (§5.4 step 5): I = beta XOR [s = −1] = [a < S²]. */
export const unblind = (blinding: Pick<SignHiddenBlinding, "flipped">, beta: boolean): boolean => beta !== blinding.flipped

/**
 * §6.3 step 2: one party's sequential blinding step c ← c^ρ · [[η]], re-randomised. Callers check the
 * headroom once for the whole chain with `checkHeadroom(pk, maxAbsU(…), parties)` before the first step.
 */
export const blindStep = (
  c: Paillier.Ciphertext,
  options: { readonly kappa?: number; readonly kernels?: BigIntKernels; readonly randomness?: RandomnessSource } = {}
): Paillier.Ciphertext => {
  const kappa = options.kappa ?? DEFAULT_KAPPA
  checkKappa(kappa)
  const { rho, eta } = drawBlinding(kappa)
  return Paillier.rerandomize(Paillier.addPlain(Paillier.multiplyScalar(c, rho, options.kernels), eta), options.randomness)
}

/** §6.3 step 3: I = [v < 0] for the jointly decrypted residue v. */
export const isNegative = (pk: PublicKey, residue: bigint): boolean => Paillier.toSigned(pk, residue) < 0n
