/**
 * Test helper: runs a protocol's coordinator program against participants' handler tables in one process.
 *
 * Every request and reply goes through its stage Schemas and a JSON round trip (encode → stringify → parse →
 * decode), exactly what the socket hosts do, so wire bugs (bigints, bytes, optional fields) fail here first.
 * Each participant has a real ethers Wallet (its id is the checksummed address; `sign` is EIP-191 over the
 * bytes), its own memory per attempt, and an optional script of faults:
 *   - `{ kind: "dropout", fromStage }`  disconnects when that stage is first requested: missing at once, then
 *     and in every later round;
 *   - `{ kind: "error", stage, code? }` answers that stage with a ParticipantFailure;
 *   - `{ kind: "hang", fromStage }`     stays connected but never answers again: missing when the round's
 *     `timeoutMs` runs out (a round without `timeoutMs` would wait forever, as over a socket);
 *   - `{ kind: "delay", stage, ms }`    answers that stage late (counts as missing if past `timeoutMs`).
 * `signer` makes a participant sign with another wallet than its identity (forgery tests).
 *
 * The transcript records every encoded message, so tests can check what the coordinator actually saw.
 */
import { Effect, Option, Schema } from "effect"
import { hexlify, Wallet } from "ethers"
import type {
  CoordinatorSession,
  ParticipantSession,
  ProgressEvent,
  RoundOptions,
  Stage,
  StageHandler
} from "../protocols/Protocol.ts"
import { ParticipantFailure, RoundError } from "../protocols/Protocol.ts"

export type Fault =
  | { readonly kind: "dropout"; readonly fromStage: string }
  | { readonly kind: "error"; readonly stage: string; readonly code?: string; readonly detail?: string }
  | { readonly kind: "hang"; readonly fromStage: string }
  | { readonly kind: "delay"; readonly stage: string; readonly ms: number }

// Handlers of different stages have different types; the host only routes by name and codes with the stage.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStageHandler = StageHandler<any, any, any>

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
  /** The message as it crossed the wire (JSON text). */
  readonly json: string
}

export interface InMemoryHostOptions {
  readonly taskId?: string
  readonly attempt?: number
}

export interface InMemoryHost {
  /** Participant ids (checksummed addresses) in the order the configs were given. */
  readonly participants: ReadonlyArray<string>
  readonly wallets: ReadonlyMap<string, Wallet>
  readonly transcript: ReadonlyArray<TranscriptEntry>
  readonly progress: ReadonlyArray<ProgressEvent>
  readonly commitments: ReadonlyArray<{ readonly phase: string; readonly digest: string }>
  /** Checkpoints saved by the coordinator program; shared by every attempt, like the coordinator's store. */
  readonly checkpoints: Map<string, unknown>
  /** Participant memory of an attempt (created on first use). */
  readonly memory: (participant: string, attempt?: number) => Map<string, unknown>
  /** The coordinator session of an attempt; participants that dropped out stay dropped across attempts. */
  readonly session: (attempt?: number) => CoordinatorSession
  /** Runs a coordinator program against the participants. */
  readonly run: <A, E, R>(program: (session: CoordinatorSession) => Effect.Effect<A, E, R>, attempt?: number) => Effect.Effect<A, E, R>
}

export const randomWallet = (): Wallet => new Wallet(hexlify(crypto.getRandomValues(new Uint8Array(32))))

type Outcome<Rep> =
  | { readonly _tag: "Reply"; readonly reply: Rep }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Failed"; readonly failure: ParticipantFailure }

const toWire = <A>(codec: Schema.Codec<A, any>, value: unknown): Effect.Effect<string, Schema.SchemaError> =>
  Effect.map(Schema.encodeUnknownEffect(codec)(value), (encoded) => JSON.stringify(encoded))

const fromWire = <A>(codec: Schema.Codec<A, any>, json: string): Effect.Effect<A, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(codec)(JSON.parse(json)) as Effect.Effect<A, Schema.SchemaError>

export const make = (configs: ReadonlyArray<ParticipantConfig>, options: InMemoryHostOptions = {}): InMemoryHost => {
  const taskId = options.taskId ?? `task-${hexlify(crypto.getRandomValues(new Uint8Array(4))).slice(2)}`
  const defaultAttempt = options.attempt ?? 1
  const parties = configs.map((config) => {
    const wallet = config.wallet ?? randomWallet()
    return { id: wallet.address, wallet, config, disconnected: false, hung: false }
  })
  const byId = new Map(parties.map((p) => [p.id, p]))
  if (byId.size !== parties.length) throw new Error("InMemoryHost: two participants share a wallet")
  const participants = parties.map((p) => p.id)
  const transcript: Array<TranscriptEntry> = []
  const progress: Array<ProgressEvent> = []
  const commitments: Array<{ phase: string; digest: string }> = []
  const memories = new Map<string, Map<string, unknown>>()
  const checkpoints = new Map<string, unknown>()
  const memory = (participant: string, attempt = defaultAttempt) => {
    const key = `${attempt}/${participant}`
    let found = memories.get(key)
    if (found === undefined) memories.set(key, (found = new Map()))
    return found
  }

  const deliver = <Req, Rep>(
    stage: Stage<Req, Rep>,
    participant: string,
    request: Req,
    attempt: number
  ): Effect.Effect<Outcome<Rep>> =>
    Effect.gen(function*() {
      const party = byId.get(participant)
      if (party === undefined || party.disconnected) return { _tag: "Missing" } as const
      const faults = party.config.faults ?? []
      if (faults.some((f) => f.kind === "dropout" && f.fromStage === stage.name)) {
        party.disconnected = true
        return { _tag: "Missing" } as const
      }
      if (faults.some((f) => f.kind === "hang" && f.fromStage === stage.name)) party.hung = true
      if (party.hung) return yield* Effect.never

      // A request that does not encode is a coordinator bug: let it surface as a defect.
      const requestJson = yield* Effect.orDie(toWire(stage.request, request))
      transcript.push({ stage: stage.name, participant, direction: "request", json: requestJson })
      const failed = (code: string, detail: string): Outcome<Rep> => {
        const failure = new ParticipantFailure({ participant, stage: stage.name, code, detail })
        transcript.push({ stage: stage.name, participant, direction: "failure", json: JSON.stringify(failure) })
        return { _tag: "Failed", failure }
      }
      const decodedRequest = yield* Effect.result(fromWire(stage.request, requestJson))
      if (decodedRequest._tag === "Failure") return failed("MalformedRequest", String(decodedRequest.failure))

      const injected = faults.find((f): f is Extract<Fault, { kind: "error" }> => f.kind === "error" && f.stage === stage.name)
      if (injected !== undefined) return failed(injected.code ?? "InjectedFault", injected.detail ?? "scripted failure")
      const delay = faults.find((f): f is Extract<Fault, { kind: "delay" }> => f.kind === "delay" && f.stage === stage.name)
      if (delay !== undefined) yield* Effect.sleep(delay.ms)

      const handler = party.config.handlers.find((h) => h.stage.name === stage.name)
      if (handler === undefined) return failed("UnknownStage", `no handler for ${stage.name}`)
      const signer = party.config.signer ?? party.wallet
      const session: ParticipantSession = {
        taskId,
        attempt,
        self: participant,
        participants,
        memory: memory(participant, attempt),
        sign: (message) => Effect.promise(() => signer.signMessage(message))
      }
      const handling = handler.handle(decodedRequest.success, session) as Effect.Effect<unknown, ParticipantFailure, any>
      const provided = party.config.provide?.(handling) ?? (handling as Effect.Effect<unknown, ParticipantFailure>)
      const handled = yield* Effect.result(provided)
      if (handled._tag === "Failure") {
        transcript.push({ stage: stage.name, participant, direction: "failure", json: JSON.stringify(handled.failure) })
        return { _tag: "Failed", failure: handled.failure }
      }
      const replyJson = yield* Effect.result(toWire(handler.stage.reply, handled.success))
      if (replyJson._tag === "Failure") return failed("MalformedReply", `reply does not encode: ${String(replyJson.failure)}`)
      transcript.push({ stage: stage.name, participant, direction: "reply", json: replyJson.success })
      const reply = yield* Effect.result(fromWire(stage.reply, replyJson.success))
      if (reply._tag === "Failure") return failed("MalformedReply", String(reply.failure))
      return { _tag: "Reply", reply: reply.success }
    })

  const session = (attempt = defaultAttempt): CoordinatorSession => ({
    taskId,
    attempt,
    participants,
    round: <Req, Rep>(stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>, roundOptions: RoundOptions) =>
      Effect.gen(function*() {
        const outcomes = yield* Effect.forEach(
          [...requests],
          ([participant, request]) => {
            const outcome = deliver(stage, participant, request, attempt)
            return Effect.map(
              roundOptions.timeoutMs === undefined ? Effect.map(outcome, Option.some) : Effect.timeoutOption(outcome, roundOptions.timeoutMs),
              (result) => [participant, Option.getOrElse(result, (): Outcome<Rep> => ({ _tag: "Missing" }))] as const
            )
          },
          { concurrency: "unbounded" }
        )
        const replies = new Map<string, Rep>()
        const failures: Array<ParticipantFailure> = []
        const missing: Array<string> = []
        for (const [participant, outcome] of outcomes) {
          if (outcome._tag === "Reply") replies.set(participant, outcome.reply)
          else if (outcome._tag === "Failed") failures.push(outcome.failure)
          else missing.push(participant)
        }
        if (replies.size >= roundOptions.minReplies) return replies as ReadonlyMap<string, Rep>
        if (failures.length > 0) return yield* Effect.fail(failures[0]!)
        return yield* Effect.fail(
          new RoundError({
            stage: stage.name,
            reason: "TooFewReplies",
            missing,
            detail: `${replies.size} of ${requests.size} replied, ${roundOptions.minReplies} needed`
          })
        )
      }),
    progress: (event) => Effect.sync(() => void progress.push(event)),
    commit: (phase, digest) => Effect.sync(() => void commitments.push({ phase, digest })),
    checkpoint: {
      // Through JSON, as the coordinator's store would keep it.
      save: (key, value) => Effect.sync(() => void checkpoints.set(key, JSON.parse(JSON.stringify(value)))),
      load: (key) => Effect.sync(() => checkpoints.get(key))
    }
  })

  return {
    participants,
    wallets: new Map(parties.map((p) => [p.id, p.wallet])),
    transcript,
    progress,
    commitments,
    checkpoints,
    memory,
    session,
    run: (program, attempt) => program(session(attempt))
  }
}
