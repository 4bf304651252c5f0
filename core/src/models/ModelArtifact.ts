/**
 * Trained models as content-addressed artifacts: what the coordinator's model store keeps, what online and
 * batch prediction load, and whose digest a training task's result commits to (so the chain notarizes the very
 * bytes that predict). Two formats:
 *  - `tfjs-layers`: a declarative Keras/tfjs LayersModel topology (JSON, never code) and its weights as
 *    little-endian float32 bytes in the order of `weightShapes`;
 *  - `linear`: score = w·x' + b with x' = (x − mean) / std when `scaling` is present, read through `link`
 *    ("sign" → ±1, "sigmoid" → probability, "identity" → the score), e.g. a SecureSVM model.
 * The id is sha256 over the canonical JSON of the artifact (weights as hex of their bytes), so the same
 * model always has the same id whichever process produced it.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Schema } from "effect"
import { canonicalJson } from "../wire/Canonical.ts"

export const Scaling = Schema.Struct({ mean: Schema.Array(Schema.Finite), std: Schema.Array(Schema.Finite) })
export type Scaling = typeof Scaling.Type

export const TfjsLayersArtifact = Schema.Struct({
  format: Schema.Literal("tfjs-layers"),
  /** `model.toJSON(null, false)` of a LayersModel: layer configs only. */
  topology: Schema.Record(Schema.String, Schema.Unknown),
  weightShapes: Schema.Array(Schema.Array(Schema.Int)),
  /** float32, little-endian, concatenated in the order of `weightShapes`. */
  weights: Schema.Uint8ArrayFromBase64,
  featureColumns: Schema.Array(Schema.String),
  scaling: Schema.optional(Scaling),
  /** Label value of each output unit (classification), e.g. ["0", …, "9"]. */
  classes: Schema.optional(Schema.Array(Schema.String))
})
export type TfjsLayersArtifact = typeof TfjsLayersArtifact.Type

export const LinearArtifact = Schema.Struct({
  format: Schema.Literal("linear"),
  weights: Schema.Array(Schema.Finite),
  bias: Schema.Finite,
  link: Schema.Literals(["sign", "sigmoid", "identity"]),
  featureColumns: Schema.Array(Schema.String),
  scaling: Schema.optional(Scaling)
})
export type LinearArtifact = typeof LinearArtifact.Type

export const ModelArtifact = Schema.Union([TfjsLayersArtifact, LinearArtifact])
export type ModelArtifact = typeof ModelArtifact.Type

export class InvalidArtifact extends Schema.TaggedError<InvalidArtifact>()("InvalidArtifact", {
  detail: Schema.String
}) {
  override get message() {
    return `invalid model artifact: ${this.detail}`
  }
}

export const parameterCount = (shapes: ReadonlyArray<ReadonlyArray<number>>): number =>
  shapes.reduce((sum, shape) => sum + shape.reduce((p, d) => p * d, 1), 0)

/** Whether this platform stores a float32 in little-endian byte order (every platform we run on does). */
const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/**
 * float32 values ↔ little-endian bytes, independent of the platform's byte order. On a little-endian platform the
 * bytes are the array's own, copied whole (a memcpy; element by element through a DataView cost 3–7× more, and a
 * federated round decodes every update of the cohort).
 */
export const float32ToBytes = (values: Float32Array): Uint8Array => {
  if (littleEndian) return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength))
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
  return bytes
}

export const bytesToFloat32 = (bytes: Uint8Array): Float32Array => {
  if (bytes.length % 4 !== 0) throw new InvalidArtifact({ detail: `${bytes.length} weight bytes is not a whole number of float32` })
  // A copy into a fresh buffer: aligned whatever the bytes' offset, and not sharing memory with the message.
  if (littleEndian) return new Float32Array(bytes.slice().buffer)
  const out = new Float32Array(bytes.length / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/** Why an artifact cannot be used, or undefined: sizes agree, every number is finite. */
export const problem = (artifact: ModelArtifact): string | undefined => {
  const features = artifact.featureColumns.length
  if (artifact.scaling && (artifact.scaling.mean.length !== features || artifact.scaling.std.length !== features)) {
    return `scaling must have ${features} means and stds`
  }
  if (artifact.scaling?.std.some((s) => s === 0)) return "a scaling std is zero"
  if (artifact.format === "linear") {
    return artifact.weights.length === features ? undefined : `${artifact.weights.length} weights for ${features} feature columns`
  }
  const expected = parameterCount(artifact.weightShapes) * 4
  if (artifact.weights.length !== expected) return `${artifact.weights.length} weight bytes, the shapes need ${expected}`
  if (bytesToFloat32(artifact.weights).some((w) => !Number.isFinite(w))) return "a weight is not finite"
  return undefined
}

/** Content address: sha256 (hex, 0x-prefixed) of the canonical JSON of the artifact. */
export const artifactId = (artifact: ModelArtifact): string =>
  "0x" + bytesToHex(sha256(new TextEncoder().encode(canonicalJson(artifact))))

/** Standardizes one row in place of a copy. */
export const scaleRow = (row: ArrayLike<number>, scaling: Scaling | undefined): Array<number> =>
  Array.from(row, (x, i) => (scaling ? (x - scaling.mean[i]!) / scaling.std[i]! : x))

/** Linear prediction of one row (already in feature-column order). */
export const predictLinear = (model: LinearArtifact, row: ArrayLike<number>): number => {
  const x = scaleRow(row, model.scaling)
  let score = model.bias
  for (let i = 0; i < x.length; i++) score += model.weights[i]! * x[i]!
  switch (model.link) {
    case "sign": return score >= 0 ? 1 : -1
    case "sigmoid": return 1 / (1 + Math.exp(-score))
    case "identity": return score
  }
}
