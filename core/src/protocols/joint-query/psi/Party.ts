/**
 * What one party of an ECDH-PSI task keeps and shares between stages (the protocol: spec.ts): its state under
 * `query/psi` in `session.memory`, the ring it sits on, the chunk framing, and the helpers both groups of stages
 * use — the blinding ring (`Blinding.ts`) and matching and outputs (`Outputs.ts`). `Context` is the task as
 * this party runs it: the mode, the decoded params and what follows from them.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, type Exit } from "effect"
import * as FixedPoint from "../../../crypto/FixedPoint.ts"
import * as Keys from "../../../crypto/paillier/Keys.ts"
import * as Paillier from "../../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../../crypto/paillier/Serialization.ts"
import { LocalData } from "../../../data/Tabular.ts"
import type * as StreamedOutput from "../../../data/StreamedOutput.ts"
import * as TaskOutput from "../../../data/TaskOutput.ts"
import { sha256Digest } from "../../../wire/Canonical.ts"
import type { ParticipantSession, ReleaseReason } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as ElementSet from "../ElementSet.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import type * as IdSpill from "../IdSpill.ts"
import type * as RowRuns from "../RowRuns.ts"
import type { SpillError } from "../Spill.ts"
import * as External from "./External.ts"
import type * as Resume from "./Resume.ts"
import type * as RingProgress from "./RingProgress.ts"
import * as Spec from "./spec.ts"

/** The task as this party runs it. */
export interface Context {
  readonly datasetName: string
  readonly mode: Spec.Mode
  readonly params: Spec.Params
  readonly chunkSize: number
  /** Cardinality and sum: fully-blinded sets are shuffled before a matcher sees them. */
  readonly hiding: boolean
  /** The first receiver: the value holder of an intersection-sum, the receiver of a union. */
  readonly holder: string
  readonly group: Group.GroupName
  /**
   * Only the join's signed channel keys are expected to be used (online joint prediction): the party does not
   * hash-blind its first chunk as soon as the peers are known, which would cost a scalar multiplication per id
   * of its whole dataset for a ring that never runs (a ring that does run still prepares each chunk on demand).
   */
  readonly channelOnly: boolean
  /**
   * The ring may keep its sets on disk (External.ts): a PSI task of its own. A join run inside another protocol
   * (vertical training, joint arithmetic) does not: that protocol reads the set and the aligned positions from memory.
   */
  readonly onDisk: boolean
}

export interface ContextOptions {
  readonly channelOnly?: boolean
  readonly onDisk?: boolean
}

export const contextOf = (datasetName: string, mode: Spec.Mode, params: Spec.Params, options: ContextOptions = {}): Context => ({
  datasetName,
  mode,
  params,
  chunkSize: Spec.chunkSizeOf(mode, params),
  hiding: mode === "cardinality" || mode === "sum",
  holder: params.receivers[0],
  group: Spec.groupOf(params),
  channelOnly: options.channelOnly === true,
  onDisk: options.onDisk === true
})

export interface Sum {
  /** Value holder: its key pair. */
  readonly keyPair?: Keys.KeyPair
  /** Matcher: the holder's public key. */
  publicKey?: Keys.PublicKey
  encryptedSum?: Paillier.Ciphertext
}

export interface State {
  /** Distinct ids in a random order (ECDH, or OT in memory); with a spilled set, empty (its counts only). */
  set: Ids.IdSet
  /** The set on disk in buckets (IdSpill.ts), on the OT path of a large set at a host with a data directory. */
  readonly spilled?: IdSpill.Spilled
  /**
   * Removes the spill directory when the task is over (Protocol.ts `Releasable`); a new attempt keeps it, as the
   * task's resumable directory (spec.ts "Resume"); an external ring's directory goes in either case.
   */
  release?: (reason: ReleaseReason) => void
  /** ECDH over sets larger than memory (External.ts, spec.ts "External"): what this party keeps of the ring on disk. */
  external?: External.Store
  /**
   * The ECDH ring on disk when this party can resume it (RingProgress.ts): its tracked directory, the shape its
   * records are made under, the intact records an earlier attempt left, and how many units the last verified one holds.
   */
  ring?: {
    readonly key: string
    tracked: RingProgress.Tracked
    readonly shape: RingProgress.Shape
    readonly lines: ReadonlyArray<RingProgress.Line>
    readonly kept: number
    readonly largest: number
    /** Units recorded: those restored, then those of the last `query.checkpoint` (records are sparse: spec.ts `checkpointDue`). */
    units: number
  }
  /** OT path, spilled set: the leading buckets an earlier attempt finished that this one can keep (Resume.ts). */
  resumable?: ReadonlyArray<Resume.Bucket>
  readonly scalar: Uint8Array
  /** Whether the secrets are sealed at rest for a later attempt (RingProgress.secrets): the ring on disk may resume. */
  readonly sealed: boolean
  /** intersection-sum, the value holder with a spilled set: the digest of its spilled value column. */
  readonly valuesDigest?: Uint8Array
  readonly channel: Channel.Keys["channel"]
  readonly reply: typeof Spec.KeysReply.Type
  readonly sum: Sum
  peers?: ReadonlyMap<string, Channel.Advertisement>
  /** The engine this task runs (spec.ts `protocolOf`), decided once the peers' counts are known. */
  protocol?: Spec.Protocol
  readonly seen: Set<string>
  /** Own hop-0 chunks being hashed ahead of their request (`prepare`). */
  readonly prepared: Map<number, Promise<Exit.Exit<Uint8Array, SpillError | Compute.ComputeFailed>>>
  /** source → chunk index → fully-blinded points (and, from the value holder, its ciphertexts). */
  readonly inbox: Map<string, Map<number, { readonly points: Uint8Array; readonly extra: Uint8Array }>>
  /** Fully-blinded chunks of the set this party completes, to relay to the other matchers. */
  outbox: Map<number, Uint8Array>
  outboxShuffled: boolean
  /**
   * A spilled set's output once the OT engine is done: the ids it lists (the intersection, or the difference's
   * remainder), on disk in the spill directory as runs sorted by row (RowRuns.ts); `matched` is then unset.
   */
  runs?: RowRuns.Runs
  /** After `finish`: own positions (in `set` order) that are in the intersection, or only their number. */
  matched?: ReadonlyArray<number>
  cardinality?: number
  /** Alignment: own positions in ascending fully-blinded order, and the digest of that order. */
  aligned?: {
    readonly positions: ArrayLike<number>
    readonly digest: string
    /** A spilled own set's ids and rows in that order, read from disk (External.inOrder). */
    readonly lists?: ReadonlyArray<StreamedOutput.List<SpillError>>
  }
  /** Union: ids of the other party this one outputs (receiver) or sends (B). */
  remainder?: ReadonlyArray<string>
  /** Union, B on the external ring with its set on disk: that remainder on disk, in chunks (External.remainder). */
  remainderOnDisk?: External.Ordered
  readonly received: Map<number, ReadonlyArray<string>>
}

export const MEMORY = "query/psi"

export const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  Effect.fail(new ParticipantFailure({ participant: session.self, stage, code, detail }))

export const ring = (session: ParticipantSession) => {
  const parties = session.participants
  const n = parties.length
  const at = (i: number) => parties[((i % n) + n) % n]!
  const me = parties.indexOf(session.self)
  return { parties, n, me, next: at(me + 1), prev: at(me - 1), sourceAt: (hop: number) => at(me - hop), lastHopOf: (source: string) => at(parties.indexOf(source) - 1) }
}

/** Chunk payload: u32 length of points ‖ points ‖ extra (the value holder's ciphertexts). */
export const pack = (points: Uint8Array, extra: Uint8Array = new Uint8Array(0)) => {
  const head = new Uint8Array(4)
  new DataView(head.buffer).setUint32(0, points.length)
  return concatBytes(head, points, extra)
}
export const unpack = (payload: Uint8Array) => {
  if (payload.length < 4) return undefined
  const length = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0)
  if (4 + length > payload.length) return undefined
  return { points: payload.subarray(4, 4 + length), extra: payload.subarray(4 + length) }
}

/** The domain separator every id is hashed under: one per task. */
export const domainOf = (session: ParticipantSession) => Group.domain("psi", session.taskId)

/** A state whose peers' channel keys and counts arrived (`query.peers`). */
export type Peered = State & { peers: ReadonlyMap<string, Channel.Advertisement> }


export const state = (session: ParticipantSession, stage: string) => {
  const found = session.memory.get(MEMORY) as State | undefined
  return found === undefined ? fail(session, stage, "MissingState", `no joint-query state in attempt ${session.attempt}`) : Effect.succeed(found)
}
export const withPeers = (session: ParticipantSession, stage: string) =>
  Effect.flatMap(state(session, stage), (s) => (s.peers === undefined ? fail(session, stage, "MissingState", "peer keys not received yet") : Effect.succeed(s as Peered)))
/** A peered state on the ECDH path: the ring's stages refuse a task that runs the OT engine. */
export const onRing = (session: ParticipantSession, stage: string) =>
  Effect.flatMap(withPeers(session, stage), (s) => (s.protocol === "ot" ? fail(session, stage, "UnexpectedStage", "this task runs the OT engine") : Effect.succeed(s)))
export const once = (session: ParticipantSession, s: State, stage: string, key: string) => {
  if (s.seen.has(key)) return fail(session, stage, "DuplicateChunk", `${key} was already received`)
  s.seen.add(key)
  return Effect.void
}
export const countOf = (s: Peered, party: string) => s.peers.get(party)!.count
/** This party's number of distinct ids, wherever they are. */
export const sizeOf = (s: State) => s.spilled?.count ?? s.set.ids.length
export const matchers = (ctx: Context, session: ParticipantSession) => Spec.matchers(ctx.mode, ctx.params, session.participants)

/**
 * Starts hashing own chunk `index` (hop 0) before its request comes: the coordinator's rounds are barriers,
 * and while this party's and its peers' messages are sealed, encoded and relayed a pool would otherwise idle.
 * One chunk ahead keeps the pool's queue non-empty (issue 4: ~10% of a 100k PSI was idle workers) while
 * holding at most two chunks of own points. The hashing runs detached, in the calling handler's context: the
 * host's `QueryCompute` and, for the inline one, its `Groups` (not the defaults an empty context would give).
 */
export const prepare = (ctx: Context, session: ParticipantSession, s: State, index: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const length = Ids.chunkLength(sizeOf(s), ctx.chunkSize, index)
    if (length === 0 || s.prepared.has(index)) return
    const own = s.external?.own
    const ids = own !== undefined
      ? Effect.map(External.readChunk(own, index), (chunk) => chunk.ids)
      : Effect.succeed(s.set.ids.slice(index * ctx.chunkSize, index * ctx.chunkSize + length))
    const compute = yield* Compute.QueryCompute
    const hashed = Effect.flatMap(ids, (chunk) => compute.hashBlind(ctx.group, domainOf(session), chunk, s.scalar))
    const services = yield* Effect.context<never>()
    // An Exit, so the promise never rejects: a failure is surfaced, typed, by the hop-0 request of that chunk.
    s.prepared.set(index, Effect.runPromiseExit(Effect.provideContext(hashed, services)))
  })


/** Cardinality and sum: F is shuffled across all its chunks before anyone who could map it back sees it. */
export const shuffleOutbox = (ctx: Context, s: State, count: number) => {
  const all = new Uint8Array(count * Group.POINT_BYTES)
  for (let i = 0; i < Ids.chunks(count, ctx.chunkSize); i++) all.set(s.outbox.get(i)!, i * ctx.chunkSize * Group.POINT_BYTES)
  const order = Ids.permutation(count)
  const shuffled = new Uint8Array(all.length)
  for (let i = 0; i < count; i++) shuffled.set(all.subarray(order[i]! * Group.POINT_BYTES, (order[i]! + 1) * Group.POINT_BYTES), i * Group.POINT_BYTES)
  s.outbox = new Map()
  for (let i = 0; i < Ids.chunks(count, ctx.chunkSize); i++) s.outbox.set(i, shuffled.subarray(i * ctx.chunkSize * Group.POINT_BYTES, Math.min(count, (i + 1) * ctx.chunkSize) * Group.POINT_BYTES))
  s.outboxShuffled = true
}

/** All chunks of `source` in order, or a CountMismatch failure naming the first missing one. */
export const assembled = (ctx: Context, session: ParticipantSession, s: Peered, stage: string, source: string) => {
  const count = countOf(s, source)
  const chunks = s.inbox.get(source) ?? new Map()
  const points = new Uint8Array(count * Group.POINT_BYTES)
  const extras: Array<Uint8Array> = []
  for (let i = 0; i < Ids.chunks(count, ctx.chunkSize); i++) {
    const chunk = chunks.get(i)
    if (chunk === undefined) return fail(session, stage, "CountMismatch", `chunk ${i} of ${source}'s fully-blinded set never arrived`)
    points.set(chunk.points, i * ctx.chunkSize * Group.POINT_BYTES)
    extras.push(chunk.extra)
  }
  return Effect.succeed({ points, extras })
}
