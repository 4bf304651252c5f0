/**
 * The two SecureBoost task kinds on the wire between the coordinator and the parties: prediction params, the
 * stage table, the results and the checks a Schema cannot express. The engine's messages (spec.ts) travel
 * inside these stages sealed end to end between the label holder A and each feature holder P over the PSI
 * channel keys: the coordinator relays boxes it cannot open, and learns the round structure (trees, levels,
 * which parties are asked to split, prediction rounds) and sizes only.
 *
 * Training (coordinator.ts runs them in this order; LocalRun.ts is the same script in one process):
 *
 *   align          the aligned PSI join of joint-query, every party a receiver (its channel keys seal the rest)
 *   prepare        every party: aligned rows, role split, own bins; P → A: FeatureSummary (sealed)
 *   key            A: reads the summaries, generates the Paillier key (≥ 2048 bits) → KeyAnnouncement
 *   accept-key     every P: checks the key size (refuses < 2048 bits whatever the task says) and keeps it
 *   per tree:
 *     tree-start   A → TreeStart sealed to every P (its encrypted packed g/h);  tree  (P) takes it
 *     per level:   level (A) → HistogramRequest sealed to every P;  histograms (P) → HistogramReply sealed to A
 *                  split-search (A) → SplitRequest sealed to the owners of chosen splits;  split (P) → SplitReply
 *                  partition (A) applies them
 *     end-tree     A: closes the tree; says whether to stop (last tree or early stopping)
 *     checkpoint   every party seals its progress (A: trees, margins by id; P: lookup records); the coordinator
 *                  then checkpoints the tree count, so a restarted coordinator resumes after the last such tree
 *   finish         A → Finish (trees kept); every party seals its model part at rest (Parts.ts)
 *   evaluate       joint prediction of the test split for A (the prediction stages below)
 *   cleanup        once the result is checkpointed (or the task failed), every party removes its progress
 *
 * Prediction (prediction.secureboost; and the evaluation above): predict-open (every party loads its model part
 * and the request's rows) → predict-walk (A) → predict-answer (the asked P, sealed both ways), one round per
 * level → predict-output (the requester: its scores, sealed by A when the requester is not A).
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { stage } from "../Protocol.ts"
import * as VerticalSpec from "../vertical/spec.ts"
import * as Spec from "./spec.ts"

export const kinds = Spec.kinds

const Bytes = Schema.Uint8ArrayFromBase64
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const PredictParams = Schema.Struct({
  /** The training task's id (= model id); every party reads its own sealed model part under it. */
  model: Schema.String,
  /** The party that holds the trees (the training task's label holder). */
  labelHolder: Address,
  requester: Address,
  idColumn: Schema.String,
  /**
   * Online: the ids to score (at most 4096; they are in the task, so every party and the coordinator see them).
   * Absent: batch over every id all the parties hold, found by an aligned PSI join (the coordinator learns
   * only how many), scored `batchSize` records at a time with a progress event per batch.
   */
  ids: Schema.optional(Schema.NonEmptyArray(Schema.String).check(Schema.isMaxLength(4096))),
  /** Batch: records per prediction pass (default `batchDefaults.batchSize`). */
  batchSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4096 }))),
  /** Batch: the most ids a party may bring to the join (default `batchDefaults.maxIds`). */
  maxIds: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
})
export type PredictParams = typeof PredictParams.Type

export const batchDefaults = { batchSize: 1024, maxIds: 1_000_000 } as const

/** What the params Schema cannot say about a prediction task; the first problem, or undefined. */
export const validatePrediction = (params: PredictParams, parties: ReadonlyArray<string>): string | undefined =>
  !parties.includes(params.requester)
    ? "requester: not a party of the task"
    : !parties.includes(params.labelHolder)
    ? "labelHolder: not a party of the task"
    : params.ids !== undefined && (params.batchSize !== undefined || params.maxIds !== undefined)
    ? "batchSize, maxIds: only for batch prediction (without ids)"
    : undefined

/** A box sealed by `participant` (its sender or recipient, as the stage says) over the PSI channel. */
export const Sealed = Schema.Struct({ participant: Schema.String, payload: Bytes })
export type Sealed = typeof Sealed.Type

// ---- training ---------------------------------------------------------------------------------------------

export const prepare = stage(
  "secureboost.prepare",
  /** `resumeAt`: a later attempt continues after this many trees; every party restores its sealed progress there. */
  Schema.Struct({ resumeAt: Schema.optional(Count) }),
  /** `summary`: P's FeatureSummary sealed to A (absent at A). `resumed`: the tree count this party restored. */
  Schema.Struct({ alignment: Schema.String, rows: Count, trainRows: Count, validationRows: Count, testRows: Count, summary: Schema.optional(Bytes), resumed: Schema.optional(Count) })
)
export const key = stage("secureboost.key", Schema.Struct({ summaries: Schema.Array(Sealed) }), Schema.Struct({ publicKey: Bytes, keyBits: Count }))
export const acceptKey = stage("secureboost.accept-key", Schema.Struct({ publicKey: Bytes }), Schema.Struct({ keyDigest: Schema.String }))
export const treeStart = stage("secureboost.tree-start", Schema.Struct({ tree: Count }), Schema.Struct({ local: Schema.Boolean, messages: Schema.Array(Sealed) }))
export const tree = stage("secureboost.tree", Schema.Struct({ tree: Count, message: Bytes }), Schema.Struct({}))
export const level = stage(
  "secureboost.level",
  Schema.Struct({ tree: Count }),
  Schema.Struct({ kind: Schema.Literals(["done", "local", "remote"]), messages: Schema.Array(Sealed) })
)
export const histograms = stage("secureboost.histograms", Schema.Struct({ tree: Count, message: Bytes }), Schema.Struct({ reply: Bytes }))
export const splitSearch = stage("secureboost.split-search", Schema.Struct({ tree: Count, replies: Schema.Array(Sealed) }), Schema.Struct({ messages: Schema.Array(Sealed) }))
export const split = stage("secureboost.split", Schema.Struct({ tree: Count, message: Bytes }), Schema.Struct({ reply: Bytes }))
export const partition = stage("secureboost.partition", Schema.Struct({ tree: Count, replies: Schema.Array(Sealed) }), Schema.Struct({}))
/** `trainLoss`, `validationLoss`: the objective's mean loss after this tree (the curve of the result). */
export const endTree = stage(
  "secureboost.end-tree",
  Schema.Struct({ tree: Count }),
  Schema.Struct({ stop: Schema.Boolean, trainLoss: Schema.optional(Schema.Finite), validationLoss: Schema.optional(Schema.Finite) })
)

/** Every party seals its progress after `trees` finished trees (Parts.Progress); a restart resumes from there. */
export const checkpoint = stage("secureboost.checkpoint", Schema.Struct({ trees: Count }), Schema.Struct({ trees: Count }))
/** The task is over (result checkpointed, or failed): every party removes its progress around `trees`. */
export const cleanup = stage("secureboost.cleanup", Schema.Struct({ trees: Count }), Schema.Struct({}))

/** Splits and share of the total split gain per party over the kept trees (by engine order: the label holder first). */
export const Importance = Schema.Struct({ splits: Count, gainShare: Schema.Finite })
/** Asked of A first (no `trees`: it answers how many it keeps), then of every P with that number. */
export const finish = stage(
  "secureboost.finish",
  Schema.Struct({ trees: Schema.optional(Count) }),
  Schema.Struct({ trees: Count, digest: Schema.String, importance: Schema.optional(Schema.Array(Importance)) })
)

// ---- prediction -------------------------------------------------------------------------------------------

export const PredictWindow = Schema.Struct({ from: Count, count: Count })
export type PredictWindow = typeof PredictWindow.Type

/** `rows`: in batch prediction, the window of the aligned join's rows this pass scores. */
export const predictOpen = stage(
  "secureboost.predict-open",
  Schema.Struct({ request: Schema.String, rows: Schema.optional(PredictWindow) }),
  Schema.Struct({ records: Count, modelDigest: Schema.String })
)
/** A: `answers` of the last round (sealed by their P); replies the next round's queries, or done. */
export const predictWalk = stage(
  "secureboost.predict-walk",
  Schema.Struct({ request: Schema.String, round: Count, answers: Schema.Array(Sealed) }),
  Schema.Struct({ done: Schema.Boolean, queries: Schema.Array(Sealed), scores: Schema.optional(Bytes) })
)
export const predictAnswer = stage("secureboost.predict-answer", Schema.Struct({ request: Schema.String, round: Count, query: Bytes }), Schema.Struct({ answer: Bytes }))
/**
 * The requester: `scores` sealed to it by A (absent when the requester is A); delivers its output. `more`: a
 * batch pass that is not the last — the requester keeps its scores and delivers them with the last pass's.
 */
export const predictOutput = stage(
  "secureboost.predict-output",
  Schema.Struct({ request: Schema.String, scores: Schema.optional(Bytes), more: Schema.optional(Schema.Boolean) }),
  Schema.Struct({ count: Count, digest: Schema.String, location: Schema.String, metrics: Schema.optional(Schema.Struct({ rows: Count, auc: Schema.optional(Schema.Finite), accuracy: Schema.optional(Schema.Finite), rmse: Schema.optional(Schema.Finite) })) })
)

export type PredictOutputReply = typeof predictOutput.reply.Type

// ---- results ----------------------------------------------------------------------------------------------

export const Metrics = Schema.Struct({ rows: Count, auc: Schema.optional(Schema.Finite), accuracy: Schema.optional(Schema.Finite), rmse: Schema.optional(Schema.Finite) })

export const Counters = Schema.Struct({ rounds: Count, levels: Count, splitRounds: Count, predictRounds: Count })
export type Counters = typeof Counters.Type

export const TrainResult = Schema.Struct({
  kind: Schema.String,
  /** The model id for prediction tasks: this task's id. */
  modelId: Schema.String,
  parties: Schema.Array(Schema.String),
  labelHolder: Schema.String,
  rows: Count,
  trainRows: Count,
  validationRows: Count,
  testRows: Count,
  alignment: Schema.String,
  keyBits: Count,
  /** sha256 of the label holder's serialized public key, as every feature holder accepted it. */
  keyDigest: Schema.String,
  objective: Schema.String,
  mode: Schema.String,
  grown: Count,
  kept: Count,
  /** Wall milliseconds of each grown tree at the coordinator (all rounds of the tree). */
  treeMs: Schema.Array(Schema.Finite),
  /** Set when a coordinator restart resumed training: the trees the earlier attempts had finished. */
  resumedFromTree: Schema.optional(Count),
  /** The loss after each grown tree: on the training rows, and on the validation rows when there are some. */
  curve: Schema.Array(Schema.Struct({ tree: Count, trainLoss: Schema.optional(Schema.Finite), validationLoss: Schema.optional(Schema.Finite) })),
  /** What each party's columns did in the kept trees: its splits and its share of the total gain (no column, no threshold). */
  importance: Schema.Array(Schema.Struct({ party: Schema.String, splits: Count, gainShare: Schema.Finite })),
  test: Metrics,
  /** Party → digest of the model part it sealed at rest (its content stays with it). */
  parts: Schema.Record(Schema.String, Schema.String),
  counters: Counters,
  /** Phase → Merkle root of its round digests, as committed. */
  commitments: Schema.Record(Schema.String, Schema.String)
})
export type TrainResult = typeof TrainResult.Type

export const PredictResult = Schema.Struct({
  kind: Schema.String,
  modelId: Schema.String,
  requester: Schema.String,
  count: Count,
  /** Batch prediction: the passes run (each of at most `batchSize` records). */
  batches: Schema.optional(Count),
  /** sha256 of the requester's output (its ids and scores stay with it). */
  digest: Schema.String,
  counters: Counters,
  commitments: Schema.Record(Schema.String, Schema.String)
})
export type PredictResult = typeof PredictResult.Type

/** The engine's party order: the label holder (0), then the other parties in task order (1…k). */
export const orderOf = (labelHolder: string, participants: ReadonlyArray<string>): ReadonlyArray<string> => [labelHolder, ...participants.filter((p) => p !== labelHolder)]

/** What the params Schema cannot say (it needs the parties); the first problem, or undefined. */
export const validate = (params: Spec.TrainParams, parties: ReadonlyArray<string>): string | undefined => {
  const layout = VerticalSpec.validateLayout(params, parties)
  if (layout !== undefined) return `${layout.field}: ${layout.detail}`
  if ((params.objective ?? Spec.defaults.objective) === "binary:logistic" && params.label.positive === undefined) return "label.positive: binary classification names the positive class"
  return undefined
}
