/**
 * A party's part of a trained SecureBoost model, as it keeps it at rest (the vertical kinds' sealed store,
 * vertical/PartialModels.ts, under the format tag "jointly/secureboost-model-part"): the label holder's trees
 * (shapes, its own thresholds, leaf weights), or a feature holder's lookup table. Neither ever leaves its owner;
 * the coordinator's result carries only each part's digest.
 */
import { Schema } from "effect"
import * as PartialModels from "../vertical/PartialModels.ts"
import { FeatureHolderModel, LabelHolderModel } from "./Model.ts"

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
