/**
 * A contribution task's settings, resolved once from its params and parties: who the owners are (every party but
 * the valuer, in task order: owner i is bit i of a coalition mask), the method, and the training recipe as
 * federated learning resolves it for a coalition of k owners. Both roles and the declaration's check read it.
 */
import { Schema } from "effect"
import { digest } from "../../wire/Canonical.ts"
import type { Resolved } from "../federated-learning/Updates.ts"
import { resolve as resolveTraining } from "../federated-learning/Updates.ts"
import { InvalidParams as TrainingInvalid } from "../federated-learning/spec.ts"
import type { Method, Metric } from "./spec.ts"
import { defaults, exactLimit, InvalidParams, Params } from "./spec.ts"

/** What the coordinator commits as `shapley/recipe` and the valuer keeps with its table (the settlement's recipe). */
export const recipeHash = (params: Params): string => digest(Schema.encodeSync(Params)(params))

export interface Recipe {
  readonly params: Params
  readonly valuer: string
  /** Owner addresses in task order; owner i is bit i of a coalition mask. */
  readonly owners: ReadonlyArray<string>
  readonly method: Method
  readonly metric: Metric
  /** Index of the positive class in `classes` (binary F1 and the ROC curve). */
  readonly positive: number
  readonly classes: ReadonlyArray<string>
  readonly permutations: number
  /** The training recipe for all owners (model summary, loss, classes). */
  readonly training: Resolved
  /** The training recipe of a coalition of `members` ≥ 2 owners: every member trains every round. */
  readonly forCoalition: (members: number) => Resolved
}

const invalid = (field: string, detail: string) => new InvalidParams({ field, detail })

export const resolve = (params: Params, parties: ReadonlyArray<string>): Recipe | InvalidParams => {
  if (!parties.includes(params.valuer)) return invalid("valuer", `${params.valuer} is not a party of the task`)
  const owners = parties.filter((p) => p !== params.valuer)
  if (owners.length < 2) return invalid("parties", `needs at least 2 data owners besides the valuer, got ${owners.length}`)
  const t = params.training
  // Every member of a coalition trains in every round, so a coalition's worth never depends on who was sampled.
  if (t.clientsPerRound !== undefined || t.minUpdatesPerRound !== undefined) {
    return invalid("training", "clientsPerRound and minUpdatesPerRound are not set: every member of a coalition trains every round")
  }
  if (t.privacy !== undefined) return invalid("training.privacy", "differential privacy is not available: noisy models would make the worths noise")
  const aggregation = t.aggregation ?? "secure"
  if (aggregation === "ckks") return invalid("training.aggregation", "secure or plain (ckks keys are per task, coalitions would share them)")
  const method = params.method ?? (owners.length <= exactLimit ? "exact" : "monte-carlo")
  if (method === "exact" && owners.length > exactLimit) {
    return invalid("method", `exact values over ${owners.length} owners need ${2 ** owners.length - 1} trainings; use monte-carlo beyond ${exactLimit}`)
  }
  if (method === "round-reconstruction" && aggregation !== "plain") {
    return invalid(
      "training.aggregation",
      `round-reconstruction rebuilds each coalition from its members' updates of every round, and the single owners' coalitions are those updates themselves: set aggregation "plain" so the owners consent to that knowingly`
    )
  }
  const training = resolveTraining(t, owners.length)
  if (training instanceof TrainingInvalid) return invalid(`training.${training.field}`, training.detail)
  if (training.classes === undefined) return invalid("training.loss", "the worth is F1 or accuracy of a classifier: meanSquaredError has no classes")
  const classes = training.classes
  let positive = classes.length === 2 ? 1 : 0
  if (params.positiveClass !== undefined) {
    if (classes.length !== 2) return invalid("positiveClass", `binary F1 only; the model has ${classes.length} classes (macro F1 is used)`)
    positive = classes.indexOf(params.positiveClass)
    if (positive < 0) return invalid("positiveClass", `${params.positiveClass} is not one of the classes ${classes.join(", ")}`)
  }
  const forCoalition = (members: number): Resolved => {
    const resolved = resolveTraining(t, members)
    if (resolved instanceof TrainingInvalid) throw resolved
    return resolved
  }
  return {
    params,
    valuer: params.valuer,
    owners,
    method,
    metric: params.metric ?? defaults.metric,
    positive,
    classes,
    permutations: params.permutations ?? defaults.permutations,
    training,
    forCoalition
  }
}

/** The settings of params that passed the declaration's check. @throws InvalidParams when they did not. */
export const resolved = (params: Params, parties: ReadonlyArray<string>): Recipe => {
  const recipe = resolve(params, parties)
  if (recipe instanceof InvalidParams) throw recipe
  return recipe
}

/** Owners in a coalition mask, in owner order. */
export const membersOf = (mask: number, owners: ReadonlyArray<string>): Array<string> => owners.filter((_, i) => mask & (1 << i))

export const sizeOf = (mask: number): number => {
  let c = 0
  for (let x = mask; x; x &= x - 1) c++
  return c
}
