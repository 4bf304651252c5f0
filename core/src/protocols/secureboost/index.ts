/**
 * SecureBoost (vertical gradient-boosted trees on Paillier, spec.ts) declared as two task kinds:
 *
 *   modeling.secureboost     aligned PSI join → bins → the label holder's key → per tree and level: encrypted
 *                            histograms, split search, split replies → finish (every part sealed at rest by its
 *                            owner) → evaluation of the test split by joint prediction (Stages.ts)
 *   prediction.secureboost   joint prediction with a trained model, online (given ids) or in batch (every id the
 *                            parties share, by an aligned PSI join, in bounded passes): the requester alone learns
 *                            the scores; each feature holder only which of its own lookup records were asked
 *
 * What each party learns is spec.ts's leakage statement; the coordinator relays sealed boxes only.
 */
import { defineProtocol, initiatorAnd, speaks, type StageEntry } from "../Define.ts"
import * as Vertical from "../vertical/index.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import * as Spec from "./spec.ts"
import * as Stages from "./Stages.ts"

export * as Spec from "./spec.ts"
export * as Stages from "./Stages.ts"

const prediction: ReadonlyArray<StageEntry> = [
  speaks(Stages.predictOpen, "every party"),
  speaks(Stages.predictWalk, "the label holder"),
  speaks(Stages.predictAnswer, "the feature holders asked this round (sealed both ways)"),
  speaks(Stages.predictOutput, "the requester (the label holder when evaluating a training task)")
]

const modelFacts = (params: Spec.TrainParams, parties: number) => {
  const hyper = Spec.hyperOf(params)
  return {
    // Nodes of full trees: what the model may hold at most.
    parameters: hyper.trees * (2 ** (hyper.maxDepth + 1) - 1),
    layerTypes: ["gradient-boosted-trees"],
    rounds: hyper.trees,
    minParticipantsPerRound: parties,
    aggregation: "secureboost-paillier",
    differentialPrivacy: false
  }
}

export const training = defineProtocol({
  kind: Spec.kinds.train,
  describe: "gradient-boosted trees over vertically partitioned data (SecureBoost): aligned PSI, packed Paillier histograms, lookup tables; every model part stays with its owner",
  params: Spec.TrainParams,
  check: (params, task) => Stages.validate(params, task.parties),
  stages: [
    // The aligned PSI join; its signed channel keys seal every message between the label holder and a feature holder.
    ...Vertical.alignment,
    speaks(Stages.prepare, "every party (feature holders: their bin counts sealed to the label holder)"),
    speaks(Stages.key, "the label holder"),
    speaks(Stages.acceptKey, "the feature holders"),
    speaks(Stages.treeStart, "the label holder"),
    speaks(Stages.tree, "the feature holders"),
    speaks(Stages.level, "the label holder"),
    speaks(Stages.histograms, "the feature holders"),
    speaks(Stages.splitSearch, "the label holder"),
    speaks(Stages.split, "the owners of this level's chosen splits"),
    speaks(Stages.partition, "the label holder"),
    speaks(Stages.endTree, "the label holder"),
    speaks(Stages.checkpoint, "every party (its progress sealed at rest)"),
    speaks(Stages.finish, "the label holder, then the feature holders"),
    ...prediction,
    speaks(Stages.cleanup, "every party")
  ],
  result: Stages.TrainResult,
  coordinator: (session, params, task) => Coordinator.runTraining(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, { kind: "train", params }, task.parties),
  // The label holder's Paillier key: each party's key policy checks it before consenting (participant KeyPolicy).
  keyMaterial: (params) => ({ paillierBits: params.keyBits ?? Spec.defaults.keyBits }),
  columns: (params, party) => {
    const own = party === undefined ? params.features.flatMap((f) => f.columns) : params.features.find((f) => f.party === party.participant)?.columns ?? []
    const holder = party === undefined || party.participant === params.labelHolder
    return [params.idColumn, ...own, ...(holder ? [params.label.column] : [])]
  },
  // Model parts stay with their owners; the run's metrics and digests are for everyone who trained.
  recipients: (_params, task) => [task.spec.initiator, ...task.parties],
  model: modelFacts
})

export const predicting = defineProtocol({
  kind: Spec.kinds.predict,
  describe: "joint prediction with a SecureBoost model, of given ids or in batch over every shared id: the requester alone learns the scores",
  params: Stages.PredictParams,
  check: (params, task) => Stages.validatePrediction(params, task.parties),
  // Online prediction uses the join's signed channel keys only; batch prediction runs the whole aligned join.
  stages: [...Vertical.alignment, ...prediction],
  result: Stages.PredictResult,
  coordinator: (session, params, task) => Coordinator.runPrediction(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, { kind: "predict", params }, task.parties),
  columns: (params) => [params.idColumn],
  recipients: (params, task) => initiatorAnd(task, [params.requester])
})

export const protocols = [training, predicting] as const
