/**
 * The one round engine: how the coordinator side of every protocol asks participants for a stage and settles
 * the round, whatever carries the messages (`Channel.ts`: socket.io in real processes, in memory in tests).
 *
 * Rules, in the order a round meets them:
 *   - each request is encoded with its stage's request Schema (a request that does not encode is a coordinator
 *     bug: a defect) and sent under a fresh, single-use request id;
 *   - a participant that is not connected, or leaves while its request is open, is missing at once ("Offline");
 *   - an open request is delivered at least once: the participant acknowledges each on receipt (the channel's
 *     `receipt`), and one whose sending is known lost (no acknowledgement in time: a NOTIFY between coordinator
 *     instances dropped, a socket mid-reconnect) is sent again, under the same id, on `resending` (backoff from 1 s
 *     up to every 30 s, until the round ends — its deadline at the latest). One acknowledged is never sent in full
 *     again: it is reminded of (the channel's `remind`, no payload) on the same schedule, since its reply may be the
 *     message lost, and the participant answers a reminder with the reply it computed. A participant that connects
 *     again (or whose messages may have been lost: the cluster's listener reconnected) is sent every request it has
 *     not acknowledged (awaited acknowledgements included) and reminded of the others at once. The participant computes a request id once, however many
 *     copies arrive (AgentSession), and the engine takes one reply per id;
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
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schedule, Schema } from "effect"
import type { Checkpoints, CoordinatorSession, ProgressEvent, RoundOptions, SessionStateFailed, Stage } from "../protocols/Protocol.ts"
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
  readonly commit: (phase: string, root: string) => Effect.Effect<void, SessionStateFailed>
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
  /**
   * What is known of its delivery: a sending awaits its acknowledgement (`sending`), the participant has it
   * (`delivered`: only reminded of from now on), or the last sending is known lost (`lost`: sent again).
   */
  delivery: "sending" | "delivered" | "lost"
}

/**
 * When a round's requests are looked at again (sent again if lost, reminded of if acknowledged): soon after the
 * first sending, then less and less often. It ends with the round (its deadline at the latest).
 */
export const resending = Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("30 seconds")])

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

  /**
   * Sends a lost request again, or reminds of an acknowledged one. One awaiting its acknowledgement is left to it,
   * unless `unsure`: the way to the participant was just cut (it reconnected, a listener did), so what is on it may
   * be lost too.
   */
  const again = (entry: Pending, unsure: boolean) =>
    Effect.gen(function*() {
      if (entry.delivery === "lost" || (unsure && entry.delivery === "sending")) {
        entry.delivery = "sending"
        // Not connected now: lost again, and looked at on the next turn (its leaving settles it, if it left).
        if (!(yield* channel.send(entry.participant, entry.request))) entry.delivery = "lost"
      } else if (entry.delivery === "delivered" && channel.remind !== undefined) {
        yield* channel.remind(entry.participant, { requestId: entry.request.requestId, taskId: entry.taskId })
      }
    })

  const online = (participant: string) =>
    Effect.forEach([...pending.values()].filter((entry) => entry.participant === participant), (entry) => again(entry, true), { discard: true })

  const receipt = (participant: string, requestId: string, delivered: boolean) =>
    Effect.sync(() => {
      const entry = pending.get(requestId)
      if (entry !== undefined && entry.participant === participant) entry.delivery = delivered ? "delivered" : "lost"
    })

  yield* channel.listen({ reply, offline, online, receipt })

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
          // Kept a defect on purpose: `request` is the protocol's own value of the stage's request type (replies it
          // relays were decoded by their stage's schema first), so one its schema refuses is a bug in the protocol,
          // not bad input or a failing dependency. The run dies and its host fails the task naming the encode error;
          // no caller is answered for it.
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
          pending.set(requestId, { taskId: hooks.taskId, stage, participant, request: message, settle: (outcome) => settle(participant, outcome), delivery: "sending" })
          const sent = yield* channel.send(participant, message)
          if (!sent) {
            pending.delete(requestId)
            settle(participant, { _tag: "Missing", code: "Offline", detail: `${participant} is not connected` })
          }
        }
        if (outcomes.size < requests.size) {
          // Whatever of this round is still open, looked at again until the round ends (interrupted with it).
          const looks = Effect.forEach(ids, (id) => (pending.has(id) ? again(pending.get(id)!, false) : Effect.void), { discard: true })
          const looking = yield* Effect.forkChild(Effect.schedule(looks, resending))
          yield* Effect.timeoutOption(Deferred.await(settled), options.timeoutMs ?? hooks.roundTimeoutMs ?? defaultRoundTimeoutMs).pipe(
            Effect.ensuring(Fiber.interrupt(looking))
          )
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
