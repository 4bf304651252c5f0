/**
 * Runs the participant side of accepted tasks: finds the stage handler a request names, decodes the payload
 * with the stage's Schema, runs the handler next to the local data, and encodes the reply. A handler failure
 * goes back as a typed failure outcome; nothing about the local rows leaves except what the protocol sends.
 */
import { Cause, Effect, Exit, Layer, Schema } from "effect"
import type { Wallet } from "ethers"
import type { LocalData } from "@jointly/core/data/Tabular.ts"
import type { ParticipantSession, StageHandler } from "@jointly/core/protocols/Protocol.ts"
import { ParticipantFailure } from "@jointly/core/protocols/Protocol.ts"
import type { ProtocolDefinition } from "@jointly/core/protocols/registry.ts"
import type { Party, TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import type { StageOutcome, StageRequest } from "@jointly/core/wire/Messages.ts"

export interface AcceptedTask {
  readonly taskId: string
  readonly spec: TaskSpec
  readonly party: Party
  readonly handlers: ReadonlyMap<string, StageHandler<any, any, LocalData>>
}

export const accept = (taskId: string, spec: TaskSpec, party: Party, definition: ProtocolDefinition, params: unknown): AcceptedTask => ({
  taskId,
  spec,
  party,
  handlers: new Map(definition.participant(params, party, spec).map((h) => [h.stage.name, h] as const))
})

export const make = (wallet: Wallet, localData: Layer.Layer<LocalData>) => {
  const memories = new Map<string, Map<string, unknown>>()

  const memoryOf = (taskId: string, attempt: number) => {
    const key = `${taskId}#${attempt}`
    let memory = memories.get(key)
    if (!memory) {
      // A new attempt starts clean: secrets of an earlier attempt must never be reused.
      for (const k of memories.keys()) if (k.startsWith(`${taskId}#`)) memories.delete(k)
      memory = new Map()
      memories.set(key, memory)
    }
    return memory
  }

  const handle = async (task: AcceptedTask, request: StageRequest): Promise<StageOutcome> => {
    const handler = task.handlers.get(request.stage)
    if (!handler) return { ok: false, code: "UnknownStage", detail: `task ${task.taskId} has no stage ${request.stage}` }
    const decoded = Schema.decodeUnknownExit(handler.stage.request)(request.payload)
    if (decoded._tag === "Failure") return { ok: false, code: "MalformedRequest", detail: String(decoded.cause) }
    const session: ParticipantSession = {
      taskId: task.taskId,
      attempt: request.attempt,
      self: wallet.address,
      participants: request.participants,
      memory: memoryOf(task.taskId, request.attempt),
      sign: (message) => Effect.promise(() => wallet.signMessage(message))
    }
    const exit = await Effect.runPromiseExit(
      handler.handle(decoded.value, session).pipe(
        Effect.flatMap((reply) => Effect.try({
          try: () => Schema.encodeUnknownSync(handler.stage.reply)(reply),
          catch: (error) => new ParticipantFailure({ participant: wallet.address, stage: request.stage, code: "EncodeFailed", detail: String(error) })
        })),
        Effect.provide(localData)
      )
    )
    if (Exit.isSuccess(exit)) return { ok: true, payload: exit.value }
    const error = Cause.squash(exit.cause)
    if (error instanceof ParticipantFailure) return { ok: false, code: error.code, detail: error.detail }
    return { ok: false, code: "Internal", detail: error instanceof Error ? error.message : String(error) }
  }

  return {
    handle,
    forget: (taskId: string) => {
      for (const k of memories.keys()) if (k.startsWith(`${taskId}#`)) memories.delete(k)
    }
  }
}
