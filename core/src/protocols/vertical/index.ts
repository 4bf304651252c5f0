/**
 * Vertical joint modeling and prediction (PROTOCOLS.md §6, §3 items 1 and 6), declared as four task kinds:
 * threshold-Paillier SVM and logistic regression, online and batch joint prediction (spec.ts).
 */
import { defineProtocol, initiatorAnd, speaks, type StageEntry } from "../Define.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Coordinator from "./coordinator.ts"
import type * as Linear from "./Linear.ts"
import * as Participant from "./participant.ts"
import * as Spec from "./spec.ts"

export * as Linear from "./Linear.ts"
export * as Spec from "./spec.ts"

/** The signed channel keys of the PSI family seal what one party sends another (key shares, partial decryptions). */
export const channelKeys: ReadonlyArray<StageEntry> = [speaks(PsiSpec.keys, "every party"), speaks(PsiSpec.peers, "every party")]

/** The aligned PSI join, every party a receiver: the first phase of every vertical training kind (SecureBoost's too). */
export const alignment: ReadonlyArray<StageEntry> = [
  ...channelKeys,
  speaks(PsiSpec.blind, "every party, one hop of the ring per round"),
  speaks(PsiSpec.relay, "the last hop of each set"),
  speaks(PsiSpec.deliver, "every party"),
  speaks(PsiSpec.finish, "every party"),
  speaks(PsiSpec.output, "every party")
]

const prediction: ReadonlyArray<StageEntry> = [
  speaks(Spec.predictScore, "every party (its partial scores, encrypted)"),
  speaks(Spec.decrypt, "every party (partial decryptions sealed to the requester or label holder)"),
  speaks(Spec.predictOutput, "the requester (the label holder when evaluating a training task)")
]

/** Prediction tasks: the masked sum by default, the threshold path on request (spec.ts `Aggregation`). */
const predictionKinds: ReadonlyArray<StageEntry> = [
  ...prediction,
  speaks(Spec.predictMasked, "every party (its partial scores, masked and sealed to the requester)"),
  speaks(Spec.predictMaskedOutput, "the requester")
]

const training = (model: Linear.ModelKind, describe: string) =>
  defineProtocol({
    kind: Spec.kinds[model],
    describe,
    params: Spec.TrainParams,
    check: (params, task) => Spec.validate(params, task.parties)?.message,
    stages: [
      ...alignment,
      speaks(Spec.prepare, "every party"),
      speaks(Spec.deal, "the dealer"),
      speaks(Spec.keys, "every party"),
      speaks(Spec.score, "every party"),
      speaks(Spec.blind, "every party, in turn"),
      speaks(Spec.judge, "the label holder (SVM)"),
      speaks(Spec.gradient, "every party"),
      speaks(Spec.open, "the label holder (SVM)"),
      speaks(Spec.update, "every party"),
      ...prediction,
      speaks(Spec.finish, "every party"),
      speaks(Spec.cleanup, "every party")
    ],
    result: Spec.TrainResult,
    coordinator: (session, params, task) => Coordinator.runTraining(session, model, params, { timeoutMs: task.roundTimeoutMs }),
    participant: (params, task) => Participant.handlers(task.party.dataset, { kind: "train", model, params }, task.parties),
    keyMaterial: (params) => ({ paillierBits: params.keyBits ?? Spec.defaults.keyBits }),
    columns: (params, party) => {
      const own = party === undefined ? params.features.flatMap((f) => f.columns) : params.features.find((f) => f.party === party.participant)?.columns ?? []
      const holder = party === undefined || party.participant === params.labelHolder
      return [params.idColumn, ...own, ...(holder ? [params.label.column] : [])]
    },
    // Partial models stay with their owners; the metrics of the test split are for everyone who trained.
    recipients: (_params, task) => [task.spec.initiator, ...task.parties]
  })

const requesterCheck = (params: { readonly requester: string }, task: { readonly parties: ReadonlyArray<string> }) =>
  task.parties.includes(params.requester) ? undefined : "requester: not a party of the task"

// Prediction reads the columns of the stored partial model; the id column is what the task names.
export const online = defineProtocol({
  kind: Spec.kinds.online,
  describe: "joint prediction of given ids with a vertical model: the requester alone learns the scores",
  params: Spec.OnlineParams,
  check: requesterCheck,
  stages: [...channelKeys, ...predictionKinds],
  result: Spec.PredictResult,
  coordinator: (session, params, task) => Coordinator.runPrediction(session, Spec.kinds.online, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, { kind: "online", params }, task.parties),
  columns: (params) => [params.idColumn],
  recipients: (params, task) => initiatorAnd(task, [params.requester])
})

export const batch = defineProtocol({
  kind: Spec.kinds.batch,
  describe: "joint prediction of all aligned ids (or the test split) of a vertical model's training task, for the requester",
  params: Spec.BatchParams,
  check: requesterCheck,
  stages: [...channelKeys, ...predictionKinds],
  result: Spec.PredictResult,
  coordinator: (session, params, task) => Coordinator.runPrediction(session, Spec.kinds.batch, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, { kind: "batch", params }, task.parties),
  columns: (params) => [params.idColumn],
  recipients: (params, task) => initiatorAnd(task, [params.requester])
})

export const protocols = [
  training("svm", "linear SVM over vertically partitioned data (PROTOCOLS §6): aligned PSI, threshold Paillier, private blinded gradient judge; partial models stay with their owners"),
  training("logistic", "logistic regression over vertically partitioned data: aligned PSI, threshold Paillier, Taylor sigmoid ½ + z/4, masked gradients"),
  online,
  batch
] as const
