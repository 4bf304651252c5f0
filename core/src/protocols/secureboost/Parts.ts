/**
 * A party's part of a trained SecureBoost model, as it keeps it at rest (the vertical kinds' sealed store,
 * vertical/PartialModels.ts, under the format tag "jointly/secureboost-model-part"): the label holder's trees
 * (shapes, its own thresholds, leaf weights), or a feature holder's lookup table. Neither ever leaves its owner;
 * the coordinator's result carries only each part's digest.
 */
import { Effect, Schema } from "effect"
import * as PartialModels from "../vertical/PartialModels.ts"
import { FeatureHolderModel, LabelHolderModel, LookupEntry, Tree } from "./Model.ts"

export const FORMAT = "jointly/secureboost-model-part" satisfies PartialModels.PartFormat

export const ModelPart = Schema.Struct({
  modelId: Schema.String,
  /** The training task's parties in task order: a prediction task must name the same. */
  parties: Schema.Array(Schema.String),
  labelHolder: Schema.String,
  idColumn: Schema.String,
  /** The columns of this party's dataset the part reads. */
  columns: Schema.Array(Schema.String),
  labelHolderModel: Schema.optional(LabelHolderModel),
  featureHolderModel: Schema.optional(FeatureHolderModel)
})
export type ModelPart = typeof ModelPart.Type

export const put = (owner: string, part: ModelPart) => PartialModels.putPart(owner, FORMAT, part.modelId, ModelPart, part)
export const get = (owner: string, modelId: string) => PartialModels.getPart(owner, FORMAT, modelId, ModelPart)

// ---- training progress (a restarted coordinator resumes at the last finished tree) ------------------------

export const PROGRESS_FORMAT = "jointly/secureboost-progress" satisfies PartialModels.PartFormat

/** The label holder's state after `trees` trees: what its engine needs to grow the next one exactly as before. */
export const LabelHolderProgress = Schema.Struct({
  trees: Schema.Array(Tree),
  /** Ids of the training and validation rows and their margins after these trees (any row order). */
  ids: Schema.Array(Schema.String),
  margins: Schema.Array(Schema.Finite),
  validationLoss: Schema.Array(Schema.Finite),
  /** Per tree: the owner (party index) and gain of each split (the result's importance). */
  gains: Schema.Array(Schema.Array(Schema.Struct({ party: Schema.Int, gain: Schema.Finite })))
})
export type LabelHolderProgress = typeof LabelHolderProgress.Type

/**
 * A party's training progress at a tree boundary, sealed in its store beside its model parts. `bins`: the digest
 * of this party's cut values, so a resume over other data is refused rather than mixing two sets of bins.
 */
export const Progress = Schema.Struct({
  taskId: Schema.String,
  trees: Schema.Int,
  bins: Schema.String,
  labelHolder: Schema.optional(LabelHolderProgress),
  /** A feature holder's lookup records of these trees. */
  entries: Schema.optional(Schema.Array(LookupEntry))
})
export type Progress = typeof Progress.Type

const progressId = (taskId: string, trees: number) => `${taskId}|${trees}`

/** Seals the progress after `progress.trees` trees and drops the one two trees back (a resume needs at most the last two). */
export const saveProgress = (owner: string, progress: Progress) =>
  Effect.andThen(
    PartialModels.putPart(owner, PROGRESS_FORMAT, progressId(progress.taskId, progress.trees), Progress, progress),
    PartialModels.removePart(owner, PROGRESS_FORMAT, progressId(progress.taskId, progress.trees - 2))
  )
export const loadProgress = (owner: string, taskId: string, trees: number) => PartialModels.getPart(owner, PROGRESS_FORMAT, progressId(taskId, trees), Progress)
/** Removes the progress around `trees` (the last two boundaries, and one ahead a crash may have left). */
export const removeProgress = (owner: string, taskId: string, trees: number) =>
  Effect.forEach([trees - 1, trees, trees + 1].filter((t) => t >= 1), (t) => PartialModels.removePart(owner, PROGRESS_FORMAT, progressId(taskId, t)), { discard: true })
