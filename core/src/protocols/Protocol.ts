/**
 * The contract between a protocol and the hosts that run it.
 *
 * A protocol is a sequence of named stages (STYLE.md, after Flower): the coordinator side asks a set of
 * participants for one stage at a time (`session.round`) and aggregates the replies; the participant side is a
 * table of stage handlers. Both sides name stages with the same `Stage` values, whose request and reply Schemas
 * are the wire format: the hosts encode with them before sending and decode with them on receipt, so a protocol
 * never sees an undecoded message. Messages between participants travel inside replies and requests, relayed
 * by the coordinator (end-to-end encrypted by the protocol where they must stay secret from it).
 *
 * One round engine settles every round (`core/src/runtime/RoundEngine.ts`), over socket.io in real processes
 * (`coordinator/src/transport/SocketChannel.ts`) and over the in-memory channel in protocol tests
 * (`core/src/testing/InMemoryHost.ts`); one participant runtime answers (`core/src/runtime/ParticipantRuntime.ts`).
 * A task kind is declared once with `defineProtocol` (`Define.ts`, how-to: README.md). Protocol files import
 * only `effect` and `core`: never socket.io, SEAL or tfjs.
 */
import type { Effect } from "effect"
import { Schema } from "effect"

/** One named stage: the request the coordinator sends and the reply a participant returns. */
export interface Stage<Req, Rep> {
  /** `<protocol>.<stage>`, e.g. `secagg.masked-input`; unique across all protocols. */
  readonly name: string
  readonly request: Schema.Codec<Req, any>
  readonly reply: Schema.Codec<Rep, any>
}

export const stage = <Req, ReqE, Rep, RepE>(
  name: string,
  request: Schema.Codec<Req, ReqE>,
  reply: Schema.Codec<Rep, RepE>
): Stage<Req, Rep> => ({ name, request, reply })

/** Why a round ended without enough replies. `missing` names the participants that did not answer. */
export class RoundError extends Schema.TaggedError<RoundError>()("RoundError", {
  stage: Schema.String,
  reason: Schema.Literals(["TooFewReplies", "Cancelled"]),
  missing: Schema.Array(Schema.String),
  detail: Schema.String,
  /** Those of `missing` that were not connected or left while the round was open (the others timed out or failed). */
  offline: Schema.optional(Schema.Array(Schema.String))
}) {
  override get message() {
    return `stage ${this.stage}: ${this.reason} (${this.detail}; missing: ${this.missing.join(", ") || "none"})`
  }
}

/**
 * The attempt stopped because parties left mid-task, and the protocol kept what a later attempt needs to resume
 * (its checkpoint, the parties' sealed progress): the host reschedules the task as a new attempt once `waitingFor`
 * are back, instead of failing it. A protocol raises it only where resuming is sound.
 */
export class AttemptSuspended extends Schema.TaggedError<AttemptSuspended>()("AttemptSuspended", {
  protocol: Schema.String,
  waitingFor: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    return `${this.protocol}: suspended until ${this.waitingFor.join(", ")} are back (${this.detail})`
  }
}

/**
 * A round that failed because parties left (their process died, their link dropped) suspends the attempt instead,
 * for a protocol that kept what resuming needs; a round that failed for any other reason (a timeout, a party's own
 * error) is passed on as it is.
 */
export const suspendIfLeft = (protocol: string, error: RoundError): RoundError | AttemptSuspended =>
  (error.offline ?? []).length > 0
    ? new AttemptSuspended({ protocol, waitingFor: error.offline!, detail: `${error.offline!.join(", ")} left during ${error.stage}` })
    : error

/** A participant's handler failed in a way the protocol reports (bad data, policy, crypto check). */
export class ParticipantFailure extends Schema.TaggedError<ParticipantFailure>()("ParticipantFailure", {
  participant: Schema.String,
  stage: Schema.String,
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `participant ${this.participant} failed stage ${this.stage}: ${this.code}: ${this.detail}`
  }
}

/** The protocol itself detected that the task cannot complete (e.g. too many dropouts to unmask). */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  protocol: Schema.String,
  reason: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.protocol}: ${this.reason}: ${this.detail}`
  }
}

/**
 * The host could not keep or read back the task's durable state — a phase commitment, a checkpoint — because its
 * store failed (after the store's own retries). The attempt cannot go on without it: the host fails the task
 * naming `operation` and `key`, and the write was not made.
 */
export class SessionStateFailed extends Schema.TaggedError<SessionStateFailed>()("SessionStateFailed", {
  operation: Schema.Literals(["commit", "checkpoint.save", "checkpoint.load"]),
  /** The phase committed or the checkpoint's key. */
  key: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the task's state was not ${this.operation === "checkpoint.load" ? "read" : "kept"} (${this.operation} ${this.key}): ${this.detail}`
  }
}

export interface RoundOptions {
  /** The round fails with RoundError("TooFewReplies") when fewer participants answer than this. */
  readonly minReplies: number
  /** How long to wait for stragglers; participants that disconnect count as missing at once. */
  readonly timeoutMs?: number
}

export interface ProgressEvent {
  readonly stage: string
  readonly done: number
  readonly total: number
  readonly detail?: string
}

/** What the coordinator side of a protocol may do. */
export interface CoordinatorSession {
  readonly taskId: string
  /** Incremented when a task is restarted after a coordinator restart; participants key their memory by it. */
  readonly attempt: number
  /** Participant ids (checksummed chain addresses) in task order. */
  readonly participants: ReadonlyArray<string>
  /**
   * Sends each participant in `requests` its request for `stage` and waits for replies. Participants that
   * answer with an error are reported as ParticipantFailure unless the round can still reach `minReplies`
   * without them, in which case they count as missing.
   */
  readonly round: <Req, Rep>(
    stage: Stage<Req, Rep>,
    requests: ReadonlyMap<string, Req>,
    options: RoundOptions
  ) => Effect.Effect<ReadonlyMap<string, Rep>, RoundError | ParticipantFailure>
  /** Reports progress (shown by the CLI and dashboard); never fails. */
  readonly progress: (event: ProgressEvent) => Effect.Effect<void>
  /** Records a digest of an intermediate result (e.g. a round's aggregate) to be notarized as a phase commitment. */
  readonly commit: (phase: string, digest: string) => Effect.Effect<void, SessionStateFailed>
  /**
   * Durable protocol state that outlives an attempt (the coordinator's store): a multi-round protocol saves
   * its progress after each round and, in a later attempt (after a coordinator restart), resumes from it
   * instead of starting over. Values must be JSON (bytes as base64 strings).
   */
  readonly checkpoint: Checkpoints
}

export interface Checkpoints {
  readonly save: (key: string, value: unknown) => Effect.Effect<void, SessionStateFailed>
  /** The value last saved under `key` in any attempt of this task, or undefined. */
  readonly load: (key: string) => Effect.Effect<unknown, SessionStateFailed>
}

/**
 * Why a session's memory is dropped: a new attempt of the task starts (what resuming needs may stay, e.g. a
 * resumable spill directory), or the task is over (everything goes).
 */
export type ReleaseReason = "attempt" | "ended"

/** A value in a session's memory that holds something outside it, let go when the memory is dropped. */
export interface Releasable {
  readonly release: (reason: ReleaseReason) => void
}

export const isReleasable = (value: unknown): value is Releasable =>
  typeof value === "object" && value !== null && typeof (value as { release?: unknown }).release === "function"

/** What the participant side of a protocol may do. */
export interface ParticipantSession {
  readonly taskId: string
  readonly attempt: number
  /** This participant's id: its org's chain account address (checksummed). */
  readonly self: string
  readonly participants: ReadonlyArray<string>
  /**
   * Scratch memory for this task attempt (keys, seeds between stages); dropped when the task ends or a new attempt
   * starts, and then every value with a `release` method (`Releasable`) is released: what it holds outside this
   * map (a running engine, a spill directory) goes with it.
   */
  readonly memory: Map<string, unknown>
  /**
   * Signs with this participant's chain account (EIP-191 personal message), so peers can check that a value
   * relayed by the coordinator really comes from that participant (`Signatures.verify`). Fails (SignFailed) when
   * the account's signer does.
   */
  readonly sign: (message: Uint8Array) => Effect.Effect<string, ParticipantFailure>
}

/** The participant side of one stage. Handlers may fail only with ParticipantFailure. */
export interface StageHandler<Req, Rep, R = never> {
  readonly stage: Stage<Req, Rep>
  readonly handle: (request: Req, session: ParticipantSession) => Effect.Effect<Rep, ParticipantFailure, R>
}

export const handler = <Req, Rep, R>(
  stage: Stage<Req, Rep>,
  handle: (request: Req, session: ParticipantSession) => Effect.Effect<Rep, ParticipantFailure, R>
): StageHandler<Req, Rep, R> => ({ stage, handle })
