/**
 * SecureBoost: vertical gradient-boosted trees on Paillier (Cheng et al., "SecureBoost: A Lossless Federated
 * Learning Framework", IEEE Intelligent Systems 36(6), 2021, arXiv:1901.08755), with the optimisations of
 * SecureBoost+ (Chen et al., arXiv:2110.10927: GH packing, cipher compressing, histogram subtraction), and joint
 * prediction. This file holds the task parameters, the messages between the label holder ("active party", A:
 * labels, the Paillier key, the trees' shape and leaf weights) and the feature holders ("passive parties",
 * P_1…P_k: their columns and their lookup tables), and what each learns. The engine is LabelHolder.ts,
 * FeatureHolder.ts and Prediction.ts; LocalRun.ts runs all parties in one process over these messages.
 *
 * ## Training (one tree; all rows are the aligned rows of a PSI join, split by Roles.ts)
 *
 *   prepare     each party bins its own columns on the training rows (Binning.ts, exact quantiles) and keeps
 *               the cut values; P → A: FeatureSummary (bin count of each of its columns, by position).
 *   key         A → P: KeyAnnouncement (a fresh Paillier key, 2048 bits by default; A alone decrypts).
 *   gradients   A computes g, h (Objective.ts), rounds them to multiples of 2^−scaleBits and encrypts one
 *               packed [[g + 2^W·h]] per training row (GhPacking.ts); A → P: TreeStart.
 *   level d     A → P: HistogramRequest with the nodes to compute — the root, then at each level only the
 *               smaller child of every split (the sibling is derived by A in plaintext: parent − child);
 *               P → A: HistogramReply, the left-cumulative bin sums of each of P's columns at each node,
 *               summed homomorphically (Jobs.ts, worker pool), packed several cells per ciphertext and
 *               re-randomised. A decrypts, adds its own plaintext histograms and picks each node's best split
 *               (Split.ts); for a split on P's column, A → P: SplitRequest (node, column position, bin); P
 *               stores (column, threshold) under a fresh record id (its lookup table) and answers SplitReply:
 *               the record id and which of the node's rows go left. Nodes without a gaining split are leaves.
 *   end         A sets leaf weights −η·G/(H + λ), updates the margins of training and validation rows, checks
 *               early stopping on the validation loss; A → P: Finish (trees kept) after the last tree.
 *
 * ## Prediction (Prediction.ts; online for given ids, batch for all ids of a set — the same rounds)
 *
 * A walks every record through every tree. Its own splits it answers itself; for a split owned by P it asks P
 * (PredictQuery: record position, lookup record id), level by level for all records and trees at once, so a
 * pass takes at most maxDepth rounds. A adds the leaf weights; the requester gets the score (sealed to it by
 * A when it is not A). Online, the ids are named in the task (every party and the coordinator see them). In
 * batch, the ids are every id all parties hold, found by the aligned PSI join with every party a receiver (each
 * party learns the intersection, as in training; the coordinator only its size), then scored in passes of
 * `batchSize` aligned rows, so no message grows with the set; the requester keeps each pass's scores and
 * writes them all to its output at the last pass.
 *
 * ## Stages (the task kinds: Stages.ts, coordinator.ts; LocalRun.ts calls the parties in the same order)
 *
 *   align (the aligned PSI join, as vertical) → prepare (FeatureSummary) → key (KeyAnnouncement) → per tree:
 *   tree-start (TreeStart) → per level: histograms (HistogramRequest/Reply) → splits (SplitRequest/Reply)
 *   → checkpoint (every party seals its progress: A its trees and the margins of its training and validation
 *   rows by id, P its lookup records) → finish (Finish; each party seals its model part at rest) → evaluate
 *   (PredictQuery/Answer rounds) → cleanup (the progress removed once the coordinator holds the result).
 *   A restarted coordinator resumes after the last tree all parties sealed: a new join (another row order) and a
 *   new key, each party restores its progress (refused if its bins or A's rows differ), and the next tree's
 *   gradients are bit for bit those of an uninterrupted run.
 *   Every message but KeyAnnouncement and Finish names rows, a split or a path: sealed end to end to its
 *   recipient (the PSI channel keys), so the relaying coordinator sees sizes only.
 *
 * ## What each party learns (semi-honest parties; the coordinator relays and sees sizes only)
 *
 * Label holder A, per split and per tree:
 * - for every node it evaluates and every column of every P (by position, never by name): the histogram of
 *   gradient and hessian sums per bin, hence each column's bin count, and by chaining nodes the statistics of
 *   the same column across the tree (shuffling positions per node would not hide the link: a child's
 *   hessian histogram is dominated bin by bin by its parent's);
 * - for every split on P's column: the column's position and bin, and the rows of the node going left — so
 *   at the end, every tree's partition of the training and validation rows, leaf by leaf;
 * - in prediction: every record's path through every tree and its score; never P's values or thresholds.
 * Feature holder P:
 * - Paillier ciphertexts of g, h only (nothing, under DCR; returned sums are re-randomised, so A cannot match
 *   the randomness of a sum against its rows');
 * - standard mode: the rows of every node it computes histograms for (the smaller child of each split, hence
 *   with the parent the larger one too): the partition of the training rows at every internal node above the
 *   last level of every tree, whoever owns the split, and for its own splits the node's validation rows too;
 *   plus the tree shape, its own splits' (column, bin), and the slot width (≈ bit length of the largest |g|,
 *   h of the tree, ±1 bit). The partitions correlate with the labels: a pure node reveals its rows' common
 *   label, and the first tree's partition is a function of the labels alone (Cheng et al., §"reduced leakage").
 * - hidden-instances mode (`mode: "hidden-instances"`): none of those row sets. For each node to compute, A
 *   sends a fresh encryption for every training row — [[g + 2^W·h]] for the node's rows, [[0]] for the others
 *   — and P sums over all rows; for a split on P's column, A sends fresh [[1]] / [[0]] node indicators for all
 *   training and validation rows, and P returns [[Σ_j 2^j·ind_j·b_j]] packed bits(N) − 2 rows per ciphertext
 *   (Jobs.ts select-bits), so A learns the node's left rows and P learns only that its (column, bin) was
 *   chosen at that node. Cost per tree, with n training rows, D levels and s splits on feature holders'
 *   columns: A encrypts n per computed node plus (n + n_validation) per such split instead of n per tree; each
 *   P multiplies n·F ciphertexts per computed node instead of |node|·F, plus 2 per row per split of its own;
 *   A decrypts (n + n_validation)/(bits(N) − 2) more ciphertexts per such split. A learns the same as in
 *   standard mode. The bench reports the factor.
 * - `firstTreeByLabelHolder`: the first tree is grown by A on its own columns, with no message to any P — the
 *   paper's RL-SecureBoost, so the tree whose partition is a pure function of the labels is never shown.
 * - in prediction: which of its own lookup records were asked for which record (by position in the request).
 *
 * The task's result (initiator, parties; the coordinator relays it): per grown tree the objective's mean loss on
 * the training rows and, with a validation split, on the validation rows; per party the number of splits on its
 * columns and its share of the total gain over the kept trees. These are aggregates A computes; they name no
 * column of a feature holder, no threshold and no row (a party with few splits learns its columns mattered
 * little, which the parties would learn from the model's accuracy with and without them anyway).
 *
 * Known attacks this does not stop (and the model it assumes):
 * - a feature holder that deviates can craft the encrypted sums it returns (e.g. one row per "bin") and learn
 *   from A's split choices the order of the rows' gradients, hence their labels: the reverse sum attack of
 *   Weng et al., "Privacy Leakage of Real-World Vertical Federated Learning", arXiv:2011.09290. We assume
 *   semi-honest feature holders; hidden-instances mode does not prevent it.
 * - the instance-space leakage above lets a feature holder infer labels of pure nodes (Cheng et al. §6);
 *   mitigated by `firstTreeByLabelHolder` and removed by hidden-instances mode. Protocols that hide the split
 *   choice and instance sets from everyone cost far more: Pivot (Wu et al., VLDB 2020, arXiv:2008.06170:
 *   threshold Paillier + SPDZ) and secret-shared XGB (Fang et al., CIKM 2021, arXiv:2005.08479).
 * - at prediction time A holds the tree shapes, leaf weights and every record's path: with many predictions it
 *   can narrow the range of a feature holder's values per record (path-restriction attack, Luo et al.,
 *   "Feature Inference Attack on Model Predictions in Vertical Federated Learning", ICDE 2021,
 *   arXiv:2010.10152). Walking only the asked path keeps each P's decisions on other splits from A.
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { objectives } from "./Objective.ts"
import type { Hyper } from "./Split.ts"

export const kinds = { train: "modeling.secureboost", predict: "prediction.secureboost" } as const

const Bytes = Schema.Uint8ArrayFromBase64
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

export const modes = ["standard", "hidden-instances"] as const
export type Mode = (typeof modes)[number]

export const TrainParams = Schema.Struct({
  idColumn: Schema.String,
  labelHolder: Address,
  /** Binary: rows whose label equals `positive` are 1, the others 0. Regression: the numeric label. */
  label: Schema.Struct({ column: Schema.String, positive: Schema.optional(Schema.Union([Schema.Finite, Schema.String])) }),
  features: Schema.NonEmptyArray(Schema.Struct({ party: Address, columns: Schema.Array(Schema.String) })),
  maxIds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  objective: Schema.optional(Schema.Literals(objectives)),
  trees: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 }))),
  maxDepth: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 }))),
  learningRate: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 1e-4, maximum: 1 }))),
  lambda: Schema.optional(NonNegative),
  gamma: Schema.optional(NonNegative),
  minChildWeight: Schema.optional(NonNegative),
  maxBins: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 256 }))),
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 8, maximum: 32 }))),
  testFraction: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.9 }))),
  validationFraction: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.5 }))),
  earlyStoppingRounds: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  splitSeed: Schema.optional(Schema.Int),
  mode: Schema.optional(Schema.Literals(modes)),
  firstTreeByLabelHolder: Schema.optional(Schema.Boolean),
  /** 2048 or 3072; smaller keys exist only as a test option of the engine, never as a task parameter. */
  keyBits: Schema.optional(Schema.Literals([2048, 3072]))
})
export type TrainParams = typeof TrainParams.Type

export const defaults = {
  objective: "binary:logistic",
  trees: 10,
  maxDepth: 3,
  learningRate: 0.3,
  lambda: 1,
  gamma: 0,
  minChildWeight: 1,
  maxBins: 32,
  scaleBits: 24,
  testFraction: 0.2,
  validationFraction: 0,
  splitSeed: 1,
  mode: "standard",
  firstTreeByLabelHolder: false,
  keyBits: 2048
} as const

/** The hyper-parameters of `params` with defaults: one definition for the parties and the reference. */
export const hyperOf = (p: Partial<TrainParams>): Hyper => ({
  objective: p.objective ?? defaults.objective,
  trees: p.trees ?? defaults.trees,
  maxDepth: p.maxDepth ?? defaults.maxDepth,
  learningRate: p.learningRate ?? defaults.learningRate,
  lambda: p.lambda ?? defaults.lambda,
  gamma: p.gamma ?? defaults.gamma,
  minChildWeight: p.minChildWeight ?? defaults.minChildWeight,
  maxBins: p.maxBins ?? defaults.maxBins,
  scaleBits: p.scaleBits ?? defaults.scaleBits,
  ...(p.earlyStoppingRounds === undefined ? {} : { earlyStoppingRounds: p.earlyStoppingRounds }),
  firstTreeByLabelHolder: p.firstTreeByLabelHolder ?? defaults.firstTreeByLabelHolder
})

export const fractionsOf = (p: Partial<TrainParams>) => ({
  testFraction: p.testFraction ?? defaults.testFraction,
  validationFraction: p.validationFraction ?? defaults.validationFraction,
  seed: p.splitSeed ?? defaults.splitSeed
})

// ---- messages ---------------------------------------------------------------------------------------------

/** P → A: the bin count of each of P's columns, by position (names and cut values stay with P). */
export const FeatureSummary = Schema.Struct({ party: Count, rows: Count, bins: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 256 }))) })
export type FeatureSummary = typeof FeatureSummary.Type

/** A → P: the Paillier public key of the task (Paillier's serialized form). */
export const KeyAnnouncement = Schema.Struct({ publicKey: Bytes })
export type KeyAnnouncement = typeof KeyAnnouncement.Type

/**
 * A → P at the start of each tree. `local`: A grows this tree alone (no more messages until the next
 * TreeStart). `slotBits`: W of GhPacking. `gradients` (standard mode): [[g + 2^W·h]] of every training row in
 * ascending row order, as a ciphertext list.
 */
export const TreeStart = Schema.Struct({ tree: Count, local: Schema.Boolean, slotBits: Count, gradients: Schema.optional(Bytes) })
export type TreeStart = typeof TreeStart.Type

/**
 * A → P: the nodes to compute at one level. Standard mode: `rows`, the node's training rows (u32 LE, ascending
 * aligned indices). Hidden-instances mode: `gradients`, one fresh ciphertext per training row instead.
 */
export const HistogramRequest = Schema.Struct({
  tree: Count,
  depth: Count,
  nodes: Schema.Array(Schema.Struct({ node: Count, rows: Schema.optional(Bytes), gradients: Schema.optional(Bytes) }))
})
export type HistogramRequest = typeof HistogramRequest.Type

/** P → A: the packed cells (node, column, bin) in request order, as a ciphertext list. */
export const HistogramReply = Schema.Struct({ tree: Count, depth: Count, histograms: Bytes })
export type HistogramReply = typeof HistogramReply.Type

/**
 * A → P: splits chosen on P's columns. Standard mode: `rows`, the node's training and validation rows (u32 LE,
 * ascending). Hidden-instances mode: `indicators`, one fresh [[1{row ∈ node}]] per training and validation row.
 */
export const SplitRequest = Schema.Struct({
  tree: Count,
  splits: Schema.Array(Schema.Struct({ node: Count, feature: Count, bin: Count, rows: Schema.optional(Bytes), indicators: Schema.optional(Bytes) }))
})
export type SplitRequest = typeof SplitRequest.Type

/** P → A: per split, its lookup record id and the left rows (a bitmap over the request's rows, or packed ciphertexts). */
export const SplitReply = Schema.Struct({ tree: Count, splits: Schema.Array(Schema.Struct({ node: Count, record: Schema.String, left: Bytes })) })
export type SplitReply = typeof SplitReply.Type

/** A → P after training: the first `trees` trees are kept (early stopping); later lookup records are dropped. */
export const Finish = Schema.Struct({ trees: Count })
export type Finish = typeof Finish.Type

/** A → P: one prediction round — (row position in the request, index into `records`) pairs, u32 LE. */
export const PredictQuery = Schema.Struct({ request: Schema.String, round: Count, records: Schema.Array(Schema.String), queries: Bytes })
export type PredictQuery = typeof PredictQuery.Type

/** P → A: one bit per query, 1 = left. */
export const PredictAnswer = Schema.Struct({ request: Schema.String, round: Count, left: Bytes })
export type PredictAnswer = typeof PredictAnswer.Type
