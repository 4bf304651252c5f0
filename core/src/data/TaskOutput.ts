/**
 * Where a protocol hands a receiver's private output (e.g. the ids of a set intersection): it must stay with
 * the participant, never go back to the coordinator. The participant host provides a file-backed
 * implementation (`<dataDir>/outputs/<taskId>.json`, participant/src/host/QueryServices.ts); protocols look it
 * up with `Effect.serviceOption` and, without one (in-memory tests), keep the output in `session.memory` under
 * `MEMORY_KEY`, so `core` never writes files itself.
 */
import { Context, Effect } from "effect"
import type { ParticipantFailure, ParticipantSession } from "../protocols/Protocol.ts"

export const MEMORY_KEY = "jointly/output"

/** An output being written piece by piece (StreamedOutput.ts): the text of `write`'s JSON, in order. */
export interface OutputStream {
  readonly append: (bytes: Uint8Array) => Effect.Effect<void, ParticipantFailure>
  /** Makes what was appended the task's output (whole or not at all); returns where it is. */
  readonly commit: Effect.Effect<string, ParticipantFailure>
  /** Drops what was appended; never fails. */
  readonly abort: Effect.Effect<void>
}

export class TaskOutput extends Context.Service<TaskOutput, {
  /** Stores `output` (JSON-serialisable) for `taskId`; returns where it went (a file path, or `memory:`). */
  readonly write: (taskId: string, output: unknown) => Effect.Effect<string, ParticipantFailure>
  /**
   * Hosts that store outputs as files may also take one as a stream of its JSON text (`JSON.stringify(output,
   * null, 2)` and a newline, what `write` stores), so an output as long as the data never sits in memory.
   */
  readonly open?: (taskId: string) => Effect.Effect<OutputStream, ParticipantFailure>
}>()("jointly/TaskOutput") {}

/** Writes through the host's TaskOutput if it has one, else into the session's memory. */
export const deliver = (session: ParticipantSession, output: unknown): Effect.Effect<string, ParticipantFailure> =>
  Effect.flatMap(Effect.serviceOption(TaskOutput), (found) => {
    session.memory.set(MEMORY_KEY, output)
    return found._tag === "Some" ? found.value.write(session.taskId, output) : Effect.succeed(`memory:${session.taskId}`)
  })
