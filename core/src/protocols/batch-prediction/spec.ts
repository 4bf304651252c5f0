/**
 * Offline (batch) prediction (PROTOCOLS.md §3 "Joint prediction"): one participant applies a stored model to
 * its own rows; the predictions are written next to its data (the `PredictionSink`) and only their count and
 * sha256 digest go back to the coordinator, which notarizes the digest. The spec carries the artifact
 * itself (fetched by the initiator from `GET /api/models/{id}`), so the task id commits to the exact model,
 * and the participant checks that the artifact hashes to `modelId` before it reads a row.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"
import { ModelArtifact } from "../../models/ModelArtifact.ts"
import { stage } from "../Protocol.ts"

export const kind = "prediction.batch" as const

export const Params = Schema.Struct({
  modelId: Schema.String,
  model: ModelArtifact
})
export type Params = typeof Params.Type

export const predict = stage(
  "prediction.batch",
  Schema.Struct({ modelId: Schema.String }),
  Schema.Struct({ count: Schema.Int, digest: Schema.String })
)

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  modelId: Schema.String,
  participant: Schema.String,
  count: Schema.Int,
  /** sha256 of the predictions file's bytes, as written at the participant. */
  digest: Schema.String
})
export type Result = typeof Result.Type

export class PredictionSinkError extends Schema.TaggedError<PredictionSinkError>()("PredictionSinkError", {
  detail: Schema.String
}) {
  override get message() {
    return `could not store predictions: ${this.detail}`
  }
}

/** Where a participant keeps predictions (its data directory); implemented by the participant package. */
export class PredictionSink extends Context.Service<PredictionSink, {
  readonly write: (taskId: string, bytes: Uint8Array) => Effect.Effect<void, PredictionSinkError>
}>()("jointly/PredictionSink") {}
