/**
 * What the agent may call in its protocol worker (implemented by `ProtocolWorkerHost.ts`), and the messages
 * that cross: each a Schema, encoded to wire values and then to bytes with JobCodec, so only Uint8Arrays cross
 * the thread boundary (DESIGN.md §2) and every message is decoded on receipt, on both sides.
 */
import { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { Schema } from "effect"
import { Choice } from "@jointly/backends/internal/Backends"
import { DatasetSpec } from "../datasets/Dataset.ts"

export { ContentHashReply, decode, encode, InitReply } from "./ProtocolWorkerReplies.ts"

export interface ProtocolWorkerApi {
  /** InitRequest → InitReply. Called once, before anything else. */
  readonly init: (message: Uint8Array) => Promise<Uint8Array>
  /** AcceptRequest → AcceptReply. */
  readonly accept: (message: Uint8Array) => Promise<Uint8Array>
  /** StageRequest → StageOutcome (`core/src/wire/Messages.ts`). */
  readonly stage: (message: Uint8Array) => Promise<Uint8Array>
  /** ForgetRequest. */
  readonly forget: (message: Uint8Array) => Promise<void>
  /** ContentHashRequest → ContentHashReply. */
  readonly contentHash: (message: Uint8Array) => Promise<Uint8Array>
  /** Closes the thread's runner (its datasets' connections, DuckDB and its spill directory) before it is terminated. */
  readonly close: () => Promise<void>
  /** Diagnostic: the worker's thread id (also the spawner's readiness probe). */
  readonly threadId: () => number
}

export const InitRequest = Schema.Struct({
  datasets: Schema.Array(DatasetSpec),
  /** The org's chain key, for `session.sign`: it crosses into a thread of the same process, never further. */
  privateKey: Schema.String,
  /** The participant's data directory (outputs, predictions, models), when it has one. */
  dataDir: Schema.optionalKey(Schema.String),
  /** The backend of each kernel family the thread composes, and its job pool's workers. */
  backends: Schema.optionalKey(Choice),
  /** Test harness only (ProtocolHost.InlineOptions). */
  unsafeTestKeySizes: Schema.optional(Schema.Boolean)
})

/** A task the agent decoded and its policy approved; the thread decodes `spec.params` again (a thread boundary). */
export const AcceptRequest = Schema.Struct({ taskId: Schema.String, spec: TaskSpec })

export const AcceptReply = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true) }),
  Schema.Struct({ ok: Schema.Literal(false), problem: Schema.String })
])

export const ForgetRequest = Schema.Struct({ taskId: Schema.String })

export const ContentHashRequest = Schema.Struct({ name: Schema.String })

