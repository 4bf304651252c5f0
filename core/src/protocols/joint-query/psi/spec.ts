/**
 * The ECDH private-set-intersection family (PROTOCOLS.md §3 item 1), n ≥ 2 parties, semi-honest.
 *
 * Every party i hashes its ids into the task's group (`params.group`: x25519 by default, or ristretto255; the
 * choice and its security argument: `Group.ts`) with the task's domain separator and a fresh key a_i. Its set, randomly permuted once by its owner, travels the ring i → i+1 → … → i−1 in chunks, each
 * hop raising it to its own key, so the last hop holds the fully-blinded set F_i = {Hg(x)^{a_1…a_n}}. Every hop
 * is sealed end to end to the next party (`Channel.ts`): the coordinator sees only sizes and can never compare
 * two fully-blinded sets. The last hop keeps F_i if it receives output and relays it, sealed, to the other
 * receivers; a party that receives no output holds only one fully-blinded set, not its own, and learns nothing
 * but the sizes. A receiver knows the order of its own F_r, so it maps matches back to its ids.
 *
 * Kinds (all share these stages):
 *   query.psi              receivers learn the intersection (their own ids in it). Leaks to every party all set
 *                          sizes; receivers learn the intersection; the coordinator learns sizes only.
 *   query.psi-cardinality  receivers learn only |∩|: the last hop shuffles each fully-blinded set across all its
 *                          chunks before relaying, so a receiver cannot tell which of its elements matched.
 *   query.psi-aligned      each receiver gets the positions of its own rows of the intersection in one common
 *                          order (ascending fully-blinded value, pseudorandom and equal for all), plus the
 *                          alignment digest SHA-256(F-values in that order), equal for all receivers and
 *                          meaningless to the coordinator (it never saw an F-value): it checks they agree.
 *   query.set-difference   2 parties; the receiver A learns X\Y, computed locally from the intersection (so it
 *                          also learns X∩Y: leakage of PSI).
 *   query.set-union        2 parties; both learn the intersection (PSI run towards both), then B sends Y\(X∩Y)
 *                          sealed to the receiver A, who outputs X∪Y. Leaks X∩Y to B and Y to A — inherent
 *                          in a union output (PROTOCOLS.md §3).
 *   query.intersection-sum 2 parties; Google's private intersection-sum: the value holder V encrypts its values
 *                          under its own Paillier key (2048 bits) and they travel with its blinded ids; the other
 *                          party P learns F_P only shuffled (as in cardinality), sums the ciphertexts of matching
 *                          elements, re-randomises and sends the sum sealed to V, who decrypts it. V learns the
 *                          sum and |∩|, P learns |∩|; neither learns which ids match.
 *
 * Two engines (`params.protocol`):
 *   "ecdh"  the ring above, every kind, n ≥ 2 parties.
 *   "ot"    KKRT OT-extension PSI (the engine, its parameters and proof sketch: ../ot-psi/spec.ts), 2 parties,
 *           query.psi and query.set-difference only: the first receiver is the OT receiver; with a second
 *           receiver the OT receiver reveals the positions of the matches so the other party learns X∩Y too.
 *           Semi-honest, statistical security σ = 40 (cuckoo failure, false matches and encoding collisions each
 *           ≤ 2^-40), computational κ = 128 (base OTs over ristretto255, AES-128, a 512-bit pseudorandom code).
 *           Leakage is that of the ECDH path for these kinds: both set sizes to both parties, X∩Y to the
 *           receivers. The engine's messages travel as sealed `query.ot` relays (`OtPath.ts`): the coordinator
 *           sees their sizes and count, never their content, and cannot reorder, drop or replay one (each box's
 *           associated data carries its direction and sequence number).
 *   Buckets (OT engine): sets larger than `bucketIds` (default 2^18) run the engine bucket by bucket — both parties
 *           put each id in bucket b of B = the smallest power of two with ⌈largest set / B⌉ ≤ bucketIds (at most
 *           1 024) by a public hash of the id seeded by the task id (../IdSpill.ts), and run one engine session per
 *           bucket, in order, over the same sealed relay (each session's context names its bucket). So that a party
 *           holds one bucket at a time, a participant with a data directory keeps its set on disk in those buckets
 *           (spill files under `<dataDir>/spill`, deleted once its output is written); the ids its output lists go back
 *           there too, each bucket's as a run sorted by row (../RowRuns.ts), and the output file is written from the
 *           runs merged into row order while its digest is hashed (data/StreamedOutput.ts). Memory per party then:
 *           its fixed footprint, 16 MiB of spill buffers, one bucket (≤ bucketIds ids) and 16 MiB of merge buffers —
 *           not the rows nor the output (README "Memory"; `npm run bench -- psi-memory` measures it).
 *   Resume (OT engine in buckets, a spilled set): the spill directory is the task's, kept across attempts and host
 *           restarts (../Spill.ts `resumable`), and each party records every bucket its engine finished (Resume.ts: the
 *           bucket's digest, its matches and output count, the peer's announced size). When the task is run again
 *           (a party left mid-engine and came back, a participant or the coordinator restarted), each party spills
 *           its set again, keeps the leading recorded buckets whose content is unchanged, says how many in
 *           `query.peers`, and the engine starts at the smaller count (never past the last bucket, which always runs
 *           again); every bucket run again uses the new attempt's session. Parties leaving during the engine's
 *           rounds suspend the attempt instead of failing the task (AttemptSuspended). Learned by the resume: the
 *           peer's count of recorded buckets (a number the bucket progress already showed); the coordinator sees it too.
 *           Leakage beyond the ECDH path's: each party learns the size of every bucket of the other's set
 *           (each engine session announces its size) — a histogram of a public hash of the ids, B numbers, nothing
 *           for B = 1. A party could always pick ids for their hash; under the semi-honest model it does not.
 *   External (ECDH ring, sets larger than memory; External.ts): at a participant with a data directory, when the largest
 *           announced set exceeds `bucketIds` (every kind: `externalModes`), a party keeps what it holds of the ring on
 *           disk, not in memory. Its peers cannot tell: every message, its size and its order are those of the ring in
 *           memory. Its own set (spilled as for the OT buckets, then put in one uniformly random order on disk: each id
 *           to one of ⌈n / bucketIds⌉ files at random, each file shuffled) is read a chunk at a time for hop 0. A matcher
 *           files each fully-blinded element, with its position, under the leading bits of the point (≤ 256 partitions
 *           of ≈ bucketIds elements per set) and matches partition by partition, comparing whole 32-byte points as the
 *           ring in memory does (no truncation, so no collision term). Leakage: none beyond the ring's — the partition
 *           is a function of the final, jointly blinded value, computed locally and never sent, so no per-bucket size
 *           or match count reaches anyone (a partition of the protocol by a hash of the id would reveal both, which
 *           matters for cardinality and sum). A hiding kind's last hop shuffles the set it relays the same way (random
 *           files, each shuffled: a uniform permutation) before the first relay. Outputs: psi and set-difference list
 *           their ids from the ordered file as row-sorted runs merged into row order; psi-aligned sorts each
 *           partition's matches by point (partitions are byte-ordered ranges, so that is the common order), hashes them
 *           for the digest and lists its ids through files by rank; intersection-sum keeps the holder's ciphertexts on
 *           disk by chunk and adds those of the matches chunk by chunk; set-union's B writes its remainder to disk in
 *           chunks for the transfers, and A keeps the parts it takes on disk, checks them against its own ids file by
 *           file (a hash of the id under a local seed) and lists its own ids in row order, then the received ones.
 *           Memory per party: its fixed footprint, write buffers of 32 KiB per open file (≤ 32 MiB while ordering,
 *           16 MiB per other party while matching), two chunks, one partition of each set, and at a matcher a byte per
 *           element of the set it flags (psi-aligned: also two 4-byte arrays). In memory still: a party without a data
 *           directory, and a join run inside another protocol (vertical training, SecureBoost, joint arithmetic),
 *           which reads the set and the aligned positions from memory. The intersection-sum holder's value column is
 *           streamed from the source to its spill directory by row (never the whole column in memory) and each hop-0
 *           chunk reads only its rows' values.
 *   Resume (ECDH ring on disk; RingProgress.ts): when every party's host has a spill directory and a sealing store,
 *           the ring's directory is the task's resumable one and the secrets it depends on (the blinding exponent, the
 *           holder's Paillier key) are sealed at rest for the task. A unit is one chunk index of the blinding loop
 *           (with its relay, where the kind relays as it goes). Records are sparse (`checkpointDue`): every
 *           `checkpointUnits` units (default 16) or once `checkpointSeconds` (default 30) passed, whichever first, and
 *           after the last unit, `query.checkpoint` makes every party append a line (a party takes one that skips units
 *           only if it did each of them, and refuses one claiming a unit it has not: UnitNotDone, nothing written): the unit count, every ring file's length, one digest over their contents (and the line's own
 *           digest, so a torn line is skipped). A later attempt reports in `query.peers` the units of its last line
 *           whose files verify under the same shape (parties, kind, chunking, counts, and a digest of its own spilled
 *           set and values: changed data resumes nothing); the coordinator sends the smallest in `query.resume`, each
 *           party cuts its files back to that line (0: a fresh directory) and the loop goes on from there. Redone
 *           after a crash: the units since the last record (from the one before if a line was torn); for hiding kinds a crash after the blinding
 *           redoes their relays (no blinding), and the matching and outputs always run again. Parties leaving
 *           suspend the attempt (AttemptSuspended). Learned by the resume: the units each party kept — the progress
 *           events already show them. The same exponent blinds the same chunks again only for the units redone, which
 *           repeats messages the peers already saw. `checkpointUnits: 0` records nothing (no sealed secrets, no resume).
 *   Default: "ot" when the kind and the number of parties allow it and the larger announced set has at least
 *   `OT_DEFAULT_FROM` (16 384) ids, where its fixed cost (512 base OTs, ≥ 1 024-element partitions) is already
 *   repaid (measured: 26× the ECDH path's wall time at 100k); "ecdh" otherwise. Both sides decide from the signed
 *   counts of `query.keys`, so they agree without a message. A task that names a `group` runs ECDH; an explicit `protocol` the task cannot run is
 *   refused when the task is submitted.
 *
 * Input rules: ids are text (a numeric id column is read through its text form, "1000025"); empty cells are
 * skipped; duplicate ids are de-duplicated before blinding (the first row wins) and both counts are reported in
 * the receiver's output file only. An empty set (after that) fails with EmptySet.
 */
import { Schema } from "effect"
import { Address } from "../../../task/TaskSpec.ts"
import { maxAttachments } from "../../../wire/Messages.ts"
import { stage } from "../../Protocol.ts"
import { Advertisement } from "../Channel.ts"
import * as Group from "../Group.ts"

export const kinds = {
  intersection: "query.psi",
  cardinality: "query.psi-cardinality",
  aligned: "query.psi-aligned",
  difference: "query.set-difference",
  union: "query.set-union",
  sum: "query.intersection-sum"
} as const
export type Mode = keyof typeof kinds

export const Bytes = Schema.Uint8ArrayFromBase64
/** The largest sealed engine message: 1 MiB of engine bytes (Link.DEFAULT_MAX_MESSAGE_BYTES) and the box's overhead. */
const MAX_SEALED_BOX_BYTES = 1024 * 1024 + 1024
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * A sealed engine message of the OT path as it crosses the coordinator: bytes, which socket.io carries as a binary
 * attachment of the message (wire/Messages.ts `maxAttachments`) — base64 text cost a third more on the wire and an
 * encoding at the sender, and the coordinator never decoded it anyway (it cannot open the box). The Schema checks the
 * size only; the receiving party opens the box.
 */
export const SealedBox = Schema.Uint8Array.check(Schema.isMaxLength(MAX_SEALED_BOX_BYTES))
/** Sealed boxes of one `query.ot` message, each way: each is an attachment of the socket message, so at most that many. */
export const RELAY_BOXES = maxAttachments
export const SealedBoxes = Schema.Array(SealedBox).check(Schema.isMaxLength(RELAY_BOXES))
/**
 * Sealed bytes of one `query.ot` message, each way: 8 MiB, half the 16 MiB socket message, which also holds a pump's
 * reply of 6 MiB of engine bytes (OtPath.ts `REPLY_BYTES`) with its boxes' overhead.
 */
export const RELAY_BYTES = 8 * 1024 * 1024

export const MAX_CHUNK = 65_536
/** Ids per bucket of the OT engine by default: what one bucket's engine run holds (≈ 100 bytes an id) stays small. */
export const BUCKET_IDS = 1 << 18
export const MAX_BUCKET_IDS = 1 << 22
/** Paillier ciphertexts (512 bytes at 2048 bits) ride with the points: smaller chunks keep messages < 8 MiB. */
export const MAX_SUM_CHUNK = 8_192

export const Params = Schema.Struct({
  /** Column holding the ids, read as text. */
  idColumn: Schema.String,
  /** Who gets the output (party addresses; "party:<name>" in local task files). */
  receivers: Schema.NonEmptyArray(Address),
  /** The largest set any party brings; a party with more ids refuses. Policies cap it through `limits`. */
  maxIds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** The PSI engine: "ecdh" (the ring, every kind) or "ot" (KKRT, 2 parties, psi and set-difference); default by set size. */
  protocol: Schema.optional(Schema.Literals(["ecdh", "ot"])),
  /** The group both parties blind in (default x25519; ristretto255 for a strictly validated prime-order group). */
  group: Schema.optional(Schema.Literals(Group.groupNames)),
  /** Elements per message (default and maximum 65 536; 8 192 for intersection-sum). */
  chunkSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_CHUNK }))),
  /**
   * Ids a party holds at once (default 262 144): the OT engine's bucket (see "Buckets" above); on the ECDH ring, the size
   * from which the sets go to disk and of its partitions ("External").
   */
  bucketIds: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 16, maximum: MAX_BUCKET_IDS }))),
  /** intersection-sum: the value column of the receiver (the value holder). */
  valueColumn: Schema.optional(Schema.String),
  /** intersection-sum: fixed-point scale 2^scaleBits of the values (default 16). */
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 }))),
  /**
   * The ECDH ring on disk (see "Resume"): progress is recorded every `checkpointUnits` units (default
   * CHECKPOINT_UNITS) or once `checkpointSeconds` passed since the last record (default CHECKPOINT_SECONDS),
   * whichever comes first, and after the last unit. 0 units: the ring is not recorded (nothing sealed, no resume).
   */
  checkpointUnits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1 << 20 }))),
  checkpointSeconds: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0.001, maximum: 86_400 })))
})
export type Params = typeof Params.Type

export const KeysReply = Schema.Struct({ channelPublicKey: Bytes, count: Count, extra: Bytes, signature: Schema.String })
export const keys = stage("query.keys", Schema.Struct({}), KeysReply)
/**
 * On the OT path, a party with a resumable spill also says how many leading buckets it kept from an earlier attempt
 * (Resume.ts); the coordinator starts the engine at the smaller count (`query.ot`'s `resume`). On the ECDH ring on
 * disk, a party that can resume says how many units it kept (0 or more: RingProgress.ts); when every party says so,
 * the coordinator runs `query.resume` and `query.checkpoint`.
 */
export const peers = stage(
  "query.peers",
  Schema.Struct({ advertisements: Schema.Array(Advertisement) }),
  Schema.Struct({ ok: Schema.Literal(true), resumable: Schema.optional(Count) })
)
/**
 * The ECDH ring on disk, when every party can resume it (RingProgress.ts): before the first hop, each party restores
 * the first `units` units an earlier attempt completed (the smallest count the parties reported in `query.peers`;
 * 0: it starts from a fresh directory); after each unit — a chunk index of the blinding loop, with its relay where
 * the kind relays as it goes — each records it. `query.checkpoint` names the units done so far.
 */
export const resume = stage("query.resume", Schema.Struct({ units: Count }), Schema.Struct({ ok: Schema.Literal(true) }))
export const checkpoint = stage("query.checkpoint", Schema.Struct({ units: Count }), Schema.Struct({ ok: Schema.Literal(true) }))
/** Hop `hop` of chunk `index` of `source`'s set; hop 0 is the owner's own chunk (no payload). */
export const blind = stage(
  "query.blind",
  Schema.Struct({ source: Schema.String, hop: Count, index: Count, payload: Schema.optional(Bytes) }),
  Schema.Struct({ payload: Schema.optional(Bytes) })
)
export const Delivery = Schema.Struct({ recipient: Schema.String, payload: Bytes })
export const relay = stage("query.relay", Schema.Struct({ index: Count }), Schema.Struct({ deliveries: Schema.Array(Delivery) }))
export const Delivered = Schema.Struct({ sender: Schema.String, source: Schema.String, index: Count, payload: Bytes })
export const deliver = stage("query.deliver", Schema.Struct({ deliveries: Schema.Array(Delivered) }), Schema.Struct({ ok: Schema.Literal(true) }))
/** Receivers match; in a union, B reports how many of its ids A lacks. */
export const finish = stage("query.finish", Schema.Struct({}), Schema.Struct({ remainder: Schema.optional(Count) }))
/** intersection-sum: P returns the re-randomised encrypted sum, sealed to V. */
export const sum = stage("query.sum", Schema.Struct({}), Schema.Struct({ payload: Bytes }))
/** union: B seals chunk `index` of Y\(X∩Y) to A; A takes it. */
export const transfer = stage("query.transfer", Schema.Struct({ index: Count }), Schema.Struct({ payload: Bytes }))
export const take = stage("query.take", Schema.Struct({ index: Count, payload: Bytes }), Schema.Struct({ ok: Schema.Literal(true) }))
/**
 * OT path: one pump of the engine's link. `inbound` are the peer's sealed messages since the last pump, in order
 * from sequence number `from`; the reply carries this party's sealed messages since its last reply, and `done`
 * once its engine finished (an `outbound` is then still delivered).
 */
export const ot = stage(
  "query.ot",
  /** `resume`: the first bucket the engine runs (both parties kept the ones before it); read by the first pump only. */
  Schema.Struct({ from: Count, inbound: SealedBoxes, resume: Schema.optional(Count) }),
  Schema.Struct({
    outbound: SealedBoxes,
    done: Schema.Boolean,
    /** Partitions whose values this party has sent or matched, of all partitions. */
    progress: Schema.optional(Schema.Struct({ done: Count, total: Count }))
  })
)
/** Output receivers write their output locally and report only its digest. */
export const output = stage(
  "query.output",
  Schema.Struct({ payload: Schema.optional(Bytes) }),
  Schema.Struct({ cardinality: Schema.optional(Count), digest: Schema.String, location: Schema.String, alignment: Schema.optional(Schema.String) })
)

export const ReceiverOutput = Schema.Struct({ receiver: Schema.String, digest: Schema.String, location: Schema.String })

/** What the coordinator stores and notarizes: no ids, no sums. */
export const Result = Schema.Struct({
  kind: Schema.String,
  parties: Count,
  receivers: Schema.Array(Schema.String),
  /** |∩| (|X\Y| for a difference, |X∪Y| for a union), which the receivers are entitled to know. */
  cardinality: Schema.optional(Count),
  /** psi-aligned: the common alignment digest every receiver reported. */
  alignment: Schema.optional(Schema.String),
  outputs: Schema.Array(ReceiverOutput)
})
export type Result = typeof Result.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", { field: Schema.String, detail: Schema.String }) {
  override get message() {
    return `invalid joint-query parameters: ${this.field}: ${this.detail}`
  }
}

/** The params of an aligned join run as a sub-protocol (vertical modeling): every party in `receivers` gets the order. */
export const alignedJoin = (idColumn: string, receivers: ReadonlyArray<string>, maxIds: number): Params => {
  const [first, ...rest] = receivers
  if (first === undefined) throw new InvalidParams({ field: "receivers", detail: "an aligned join needs at least one receiver" })
  return { idColumn, receivers: [first, ...rest], maxIds }
}

export type Protocol = "ecdh" | "ot"
/** Kinds the OT engine runs: it gives the receiver (and with a reveal, the other party) X∩Y, nothing hidden. */
export const otModes: ReadonlyArray<Mode> = ["intersection", "difference"]
/** Kinds the ECDH ring runs over sets on disk (External.ts, "External" above); the others hold the sets in memory. */
export const externalModes: ReadonlyArray<Mode> = ["intersection", "difference", "cardinality", "aligned", "sum", "union"]
/** From this many ids in the larger set, the OT engine is the default (spec above). */
export const OT_DEFAULT_FROM = 16_384

const otPossible = (mode: Mode, parties: number) => parties === 2 && otModes.includes(mode)

/** The engine a task runs, from its params and the larger of the announced set sizes (both sides call this). */
export const protocolOf = (mode: Mode, params: Params, parties: number, largestSet: number): Protocol =>
  params.protocol ?? (otPossible(mode, parties) && params.group === undefined && largestSet >= OT_DEFAULT_FROM ? "ot" : "ecdh")

export const bucketIdsOf = (params: Params): number => params.bucketIds ?? BUCKET_IDS

/**
 * Units between two records of the ring on disk, by default. A record costs its round and the parties' flush and line:
 * ≈ 11–14 ms at 100k ids (measured in one process, 25 records), next to a unit of seconds at the default chunk of
 * 65 536 ids but of milliseconds at small chunks (44 units of 16 ids); every 16 units keeps records under ≈ 1/16 of
 * even such tiny units while a crash redoes at most 16.
 */
export const CHECKPOINT_UNITS = 16
/**
 * Seconds after which the next unit is recorded anyway, by default: with large units (seconds each at 65 536 ids on 2
 * cores) a crash redoes at most ≈ 30 s and a unit, while a record every 30 s costs < 0.1 % of the run.
 */
export const CHECKPOINT_SECONDS = 30

/** Whether the ring on disk records its progress at all (`checkpointUnits` 0: it does not, and cannot resume). */
export const recordsRing = (params: Params): boolean => params.checkpointUnits !== 0

/**
 * Whether unit `units` (1-based) of `total` is recorded, the last record holding `last` units and taken `elapsedMs`
 * ago: every `checkpointUnits` units, or once `checkpointSeconds` passed, whichever first, and always the last unit
 * (a crash in the matching then redoes no blinding).
 */
export const checkpointDue = (params: Params, units: number, total: number, last: number, elapsedMs: number): boolean =>
  recordsRing(params) &&
  (units >= total || units - last >= (params.checkpointUnits ?? CHECKPOINT_UNITS) || elapsedMs >= 1000 * (params.checkpointSeconds ?? CHECKPOINT_SECONDS))

export const groupOf = (params: Params): Group.GroupName => params.group ?? Group.DEFAULT_GROUP

export const chunkSizeOf = (mode: Mode, params: Params): number =>
  Math.min(params.chunkSize ?? MAX_CHUNK, mode === "sum" ? MAX_SUM_CHUNK : MAX_CHUNK)

/** Parties that receive fully-blinded sets and match (not always the output receivers). */
export const matchers = (mode: Mode, params: Params, parties: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (mode === "sum") return parties.filter((p) => p !== params.receivers[0])
  if (mode === "union") return parties
  return params.receivers
}

export const validate = (mode: Mode, params: Params, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  if (parties.length < 2) return new InvalidParams({ field: "parties", detail: `needs at least 2 parties, got ${parties.length}` })
  if (new Set(parties).size !== parties.length) return new InvalidParams({ field: "parties", detail: "a participant is named twice" })
  if (new Set(params.receivers).size !== params.receivers.length) return new InvalidParams({ field: "receivers", detail: "a receiver is named twice" })
  const outsider = params.receivers.find((r) => !parties.includes(r))
  if (outsider !== undefined) return new InvalidParams({ field: "receivers", detail: `${outsider} is not a party of the task` })
  if (mode === "difference" || mode === "union" || mode === "sum") {
    if (parties.length !== 2) return new InvalidParams({ field: "parties", detail: `${kinds[mode]} runs between exactly 2 parties` })
    if (params.receivers.length !== 1) return new InvalidParams({ field: "receivers", detail: `${kinds[mode]} has exactly one receiver` })
  }
  if (params.protocol === "ot") {
    if (!otModes.includes(mode)) return new InvalidParams({ field: "protocol", detail: `${kinds[mode]} runs on the ECDH engine only ("ot" runs ${otModes.map((m) => kinds[m]).join(" and ")})` })
    if (parties.length !== 2) return new InvalidParams({ field: "protocol", detail: `the OT engine runs between exactly 2 parties, got ${parties.length}` })
    if (params.group !== undefined) return new InvalidParams({ field: "group", detail: "the group chooses the ECDH engine's curve; the OT engine has none" })
  }
  if (mode === "sum" && params.valueColumn === undefined) return new InvalidParams({ field: "valueColumn", detail: "intersection-sum needs the receiver's value column" })
  if (mode !== "sum" && params.valueColumn !== undefined) return new InvalidParams({ field: "valueColumn", detail: `only intersection-sum reads a value column` })
  return undefined
}
