/**
 * The one round engine: how the coordinator side of every protocol asks participants for a stage and settles
 * the round, whatever carries the messages (`Channel.ts`: socket.io in real processes, in memory in tests).
 *
 * Rules, in the order a round meets them:
 *   - each request is encoded with its stage's request Schema (a request that does not encode is a coordinator
 *     bug: a defect) and sent under a fresh, single-use request id;
 *   - a participant that is not connected, or leaves while its request is open, is missing at once ("Offline");
 *     one that connects again while its request is open (the instance holding its socket died before the cluster
 *     noticed) is sent the same request again, under the same id: the participant answers a repeated id with the
 *     reply it computed (AgentSession), so a request is computed once whichever copy arrives;
 *   - a reply is matched by its request id and must come from the participant it was sent to, for the same task
 *     and stage; a reply to an id already answered is refused as "Replayed", one from anyone else as
 *     "NotAuthorized" (the round is not disturbed either way); its payload is decoded with the stage's reply
 *     Schema, and one that does not decode is that participant's failure ("MalformedReply") and is refused;
 *   - the round settles when every participant has answered, failed or left, or when its timeout passes
 *     (the task's round timeout; those still silent are missing, "Timeout");
 *   - it succeeds with the replies (in request order) when at least `minReplies` arrived; otherwise the first
 *     participant in request order that failed with its own error explains the failure (ParticipantFailure),
 *     and without one it is a RoundError("TooFewReplies") naming the missing participants.
 */
import { Context, Deferred, Effect, Exit, Layer, Schema } from "effect"
import type { Checkpoints, CoordinatorSession, ProgressEvent, RoundOptions, Stage } from "../protocols/Protocol.ts"
import { ParticipantFailure, RoundError } from "../protocols/Protocol.ts"
import { defaultRoundTimeoutMs } from "../task/TaskSpec.ts"
import { type StageReply, type StageRequest, WireRefusal } from "../wire/Messages.ts"
import { Channel } from "./Channel.ts"
import * as Commitments from "./Commitments.ts"

/** How one participant's part of a round ended. */
export type Outcome =
  | { readonly _tag: "Reply"; readonly reply: unknown }
  | { readonly _tag: "Failed"; readonly code: string; readonly detail: string }
  | { readonly _tag: "Missing"; readonly code: "Offline" | "Timeout"; readonly detail: string }

/** What the host of a task gives the engine: identity of the attempt and where progress, commits and checkpoints go. */
export interface TaskHooks {
  readonly taskId: string
  readonly attempt: number
  /** Participant ids (checksummed addresses) in task order. */
  readonly participants: ReadonlyArray<string>
  /** The protocol's stage table: a round of any other stage is a coordinator bug (a defect). */
  readonly stages?: ReadonlyArray<string>
  /** The task's round timeout when a round names none. */
  readonly roundTimeoutMs?: number
  readonly progress: (event: ProgressEvent) => Effect.Effect<void>
  /** Receives the ledger's forms of the phase and root (`Commitments.ts`). */
  readonly commit: (phase: string, root: string) => Effect.Effect<void>
  readonly checkpoint: Checkpoints
}

export class RoundEngine extends Context.Service<RoundEngine, {
  /** The coordinator session of one task attempt. */
  readonly session: (hooks: TaskHooks) => CoordinatorSession
  /** Replies to a task that is not running are refused as UnknownTask rather than UnknownRequest. */
  readonly taskStarted: (taskId: string) => Effect.Effect<void>
  readonly taskEnded: (taskId: string) => Effect.Effect<void>
}>()("jointly/RoundEngine") {}

interface Pending {
  readonly taskId: string
  readonly stage: Stage<any, any>
  readonly participant: string
  /** As sent, for sending again to a participant that reconnected. */
  readonly request: StageRequest
  readonly settle: (outcome: Outcome) => void
}

/** Request ids already answered, kept so a replayed reply is named as such. Bounded: oldest forgotten first. */
const answeredMemory = 100_000

const refuse = (code: WireRefusal["code"], detail: string, ref: string) => Effect.fail(new WireRefusal({ code, detail, ref }))

export const make: Effect.Effect<RoundEngine["Service"], never, Channel> = Effect.gen(function*() {
  const channel = yield* Channel
  const pending = new Map<string, Pending>()
  const answered = new Set<string>()
  const running = new Set<string>()

  const remember = (requestId: string) => {
    answered.add(requestId)
    if (answered.size > answeredMemory) answered.delete(answered.values().next().value!)
  }

  const reply = (from: string, message: StageReply): Effect.Effect<void, WireRefusal> =>
    Effect.suspend(() => {
      const entry = pending.get(message.requestId)
      if (entry === undefined) {
        if (answered.has(message.requestId)) return refuse("Replayed", `request ${message.requestId} was already answered`, message.requestId)
        if (!running.has(message.taskId)) return refuse("UnknownTask", `task ${message.taskId} is not running`, message.requestId)
        return refuse("UnknownRequest", `no open request ${message.requestId}`, message.requestId)
      }
      if (entry.participant !== from) return refuse("NotAuthorized", `request ${message.requestId} was not addressed to ${from}`, message.requestId)
      if (entry.taskId !== message.taskId) return refuse("UnknownTask", `request ${message.requestId} belongs to another task`, message.requestId)
      if (entry.stage.name !== message.stage) {
        return refuse("UnknownStage", `request ${message.requestId} is for stage ${entry.stage.name}, not ${message.stage}`, message.requestId)
      }
      pending.delete(message.requestId)
      remember(message.requestId)
      if (!message.outcome.ok) {
        entry.settle({ _tag: "Failed", code: message.outcome.code, detail: message.outcome.detail })
        return Effect.void
      }
      const decoded = Schema.decodeUnknownExit(entry.stage.reply)(message.outcome.payload)
      if (decoded._tag === "Failure") {
        entry.settle({ _tag: "Failed", code: "MalformedReply", detail: String(decoded.cause) })
        return refuse("Malformed", `reply to ${entry.stage.name}: ${String(decoded.cause)}`, message.requestId)
      }
      entry.settle({ _tag: "Reply", reply: decoded.value })
      return Effect.void
    })

  const offline = (participant: string) =>
    Effect.sync(() => {
      for (const [id, entry] of pending) {
        if (entry.participant !== participant) continue
        pending.delete(id)
        entry.settle({ _tag: "Missing", code: "Offline", detail: `${participant} disconnected` })
      }
    })

  const online = (participant: string) =>
    Effect.gen(function*() {
      for (const entry of [...pending.values()]) if (entry.participant === participant) yield* channel.send(participant, entry.request)
    })

  yield* channel.listen({ reply, offline, online })

  const round = (hooks: TaskHooks) =>
    <Req, Rep>(stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>, options: RoundOptions): Effect.Effect<ReadonlyMap<string, Rep>, RoundError | ParticipantFailure> => {
      const ids: Array<string> = []
      const forget = Effect.sync(() => {
        for (const id of ids) pending.delete(id)
      })
      return Effect.gen(function*() {
        if (hooks.stages !== undefined && !hooks.stages.includes(stage.name)) {
          return yield* Effect.die(new Error(`stage ${stage.name} is not in this protocol's stage table`))
        }
        const outcomes = new Map<string, Outcome>()
        const settled = yield* Deferred.make<void>()
        const settle = (participant: string, outcome: Outcome) => {
          if (outcomes.has(participant)) return
          outcomes.set(participant, outcome)
          if (outcomes.size === requests.size) Deferred.doneUnsafe(settled, Exit.void)
        }
        for (const [participant, request] of requests) {
          const payload = yield* Effect.orDie(Schema.encodeUnknownEffect(stage.request)(request))
          const requestId = crypto.randomUUID()
          ids.push(requestId)
          const message: StageRequest = {
            requestId,
            taskId: hooks.taskId,
            attempt: hooks.attempt,
            stage: stage.name,
            participants: [...hooks.participants],
            payload
          }
          pending.set(requestId, { taskId: hooks.taskId, stage, participant, request: message, settle: (outcome) => settle(participant, outcome) })
          const sent = yield* channel.send(participant, message)
          if (!sent) {
            pending.delete(requestId)
            settle(participant, { _tag: "Missing", code: "Offline", detail: `${participant} is not connected` })
          }
        }
        if (outcomes.size < requests.size) {
          yield* Effect.timeoutOption(Deferred.await(settled), options.timeoutMs ?? hooks.roundTimeoutMs ?? defaultRoundTimeoutMs)
        }
        for (const participant of requests.keys()) settle(participant, { _tag: "Missing", code: "Timeout", detail: "no reply in time" })
        return yield* settleRound(stage, [...requests.keys()].map((p) => [p, outcomes.get(p)!] as const), options.minReplies)
      }).pipe(Effect.ensuring(forget))
    }

  return RoundEngine.of({
    session: (hooks) => ({
      taskId: hooks.taskId,
      attempt: hooks.attempt,
      participants: hooks.participants,
      round: round(hooks),
      progress: hooks.progress,
      commit: (phase, digest) => hooks.commit(Commitments.phaseOf(phase), Commitments.rootOf(digest)),
      checkpoint: hooks.checkpoint
    }),
    taskStarted: (taskId) => Effect.sync(() => void running.add(taskId)),
    taskEnded: (taskId) => Effect.sync(() => void running.delete(taskId))
  })
})

/** The rule that ends a round, from every participant's outcome in request order. */
export const settleRound = <Rep>(
  stage: Stage<any, Rep>,
  outcomes: ReadonlyArray<readonly [string, Outcome]>,
  minReplies: number
): Effect.Effect<ReadonlyMap<string, Rep>, RoundError | ParticipantFailure> => {
  const replies = new Map<string, Rep>()
  for (const [participant, outcome] of outcomes) if (outcome._tag === "Reply") replies.set(participant, outcome.reply as Rep)
  if (replies.size >= minReplies) return Effect.succeed(replies)
  // A participant's own error explains the failure better than "too few replies".
  const explaining = outcomes.find(([, outcome]) => outcome._tag === "Failed")
  if (explaining !== undefined) {
    const [participant, outcome] = explaining as readonly [string, Extract<Outcome, { _tag: "Failed" }>]
    return Effect.fail(new ParticipantFailure({ participant, stage: stage.name, code: outcome.code, detail: outcome.detail }))
  }
  return Effect.fail(new RoundError({
    stage: stage.name,
    reason: "TooFewReplies",
    missing: outcomes.filter(([, outcome]) => outcome._tag !== "Reply").map(([participant]) => participant),
    detail: `${replies.size} of ${outcomes.length} answered, ${minReplies} needed`,
    offline: outcomes.filter(([, outcome]) => outcome._tag === "Missing" && outcome.code === "Offline").map(([participant]) => participant)
  }))
}

export const layer: Layer.Layer<RoundEngine, never, Channel> = Layer.effect(RoundEngine, make)
