/**
 * The socket.io wire between coordinator and participants. These Schemas are the single source of truth: every
 * event is decoded with them on receipt, on both sides, and the event-map types derive from them.
 */
import { Schema } from "effect"
import { Status } from "../task/Lifecycle.ts"
import { TaskSpec } from "../task/TaskSpec.ts"

export const Hex32 = Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{64}$/))
export const HexBytes = Schema.String.check(Schema.isPattern(/^0x([0-9a-fA-F]{2})*$/u))

/** Coordinator → participant: a task that names this participant, asking for consent. */
export const TaskOffer = Schema.Struct({
  taskId: Hex32,
  specHash: Hex32,
  /** The envelope decodes here; its params by the kind's declaration (`Protocols.decodeTask`), on receipt too. */
  spec: TaskSpec
})
export type TaskOffer = typeof TaskOffer.Type

/** Participant → coordinator: a signed decision (EIP-712 `Consent`, checked again on chain). */
export const TaskConsent = Schema.Struct({
  taskId: Hex32,
  approve: Schema.Boolean,
  reason: Schema.String.check(Schema.isMaxLength(1000)),
  signature: HexBytes
})
export type TaskConsent = typeof TaskConsent.Type

/**
 * Participant → coordinator: a task passed every rule of an "ask" policy and now waits for a human, who may
 * decide in the coordinator's dashboard. Sent again after every reconnection while the task still waits.
 */
export const AwaitingHuman = Schema.Struct({
  taskId: Hex32,
  /** What the human is shown beside the task: the policy's verdict, in words. */
  summary: Schema.String.check(Schema.isMaxLength(2000))
})
export type AwaitingHuman = typeof AwaitingHuman.Type

/**
 * Coordinator → participant: a human's decision relayed from the dashboard. `mac` is HMAC-SHA256 under the
 * participant's own dashboard token over the decision (participant/src/policy/HumanToken.ts), so the
 * coordinator can relay a decision but never make or alter one; the participant still signs the consent.
 * Answered through the socket.io acknowledgement with a HumanAck.
 */
export const HumanDecision = Schema.Struct({
  taskId: Hex32,
  approve: Schema.Boolean,
  reason: Schema.String.check(Schema.isMaxLength(1000)),
  mac: HexBytes
})
export type HumanDecision = typeof HumanDecision.Type

export const HumanAck = Schema.Struct({ ok: Schema.Boolean, detail: Schema.optional(Schema.String) })
export type HumanAck = typeof HumanAck.Type

/** Coordinator → participant: the request of one protocol stage. `payload` is decoded by the stage's Schema. */
export const StageRequest = Schema.Struct({
  requestId: Schema.String,
  taskId: Hex32,
  attempt: Schema.Int,
  stage: Schema.String,
  participants: Schema.Array(Schema.String),
  payload: Schema.Unknown
})
export type StageRequest = typeof StageRequest.Type

export const StageOutcome = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), payload: Schema.Unknown }),
  Schema.Struct({ ok: Schema.Literal(false), code: Schema.String, detail: Schema.String })
])
export type StageOutcome = typeof StageOutcome.Type

/** Participant → coordinator: the answer to one StageRequest, matched by `requestId` (used once). */
export const StageReply = Schema.Struct({
  requestId: Schema.String,
  taskId: Hex32,
  stage: Schema.String,
  outcome: StageOutcome
})
export type StageReply = typeof StageReply.Type

/** Coordinator → participant: the task reached a final state; drop its memory. */
export const TaskEnded = Schema.Struct({
  taskId: Hex32,
  status: Status,
  reason: Schema.optional(Schema.String)
})
export type TaskEnded = typeof TaskEnded.Type

export const WireErrorCode = Schema.Literals([
  "Malformed",
  "TooLarge",
  "UnknownTask",
  "UnknownStage",
  "UnknownRequest",
  "Replayed",
  "NotAuthorized",
  "Internal"
])
export type WireErrorCode = typeof WireErrorCode.Type

/** Either side → the other: a message was refused. `ref` names the offending event or request. */
export const WireError = Schema.Struct({
  code: WireErrorCode,
  message: Schema.String,
  ref: Schema.optional(Schema.String)
})
export type WireError = typeof WireError.Type

/**
 * A message one side refuses, raised by whoever checks it (the round engine for stage replies, the scheduler for
 * consents) and turned by the transport into a `wire.error` to the sender only: never a crash, never a state change.
 */
export class WireRefusal extends Schema.TaggedError<WireRefusal>()("WireRefusal", {
  code: WireErrorCode,
  detail: Schema.String,
  ref: Schema.optional(Schema.String)
}) {
  override get message() {
    return this.detail
  }
}

export const events = {
  offer: "task.offer",
  consent: "task.consent",
  request: "stage.request",
  reply: "stage.reply",
  ended: "task.ended",
  error: "wire.error",
  awaitingHuman: "consent.awaiting-human",
  humanDecision: "consent.human"
} as const

/**
 * Largest message the application accepts (bytes of JSON). Larger ones get a `TooLarge` reply; the transport's
 * own limit (`maxHttpBufferSize`) sits above it so the reply can still be sent.
 */
export const maxMessageBytes = 16 * 1024 * 1024
export const transportMaxBytes = 64 * 1024 * 1024

/** Socket handshake payload (socket.io `auth`): an EIP-712 Login signed over a nonce the coordinator issued. */
export const HandshakeAuth = Schema.Struct({
  account: Schema.String,
  nonce: Hex32,
  issuedAt: Schema.Int,
  signature: HexBytes
})
export type HandshakeAuth = typeof HandshakeAuth.Type
