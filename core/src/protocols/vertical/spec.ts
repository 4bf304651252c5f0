/**
 * Joint modeling and prediction over vertically partitioned data (PROTOCOLS.md §6 with §3 items 1, 6): a
 * threshold-Paillier linear SVM and logistic regression whose partial models never leave their owners, and
 * joint prediction with them. Task kinds:
 *
 *   modeling.vertical-svm        PROTOCOLS §6 as corrected there ("Ours"): aligned PSI, dealer ceremony, local
 *                                SGD on plaintext partial models, the gradient-update judge under threshold
 *                                Paillier with private per-slot blinding, commit–reveal sample selection.
 *   modeling.vertical-logistic   the same skeleton without a comparison: sigmoid(z) ≈ ½ + z/4 (first-order
 *                                Taylor at 0), so the residual d = ½ + z/4 − y is linear in the encrypted scores.
 *   prediction.vertical-online   scores of the given ids for the requester: Σ_p w^p·x^p, added under pairwise masks
 *                                that cancel in the requester's sum (default), or Σ_p [[w^p·x^p]] threshold-decrypted.
 *   prediction.vertical-batch    the same over all aligned ids of the training task (or its test split).
 *
 * Phases of a training task (coordinator.ts): align (the aligned PSI join as a sub-protocol, every party a
 * receiver, digests compared) → prepare (blocks, split, first RPI commitment) → keys (dealer ceremony, shares
 * sealed over the PSI channel, transcript digest committed; the SVM's label holder also draws its judge key) →
 * train (iterations: score → [blind → decrypt → judge] → gradient → [SVM: open at the label holder; logistic:
 * decrypt] → update) → evaluate (joint prediction of the test split for the label holder) → finish (partial
 * models sealed at rest by their owners, PartialModels.ts; prediction tasks read them back, also after a
 * participant restart). Round data travel through the coordinator's relay; the chain
 * gets one Merkle root per phase (`session.commit`), so its cost does not grow with iterations. A party's
 * partial decryptions of one round travel as one batch with one proof of correctness (ThresholdPaillier.ts
 * "Batched proof"); a batch whose proof fails names its party (InvalidPartialDecryption).
 *
 * Leakage (semi-honest parties, honest-but-curious coordinator):
 * - alignment: as query.psi-aligned (set sizes; the intersection, in a pseudorandom order, to every party);
 * - SVM judge: the label holder learns I_j per sampled row and the blinded value ρ_j·u_j + η_j (≈ log2|u_j|,
 *   §6.3 item 4), where ρ_j = Σ_p ρ_j^p and η_j = Σ_p η_j^p sum every party's secret draws for that row alone
 *   (ρ_j^p uniform in [2^κ, 2^(κ+1)), η_j^p in [0, ρ_j^p)): each party raises every row's ciphertext (encrypted
 *   already shifted to its slot, a public function of the same value: Secure.judgeRow) to its own factor before
 *   packing, and the coordinator sums the packed contributions (Secure.blindPacked), so rows that
 *   share a ciphertext share no factor and their ratios u_j/u_k are hidden as well as their magnitudes are. A
 *   label holder colluding with all but one party h knows the others' draws: u_j is then blinded by ρ_j^h plus
 *   a known offset, which keeps the sign and hides |u_j| within a factor (1 + 2^κ/(Σ_{p≠h} ρ_j^p)) — weaker than
 *   h's factor alone would be (§6.3's sequential product), the price of blinding all rows in one parallel round
 *   and packing them for decryption. The coordinator sees only ciphertexts. The partial decryptions of
 *   the judge are sealed to the label holder, so neither the coordinator nor the other parties see them;
 * - gradients: each party learns only its own mini-batch gradient Σ_j d_j·x_j^p (masked with κ extra bits for
 *   everyone else), never a per-row label, residual or indicator. SVM (protocol 2): the judge's factors [[d_j]] and
 *   the masked gradients are under a Paillier key the label holder drew for the attempt (not the threshold key),
 *   and the label holder opens the summed masked gradients alone (`open`): it, the coordinator and the parties see
 *   the same masked values the threshold round showed everyone. Each opening carries Paillier's proof of correct
 *   decryption, the randomness r of the summed ciphertext, which each party checks against the sum the coordinator
 *   formed in the gradient round before using the value (`InvalidOpening` otherwise): r adds nothing to the value
 *   revealed anyway (Paillier.decryptWithProof), and neither the label holder nor a relay of the openings can hand
 *   a party another value. The sum itself is the coordinator's: a coordinator (with or without the label holder)
 *   that substitutes it, or a label holder that contributes other values than its rows' to it, shifts gradients, as
 *   the label holder already can by encrypting other factors than its judge's. The key reaches
 *   the other parties sealed by the label holder over the PSI channel, so a relay cannot hand a party a key of its
 *   own and read what the party multiplies into the factors (its rows' features);
 * - everyone learns the batch schedule (public seeds) and the test metrics the coordinator reports;
 * - a coordinator restart resumes at an iteration boundary the coordinator names (coordinator.ts); parties keep
 *   their last two boundaries, so a resumed attempt can repeat at most one iteration, re-blinded with fresh ρ, η
 *   (the label holder may see a second blinded value of that batch's rows). The coordinator sees a digest of
 *   each party's restored id order (to compare them), a hash of the first attempt's pseudorandom order.
 * - prediction, "masks" (default): the requester learns the total score per id and nothing else (any proper subset
 *   of the masked vectors is uniform in Z_(2^128); MaskedSum.ts); the other parties learn nothing; the coordinator
 *   sees the id count and sealed sizes. With two parties the requester learns the other's partial score, as it
 *   would from the total. The same as "threshold" reveals, with one difference in what is checked: "threshold"
 *   proves each partial decryption correct, "masks" has nothing to decrypt. Neither path proves a party's partial
 *   score itself: a party can shift the score by lying about its own w^p·x^p under either.
 * - the sealed progress files are removed (`cleanup`) once the coordinator has checkpointed the task's result,
 *   or when the task fails (it cannot be resumed then); a party unreachable at that moment keeps its files.
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { stage } from "../Protocol.ts"
import type { Hyper, ModelKind } from "./Linear.ts"

export const kinds = {
  svm: "modeling.vertical-svm",
  logistic: "modeling.vertical-logistic",
  online: "prediction.vertical-online",
  batch: "prediction.vertical-batch"
} as const
export const PROTOCOL = "vertical"

const Bytes = Schema.Uint8ArrayFromBase64
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

export const FeatureBlock = Schema.Struct({ party: Address, columns: Schema.Array(Schema.String) })

export const TrainParams = Schema.Struct({
  idColumn: Schema.String,
  /** The party that holds the label column (it also carries the bias feature). */
  labelHolder: Address,
  label: Schema.Struct({ column: Schema.String, positive: Schema.Union([Schema.Finite, Schema.String]) }),
  /** Every party's feature columns (a party with none still joins the alignment and the key). */
  features: Schema.NonEmptyArray(FeatureBlock),
  maxIds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** Sample updates in total (default 1500, the book's budget) and mini-batch size (default 50). */
  updates: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  batchSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4096 }))),
  eta: Schema.optional(Positive),
  lambda: Schema.optional(NonNegative),
  testFraction: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.9 }))),
  splitSeed: Schema.optional(Schema.Int),
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 6, maximum: 20 }))),
  /** Standardized values are clipped to ±featureBound (default 16); clipped cells are counted in the result. */
  featureBound: Schema.optional(Positive),
  /**
   * Threshold-Paillier modulus size (default 2048). Any size a key can have is a valid task; each participant
   * refuses sizes below its own minimum (2048 unless its policy asks for more) at consent.
   */
  keyBits: Schema.optional(Schema.Int),
  /** Partial decryptions needed (default: every party, as in the source). */
  threshold: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Runs the dealer ceremony (default: the label holder). */
  dealer: Schema.optional(Address),
  kappa: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 16, maximum: 128 }))),
  /** SVM comparisons per decrypted ciphertext (default: as many as fit; no factor is shared between them). */
  slotsPerComparison: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /**
   * The wire layout the task was created for (`PROTOCOL_VERSION`; absent: the version of the build that reads
   * it). Part of the signed params, so nobody can move a task to another layout.
   */
  protocolVersion: Schema.optional(Schema.Int)
})
export type TrainParams = typeof TrainParams.Type

/**
 * Version of the training rounds' wire layout (docs/vertical-packing.md): 1 = rows one per ciphertext in the score
 * round (each already shifted to its judge slot), judge values packed per slot after blinding, gradients packed per
 * feature, every decryption a threshold one; 2 = the same, except that the SVM's judge factors and masked gradients
 * are under a Paillier key of the label holder's (`keys`' `judgeKey`), which opens the summed gradients alone
 * (`open`) instead of a threshold decryption round. A change of any round's layout or slot widths takes the next
 * number, and the parties and the coordinator refuse a version they do not speak (UnsupportedProtocolVersion)
 * before any data is read.
 */
export const PROTOCOL_VERSION = 2
export const SUPPORTED_PROTOCOL_VERSIONS: ReadonlyArray<number> = [2]

/** The version a task's params name (absent: this build's). */
export const protocolVersionOf = (params: Pick<TrainParams, "protocolVersion">): number => params.protocolVersion ?? PROTOCOL_VERSION

export const defaults = {
  updates: 1500,
  batchSize: 50,
  eta: 0.05,
  lambda: 0.001,
  testFraction: 0.2,
  splitSeed: 1,
  scaleBits: 12,
  featureBound: 16,
  keyBits: 2048,
  kappa: 40
} as const

/**
 * How a prediction's partial scores reach the requester (default "masks"): "masks" adds them under pairwise masks
 * that cancel in the requester's sum (MaskedSum.ts); "threshold" adds them under the threshold key and decrypts the
 * totals with every party's partial decryption and its proof (the path of a training task's evaluation).
 */
export const Aggregation = Schema.Literals(["masks", "threshold"])

export const OnlineParams = Schema.Struct({
  /** The training task's id (= model id); every party looks up its own partial model under it. */
  model: Schema.String,
  requester: Address,
  idColumn: Schema.String,
  ids: Schema.NonEmptyArray(Schema.String).check(Schema.isMaxLength(4096)),
  aggregation: Schema.optional(Aggregation)
})
export type OnlineParams = typeof OnlineParams.Type

export const BatchParams = Schema.Struct({
  model: Schema.String,
  requester: Address,
  idColumn: Schema.String,
  /** All aligned ids of the training task, or only its test split. */
  subset: Schema.Literals(["all", "test"]),
  aggregation: Schema.optional(Aggregation)
})
export type BatchParams = typeof BatchParams.Type

// ---- stages -------------------------------------------------------------------------------------------

export const Reveal = Schema.Struct({ rpi: Schema.String, salt: Bytes })
export type Reveal = typeof Reveal.Type
export const Sealed = Schema.Struct({ participant: Schema.String, payload: Bytes })
export type Sealed = typeof Sealed.Type

export const prepare = stage(
  "vertical.prepare",
  /**
   * `resumeAt`: a later attempt resumes training at this iteration boundary (coordinator checkpoint); each party
   * restores its sealed progress there (PartialModels.Progress) and commits again to the RPI it had committed to.
   */
  Schema.Struct({ resumeAt: Schema.optional(Count) }),
  Schema.Struct({
    alignment: Schema.String,
    rows: Count,
    features: Count,
    constantColumns: Schema.Array(Schema.String),
    clipped: Count,
    /** H(RPI ‖ salt) for the first batch (§6.4 commit–reveal). */
    commit: Schema.String,
    /**
     * Set when resuming: PartialModels.resumeDigest of the iteration and the id order this party restored. The
     * coordinator requires every party's to be equal (ResumeOrderMismatch naming the parties that differ).
     */
    resumed: Schema.optional(Schema.String)
  })
)
export const EncryptedShare = Schema.Struct({ recipient: Schema.String, index: Count, box: Bytes })
export const deal = stage(
  "vertical.deal",
  Schema.Struct({}),
  Schema.Struct({ publicKey: Bytes, shares: Schema.Array(EncryptedShare), transcriptDigest: Schema.String })
)
export const keys = stage(
  "vertical.keys",
  Schema.Struct({ dealer: Schema.String, publicKey: Bytes, shares: Schema.Array(EncryptedShare), features: Schema.Array(Count) }),
  /**
   * SVM, the label holder (protocol 2): `judgeKey`, the public half of the Paillier key it drew for this attempt,
   * under which it encrypts the judge's factors and opens the masked gradients (`open`), for the coordinator; and
   * the same bytes sealed to every other party (`judgeKeys`, over the PSI channel), so that a relay cannot hand a
   * party a key of its own to decrypt what the party multiplies into the factors.
   */
  Schema.Struct({ transcriptDigest: Schema.String, reveal: Reveal, judgeKey: Schema.optional(Bytes), judgeKeys: Schema.optional(Schema.Array(Sealed)) })
)
export const score = stage(
  "vertical.score",
  Schema.Struct({ iteration: Count, commits: Schema.Record(Schema.String, Schema.String), reveals: Schema.Record(Schema.String, Reveal) }),
  Schema.Struct({ ciphertexts: Bytes, commit: Schema.String })
)
export const blind = stage("vertical.blind", Schema.Struct({ iteration: Count, ciphertexts: Bytes }), Schema.Struct({ ciphertexts: Bytes }))
export const decrypt = stage(
  "vertical.decrypt",
  /** `sealTo`: the only party that may learn the plaintexts; without it the plaintexts are masked. */
  Schema.Struct({ label: Schema.String, ciphertexts: Bytes, sealTo: Schema.optional(Schema.String) }),
  /** Empty from the party `sealTo` names: it keeps its own batch (Party.collectPartials). */
  Schema.Struct({ partials: Bytes })
)
export const judge = stage(
  "vertical.judge",
  Schema.Struct({ iteration: Count, ciphertexts: Bytes, partials: Schema.Array(Sealed) }),
  Schema.Struct({ cheaters: Schema.Array(Schema.String), factors: Bytes })
)
export const gradient = stage(
  "vertical.gradient",
  /** `judgeKey` (SVM): the label holder's key of `keys` sealed to this party, under which `inputs` (its factors) are encrypted. */
  Schema.Struct({ iteration: Count, inputs: Schema.Array(Bytes), judgeKey: Schema.optional(Bytes) }),
  Schema.Struct({ ciphertexts: Schema.Array(Schema.Struct({ index: Count, ciphertext: Bytes })) })
)
/**
 * One opened gradient ciphertext: its packed plaintext (signed decimal) and the randomness r with
 * c = (1+N)^value·r^N mod N² (decimal), which each party checks against the ciphertext before using the value
 * (Paillier.verifyDecryption; a refused one is the party's `InvalidOpening`).
 */
export const Opening = Schema.Struct({ value: Schema.String, randomness: Schema.String })
export type Opening = typeof Opening.Type
/** SVM: the label holder decrypts the summed masked gradient ciphertexts under its judge key, with proofs of correct decryption. */
export const open = stage(
  "vertical.open",
  Schema.Struct({ iteration: Count, ciphertexts: Bytes }),
  Schema.Struct({ openings: Schema.Array(Opening) })
)
export const update = stage(
  "vertical.update",
  /**
   * Logistic: the gradient ciphertexts under the threshold key and every party's partial decryptions of them.
   * SVM: `opened`, the label holder's openings of the same ciphertexts (under its judge key) with their proofs, and no partials.
   */
  Schema.Struct({ iteration: Count, ciphertexts: Bytes, partials: Schema.Array(Sealed), opened: Schema.optional(Schema.Array(Opening)) }),
  Schema.Struct({ cheaters: Schema.Array(Schema.String), reveal: Schema.optional(Reveal) })
)
export const predictScore = stage(
  "vertical.predict-score",
  Schema.Struct({ requestId: Schema.String }),
  /** The threshold public key (public) lets the coordinator add the parties' ciphertexts. */
  Schema.Struct({ ciphertexts: Bytes, count: Count, publicKey: Bytes })
)
/** One point of a ROC curve: the rates at one threshold (the threshold itself, a score, is not published). */
export const RocPoint = Schema.Struct({ fpr: Schema.Finite, tpr: Schema.Finite })

export const predictOutput = stage(
  "vertical.predict-output",
  Schema.Struct({ requestId: Schema.String, ciphertexts: Bytes, partials: Schema.Array(Sealed) }),
  Schema.Struct({
    cheaters: Schema.Array(Schema.String),
    count: Count,
    digest: Schema.String,
    location: Schema.String,
    /** Training evaluation at the label holder: the confusion counts of the test split. */
    confusion: Schema.optional(Schema.Struct({ tp: Count, fp: Count, fn: Count, tn: Count })),
    /** Training evaluation at the label holder: the test split's ROC curve (Linear.roc: aggregate rates, no scores). */
    roc: Schema.optional(Schema.Struct({ points: Schema.Array(RocPoint), auc: Schema.Finite }))
  })
)
/** Masked prediction: each party's partial scores, masked (MaskedSum.ts) and sealed to the requester (empty from it). */
export const predictMasked = stage(
  "vertical.predict-masked",
  Schema.Struct({ requestId: Schema.String }),
  Schema.Struct({ count: Count, payload: Bytes })
)
/** Masked prediction at the requester: the other parties' sealed vectors in; its output's digest and location out. */
export const predictMaskedOutput = stage(
  "vertical.predict-masked-output",
  Schema.Struct({ requestId: Schema.String, payloads: Schema.Array(Sealed) }),
  Schema.Struct({ count: Count, digest: Schema.String, location: Schema.String })
)
export const finish = stage("vertical.finish", Schema.Struct({}), Schema.Struct({ digest: Schema.String, location: Schema.String }))
/**
 * The task is over (its result checkpointed, or it failed): each party removes its sealed training progress.
 * Stateless and idempotent, so a later attempt can send it again.
 */
export const cleanup = stage("vertical.cleanup", Schema.Struct({}), Schema.Struct({ removed: Count }))

// ---- results --------------------------------------------------------------------------------------------

export const Metrics = Schema.Struct({
  accuracy: Schema.Finite,
  precision: Schema.Finite,
  recall: Schema.Finite,
  tp: Count,
  fp: Count,
  fn: Count,
  tn: Count,
  /** The test split's ROC curve and AUC, from the label holder (absent when the split holds one class only). */
  roc: Schema.optional(Schema.Array(RocPoint)),
  auc: Schema.optional(Schema.Finite)
})

export const Counters = Schema.Struct({
  rounds: Count,
  decryptedCiphertexts: Count,
  partialDecryptions: Count,
  /** Proofs of correct partial decryption: one per party per decryption round, however many ciphertexts (none from the party a round is sealed to). */
  decryptionProofs: Count,
  comparisons: Count
})
export type Counters = typeof Counters.Type

export const TrainResult = Schema.Struct({
  kind: Schema.String,
  /** Set when a coordinator restart resumed training: the iteration the last attempt started from. */
  resumedFromIteration: Schema.optional(Count),
  /** The model id for prediction tasks: this task's id. */
  modelId: Schema.String,
  parties: Schema.Array(Schema.String),
  labelHolder: Schema.String,
  rows: Count,
  trainRows: Count,
  testRows: Count,
  alignment: Schema.String,
  keyTranscript: Schema.String,
  keyBits: Count,
  threshold: Count,
  iterations: Count,
  batchSize: Count,
  /** Public batch seeds, one per iteration (Linear.batchOf), so anyone can replay the schedule. */
  schedule: Schema.Array(Schema.String),
  features: Schema.Array(Count),
  constantColumns: Schema.Array(Schema.String),
  clipped: Count,
  test: Metrics,
  /** Parties whose partial decryptions did not arrive in time in some round (tolerated because t allowed it). */
  withheld: Schema.Array(Schema.String),
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
  /** sha256 of the requester's output (its ids, scores, labels stay with it). */
  digest: Schema.String,
  withheld: Schema.Array(Schema.String),
  counters: Counters
})
export type PredictResult = typeof PredictResult.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", { field: Schema.String, detail: Schema.String }) {
  override get message() {
    return `invalid vertical-model parameters: ${this.field}: ${this.detail}`
  }
}

/** The task names a wire layout this build does not speak (an older one dropped, or a newer one). */
export class UnsupportedProtocolVersion extends Schema.TaggedError<UnsupportedProtocolVersion>()("UnsupportedProtocolVersion", {
  version: Schema.Int,
  supported: Schema.Array(Schema.Int)
}) {
  override get message() {
    return `vertical protocol version ${this.version} is not supported (this build speaks ${this.supported.join(", ")})`
  }
}

/** UnsupportedProtocolVersion when `params` name a version outside SUPPORTED_PROTOCOL_VERSIONS. */
export const checkProtocolVersion = (params: Pick<TrainParams, "protocolVersion">): UnsupportedProtocolVersion | undefined => {
  const version = protocolVersionOf(params)
  return SUPPORTED_PROTOCOL_VERSIONS.includes(version) ? undefined : new UnsupportedProtocolVersion({ version, supported: [...SUPPORTED_PROTOCOL_VERSIONS] })
}

/** What every vertical training kind (SecureBoost's too) checks of its parties, label holder and feature blocks. */
export interface VerticalLayout {
  readonly idColumn: string
  readonly labelHolder: string
  readonly label: { readonly column: string }
  readonly features: ReadonlyArray<{ readonly party: string; readonly columns: ReadonlyArray<string> }>
}

export const validateLayout = (params: VerticalLayout, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  if (parties.length < 2) return new InvalidParams({ field: "parties", detail: "needs at least 2 parties" })
  if (!parties.includes(params.labelHolder)) return new InvalidParams({ field: "labelHolder", detail: `${params.labelHolder} is not a party` })
  const named = params.features.map((f) => f.party)
  if (new Set(named).size !== named.length) return new InvalidParams({ field: "features", detail: "a party is named twice" })
  const outsider = named.find((p) => !parties.includes(p))
  if (outsider !== undefined) return new InvalidParams({ field: "features", detail: `${outsider} is not a party` })
  for (const f of params.features) {
    if (f.columns.includes(params.idColumn)) return new InvalidParams({ field: "features", detail: "the id column is not a feature" })
    if (f.party === params.labelHolder && f.columns.includes(params.label.column)) {
      return new InvalidParams({ field: "features", detail: "the label column is not a feature" })
    }
  }
  return undefined
}

export const validate = (params: TrainParams, parties: ReadonlyArray<string>): InvalidParams | UnsupportedProtocolVersion | undefined => {
  const version = checkProtocolVersion(params)
  if (version !== undefined) return version
  const layout = validateLayout(params, parties)
  if (layout !== undefined) return layout
  if (params.dealer !== undefined && !parties.includes(params.dealer)) return new InvalidParams({ field: "dealer", detail: `${params.dealer} is not a party` })
  const t = params.threshold ?? parties.length
  if (t > parties.length) return new InvalidParams({ field: "threshold", detail: `${t} exceeds the ${parties.length} parties` })
  const bits = params.keyBits ?? defaults.keyBits
  if (bits % 16 !== 0 || bits < 256 || bits > 4096) return new InvalidParams({ field: "keyBits", detail: "a multiple of 16 bits between 256 and 4096" })
  return undefined
}

/** The training hyper-parameters of `params` with the defaults filled in: one definition for the parties and the plaintext reference. */
export const hyperOf = (model: ModelKind, params: TrainParams): Hyper => ({
  model,
  eta: params.eta ?? defaults.eta,
  lambda: params.lambda ?? defaults.lambda,
  batchSize: params.batchSize ?? defaults.batchSize,
  updates: params.updates ?? defaults.updates,
  scaleBits: params.scaleBits ?? defaults.scaleBits
})
