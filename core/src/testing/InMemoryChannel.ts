/**
 * Test helper: the round engine's Channel (`runtime/Channel.ts`) with its participants in this process.
 *
 * Each participant answers through `ParticipantRuntime` — the code a deployed agent runs — with a real ethers
 * Wallet (its id is the checksummed address; `sign` is EIP-191), its own memory per attempt and its own
 * services. Every request and reply crosses as socket.io carries it — JSON text (stringify → parse), but each binary
 * part (a Uint8Array: the OT PSI relay's sealed boxes) apart, received as a Uint8Array of its own — so wire bugs
 * (bigints, bytes, optional fields) fail here first. A participant may follow a script of faults:
 *   - `{ kind: "dropout", fromStage }`  disconnects when that stage is first requested: missing at once, then and
 *     in every later round;
 *   - `{ kind: "hang", fromStage }`     stays connected but never answers again: missing when the round times out;
 *   - `{ kind: "delay", stage, ms }`    answers that stage late (missing if past the round's timeout);
 *   - `{ kind: "error", stage, code? }` answers that stage with a failure outcome;
 *   - `{ kind: "malformed", stage }`    answers that stage with a payload its reply Schema refuses;
 *   - `{ kind: "replay", stage }`       sends its answer to that stage twice (the second must be refused);
 *   - `{ kind: "steal", stage, victim }` answers the victim's request of that stage first, under its own identity
 *     (must be refused; the victim's own answer still counts).
 * `signer` makes a participant sign with another wallet than its identity (forgery tests).
 *
 * The transcript records every payload as it crossed, so tests can check what the coordinator actually saw;
 * `refusals` records every message the engine refused, with its code.
 */
import { Effect, Layer } from "effect"
import { Base64 } from "effect/encoding"
import { hexlify, Wallet } from "ethers"
import type { ParticipantFailure } from "../protocols/Protocol.ts"
import { Channel, type Inbound } from "../runtime/Channel.ts"
import * as ParticipantRuntime from "../runtime/ParticipantRuntime.ts"
import { binaryParts, type StageOutcome, type StageReply, type StageRequest, type WireErrorCode } from "../wire/Messages.ts"

export type Fault =
  | { readonly kind: "dropout"; readonly fromStage: string }
  | { readonly kind: "hang"; readonly fromStage: string }
  | { readonly kind: "delay"; readonly stage: string; readonly ms: number }
  | { readonly kind: "error"; readonly stage: string; readonly code?: string; readonly detail?: string }
  | { readonly kind: "malformed"; readonly stage: string }
  | { readonly kind: "replay"; readonly stage: string }
  | { readonly kind: "steal"; readonly stage: string; readonly victim: string }

export type AnyStageHandler = ParticipantRuntime.AnyStageHandler

export interface ParticipantConfig {
  readonly handlers: ReadonlyArray<AnyStageHandler>
  /** Identity; a fresh random wallet by default. */
  readonly wallet?: Wallet
  /** Signs with this wallet instead of `wallet` (a participant whose signatures do not match its id). */
  readonly signer?: Wallet
  readonly faults?: ReadonlyArray<Fault>
  /**
   * Supplies the services this participant's handlers need (e.g. `Effect.provide(myLocalDataLayer)`); each
   * participant gets its own. Handlers that need none can leave it out.
   */
  readonly provide?: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.Effect<A, ParticipantFailure>
}

export interface TranscriptEntry {
  readonly stage: string
  readonly participant: string
  readonly direction: "request" | "reply" | "failure"
  /** The payload (request or reply) or the failure outcome as it crossed the wire (JSON text; a binary part as `{ "_binary": base64 }`). */
  readonly json: string
}

export interface Refusal {
  readonly participant: string
  readonly stage: string
  readonly code: WireErrorCode
}

export const randomWallet = (): Wallet => new Wallet(hexlify(crypto.getRandomValues(new Uint8Array(32))))

/** A reply no stage's reply Schema accepts: a bare string where every stage expects a struct. */
export const garbage = "not a reply"

/** What a participant's faults make of one request. */
export const planOf = (faults: ReadonlyArray<Fault>, stage: string) => ({
  dropout: faults.some((f) => f.kind === "dropout" && f.fromStage === stage),
  hang: faults.some((f) => f.kind === "hang" && f.fromStage === stage),
  delayMs: faults.find((f): f is Extract<Fault, { kind: "delay" }> => f.kind === "delay" && f.stage === stage)?.ms ?? 0,
  error: faults.find((f): f is Extract<Fault, { kind: "error" }> => f.kind === "error" && f.stage === stage),
  malformed: faults.some((f) => f.kind === "malformed" && f.stage === stage),
  replay: faults.some((f) => f.kind === "replay" && f.stage === stage)
})

/** The outcome a participant sends for a request, faults applied, before any delay. */
export const answerWith = (
  plan: ReturnType<typeof planOf>,
  answer: Effect.Effect<StageOutcome>
): Effect.Effect<StageOutcome> => {
  if (plan.error !== undefined) return Effect.succeed({ ok: false, code: plan.error.code ?? "InjectedFault", detail: plan.error.detail ?? "scripted failure" })
  if (plan.malformed) return Effect.succeed({ ok: true, payload: garbage })
  return answer
}

export interface ChannelOptions {
  /**
   * Keep every payload's JSON in `transcript` (default true). Benchmarks moving megabyte vectors turn it off: the
   * copies would cost memory and a second serialization that a deployed transport never pays.
   */
  readonly transcript?: boolean
}

const isBinary = (value: unknown): value is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(value) || value instanceof ArrayBuffer
const copyOf = (part: ArrayBufferView | ArrayBuffer) =>
  part instanceof ArrayBuffer ? new Uint8Array(part.slice(0)) : new Uint8Array(part.buffer, part.byteOffset, part.byteLength).slice()

/** JSON of `value` with each binary part replaced by `stand(part)`; plain JSON (no replacer to call) without any. */
const jsonWith = (value: unknown, stand: (part: ArrayBufferView | ArrayBuffer) => unknown): string => {
  if (binaryParts(value)?.count === 0) return JSON.stringify(value)
  // The holder's own value: a Buffer's toJSON has already turned `v` into an array of numbers.
  return JSON.stringify(value, function(this: Record<string, unknown>, key, v) {
    const raw = this[key]
    return isBinary(raw) ? stand(raw) : v
  })
}

/** A value as it crosses socket.io: JSON, each binary part apart (a placeholder in the JSON), the receiver's own copy. */
const wire = <A>(value: A): A => {
  const parts: Array<Uint8Array> = []
  const json = jsonWith(value, (part) => ({ _placeholder: true, num: parts.push(copyOf(part)) - 1 }))
  if (parts.length === 0) return JSON.parse(json) as A
  return JSON.parse(json, (_key, v) => (typeof v === "object" && v !== null && v._placeholder === true ? parts[v.num] : v)) as A
}

const transcriptJson = (value: unknown) => jsonWith(value, (part) => ({ _binary: Base64.encode(copyOf(part)) }))

export const make = (configs: ReadonlyArray<ParticipantConfig>, options: ChannelOptions = {}) => {
  const parties = configs.map((config) => {
    const wallet = config.wallet ?? randomWallet()
    const signer = config.signer ?? wallet
    const runtime = ParticipantRuntime.make({ self: wallet.address, sign: ParticipantRuntime.signWith((message) => signer.signMessage(message)) })
    return { id: wallet.address, wallet, config, runtime, disconnected: false, hung: false, tasks: new Map<string, ParticipantRuntime.Accepted>() }
  })
  const byId = new Map(parties.map((p) => [p.id, p]))
  if (byId.size !== parties.length) throw new Error("InMemoryChannel: two participants share a wallet")
  const transcript: Array<TranscriptEntry> = []
  // The entry is built only when kept: a benchmark moving megabyte vectors would pay a second stringify per payload.
  const record = options.transcript === false ? () => {} : (entry: () => TranscriptEntry) => void transcript.push(entry())
  const refusals: Array<Refusal> = []
  let inbound: Inbound | undefined


  const deliver = (from: string, reply: StageReply) =>
    Effect.catch(inbound!.reply(from, wire(reply)), (refusal) => Effect.sync(() => void refusals.push({ participant: from, stage: reply.stage, code: refusal.code })))

  const answer = (party: (typeof parties)[number], request: StageRequest) =>
    Effect.gen(function*() {
      const faults = party.config.faults ?? []
      const plan = planOf(faults, request.stage)
      const task = party.tasks.get(request.taskId) ?? ParticipantRuntime.accepted(request.taskId, party.config.handlers)
      party.tasks.set(request.taskId, task)
      const handled = party.runtime.handle(task, request) as Effect.Effect<StageOutcome, never, any>
      const provided = (party.config.provide?.(handled) ?? handled) as Effect.Effect<StageOutcome>
      if (plan.delayMs > 0) yield* Effect.sleep(plan.delayMs)
      const outcome = yield* answerWith(plan, provided)
      record(() => ({ stage: request.stage, participant: party.id, direction: outcome.ok ? "reply" : "failure", json: transcriptJson(outcome.ok ? outcome.payload : outcome) }))
      const reply: StageReply = { requestId: request.requestId, taskId: request.taskId, stage: request.stage, outcome }
      yield* deliver(party.id, reply)
      if (plan.replay) yield* deliver(party.id, reply)
    })

  /** Every thief scripted against `victim` answers its request of the stage first, under the thief's own identity. */
  const steal = (victim: string, request: StageRequest) =>
    Effect.forEach(
      parties.filter((p) => !p.disconnected && (p.config.faults ?? []).some((f) => f.kind === "steal" && f.victim === victim && f.stage === request.stage)),
      (thief) => deliver(thief.id, { requestId: request.requestId, taskId: request.taskId, stage: request.stage, outcome: { ok: true, payload: garbage } }),
      { discard: true }
    )

  const channel = Channel.of({
    send: (participant, request) =>
      Effect.gen(function*() {
        const party = byId.get(participant)
        if (party === undefined || party.disconnected) return false
        const plan = planOf(party.config.faults ?? [], request.stage)
        if (plan.dropout) {
          party.disconnected = true
          return false
        }
        if (plan.hang) party.hung = true
        const received = wire(request)
        record(() => ({ stage: request.stage, participant, direction: "request", json: transcriptJson(received.payload) }))
        // Nothing is lost in memory: acknowledged at once, so the engine never sends it again.
        yield* inbound!.receipt(participant, request.requestId, true)
        yield* steal(participant, received)
        if (party.hung) return true
        yield* Effect.forkDetach(answer(party, received))
        return true
      }),
    listen: (handlers) => Effect.sync(() => void (inbound = handlers))
  })

  return {
    /** Participant ids (checksummed addresses) in the order the configs were given. */
    participants: parties.map((p) => p.id),
    wallets: new Map(parties.map((p) => [p.id, p.wallet])),
    transcript: transcript as ReadonlyArray<TranscriptEntry>,
    refusals: refusals as ReadonlyArray<Refusal>,
    /** A participant's memory of one task attempt (created on first use). */
    memory: (participant: string, taskId: string, attempt: number) => byId.get(participant)!.runtime.memory(taskId, attempt),
    /**
     * The task ended: every participant drops its memory of it (releasing what the values hold, as a deployed
     * participant does on TaskEnded) and its handler table.
     */
    end: (taskId: string) => {
      for (const party of parties) {
        party.runtime.forget(taskId, "ended")
        party.tasks.delete(taskId)
      }
    },
    /** What the participants still hold of `taskId`: attempts with memory and accepted handler tables. */
    held: (taskId: string) =>
      parties.reduce((n, p) => n + p.runtime.held(taskId) + (p.tasks.has(taskId) ? 1 : 0), 0),
    channel,
    layer: Layer.succeed(Channel, channel)
  }
}

export type InMemoryChannel = ReturnType<typeof make>
