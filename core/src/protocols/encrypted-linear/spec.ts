/**
 * Encrypted linear inference (task kind `prediction.encrypted-linear`, issue 5 item 4): the requester's rows
 * reach the model owner only as CKKS ciphertexts under the requester's key; the owner evaluates w·x + b with its
 * plaintext `linear` artifact and returns ciphertexts only the requester can decrypt. The coordinator relays
 * bytes and learns the row count.
 *
 *   1. he.encrypt   requester: fresh CKKS keys, its rows (params.features, raw units) encrypted, Galois keys;
 *   2. he.evaluate  owner: loads the artifact `modelId` from its own store, checks the columns, folds the
 *                   scaling into the weights, returns [[w·x + b]] per row (other slots masked to zero);
 *   3. he.decrypt   requester: decrypts, keeps the scores as its private output (TaskOutput), returns a digest.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"
import { LinearArtifact } from "../../models/ModelArtifact.ts"
import { Address } from "../../task/TaskSpec.ts"
import type { ParticipantFailure } from "../Protocol.ts"
import { stage } from "../Protocol.ts"
import { EncryptedFeatures, EncryptedScores, Parameters } from "./Ckks.ts"

export const kind = "prediction.encrypted-linear" as const

export const Params = Schema.Struct({
  requester: Address,
  owner: Address,
  /** Content address of the owner's `linear` artifact (ModelArtifact.artifactId); the owner checks it. */
  modelId: Schema.String,
  /** The requester's columns, in the artifact's featureColumns order. */
  features: Schema.NonEmptyArray(Schema.String),
  ckks: Schema.optional(Parameters)
})
export type Params = typeof Params.Type

export const encrypt = stage("he.encrypt", Schema.Struct({}), EncryptedFeatures)
export const evaluate = stage("he.evaluate", Schema.Struct({ modelId: Schema.String, features: EncryptedFeatures }), EncryptedScores)
export const decrypt = stage("he.decrypt", EncryptedScores, Schema.Struct({ rows: Schema.Int, digest: Schema.String }))

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  modelId: Schema.String,
  requester: Schema.String,
  owner: Schema.String,
  rows: Schema.Int,
  /** sha256 of the requester's scores as stored there. */
  digest: Schema.String
})
export type Result = typeof Result.Type

/** Models a participant owns, by content address (participant/src/he/ reads `<data dir>/models/<id>.json`). */
export class OwnedModels extends Context.Service<OwnedModels, {
  readonly linear: (modelId: string) => Effect.Effect<LinearArtifact, ParticipantFailure>
}>()("jointly/OwnedModels") {}

export { LinearArtifact }
