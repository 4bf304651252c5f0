/** What the pool may call in a worker thread (implemented by `JobHost.ts`), and what it tells a worker at spawn. */
import * as Comlink from "comlink"
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

/**
 * Runs `job` of `registry` on `input`, as every job host does (a Node worker thread, a Web Worker): JobNotFound for
 * an unknown name, a TypeError for a job that returns anything but bytes, the output transferred, not copied.
 */
export const runJob = async (registry: Readonly<Record<string, (input: Uint8Array) => Uint8Array | Promise<Uint8Array>>>, job: string, input: Uint8Array): Promise<Uint8Array> => {
  const fn = Object.hasOwn(registry, job) ? registry[job] : undefined
  if (fn === undefined) {
    const error = new Error(`no job named "${job}" in the worker's registry`)
    error.name = JobNotFoundName
    throw error
  }
  const output = await fn(input)
  if (!(output instanceof Uint8Array)) throw new TypeError(`job "${job}" returned ${typeof output}, not a Uint8Array`)
  return output.buffer instanceof ArrayBuffer ? Comlink.transfer(output, [output.buffer]) : output
}
