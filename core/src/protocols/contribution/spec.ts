/**
 * Contribution valuation (`incentives.shapley`, PROTOCOLS.md §9): what each data owner's rows are worth to a
 * jointly trained model, as Shapley values of v(S) = F1 (or accuracy) of coalition S's model on the valuer's test
 * set. Parties: the owners, who train, and the valuer — the consumer T of §9, whose agent holds the test set and
 * scores every model on it. Nobody pools rows: every coalition's model is trained by the federated protocols.
 *
 * Methods:
 *  - "exact" (default up to 10 owners): every coalition S (2^n − 1 of them) trains its own model. A coalition of
 *    two or more runs horizontal federated learning among its members only — the `modeling.horizontal-fl`
 *    coordinator program itself, with secure aggregation over S's members, so no owner outside S can touch S's
 *    sums — all coalitions at once, each under its own aggregation ids. A single owner trains alone, locally, on
 *    the same schedule (`shapley.solo`): FedAvg over one member is local training, and only its final model
 *    leaves.
 *  - "monte-carlo" (default beyond 10 owners): the coordinator samples orderings of the owners, trains the
 *    coalitions that prefix them as above, and the valuer averages the marginal contributions, with the standard
 *    error of each value.
 *  - "round-reconstruction" (MR, Song et al. 2019; GTG-Shapley, Liu et al. 2022): one federated training of all
 *    owners; every round, each coalition's model is rebuilt as the round's start model plus the average of its
 *    members' updates, and per-round values are summed. It needs every owner's own update each round: with
 *    secure aggregation per coalition the singleton coalitions' sums *are* those updates, so the declaration asks
 *    for "plain" aggregation and says so to the owners' consent policies (model facts: aggregation "plain").
 *
 * Commitments (§9 "Gaming"): before any model is trained, the valuer's test-set hash (`shapley/test-set`) and the
 * recipe — these params — (`shapley/recipe`) are committed on chain; after scoring, the salted hash of the score
 * table (`shapley/scores`) and the Merkle root of every scored model's digest (`shapley/models`).
 *
 * Who learns what (§9 "Privacy"):
 *  - the valuer: every coalition's model and its score on its own test set — the score table, kept in its
 *    output (`TaskOutput`: `<dataDir>/outputs/<taskId>.json` at T's agent) with the salt, for the settlement and
 *    any dispute; it computes the values itself, so the table never leaves it;
 *  - the coordinator: what each federated run shows it (the coalition's per-round sums and models), the models it
 *    forwards for scoring, and the values; never a score, never a row;
 *  - each owner: the models of the coalitions it belongs to (federated learning Mode A), and the result;
 *  - the result's recipients (the initiator, the valuer and the owners by default) and the chain: the values, the
 *    whole coalition's model metrics on the test set, and hashes. A single owner's solo model is seen by the
 *    coordinator and the valuer: a consent policy with `minParticipantsPerRound` ≥ 2 refuses the task, rightly.
 *
 * Negative contributions are clamped to 0 and the rest renormalised, and the result's `log` says so (§9).
 */
import { Schema } from "effect"
import { Confusion, Roc } from "../../models/Metrics.ts"
import { Address } from "../../task/TaskSpec.ts"
import { Params as TrainingParams } from "../federated-learning/spec.ts"
import { stage } from "../Protocol.ts"

export const kind = "incentives.shapley" as const

export const Method = Schema.Literals(["exact", "monte-carlo", "round-reconstruction"])
export type Method = typeof Method.Type
export const Metric = Schema.Literals(["f1", "accuracy"])
export type Metric = typeof Metric.Type

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Bytes = Schema.Uint8ArrayFromBase64

export const Params = Schema.Struct({
  /** The party holding the test set (T's agent); every other party is a data owner. */
  valuer: Address,
  /** The recipe every coalition trains with: a `modeling.horizontal-fl` params object. */
  training: TrainingParams,
  /** The worth of a coalition: F1 (§9; macro-averaged beyond two classes) or accuracy. Default f1. */
  metric: Schema.optional(Metric),
  /** Binary F1's positive class (a value of the label column); default the second class. */
  positiveClass: Schema.optional(Schema.String),
  /** Default: exact up to 10 owners, monte-carlo beyond. */
  method: Schema.optional(Method),
  /** Orderings sampled by monte-carlo (and per round by round-reconstruction beyond 10 owners). Default 1000. */
  permutations: Schema.optional(PositiveInt),
  /** round-reconstruction: skip a round whose whole-coalition gain is at most this (GTG's truncation). */
  truncation: Schema.optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
})
export type Params = typeof Params.Type

export const defaults = { metric: "f1", permutations: 1000 } as const
/** Exact values up to this many owners (§9 "Cost": 2^n trainings). */
export const exactLimit = 10
/** Fixed-point unit of a score in the table the settlement contract reads (F1 · 10^9). */
export const scoreScale = 1_000_000_000

// ---------- stages ----------

/** Owners check their rows against the recipe; the valuer answers the hash of its test set (committed at once). */
export const prepare = stage(
  "shapley.prepare",
  Schema.Struct({}),
  Schema.Struct({ testSetHash: Schema.optional(Schema.String), testRows: Schema.optional(Count) })
)

/** A single owner's coalition: `rounds` rounds of the recipe's local training from `weights`, alone. */
export const solo = stage("shapley.solo", Schema.Struct({ weights: Bytes }), Schema.Struct({ weights: Bytes }))

/** One model to score: coalition `coalition` (a mask over the owners, bit i = owner i) in round `round`. */
export const ScoredModel = Schema.Struct({
  /** 0 for a whole training (exact, monte-carlo); r for the models rebuilt in round r (round-reconstruction). */
  round: Count,
  /** 0: the model round `round` started from (round-reconstruction's empty coalition). */
  coalition: Count,
  weights: Bytes
})

/** The valuer scores models on its test set and keeps the scores; only a count returns. */
export const score = stage("shapley.score", Schema.Struct({ models: Schema.Array(ScoredModel) }), Schema.Struct({ scored: Count }))

/** How the valuer turns its score table into values. */
export const ValueRequest = Schema.Struct({
  method: Method,
  owners: PositiveInt,
  /** Owner addresses in bit order, written into the valuer's table. */
  ownerIds: Schema.Array(Schema.String),
  /** monte-carlo: the orderings; round-reconstruction beyond the exact limit: the orderings of each round. */
  orders: Schema.optional(Schema.Array(Schema.Array(Count))),
  ordersPerRound: Schema.optional(Schema.Array(Schema.Array(Schema.Array(Count)))),
  /** round-reconstruction: the rounds scored (1..rounds). */
  rounds: Count,
  truncation: Schema.optional(Schema.Finite),
  /** Digests of the scored models, in the table's order, written into the valuer's table. */
  modelHashes: Schema.Array(Schema.String)
})

export const ModelMetrics = Schema.Struct({
  worth: Schema.Finite,
  accuracy: Schema.Finite,
  f1: Schema.Finite,
  precision: Schema.Finite,
  recall: Schema.Finite,
  confusion: Confusion,
  roc: Schema.optional(Roc),
  auc: Schema.optional(Schema.Finite)
})
export type ModelMetrics = typeof ModelMetrics.Type

export const ValueReply = Schema.Struct({
  phi: Schema.Array(Schema.Finite),
  shares: Schema.Array(Schema.Finite),
  clamped: Schema.Array(Count),
  standardError: Schema.optional(Schema.Array(Schema.Finite)),
  skippedRounds: Schema.optional(Schema.Array(Count)),
  log: Schema.Array(Schema.String),
  scoresHash: Schema.String,
  /** The whole coalition's final model on the test set. */
  grand: ModelMetrics,
  /** Where the valuer keeps its table (a path at its agent, or `memory:`). */
  location: Schema.String
})
export type ValueReply = typeof ValueReply.Type

export const value = stage("shapley.value", ValueRequest, ValueReply)

// ---------- result ----------

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  method: Method,
  metric: Metric,
  /** Owner addresses; owner i is bit i of every coalition mask. */
  owners: Schema.Array(Schema.String),
  valuer: Schema.String,
  /** Shapley values of the worth (raw, unclamped): they add up to v(all owners) for exact and monte-carlo. */
  phi: Schema.Array(Schema.Finite),
  /** phi_H of Eq. 7.8: clamped at 0 and renormalised to sum 1 — what the settlement pays by. */
  shares: Schema.Array(Schema.Finite),
  clamped: Schema.Array(Count),
  standardError: Schema.optional(Schema.Array(Schema.Finite)),
  permutations: Schema.optional(Count),
  skippedRounds: Schema.optional(Schema.Array(Count)),
  /** Models trained (exact, monte-carlo) or rebuilt (round-reconstruction) and scored. */
  models: Count,
  rounds: Count,
  grand: ModelMetrics,
  testRows: Count,
  testSetHash: Schema.String,
  recipeHash: Schema.String,
  scoresHash: Schema.String,
  modelsRoot: Schema.String,
  /** exact: each coalition's model digest, coalition mask m at index m − 1 (the settlement's modelHashes). */
  modelHashes: Schema.optional(Schema.Array(Schema.String)),
  /** Where the valuer keeps the score table and its salt. */
  scoreTable: Schema.String,
  log: Schema.Array(Schema.String)
})
export type Result = typeof Result.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  field: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid contribution parameters: ${this.field}: ${this.detail}`
  }
}
