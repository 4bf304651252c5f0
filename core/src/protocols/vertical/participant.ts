/**
 * Participant side of vertical training and joint prediction (the protocol, its stages and leakage: spec.ts): the
 * table of each task kind, assembled from the aligned PSI join of joint-query (its handlers are part of every
 * table: the join itself for training, its signed channel keys for prediction), the training stages
 * (`Training.ts`) and the prediction stages (`Prediction.ts`), over the state and channel of `Party.ts`.
 */
import * as PsiParticipant from "../joint-query/psi/participant.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Party from "./Party.ts"
import * as Prediction from "./Prediction.ts"
import * as Training from "./Training.ts"

export type { Options, Task } from "./Party.ts"
export { seededRpi, shapeOf } from "./Party.ts"

export const handlers = (datasetName: string, task: Party.Task, parties: ReadonlyArray<string>, options: Party.Options = {}) => {
  const join = task.kind === "train"
    ? PsiSpec.alignedJoin(task.params.idColumn, parties, task.params.maxIds)
    : PsiSpec.alignedJoin(task.params.idColumn, [task.params.requester], 10_000_000)
  return [
    // Prediction uses only the join's channel keys (module doc), so no party hash-blinds its ids for it.
    ...PsiParticipant.handlers(datasetName, "aligned", join, { channelOnly: task.kind !== "train" }),
    ...(task.kind === "train" ? Training.handlers(datasetName, task.model, task.params, options) : []),
    ...Prediction.handlers(datasetName, task, options)
  ]
}
