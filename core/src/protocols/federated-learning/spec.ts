/**
 * Horizontal federated learning (`modeling.horizontal-fl`): participants with the same columns train one
 * tfjs model without sending rows. The initiator sends a declarative Sequential topology (JSON, never code)
 * and a training configuration; each round the coordinator sends the global weights to a sample of
 * participants, each trains locally and the coordinator combines the updates — FedAvg weighted by sample
 * count (McMahan et al. 2017) or FedProx (Li et al. 2020: the same average, local loss + μ/2‖w − w_g‖²).
 *
 * Aggregation modes:
 *  - "secure" (default): dropout-tolerant secure aggregation (PROTOCOLS.md §5.4 Mode A, `secure-aggregation/`)
 *    of [(n_i/S)·(w_i − w_g), n_i, validation metrics] as fixed-point integers mod 2^32 (mod 2^64 in the first
 *    round of an attempt and with DP): the coordinator learns sums only. Rings and ranges: `Updates.ts`.
 *  - "plain": updates in the clear (a baseline, and for trusted coordinators); the coordinator can check each.
 *  - "ckks": updates encrypted under one CKKS key the participants share; the coordinator adds ciphertexts
 *    and the contributors decrypt the sum (`CkksAggregation.ts`: who holds the key, who learns what).
 * Both: the model is shared with participants (Mode A); per-round metrics are the received global model's
 * loss and accuracy on each participant's validation split, weighted by its size.
 */
import { Schema } from "effect"
import * as Prg from "../../crypto/Prg.ts"
import { Scaling } from "../../models/ModelArtifact.ts"
import { stage } from "../Protocol.ts"
import { Loss, Optimizer } from "./ModelRuntime.ts"

export const kind = "modeling.horizontal-fl" as const

const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

export const Privacy = Schema.Struct({
  /** L2 bound C on each participant's model delta. */
  clipNorm: Positive,
  /** z: the summed noise has standard deviation z·C. */
  noiseMultiplier: Positive,
  /** δ of the reported (ε, δ); default 1e-5. */
  delta: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 1e-12, maximum: 0.1 })))
})
export type Privacy = typeof Privacy.Type

export const Aggregation = Schema.Literals(["secure", "plain", "ckks"])
export type Aggregation = typeof Aggregation.Type

export const Params = Schema.Struct({
  /** `model.toJSON(null, false)` of a tfjs Sequential model. */
  model: Schema.Record(Schema.String, Schema.Unknown),
  featureColumns: Schema.NonEmptyArray(Schema.String),
  labelColumn: Schema.String,
  /** Label value of each output unit, as text; default "0" … "units−1" (or "0","1" for one sigmoid unit). */
  classes: Schema.optional(Schema.Array(Schema.String)),
  /** Standardization applied to the features by every participant (and stored with the model). */
  scaling: Schema.optional(Scaling),
  optimizer: Optimizer,
  learningRate: Positive,
  /**
   * Round r trains at learningRate·decay^(r−1) (default 1: constant). A decaying local step shrinks the drift of
   * non-IID participants late in training, where FedAvg with a constant step keeps oscillating (Li et al.
   * 2020, "On the Convergence of FedAvg on Non-IID Data": a decaying step is necessary for convergence).
   */
  learningRateDecay: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0.5, maximum: 1 }))),
  localEpochs: PositiveInt,
  batchSize: PositiveInt,
  loss: Schema.optional(Loss),
  rounds: PositiveInt,
  /** Fraction of each participant's rows held out for its validation metrics. */
  validationSplit: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.5 }))),
  strategy: Schema.optional(Schema.Literals(["fedavg", "fedprox"])),
  /** FedProx μ (only with strategy "fedprox"). */
  proximalMu: Schema.optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Participants sampled per round; default all. */
  clientsPerRound: Schema.optional(PositiveInt),
  /** A round proceeds once its timeout passes with at least this many updates; default clientsPerRound. */
  minUpdatesPerRound: Schema.optional(PositiveInt),
  /** Per-stage wait for stragglers; default the task's roundTimeoutMs. */
  roundTimeoutMs: Schema.optional(PositiveInt),
  seed: Schema.optional(Schema.Int),
  aggregation: Schema.optional(Aggregation),
  /** "ckks" only: the participant that generates the CKKS keys; default the first party. */
  keyHolder: Schema.optional(Schema.String),
  privacy: Schema.optional(Privacy),
  /**
   * "secure" only: the secure-aggregation graph. `neighbours` k makes it SecAgg+ (each participant masks with k
   * peers, secure-aggregation/Neighbourhood.ts); ≥ the cohort − 1 is the complete graph. Default: the smallest k
   * meeting that module's stated bounds for the round's cohort and dropout tolerance (the complete graph when none).
   * `prg` the masks' PRG (crypto/Prg.ts), signed into every aggregation's parameters; default "aes128-ctr".
   */
  secagg: Schema.optional(Schema.Struct({ neighbours: Schema.optional(PositiveInt), prg: Schema.optional(Prg.NameSchema) }))
})
export type Params = typeof Params.Type

export const defaults = {
  validationSplit: 0.2,
  strategy: "fedavg",
  seed: 42,
  aggregation: "secure",
  delta: 1e-5
} as const

/**
 * The two secure-aggregation rings of a round's update (ranges and precision in `Updates.ts`): the narrow one
 * once the coordinator knows a weight scale S (every round after the first of an attempt, without DP), the
 * wide one otherwise. Validation metrics travel at 2^metricScaleBits in either.
 */
export const narrowRing = { bits: 32, scaleBits: 20 } as const
export const wideRing = { bits: 64, scaleBits: 16 } as const
export const metricScaleBits = 16
export const RingBits = Schema.Literals([narrowRing.bits, wideRing.bits])
export type RingBits = typeof RingBits.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  field: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid federated-learning parameters: ${this.field}: ${this.detail}`
  }
}

/** A participant's label column holds values the model has no output for. */
export class UnexpectedLabels extends Schema.TaggedError<UnexpectedLabels>()("UnexpectedLabels", {
  column: Schema.String,
  values: Schema.Array(Schema.String),
  expected: Schema.Array(Schema.String)
}) {
  override get message() {
    return `label column ${this.column} has values ${this.values.join(", ")} outside the model's classes ${this.expected.join(", ")}`
  }
}

const Bytes = Schema.Uint8ArrayFromBase64

export const ValidationMetrics = Schema.Struct({ lossSum: Schema.Finite, correct: Schema.Finite, samples: Schema.Int })
export type ValidationMetrics = typeof ValidationMetrics.Type

/** Every party checks columns, labels and the model before round 1; nothing about the rows is returned. */
export const prepare = stage("fl.prepare", Schema.Struct({ round: Schema.Int }), Schema.Struct({ ready: Schema.Literal(true) }))

/** One participant builds the seeded initial weights (the coordinator has no tfjs). */
export const initialize = stage("fl.initialize", Schema.Struct({ seed: Schema.Int }), Schema.Struct({ weights: Bytes }))

/**
 * The aggregation of round `round` of a federated run. `namespace` tells concurrent runs of one task apart (a
 * contribution task trains every coalition as its own run, `c<mask>/`); "" for a task's only run.
 */
export const roundAggregationId = (namespace: string, round: number) => `${namespace}round-${round}`

/**
 * The run and round of an aggregation id (`roundAggregationId`'s inverse), read from the id alone; the whole id and
 * round 0 when it is not a round's (`${namespace}evaluate`).
 */
export const runAndRound = (aggregationId: string) => {
  const match = /round-(\d+)$/.exec(aggregationId)
  return match ? { run: aggregationId.slice(0, match.index), round: Number(match[1]) } : { run: aggregationId, round: 0 }
}

/**
 * Round r: the global weights in; in "plain" mode the update out, in "secure" mode only readiness (the update
 * waits in the participant's memory for the masked-input stage of aggregation `round-r`).
 */
export const train = stage(
  "fl.train",
  Schema.Struct({
    round: Schema.Int,
    aggregationId: Schema.String,
    weights: Bytes,
    /** Contributors the DP noise is split over (each adds σ²/expected of the variance). */
    expectedContributors: Schema.Int,
    /** S: each participant contributes (n_i/S)·(w_i − w_g), so the sum stays near one averaged delta. */
    weightScale: Positive,
    /** Ring of this round's secure aggregation. */
    ringBits: RingBits
  }),
  Schema.Struct({
    ready: Schema.Literal(true),
    update: Schema.optional(Schema.Struct({ weights: Bytes, trainSamples: Schema.Int, validation: ValidationMetrics })),
    /** "ckks": the contribution's slots encrypted (layout in `CkksAggregation.ts`). */
    encrypted: Schema.optional(Schema.Array(Bytes))
  })
)

/** The final model's validation metrics (secure mode: kept for aggregation `evaluate`). */
export const evaluate = stage(
  "fl.evaluate",
  Schema.Struct({ aggregationId: Schema.String, weights: Bytes, ringBits: RingBits }),
  Schema.Struct({ ready: Schema.Literal(true), validation: Schema.optional(ValidationMetrics), encrypted: Schema.optional(Schema.Array(Bytes)) })
)

export const RoundMetrics = Schema.Struct({
  round: Schema.Int,
  contributors: Schema.Array(Schema.String),
  rejected: Schema.Array(Schema.Struct({ participant: Schema.String, reason: Schema.String })),
  trainSamples: Schema.Int,
  validationSamples: Schema.Int,
  /** Of the global model each participant received this round (before its local training). */
  loss: Schema.optional(Schema.Finite),
  accuracy: Schema.optional(Schema.Finite),
  /** sha256 over the round number and the aggregated model's bytes: a leaf of the rounds Merkle tree. */
  digest: Schema.String,
  epsilon: Schema.optional(Schema.Finite)
})
export type RoundMetrics = typeof RoundMetrics.Type

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  modelId: Schema.String,
  rounds: Schema.Array(RoundMetrics),
  final: Schema.Struct({ loss: Schema.optional(Schema.Finite), accuracy: Schema.optional(Schema.Finite), validationSamples: Schema.Int }),
  roundsRoot: Schema.String,
  aggregation: Aggregation,
  strategy: Schema.Literals(["fedavg", "fedprox"]),
  /** Rounds replayed from the checkpoint of an earlier attempt. */
  resumedFromRound: Schema.Int,
  privacy: Schema.optional(Schema.Struct({ epsilon: Schema.Finite, delta: Schema.Finite, accountant: Schema.String })),
  /** The trained model (moved into the coordinator's model store; the result keeps `modelId`). */
  model: Schema.optional(Schema.Unknown)
})
export type Result = typeof Result.Type
