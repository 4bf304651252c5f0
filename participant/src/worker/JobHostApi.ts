/** What the pool may call in a worker thread (implemented by `JobHost.ts`), and what it tells a worker at spawn. */
import { Effect, Schema } from "effect"
import { Choice } from "@jointly/backends/internal/Backends"

export interface JobHostApi {
  readonly run: (job: string, input: Uint8Array) => Promise<Uint8Array>
  readonly threadId: () => number
}

/** Error name the pool maps to WorkerError("JobNotFound"); comlink carries `name` and `message` across. */
export const JobNotFoundName = "JobNotFound"

/** A job worker's start-up data (`workerData`): plain values, decoded on arrival. */
export const WorkerSetup = Schema.Struct({
  /** The backend of each kernel family the worker composes (the pool's choice). */
  backends: Choice.pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  /** Module URLs of extra job registries, merged over jobs.ts in this order. */
  modules: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed([])))
})
export type WorkerSetup = typeof WorkerSetup.Type
