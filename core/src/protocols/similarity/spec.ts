/**
 * Encrypted top-K similarity retrieval (task kind `query.similar`; PROTOCOLS.md §8 "Our construction", §11
 * items 30–33): a querier finds the K images of an owner's collection nearest to its query image (squared
 * Euclidean distance on quantised features, ties broken by the owner's rank order — exactly the plaintext
 * k-NN) without showing the query, and the owner reveals nothing beyond the K results. Semi-honest, two
 * parties; BFV on node-seal (128-bit, `Bfv.ts`), a DH-OPRF on ristretto255 for the K records (joint-query's
 * hidden query), every payload sealed end to end between the two (joint-query `Channel.ts`).
 *
 * Why not the book's scheme: its "encryption" is additively homomorphic only, so Eq. 6.5's cross term cannot be
 * computed, and its unmasking is public (§8.6). Why not the masked ranking of §8 step 3 alone: the querier would
 * learn every masked distance, i.e. all ratios of distance differences over the whole collection.
 *
 * Stages (arithmetic in `Scores.ts`):
 *   1. similar.keys / .peers  signed channel keys; the owner's advertisement carries its index commitment
 *                             {epoch, root, size, dimension} (FeatureIndex.ts), signed with its account, and the
 *                             coordinator commits the root to the task ledger ("similar/index").
 *   2. similar.query          Q: fresh BFV keys; Enc(q repeated every p slots) and the Galois key of row
 *                             rotation by one step — no public key, no relinearisation key.
 *   3. similar.prepare        O: the p row rotations of Enc(q), once per query.
 *   4. similar.probe / .blind rounds: Q sends Enc(2T_ℓ + 1) for one threshold per lane; O answers
 *                             Enc(z) = Enc(ρ·(2S' − 2T − 1) + η) for every entry, in a fresh random permutation
 *                             per lane and round, with fresh blinds; Q decrypts, counts z < 0 per lane and
 *                             narrows its search (`Search.ts`) until one lane counts exactly K.
 *   5. similar.select         Q: OPRF-blinded labels of the K positions of that lane and round.
 *   6. similar.answer         O: the OPRF evaluation of at most K labels, and for every position of that lane and
 *                             round a tag H(1‖Hg(label)^k) and the record AES-GCM-sealed under H(2‖Hg(label)^k): id,
 *                             rank, label (if asked), features (if asked), and its salted Merkle leaf and proof.
 *   7. similar.output         Q: unblinds, opens its K records, checks each proof against the signed root and
 *                             (features revealed) that each record's score is at or below its final threshold;
 *                             keeps the result locally, each record with its leaf salt and proof (a location
 *                             is checked again before its original is bought: participant similarity/Originals.ts);
 *                             the coordinator gets its digest.
 *
 * Leakage:
 *   - the querier learns the K records; n, the index's epoch and root; per round and lane the count of entries
 *     at or below its threshold (at most maxRounds × lanes counts: a coarse CDF of the distances, concentrated
 *     near the K-th); and per slot the blinded |z| = ρ·|u| + η: with ρ log-uniform over log2 ρ_max bits
 *     (≥ minBlindBits, 27 for the 1,797 digits at t ≈ 2^56), |u| is known only to within that factor, and slots
 *     are unlinkable across rounds and lanes (fresh permutations), so no entry's score is narrowed by repetition;
 *   - the owner learns that a query was made and how many rounds it took (thresholds arrive encrypted), nothing
 *     about q (IND-CPA of BFV), and not which K records were opened (OPRF under DDH; it learns their number);
 *   - the coordinator relays sealed bytes: sizes and the number of rounds.
 *   - Not covered (semi-honest model): a querier that encrypts something other than a repeated query (e.g. a
 *     different query per slot) learns per-slot comparisons of its choosing; zero-knowledge proofs of a
 *     well-formed query (not built) would close it. A malicious owner can answer with wrong scores; the
 *     querier's checks catch records outside the committed index or (features revealed) above the threshold.
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { stage } from "../Protocol.ts"
import { Advertisement } from "../joint-query/Channel.ts"
import { Parameters } from "./Bfv.ts"

export const kind = "query.similar" as const

const Bytes = Schema.Uint8ArrayFromBase64
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Hex32 = Schema.String.check(Schema.isPattern(/^0x[0-9a-f]{64}$/u))

export const MAX_K = 100
export const DEFAULT_MAX_ROUNDS = 32
/** The owner refuses BFV parameters whose plaintext modulus leaves fewer blinding bits for its collection. */
export const MIN_BLIND_BITS = 16

export const Params = Schema.Struct({
  querier: Address,
  owner: Address,
  /** Feature columns, in the same order in the querier's and the owner's datasets: integers in [0, featureMax]. */
  features: Schema.NonEmptyArray(Schema.String),
  featureMax: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65_535 })),
  /** The owner's image id column. */
  idColumn: Schema.String,
  /** The owner's label (class, diagnosis) column, returned with each result when given. */
  labelColumn: Schema.optional(Schema.String),
  /** Return each result's features (the image itself for pixel features); ids and labels only otherwise. */
  revealFeatures: Schema.optional(Schema.Boolean),
  k: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_K })),
  /** The querier's row: where `column` equals `value`; the querier's dataset must have one row otherwise. */
  query: Schema.optional(Schema.Struct({ column: Schema.String, value: Schema.String })),
  /** Most threshold rounds the owner answers (each reveals one count per lane). */
  maxRounds: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))),
  /** Pins the owner's index: it refuses to answer from another epoch or root. */
  index: Schema.optional(Schema.Struct({ epoch: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), root: Hex32 })),
  bfv: Schema.optional(Parameters)
})
export type Params = typeof Params.Type

/** The owner's signed index commitment (the `extra` of its channel advertisement). */
export const IndexCommitment = Schema.Struct({
  epoch: Count,
  root: Hex32,
  size: Count,
  dimension: Count
})
export type IndexCommitment = typeof IndexCommitment.Type

export const KeysReply = Schema.Struct({ channelPublicKey: Bytes, count: Count, extra: Bytes, signature: Schema.String })
export const keys = stage("similar.keys", Schema.Struct({}), KeysReply)
export const peers = stage("similar.peers", Schema.Struct({ advertisements: Schema.Array(Advertisement) }), Schema.Struct({ ok: Schema.Literal(true) }))
export const query = stage("similar.query", Schema.Struct({}), Schema.Struct({ payload: Bytes }))
export const prepare = stage("similar.prepare", Schema.Struct({ payload: Bytes }), Schema.Struct({ lanes: Count }))
/** Q: the previous round's answer (none in round 0) → the next thresholds, or `next: false` when a lane counted K. */
export const probe = stage(
  "similar.probe",
  Schema.Struct({ round: Count, payload: Schema.optional(Bytes) }),
  Schema.Struct({ next: Schema.Boolean, payload: Schema.optional(Bytes) })
)
export const blind = stage("similar.blind", Schema.Struct({ round: Count, payload: Bytes }), Schema.Struct({ payload: Bytes }))
export const select = stage("similar.select", Schema.Struct({}), Schema.Struct({ payload: Bytes }))
export const answer = stage("similar.answer", Schema.Struct({ payload: Bytes }), Schema.Struct({ payload: Bytes }))
export const output = stage(
  "similar.output",
  Schema.Struct({ payload: Bytes }),
  Schema.Struct({ found: Count, digest: Schema.String, location: Schema.String })
)

/** What the coordinator stores and notarizes: no feature, no score, no id. */
export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  querier: Schema.String,
  owner: Schema.String,
  k: Count,
  /** Threshold rounds the search took. */
  rounds: Count,
  /** The owner's index the answer came from (its root is on the task ledger under "similar/index"). */
  index: IndexCommitment,
  /** sha256 of the querier's output as stored there. */
  digest: Schema.String,
  location: Schema.String
})
export type Result = typeof Result.Type

/** One record as sealed in the OPRF table and checked by the querier. */
export const Record = Schema.Struct({
  id: Schema.String,
  rank: Count,
  label: Schema.optional(Schema.String),
  location: Schema.optional(Schema.String),
  features: Schema.optional(Schema.Array(Schema.Int)),
  salt: Schema.String,
  featuresDigest: Schema.String,
  proof: Schema.Array(Schema.Struct({ sibling: Schema.String, side: Schema.Literals(["left", "right"]) }))
})
export type Record = typeof Record.Type

/**
 * One of the querier's K results as it keeps them (`<data dir>/outputs/<task>.json`): what it may use, and the
 * record's salted leaf and Merkle proof, so that it — or a supervisor it shows the output to — can check again,
 * long after the task, that the record (its location above all, where the original is bought) is the one the
 * owner committed under the root on the task ledger (§8 step 5: audit by re-execution, disputes to SUP).
 */
export const OutputRecord = Schema.Struct({
  id: Schema.String,
  label: Schema.optional(Schema.String),
  location: Schema.optional(Schema.String),
  features: Schema.optional(Schema.Array(Schema.Int)),
  distance: Schema.optional(Schema.Number),
  salt: Schema.String,
  featuresDigest: Schema.String,
  proof: Record.fields.proof
})
export type OutputRecord = typeof OutputRecord.Type

/** The querier's output as stored: its digest is the one the coordinator committed ("similar/output"). */
export const Output = Schema.Struct({
  taskId: Schema.String,
  kind: Schema.Literal(kind),
  /** The owner whose index answered: the only member whose files a result's location may name. */
  owner: Schema.String,
  k: Count,
  rounds: Count,
  index: IndexCommitment,
  results: Schema.Array(OutputRecord),
  digest: Schema.String
})
export type Output = typeof Output.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", { field: Schema.String, detail: Schema.String }) {
  override get message() {
    return `invalid similarity parameters: ${this.field}: ${this.detail}`
  }
}

export const validate = (params: Params, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  if (parties.length !== 2) return new InvalidParams({ field: "parties", detail: `a similarity query runs between a querier and an owner, got ${parties.length} parties` })
  if (params.querier === params.owner) return new InvalidParams({ field: "querier", detail: "must differ from the owner" })
  for (const [field, address] of [["querier", params.querier], ["owner", params.owner]] as const) {
    if (!parties.includes(address)) return new InvalidParams({ field, detail: `${address} is not a party of the task` })
  }
  if (new Set(params.features).size !== params.features.length) return new InvalidParams({ field: "features", detail: "a column is listed twice" })
  // Scores stay exact doubles: 2·d·M² < 2^53 (Scores.score), and the blinding range must fit (checked by the owner).
  if (2 * params.features.length * params.featureMax ** 2 >= 2 ** 40) {
    return new InvalidParams({ field: "featureMax", detail: `${params.features.length} features up to ${params.featureMax} exceed the score range` })
  }
  return undefined
}
