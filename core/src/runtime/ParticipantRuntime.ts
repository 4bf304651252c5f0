/**
 * The participant side of the round engine: answers one stage request of an accepted task. It finds the handler
 * the request names, decodes the payload with the stage's request Schema, runs the handler with this
 * participant's session (its memory of this task attempt, its signature), and encodes the reply with the reply
 * Schema. Every failure becomes a failure outcome the coordinator reads; nothing throws.
 *
 * The agent (`participant/src/host/ProtocolHost.ts`, on its own thread or in its protocol worker) and the
 * in-memory channel of protocol tests (`core/src/testing/InMemoryChannel.ts`) both answer through this, so a
 * test exercises the very code a deployed participant runs.
 */
import { Cause, Effect, Exit, Schema } from "effect"
import type { ParticipantSession, ReleaseReason, StageHandler } from "../protocols/Protocol.ts"
import { isReleasable, ParticipantFailure } from "../protocols/Protocol.ts"
import type { StageOutcome, StageRequest } from "../wire/Messages.ts"

// Handlers of different stages have different types; the runtime only routes by name and codes with the stage.
export type AnyStageHandler<R = any> = StageHandler<any, any, R>

/** The org's account did not sign: a wallet or key store that refused or failed (a browser wallet the user closed). */
export class SignFailed extends Schema.TaggedError<SignFailed>()("SignFailed", { detail: Schema.String }) {
  override get message() {
    return `signing failed: ${this.detail}`
  }
}

export interface Identity {
  /** This participant's id: its org's chain account address (checksummed). */
  readonly self: string
  /** EIP-191 signature with the org's account (`ParticipantSession.sign`). */
  readonly sign: (message: Uint8Array) => Effect.Effect<string, SignFailed>
}

/** `Identity.sign` over a Promise-returning signer: its rejection is SignFailed. */
export const signWith = (sign: (message: Uint8Array) => Promise<string>) => (message: Uint8Array): Effect.Effect<string, SignFailed> =>
  Effect.tryPromise({ try: () => sign(message), catch: (error) => new SignFailed({ detail: error instanceof Error ? error.message : String(error) }) })

/** An accepted task: the handler table its protocol built for this participant. */
export interface Accepted<R = any> {
  readonly taskId: string
  readonly handlers: ReadonlyMap<string, AnyStageHandler<R>>
}

/**
 * The handler table of an accepted task. With the protocol's stage table, handlers of any other stage are left
 * out, so a request for one is refused as UnknownStage (a sub-protocol's table may hold more than a kind uses).
 */
export const accepted = <R>(taskId: string, handlers: ReadonlyArray<AnyStageHandler<R>>, stages?: ReadonlyArray<string>): Accepted<R> => ({
  taskId,
  handlers: new Map(handlers.filter((h) => stages === undefined || stages.includes(h.stage.name)).map((h) => [h.stage.name, h] as const))
})

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

export const make = (identity: Identity) => {
  const memories = new Map<string, Map<string, unknown>>()
  /** Drops the memory under `key`, releasing what its values hold (a failing release must not keep the rest). */
  const drop = (key: string, reason: ReleaseReason) => {
    for (const value of memories.get(key)?.values() ?? []) {
      if (!isReleasable(value)) continue
      try {
        value.release(reason)
      } catch {
        // Releasing is best effort: what a value holds outside memory is cleaned up by its host at the latest.
      }
    }
    memories.delete(key)
  }

  const memoryOf = (taskId: string, attempt: number) => {
    const key = `${taskId}#${attempt}`
    let memory = memories.get(key)
    if (memory === undefined) {
      // A new attempt starts clean: secrets of an earlier attempt must never be reused.
      for (const k of [...memories.keys()]) if (k.startsWith(`${taskId}#`)) drop(k, "attempt")
      memory = new Map()
      memories.set(key, memory)
    }
    return memory
  }

  /** Answers `request` for `task`; never fails (a failure is a failure outcome). */
  const handle = <R>(task: Accepted<R>, request: StageRequest): Effect.Effect<StageOutcome, never, R> =>
    Effect.gen(function*() {
      const handler = task.handlers.get(request.stage)
      if (handler === undefined) return { ok: false, code: "UnknownStage", detail: `task ${task.taskId} has no stage ${request.stage}` } as const
      const decoded = Schema.decodeUnknownExit(handler.stage.request)(request.payload)
      if (decoded._tag === "Failure") return { ok: false, code: "MalformedRequest", detail: String(decoded.cause) } as const
      const session: ParticipantSession = {
        taskId: task.taskId,
        attempt: request.attempt,
        self: identity.self,
        participants: request.participants,
        memory: memoryOf(task.taskId, request.attempt),
        // The stage whose handler asked for the signature fails with SignFailed, as any of its own failures.
        sign: (message) =>
          Effect.mapError(identity.sign(message), (error) => new ParticipantFailure({ participant: identity.self, stage: request.stage, code: "SignFailed", detail: error.detail }))
      }
      const exit = yield* Effect.exit(
        Effect.suspend(() => handler.handle(decoded.value, session)).pipe(
          Effect.flatMap((reply) =>
            Effect.mapError(
              Schema.encodeUnknownEffect(handler.stage.reply)(reply),
              (error) => new ParticipantFailure({ participant: identity.self, stage: request.stage, code: "MalformedReply", detail: `reply does not encode: ${String(error)}` })
            ))
        )
      )
      if (Exit.isSuccess(exit)) return { ok: true, payload: exit.value } as const
      const error = Cause.squash(exit.cause)
      if (error instanceof ParticipantFailure) return { ok: false, code: error.code, detail: error.detail } as const
      return { ok: false, code: "Internal", detail: describe(error) } as const
    })

  return {
    handle,
    /**
     * Drops every attempt's memory of `taskId`: the task ended or was forgotten, or (`"attempt"`) this host stops
     * while the task may go on without it, to be resumed after a restart.
     */
    forget: (taskId: string, reason: ReleaseReason = "ended") => {
      for (const k of [...memories.keys()]) if (k.startsWith(`${taskId}#`)) drop(k, reason)
    },
    /** The memory of one attempt (created on first use); for tests that inspect what a party kept. */
    memory: memoryOf,
    /** How many attempts of `taskId` this runtime holds memory of (a forgotten task: none). */
    held: (taskId: string) => [...memories.keys()].filter((k) => k.startsWith(`${taskId}#`)).length
  }
}

export type ParticipantRuntime = ReturnType<typeof make>
