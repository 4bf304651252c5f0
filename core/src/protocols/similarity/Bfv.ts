/**
 * The BFV operations encrypted similarity retrieval needs (spec.ts), named here so that core never imports SEAL
 * (STYLE.md: a service interface in the neutral package, the node-seal implementation in
 * backends/src/SealBfv.ts, like `encrypted-linear/Ckks.ts`). Everything crosses as SEAL-serialized bytes;
 * SEAL objects never leave the implementation.
 *
 * BFV rather than CKKS: scores are exact integers, so the encrypted ranking equals the plaintext one bit for
 * bit (ties included) and an auditor can re-run it deterministically (PROTOCOLS.md §8 step 5); CKKS noise would
 * make near-ties flip.
 *
 * Slots: batching gives N slots (a 2 × N/2 matrix); `rotations` rotates the rows, which for a vector that
 * repeats with a period dividing N/2 is a rotation of every slot.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"

export class BfvError extends Schema.TaggedError<BfvError>()("BfvError", {
  reason: Schema.Literals(["InvalidParameters", "MalformedCiphertext", "MalformedKeys", "ShapeMismatch", "NoiseBudgetExhausted", "Unavailable"]),
  detail: Schema.String
}) {
  override get message() {
    return `BFV: ${this.reason}: ${this.detail}`
  }
}

/** What the querier chooses; the evaluator checks it (SEAL's 128-bit security check, a batching prime). */
export const Parameters = Schema.Struct({
  polyModulusDegree: Schema.Literals([8192, 16384]),
  /** Bits of the batching plaintext modulus t (the coefficient modulus is SEAL's 128-bit default for N). */
  plainModulusBits: Schema.Int.check(Schema.isBetween({ minimum: 30, maximum: 60 }))
})
export type Parameters = typeof Parameters.Type

/** N = 8192 (8192 slots, q of 218 bits: 128-bit security), t of 56 bits: one plaintext-multiplication level. */
export const defaultParameters: Parameters = { polyModulusDegree: 8192, plainModulusBits: 56 }

/** The querier's secret state (never sent). */
export interface QuerierKeys {
  /** SEAL EncryptionParameters, serialized (public). */
  readonly parameters: Uint8Array
  readonly secretKey: Uint8Array
}

export interface Layout {
  readonly slots: number
  /** t, the plaintext modulus: slot values are integers mod t, read back signed in (−t/2, t/2). */
  readonly plainModulus: bigint
}

export interface BfvApi {
  /** Querier: fresh keys and the Galois keys of the given row-rotation steps (seeded, compressed). */
  readonly generateKeys: (
    parameters: Parameters,
    rotationSteps: ReadonlyArray<number>
  ) => Effect.Effect<{ readonly keys: QuerierKeys; readonly galoisKeys: Uint8Array; readonly layout: Layout }, BfvError>
  /** The slot count and plaintext modulus of serialized parameters (checked as the evaluator checks them). */
  readonly layout: (parameters: Uint8Array) => Effect.Effect<Layout, BfvError>
  /** Querier: signed integers (|v| < t/2, at most `slots`, the rest zero) into one fresh ciphertext (seeded symmetric). */
  readonly encrypt: (keys: QuerierKeys, values: ArrayLike<bigint>) => Effect.Effect<Uint8Array, BfvError>
  /** Querier: the first `length` slots of a ciphertext, signed. Fails with NoiseBudgetExhausted rather than return noise. */
  readonly decrypt: (keys: QuerierKeys, ciphertext: Uint8Array, length: number) => Effect.Effect<BigInt64Array, BfvError>
  /**
   * Evaluator: the row rotations by 0, 1, …, count − 1 steps of a fresh ciphertext (each step one key switch
   * with the step-1 Galois key), in NTT form, serialized uncompressed: kept between rounds, reloaded cheaply.
   */
  readonly rotations: (parameters: Uint8Array, galoisKeys: Uint8Array, ciphertext: Uint8Array, count: number) => Effect.Effect<Array<Uint8Array>, BfvError>
  /**
   * Evaluator: Σ_i plain_i ⊙ ciphertext_i + constant (slot-wise, one plaintext-multiplication level), switched to
   * the last level before serialization, which shrinks it and drops the evaluation's extra moduli.
   */
  readonly linearCombination: (
    parameters: Uint8Array,
    terms: ReadonlyArray<{ readonly ciphertext: Uint8Array; readonly plain: BigInt64Array }>,
    constant: BigInt64Array
  ) => Effect.Effect<Uint8Array, BfvError>
}

export class Bfv extends Context.Service<Bfv, BfvApi>()("jointly/Bfv") {}
