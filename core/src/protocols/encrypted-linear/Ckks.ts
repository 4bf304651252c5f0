/**
 * The CKKS operations encrypted linear inference needs, named here so that core never imports SEAL
 * (STYLE.md: a service interface in the neutral package, the node-seal implementations — Node and Web Worker
 * builds — in `@jointly/backends`' compositions). It is a required service: a protocol that uses it says so in
 * its handlers' type, so a host that does not compose it fails to compile rather than fail a task. Everything crosses as bytes (SEAL's own serialization); SEAL objects never leave the
 * implementation, which releases each one when its scope closes.
 *
 * Layout: row r of `features` values sits in slots [r·stride, r·stride + features) of ciphertext
 * ⌊r / rowsPerCiphertext⌋, stride = the next power of two ≥ features, so a rotate-and-sum over log2(stride)
 * Galois steps (1, 2, 4, …) leaves w·x_r in slot r·stride; every other slot is masked to zero before the score
 * goes back, so the requester learns w·x_r + b and nothing about single weights.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"

export class CkksError extends Schema.TaggedError<CkksError>()("CkksError", {
  reason: Schema.Literals(["InvalidParameters", "MalformedCiphertext", "MalformedKeys", "ShapeMismatch", "Unavailable"]),
  detail: Schema.String
}) {
  override get message() {
    return `CKKS: ${this.reason}: ${this.detail}`
  }
}

/** What the requester chooses; the evaluator checks it (128-bit security, enough levels for two rescales). */
export const Parameters = Schema.Struct({
  polyModulusDegree: Schema.Literals([8192, 16384]),
  /** Bit sizes of the coefficient-modulus primes, e.g. [60, 40, 40, 60]: special prime last. */
  coeffModulusBits: Schema.Array(Schema.Int),
  /** log2 of the encoding scale (the middle primes' size). */
  scaleBits: Schema.Int
})
export type Parameters = typeof Parameters.Type

export const defaultParameters: Parameters = { polyModulusDegree: 8192, coeffModulusBits: [60, 40, 40, 60], scaleBits: 40 }

const Bytes = Schema.Uint8ArrayFromBase64

/** Requester → model owner: encrypted rows and the Galois keys for the rotations (no secret, no public key). */
export const EncryptedFeatures = Schema.Struct({
  /** SEAL EncryptionParameters, serialized. */
  parameters: Bytes,
  scaleBits: Schema.Int,
  galoisKeys: Bytes,
  ciphertexts: Schema.Array(Bytes),
  rows: Schema.Int,
  features: Schema.Int,
  stride: Schema.Int
})
export type EncryptedFeatures = typeof EncryptedFeatures.Type

/** Model owner → requester: one ciphertext per input ciphertext, the score of row r in slot r·stride. */
export const EncryptedScores = Schema.Struct({
  ciphertexts: Schema.Array(Bytes),
  rows: Schema.Int,
  stride: Schema.Int
})
export type EncryptedScores = typeof EncryptedScores.Type

/** The requester's secret state between encrypting and decrypting (never sent). */
export interface RequesterKeys {
  readonly parameters: Uint8Array
  readonly secretKey: Uint8Array
}

/**
 * A requester's keys for queries of rows of one width, made once and used for many queries (`encryptRows`):
 * generating them (the Galois keys above all) costs several times a query. Secret: kept by the requester; only
 * `galoisKeys` (public evaluation keys) go out, inside each request. Reusing them is safe because scores are
 * decrypted by the requester alone and never shown to the evaluator.
 */
export interface QueryKeys extends RequesterKeys {
  /** SEAL's Encryptor wants a public key even for the (seeded) symmetric encryptions made here. */
  readonly publicKey: Uint8Array
  readonly galoisKeys: Uint8Array
  readonly scaleBits: number
  readonly features: number
  readonly stride: number
}

export interface CkksApi {
  /** Requester: fresh keys, rows encrypted under them, Galois keys for the evaluator's rotations (`queryKeys` + `encryptRows`). */
  readonly encryptFeatures: (
    rows: ReadonlyArray<ArrayLike<number>>,
    parameters?: Parameters
  ) => Effect.Effect<{ readonly keys: RequesterKeys; readonly request: EncryptedFeatures }, CkksError>
  /** Requester: keys for queries of `features`-wide rows, to keep and reuse. */
  readonly queryKeys: (features: number, parameters?: Parameters) => Effect.Effect<QueryKeys, CkksError>
  /** Requester: rows encrypted under kept query keys (decrypt the scores with the same keys). */
  readonly encryptRows: (keys: QueryKeys, rows: ReadonlyArray<ArrayLike<number>>) => Effect.Effect<EncryptedFeatures, CkksError>
  /**
   * Model owner: [[w·x_r + b]] per row from plaintext weights; sees ciphertexts only. The Galois keys of the last
   * few requesters stay loaded, so a requester that reuses its query keys does not pay for parsing them again.
   */
  readonly evaluateLinear: (
    request: EncryptedFeatures,
    model: { readonly weights: ReadonlyArray<number>; readonly bias: number }
  ) => Effect.Effect<EncryptedScores, CkksError>
  /** Requester: the score of every row. */
  readonly decryptScore: (keys: RequesterKeys, scores: EncryptedScores) => Effect.Effect<Float64Array, CkksError>
  /**
   * Vector aggregation (federated-learning "ckks" mode): a key pair for a group that shares the secret key.
   * The `parameters` half is public; the secret key travels only end-to-end encrypted between the group.
   */
  readonly generateKeys: (parameters?: Parameters) => Effect.Effect<RequesterKeys, CkksError>
  /** `values` in the slots of ⌈length / slots⌉ fresh ciphertexts (seeded symmetric, under the shared key). */
  readonly encryptVector: (keys: RequesterKeys, values: ArrayLike<number>) => Effect.Effect<Array<Uint8Array>, CkksError>
  /** Slot-wise sum of equally long ciphertext vectors; needs the public parameters only, never a key. */
  readonly addCiphertexts: (parameters: Uint8Array, vectors: ReadonlyArray<ReadonlyArray<Uint8Array>>) => Effect.Effect<Array<Uint8Array>, CkksError>
  /** The first `length` slots of a ciphertext vector. */
  readonly decryptVector: (keys: RequesterKeys, ciphertexts: ReadonlyArray<Uint8Array>, length: number) => Effect.Effect<Float64Array, CkksError>
}

export class Ckks extends Context.Service<Ckks, CkksApi>()("jointly/Ckks") {}

export const strideFor = (features: number): number => {
  let stride = 1
  while (stride < features) stride *= 2
  return stride
}

/**
 * Scaling folded into the weights, so the requester sends raw features and the owner keeps its model:
 * w·(x − m)/s + b = Σ (w_k/s_k)·x_k + (b − Σ w_k·m_k/s_k).
 */
export const foldScaling = (
  model: { readonly weights: ReadonlyArray<number>; readonly bias: number; readonly scaling?: { readonly mean: ReadonlyArray<number>; readonly std: ReadonlyArray<number> } | undefined }
): { weights: Array<number>; bias: number } => {
  const s = model.scaling
  if (s === undefined) return { weights: [...model.weights], bias: model.bias }
  const weights = model.weights.map((w, k) => w / s.std[k]!)
  return { weights, bias: model.bias - weights.reduce((acc, w, k) => acc + w * s.mean[k]!, 0) }
}
