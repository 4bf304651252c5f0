/**
 * Participant side of the SecureBoost kinds (Stages.ts): the table of each kind, assembled from the aligned PSI
 * join of joint-query (the join itself for training; its signed channel keys, which seal every engine message,
 * for prediction), the training stages (`Training.ts`) and the prediction stages (`Predicting.ts`).
 */
import * as PsiParticipant from "../joint-query/psi/participant.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Predicting from "./Predicting.ts"
import * as Stages from "./Stages.ts"
import * as Training from "./Training.ts"

export type { Options } from "./Training.ts"
export type { Task } from "./Predicting.ts"

export const handlers = (datasetName: string, task: Predicting.Task, parties: ReadonlyArray<string>, options: Training.Options = {}) => {
  const join = task.kind === "train"
    ? PsiSpec.alignedJoin(task.params.idColumn, parties, task.params.maxIds)
    : task.params.ids === undefined
    // Batch: every party a receiver, so each can read its own values of the aligned rows.
    ? PsiSpec.alignedJoin(task.params.idColumn, parties, task.params.maxIds ?? Stages.batchDefaults.maxIds)
    // Online: only the join's channel keys are used.
    : PsiSpec.alignedJoin(task.params.idColumn, [task.params.requester], 10_000_000)
  return [
    ...PsiParticipant.handlers(datasetName, "aligned", join, { channelOnly: task.kind !== "train" && task.params.ids !== undefined }),
    ...(task.kind === "train" ? Training.handlers(datasetName, task.params, options) : []),
    ...Predicting.handlers(datasetName, task)
  ]
}
