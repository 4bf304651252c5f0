/**
 * SecureSVM over horizontally partitioned rows (PROTOCOLS.md §5, task kind `modeling.secure-svm`): stages,
 * params, result and the `linear` model artifact. The protocol itself is described in `coordinator.ts`.
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { stage } from "../Protocol.ts"
import { LinearArtifact } from "../../models/ModelArtifact.ts"
import type { Hyper } from "./Model.ts"

export const kind = "modeling.secure-svm" as const
export const PROTOCOL = "secure-svm"

const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const Bytes = Schema.Uint8ArrayFromBase64
const LabelValue = Schema.Union([Schema.Finite, Schema.String])

export const Scaling = Schema.Struct({ mean: Schema.Array(Schema.Finite), std: Schema.Array(Positive) })

export const ScalingParam = Schema.Union([
  /** Mean and population std of each feature over all providers' training rows, by secure aggregation. */
  Schema.Struct({ kind: Schema.Literal("joint") }),
  /** Fixed by the task spec (e.g. from a published codebook). */
  Schema.Struct({ kind: Schema.Literal("fixed"), mean: Schema.Array(Schema.Finite), std: Schema.Array(Positive) }),
  Schema.Struct({ kind: Schema.Literal("none") })
])

export const Params = Schema.Struct({
  features: Schema.NonEmptyArray(Schema.String),
  label: Schema.Struct({ column: Schema.String, positive: Schema.optional(LabelValue), negative: Schema.optional(LabelValue) }),
  /**
   * "A" (default): the model is shared with the providers each round, totals are securely aggregated.
   * "B": the model stays encrypted under the analyst's Paillier key; margins are compared blind (§5.4 Mode B).
   */
  mode: Schema.optional(Schema.Literals(["A", "B"])),
  /** Mode B: the party that plays C (holds SK_C, receives (w*, b*)); it contributes no rows. */
  analyst: Schema.optional(Address),
  rho: Schema.optional(NonNegative),
  eta: Schema.optional(Positive),
  c: Schema.optional(Positive),
  epochs: Schema.optional(Count),
  batchesPerEpoch: Schema.optional(Count),
  epsilon: Schema.optional(NonNegative),
  seed: Schema.optional(Schema.Int),
  testFraction: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.9 }))),
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 8, maximum: 24 }))),
  scaling: Schema.optional(ScalingParam),
  /** Public bound on |standardized feature|: rows beyond it are refused (Mode B's headroom depends on it). */
  featureBound: Schema.optional(Positive),
  /** Mode A: providers that may drop out with training continuing (default ⌊(n−1)/2⌋). Mode B needs all. */
  dropoutTolerance: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Mode A: Gaussian noise of this std (real units) on each round's gradient and hinge totals. */
  noise: Schema.optional(Schema.Struct({ sigma: Positive })),
  /** Mode B: Paillier modulus size (PROTOCOLS §4: 2048 default, 3072 for long-lived secrets). */
  keyBits: Schema.optional(Schema.Literals([2048, 3072])),
  /** Mode B: statistical blinding parameter κ (PROTOCOLS §0: 40). */
  kappa: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 16, maximum: 128 })))
})
export type Params = typeof Params.Type

export const defaults = {
  rho: 0.01,
  eta: 0.5,
  c: 1,
  epochs: 5,
  batchesPerEpoch: 2,
  epsilon: 0,
  seed: 1,
  testFraction: 0.2,
  scaleBits: 16,
  featureBound: 16,
  kappa: 40
} as const

export const hyperOf = (p: Params): Hyper => ({
  rho: p.rho ?? defaults.rho,
  eta: p.eta ?? defaults.eta,
  c: p.c ?? defaults.c,
  epochs: p.epochs ?? defaults.epochs,
  batchesPerEpoch: p.batchesPerEpoch ?? defaults.batchesPerEpoch,
  epsilon: p.epsilon ?? defaults.epsilon,
  seed: p.seed ?? defaults.seed,
  testFraction: p.testFraction ?? defaults.testFraction,
  scaleBits: p.scaleBits ?? defaults.scaleBits
})

/** The model store's `linear` artifact (core/src/models/ModelArtifact.ts); weights apply to scaled features. */
export { LinearArtifact }

export const Metrics = Schema.Struct({
  precision: Schema.Finite,
  recall: Schema.Finite,
  accuracy: Schema.Finite,
  tp: Schema.Int,
  fp: Schema.Int,
  fn: Schema.Int,
  tn: Schema.Int
})

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  mode: Schema.Literals(["A", "B"]),
  model: LinearArtifact,
  rounds: Schema.Int,
  costs: Schema.Array(Schema.Finite),
  /** Precision/recall over the union of the providers' local test splits, from aggregated confusion counts. */
  test: Metrics,
  /** Training rows over all providers (from the joint scaling). */
  trainRows: Schema.optional(Schema.Int),
  providers: Schema.Array(Schema.String),
  /** Mode A: providers lost during training (their earlier contributions stay in the model). */
  dropped: Schema.Array(Schema.String),
  /** Mode B: Paillier work, summed over the analyst and the providers. */
  paillier: Schema.optional(Schema.Struct({
    keyBits: Schema.Int,
    encryptions: Schema.Int,
    decryptions: Schema.Int,
    exponentiations: Schema.Int,
    comparisons: Schema.Int,
    packedCiphertexts: Schema.Int
  }))
})
export type Result = typeof Result.Type

// ---------- stages ----------

/** Every provider checks it can read features and labels (and its split is non-empty) before anything is masked. */
export const prepare = stage("svm.prepare", Schema.Struct({}), Schema.Struct({ ready: Schema.Literal(true) }))

/**
 * Mode A: the round's model in the clear, ahead of the secure aggregation `aggregationId` that sums the
 * providers' totals ("train") or confusion counts ("test"). Also used for the joint scaling ("scaling").
 */
export const ModelMessage = Schema.Struct({ weights: Schema.Array(Schema.Finite), bias: Schema.Finite })
export const roundModel = stage(
  "svm.round-model",
  Schema.Struct({
    aggregationId: Schema.String,
    purpose: Schema.Literals(["scaling", "train", "test"]),
    epoch: Schema.Int,
    batch: Schema.Int,
    scaling: Schema.optional(Scaling),
    model: Schema.optional(ModelMessage)
  }),
  Schema.Struct({ ready: Schema.Literal(true) })
)

/** Mode B, analyst: fresh key pair; returns PK_C and [[w_0]], [[b_0]] (one weight per `params.features`). */
export const EncryptedModel = Schema.Struct({
  /** [[w_1]] … [[w_d]], [[b]] (Serialization.encodeCiphertexts). */
  ciphertexts: Bytes,
  /** Bits per packed slot, sized by the analyst from ‖w‖₁, |b| and the feature bound (PROTOCOLS §4 headroom). */
  slotBits: Schema.Int,
  /**
   * [[2^(W·m·g)·w_1]] … [[2^(W·m·g)·b]] for g = 1 … G − 1 (W = slotBits, m = ⌈slots/G⌉; Blind.groupsOf): copies of
   * the model for the packed chunk's slot groups, which spare the providers most of the packing's squarings.
   * Absent: one group (every slot shifted from the model itself).
   */
  shifted: Schema.optional(Bytes)
})
export const setup = stage(
  "svm.b-setup",
  Schema.Struct({}),
  Schema.Struct({ publicKey: Bytes, model: EncryptedModel })
)

/** Mode B, provider: packed sign-hidden blinded margins of the batch (or test rows). */
export const compare = stage(
  "svm.b-compare",
  Schema.Struct({
    aggregationId: Schema.String,
    purpose: Schema.Literals(["train", "test"]),
    epoch: Schema.Int,
    batch: Schema.Int,
    scaling: Schema.optional(Scaling),
    publicKey: Bytes,
    model: EncryptedModel
  }),
  Schema.Struct({ packed: Bytes, count: Schema.Int })
)

/** Mode B, analyst: β = [z < 0] per slot, per provider (bits, little-endian within bytes). */
export const decide = stage(
  "svm.b-decide",
  Schema.Struct({
    aggregationId: Schema.String,
    purpose: Schema.Literals(["train", "test"]),
    slotBits: Schema.Int,
    batches: Schema.Array(Schema.Struct({ provider: Schema.String, packed: Bytes, count: Schema.Int }))
  }),
  Schema.Struct({ bits: Schema.Array(Schema.Struct({ provider: Schema.String, beta: Bytes })) })
)

/** Mode B, provider: unblinds I, prepares its secure-aggregation input; "train" also returns [[R − H·e_0]] (packed, ≥ 1 ciphertexts). */
export const indicators = stage(
  "svm.b-indicators",
  Schema.Struct({ aggregationId: Schema.String, beta: Bytes }),
  Schema.Struct({ encryptedPad: Schema.optional(Bytes), exponentiations: Schema.Int, encryptions: Schema.Int })
)

/** Mode B, analyst: masked totals and Σ[[pad]] in; the update, the cost and the next [[w]] out. */
export const update = stage(
  "svm.b-update",
  Schema.Struct({ aggregationId: Schema.String, round: Schema.Int, maskedTotals: Schema.Array(Schema.BigIntFromString), encryptedPads: Bytes }),
  Schema.Struct({ cost: Schema.Finite, done: Schema.Boolean, model: EncryptedModel })
)

/** Mode B, analyst: (w*, b*) in the clear for the task result, and its operation counts. */
export const finish = stage(
  "svm.b-finish",
  Schema.Struct({ rounds: Schema.Int }),
  Schema.Struct({
    model: ModelMessage,
    encryptions: Schema.Int,
    decryptions: Schema.Int
  })
)

/** Mode B, provider: its Paillier work (for the report). */
export const report = stage(
  "svm.b-report",
  Schema.Struct({}),
  Schema.Struct({ exponentiations: Schema.Int, encryptions: Schema.Int, comparisons: Schema.Int, packedCiphertexts: Schema.Int })
)

// ---------- errors ----------

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  field: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid secure-svm parameters: ${this.field}: ${this.detail}`
  }
}

/** A provider's data cannot be used as asked; crosses the wire as a ParticipantFailure with this reason as code. */
export class DataError extends Schema.TaggedError<DataError>()("SvmDataError", {
  reason: Schema.Literals(["UnexpectedLabel", "NonFiniteFeature", "FeatureOutOfRange", "MissingColumn", "NotNumeric", "EmptySplit"]),
  dataset: Schema.String,
  column: Schema.String,
  /** The offending values (distinct, at most a few) as text. */
  values: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    return `dataset ${this.dataset}, column ${this.column}: ${this.reason}: ${this.detail}`
  }
}

export const maxDropoutTolerance = (parties: number): number => Math.max(0, Math.floor((parties - 1) / 2))

export const providersOf = (params: Params, parties: ReadonlyArray<string>): ReadonlyArray<string> =>
  (params.mode ?? "A") === "B" ? parties.filter((p) => p !== params.analyst) : parties

export const validate = (params: Params, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  const mode = params.mode ?? "A"
  if (new Set(params.features).size !== params.features.length) return new InvalidParams({ field: "features", detail: "a column is listed twice" })
  if (params.features.includes(params.label.column)) return new InvalidParams({ field: "label.column", detail: "the label is also a feature" })
  if (mode === "B") {
    if (params.analyst === undefined) return new InvalidParams({ field: "analyst", detail: "mode B needs the analyst party that holds the Paillier key" })
    if (!parties.includes(params.analyst)) {
      return new InvalidParams({ field: "analyst", detail: `${params.analyst} is not a party of the task` })
    }
    if (params.noise !== undefined) return new InvalidParams({ field: "noise", detail: "DP noise is offered in mode A only" })
  }
  const providers = providersOf(params, parties).length
  if (providers < 2) return new InvalidParams({ field: "parties", detail: `needs at least 2 providers, got ${providers}` })
  if (params.dropoutTolerance !== undefined) {
    const max = mode === "B" ? 0 : maxDropoutTolerance(providers)
    if (params.dropoutTolerance > max) return new InvalidParams({ field: "dropoutTolerance", detail: `at most ${max} with ${providers} providers in mode ${mode}` })
  }
  const scaling = params.scaling
  if (scaling?.kind === "fixed" && (scaling.mean.length !== params.features.length || scaling.std.length !== params.features.length)) {
    return new InvalidParams({ field: "scaling", detail: `mean and std need ${params.features.length} entries each` })
  }
  return undefined
}
