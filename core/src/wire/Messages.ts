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
  spec: TaskSpec,
  /**
   * The task is already running and this participant approved it: a participant that restarted (and so forgot
   * it) checks it again against its policy and takes it up for the stages still to come. No consent is asked.
   */
  rejoin: Schema.optional(Schema.Boolean)
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

/**
 * Coordinator → participant: a dashboard user asks to sign in as this participant's organisation. `message` is the
 * coordinator's Sign-In with Ethereum text for the participant's address; `mac` is HMAC-SHA256 under the
 * participant's dashboard token over it (participant/src/policy/HumanToken.ts). The participant checks both and
 * answers with its own signature of the message (a DashboardSignInAck), which the coordinator verifies like any
 * other sign-in: the token proves the human to the participant, the participant's key proves the org to the
 * coordinator, and the coordinator never holds the token.
 */
export const DashboardSignIn = Schema.Struct({
  message: Schema.String.check(Schema.isMaxLength(4000)),
  mac: HexBytes
})
export type DashboardSignIn = typeof DashboardSignIn.Type

export const DashboardSignInAck = Schema.Struct({ ok: Schema.Boolean, signature: Schema.optional(HexBytes), detail: Schema.optional(Schema.String) })
export type DashboardSignInAck = typeof DashboardSignInAck.Type

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

/**
 * Participant → coordinator: the answer to one StageRequest, matched by `requestId` (used once). Sent with a
 * socket.io acknowledgement, which the hub gives once it handled the reply: until then the participant keeps the
 * reply to send it again when reminded (AgentSession).
 */
export const StageReply = Schema.Struct({
  requestId: Schema.String,
  taskId: Hex32,
  stage: Schema.String,
  outcome: StageOutcome
})
export type StageReply = typeof StageReply.Type

/**
 * Participant → coordinator, as the socket.io acknowledgement of a StageRequest or a StageReminder: the request
 * `requestId` is here (`known`), or (to a reminder) not — its memory was lost, so it must be sent in full again.
 * Sent on receipt, before any computing: the owner stops re-sending the request (coordinator: RoundEngine).
 */
export const StageReceipt = Schema.Struct({ requestId: Schema.String, known: Schema.Boolean })
export type StageReceipt = typeof StageReceipt.Type

/**
 * Coordinator → participant: a request it acknowledged is still open — its reply may have been lost on the way
 * (a NOTIFY between coordinator instances, a connection that closed). Answered with a StageReceipt, and with the
 * reply again once it is computed; never computed a second time. Carries no payload, so a large request is not
 * sent again for it.
 */
export const StageReminder = Schema.Struct({ requestId: Schema.String, taskId: Hex32 })
export type StageReminder = typeof StageReminder.Type

/**
 * An artifact of a task on IPFS, as the parties are told of it: its role and the CID of the block, which is the
 * artifact sealed to its readers (core/src/artifacts/Envelope.ts, label `task/<id>/<role>`).
 */
export const TaskArtifact = Schema.Struct({
  /** `checkpoint-chain`: the head of the task's checkpoint links (a dag-json chain; pinning it keeps every link). */
  role: Schema.Literals(["result", "model", "checkpoint", "checkpoint-chain"]),
  cid: Schema.String.check(Schema.isMaxLength(128))
})
export type TaskArtifact = typeof TaskArtifact.Type

/**
 * Coordinator → participant: the task reached a final state; drop its memory. A succeeded task names its
 * artifacts on IPFS, which a participant with an IPFS node pins, so they outlive the coordinator's node.
 */
export const TaskEnded = Schema.Struct({
  taskId: Hex32,
  status: Status,
  reason: Schema.optional(Schema.String),
  artifacts: Schema.optional(Schema.Array(TaskArtifact).check(Schema.isMaxLength(8)))
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
  /** Signed by a key the sender's DID does not name now (a consent key never published for it, expired or revoked). */
  "KeyNotAuthorized",
  /** Over an abuse limit (events per account or per address); the event was dropped. */
  "RateLimited",
  /**
   * The coordinator's store did not answer (after its own retries): the message was not acted on; what an earlier
   * message recorded stands. A consent is asked for again by the next offer of the task.
   */
  "Unavailable",
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
  remind: "stage.remind",
  reply: "stage.reply",
  ended: "task.ended",
  error: "wire.error",
  awaitingHuman: "consent.awaiting-human",
  humanDecision: "consent.human",
  dashboardSignIn: "dashboard.sign-in"
} as const

/**
 * Largest socket message either side accepts, in bytes: the coordinator's transport limit (`maxHttpBufferSize`)
 * and the participant's (`maxPayload`) alike, so no larger frame is ever buffered, and the bound on a message's JSON
 * and binary attachments together (`boundedParser`). A larger message closes the sender's connection; an honest
 * sender checks its own messages against it first (`fitsFrame`).
 */
export const maxMessageBytes = 16 * 1024 * 1024

/**
 * Binary attachments one socket message may carry (socket.io sends each `Uint8Array` of a message as a frame of its
 * own after the JSON, which holds a placeholder for it). The wire is JSON but for the OT PSI's relay
 * (protocols/joint-query/psi/spec.ts `SealedBoxes`), which carries its sealed engine messages as bytes rather than
 * base64 text — a quarter fewer bytes on the wire, and no encoding or decoding at the parties — at most this many a
 * message.
 */
export const maxAttachments = 16

/** Room for socket.io's framing around an event's JSON (packet type, namespace, event name, brackets). */
const frameOverheadBytes = 1024

const isBinary = (value: unknown): value is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(value) || value instanceof ArrayBuffer

/** Nesting the walk below follows (as the job codec's bound): deeper is no message of ours, and a cycle ends there. */
const maxDepth = 512

/**
 * The binary parts of `payload` — what socket.io sends as attachments — by count and bytes; undefined when it nests
 * deeper than any message of ours. A vector of numbers costs a type check per element.
 */
export const binaryParts = (payload: unknown): { readonly count: number; readonly bytes: number } | undefined => {
  let count = 0
  let bytes = 0
  const visit = (value: unknown, depth: number): boolean => {
    if (value === null || typeof value !== "object") return true
    if (isBinary(value)) {
      count++
      bytes += value.byteLength
      return true
    }
    if (depth >= maxDepth) return false
    for (const item of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof item === "object" && item !== null && !visit(item, depth + 1)) return false
    }
    return true
  }
  return visit(payload, 0) ? { count, bytes } : undefined
}

/** What socket.io puts in a message's JSON in place of a binary part (the longest: a two-digit index). */
const placeholder = { _placeholder: true, num: 10 }

/**
 * True when `payload` sent as an event fits one message: at most `maxAttachments` binary parts, and its JSON (binary
 * parts replaced by their placeholders, as socket.io sends it) and its binary parts under `maxMessageBytes`.
 */
export const fitsFrame = (payload: unknown): boolean => {
  const binary = binaryParts(payload)
  if (binary === undefined || binary.count > maxAttachments) return false
  let json: string
  try {
    // The holder's own value: a Node Buffer's toJSON has already turned it into an array of numbers by now.
    json = (binary.count === 0 ? JSON.stringify(payload) : JSON.stringify(payload, function(this: Record<string, unknown>, key, value) {
      return isBinary(this[key]) ? placeholder : value
    })) ?? ""
  } catch {
    return false
  }
  const budget = maxMessageBytes - frameOverheadBytes - binary.bytes
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only a large message needs its exact size (browser-safe, no Buffer).
  if (3 * json.length <= budget) return true
  return new TextEncoder().encode(json).length <= budget
}

/** A socket message a receiver refuses before any of it reaches a handler: the connection is closed. */
export class FrameRefused extends Schema.TaggedError<FrameRefused>()("FrameRefused", {
  reason: Schema.Literals(["TooManyAttachments", "TooLarge"]),
  detail: Schema.String
}) {
  override get message() {
    return `socket message refused (${this.reason}): ${this.detail}`
  }
}

/**
 * Chunk by chunk as the transport hands them to a receiver's decoder: a binary message announcing more than
 * `maxAttachments` attachments is refused at its JSON, and one whose JSON and attachments together pass
 * `maxMessageBytes` at the attachment that passes it (the transport's own limit holds each frame apart, not a message of
 * several). An attachment is handed on as a Uint8Array: in a browser the socket gives an ArrayBuffer, which the
 * wire's Schemas and the protocol worker's codec do not take.
 */
const frameBudget = () => {
  let bytes = 0
  return (chunk: unknown): unknown => {
    if (typeof chunk === "string") {
      // BINARY_EVENT (5) or BINARY_ACK (6): the attachment count leads the packet, "51-…".
      const binary = /^[56](\d+)-/.exec(chunk)
      if (binary !== null) {
        if (Number(binary[1]) > maxAttachments) {
          throw new FrameRefused({ reason: "TooManyAttachments", detail: `a message announcing ${binary[1]} binary attachments, over the ${maxAttachments} allowed` })
        }
        bytes = new TextEncoder().encode(chunk).length
      }
      return chunk
    }
    const part = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk
    if (isBinary(part)) {
      bytes += part.byteLength
      if (bytes > maxMessageBytes) throw new FrameRefused({ reason: "TooLarge", detail: `a message of more than ${maxMessageBytes} bytes with its attachments` })
    }
    return part
  }
}

/** socket.io's parser module (`socket.io-parser`) as far as `boundedParser` uses it: core does not import socket.io. */
export interface SocketParser {
  readonly Encoder: unknown
  readonly Decoder: new (options?: { readonly maxAttachments?: number }) => { add(chunk: unknown): void }
}

/**
 * socket.io's parser held to the wire's limits (`frameBudget` above), what both ends decode with (the coordinator's
 * hub, the participant's session, in Node and in a browser). A message it refuses throws a FrameRefused, as the parser
 * throws on a malformed packet: the connection closes and no handler sees the message. `refused` hears every
 * refusal, the parser's own included, before it is thrown.
 */
export const boundedParser = <P extends SocketParser>(parser: P, refused: (error: unknown) => void = () => {}): { readonly Encoder: P["Encoder"]; readonly Decoder: P["Decoder"] } => ({
  Encoder: parser.Encoder,
  Decoder: class extends parser.Decoder {
    readonly budget = frameBudget()
    constructor() {
      super({ maxAttachments })
    }
    override add(chunk: unknown) {
      try {
        super.add(this.budget(chunk))
      } catch (error) {
        refused(error)
        throw error
      }
    }
  }
})

/** Socket handshake payload (socket.io `auth`): an EIP-712 Login signed over a nonce the coordinator issued. */
export const HandshakeAuth = Schema.Struct({
  account: Schema.String,
  nonce: Hex32,
  issuedAt: Schema.Int,
  signature: HexBytes
})
export type HandshakeAuth = typeof HandshakeAuth.Type
