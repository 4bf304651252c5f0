/**
 * Runs protocol rounds over the hub: encodes each request with its stage Schema, matches replies by their
 * single-use request id, decodes them with the stage's reply Schema, and settles a round when everyone has
 * answered, failed or gone offline — or when the round's timeout passes.
 */
import { randomUUID } from "node:crypto"
import { Effect, Schema } from "effect"
import { keccak256, toUtf8Bytes } from "ethers"
import type { CoordinatorSession, ProgressEvent, RoundOptions, Stage } from "@jointly/core/protocols/Protocol.ts"
import { ParticipantFailure, RoundError } from "@jointly/core/protocols/Protocol.ts"
import type { StageReply } from "@jointly/core/wire/Messages.ts"
import type { Hub } from "../transport/Hub.ts"
import { WireRefusal } from "../transport/Hub.ts"

type Answer = { readonly ok: true; readonly payload: unknown } | { readonly ok: false; readonly code: string; readonly detail: string }

interface Pending {
  readonly taskId: string
  readonly stage: Stage<any, any>
  readonly participant: string
  readonly settle: (answer: Answer) => void
}

/** The ledger stores a phase as a bytes32 label: long labels are hashed, short ones kept readable. */
const phaseLabel = (phase: string) => (new TextEncoder().encode(phase).length <= 31 ? phase : keccak256(toUtf8Bytes(phase)))
/** Roots are bytes32; a protocol's digest in another form is committed through its keccak hash. */
const asBytes32 = (digest: string) => (/^0x[0-9a-fA-F]{64}$/.test(digest) ? digest : keccak256(toUtf8Bytes(digest)))

/** Request ids already answered, kept so a replayed reply is named as such. Bounded: oldest forgotten first. */
const answeredMemory = 100_000

export const make = (hub: Hub) => {
  const pending = new Map<string, Pending>()
  const answered = new Set<string>()
  const runningTasks = new Set<string>()

  const remember = (requestId: string) => {
    answered.add(requestId)
    if (answered.size > answeredMemory) answered.delete(answered.values().next().value!)
  }

  /** Hub → here. Refusals name the problem to the sender; nothing else is disturbed. */
  const receive = async (account: string, reply: StageReply) => {
    const entry = pending.get(reply.requestId)
    if (!entry) {
      if (answered.has(reply.requestId)) throw new WireRefusal("Replayed", `request ${reply.requestId} was already answered`, reply.requestId)
      if (!runningTasks.has(reply.taskId)) throw new WireRefusal("UnknownTask", `task ${reply.taskId} is not running`, reply.requestId)
      throw new WireRefusal("UnknownRequest", `no open request ${reply.requestId}`, reply.requestId)
    }
    if (entry.participant !== account) throw new WireRefusal("NotAuthorized", `request ${reply.requestId} was not addressed to ${account}`, reply.requestId)
    if (entry.taskId !== reply.taskId) throw new WireRefusal("UnknownTask", `request ${reply.requestId} belongs to another task`, reply.requestId)
    if (entry.stage.name !== reply.stage) throw new WireRefusal("UnknownStage", `request ${reply.requestId} is for stage ${entry.stage.name}, not ${reply.stage}`, reply.requestId)
    pending.delete(reply.requestId)
    remember(reply.requestId)
    if (!reply.outcome.ok) return entry.settle(reply.outcome)
    const decoded = Schema.decodeUnknownExit(entry.stage.reply)(reply.outcome.payload)
    if (decoded._tag === "Failure") {
      entry.settle({ ok: false, code: "MalformedReply", detail: String(decoded.cause) })
      throw new WireRefusal("Malformed", `reply to ${entry.stage.name}: ${String(decoded.cause)}`, reply.requestId)
    }
    entry.settle({ ok: true, payload: decoded.value })
  }

  /** A participant went offline: its open requests settle as missing at once. */
  const offline = (account: string) => {
    for (const [id, entry] of pending) {
      if (entry.participant === account) {
        pending.delete(id)
        entry.settle({ ok: false, code: "Offline", detail: `${account} disconnected` })
      }
    }
  }

  const round = (taskId: string, attempt: number, participants: ReadonlyArray<string>) =>
    <Req, Rep>(stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>, options: RoundOptions) =>
      Effect.callback<ReadonlyMap<string, Rep>, RoundError | ParticipantFailure>((resume) => {
        const replies = new Map<string, Rep>()
        const failures = new Map<string, { code: string; detail: string }>()
        const ids: Array<string> = []
        let settled = false

        const finish = () => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          for (const id of ids) pending.delete(id)
          if (replies.size >= options.minReplies) return resume(Effect.succeed(replies))
          const missing = [...requests.keys()].filter((p) => !replies.has(p))
          // A participant's own error explains the failure better than "too few replies".
          const [who, failure] = [...failures].find(([, f]) => f.code !== "Offline" && f.code !== "Timeout") ?? []
          if (who && failure) {
            return resume(Effect.fail(new ParticipantFailure({ participant: who, stage: stage.name, code: failure.code, detail: failure.detail })))
          }
          resume(Effect.fail(new RoundError({
            stage: stage.name,
            reason: "TooFewReplies",
            missing,
            detail: `${replies.size} of ${requests.size} answered, ${options.minReplies} needed`
          })))
        }
        const answeredAll = () => replies.size + failures.size === requests.size

        const timer = setTimeout(() => {
          for (const p of requests.keys()) if (!replies.has(p) && !failures.has(p)) failures.set(p, { code: "Timeout", detail: "no reply in time" })
          finish()
        }, options.timeoutMs ?? 60_000)

        for (const [participant, request] of requests) {
          const requestId = randomUUID()
          ids.push(requestId)
          let payload: unknown
          try {
            payload = Schema.encodeUnknownSync(stage.request)(request)
          } catch (error) {
            failures.set(participant, { code: "EncodeFailed", detail: String(error) })
            continue
          }
          pending.set(requestId, {
            taskId,
            stage,
            participant,
            settle: (answer) => {
              if (settled) return
              if (answer.ok) replies.set(participant, answer.payload as Rep)
              else failures.set(participant, { code: answer.code, detail: answer.detail })
              if (answeredAll()) finish()
            }
          })
          const sent = hub.request(participant, { requestId, taskId, attempt, stage: stage.name, participants: [...participants], payload })
          if (!sent) {
            pending.delete(requestId)
            failures.set(participant, { code: "Offline", detail: `${participant} is not connected` })
          }
        }
        if (answeredAll()) finish()
        return Effect.sync(() => {
          settled = true
          clearTimeout(timer)
          for (const id of ids) pending.delete(id)
        })
      })

  const session = (args: {
    taskId: string
    attempt: number
    participants: ReadonlyArray<string>
    progress: (event: ProgressEvent) => void
    commit: (phase: string, digest: string) => Promise<void>
    checkpoint: { save: (key: string, value: unknown) => Promise<void>; load: (key: string) => Promise<unknown> }
  }): CoordinatorSession => ({
    taskId: args.taskId,
    attempt: args.attempt,
    participants: args.participants,
    round: round(args.taskId, args.attempt, args.participants),
    progress: (event) => Effect.sync(() => args.progress(event)),
    commit: (phase, digest) => Effect.promise(() => args.commit(phaseLabel(phase), asBytes32(digest))),
    checkpoint: {
      save: (key, value) => Effect.promise(() => args.checkpoint.save(key, value)),
      load: (key) => Effect.promise(() => args.checkpoint.load(key))
    }
  })

  return {
    receive,
    offline,
    session,
    taskStarted: (taskId: string) => runningTasks.add(taskId),
    taskEnded: (taskId: string) => runningTasks.delete(taskId)
  }
}

export type Rounds = ReturnType<typeof make>
