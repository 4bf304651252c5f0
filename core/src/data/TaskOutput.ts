/**
 * Where a protocol hands a receiver's private output (e.g. the ids of a set intersection): it must stay with
 * the participant, never go back to the coordinator. The participant host provides a file-backed
 * implementation (`<dataDir>/outputs/<taskId>.json`, participant/src/host/TaskOutputFile.ts); protocols look it
 * up with `Effect.serviceOption` and, without one (in-memory tests), keep the output in `session.memory` under
 * `MEMORY_KEY`, so `core` never writes files itself.
 */
import { Context, Effect } from "effect"
import type { ParticipantFailure, ParticipantSession } from "../protocols/Protocol.ts"

export const MEMORY_KEY = "jointly/output"

export class TaskOutput extends Context.Service<TaskOutput, {
  /** Stores `output` (JSON-serialisable) for `taskId`; returns where it went (a file path, or `memory:`). */
  readonly write: (taskId: string, output: unknown) => Effect.Effect<string, ParticipantFailure>
}>()("jointly/TaskOutput") {}

/** Writes through the host's TaskOutput if it has one, else into the session's memory. */
export const deliver = (session: ParticipantSession, output: unknown): Effect.Effect<string, ParticipantFailure> =>
  Effect.flatMap(Effect.serviceOption(TaskOutput), (found) => {
    session.memory.set(MEMORY_KEY, output)
    return found._tag === "Some" ? found.value.write(session.taskId, output) : Effect.succeed(`memory:${session.taskId}`)
  })
