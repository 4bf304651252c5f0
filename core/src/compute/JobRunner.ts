/**
 * Where a protocol sends batch work it wants run in parallel (DESIGN.md §6): a named job on encoded bytes, as
 * in the participant's worker pool (participant/src/worker/WorkerPool.ts), which provides this service in
 * hosts that have one. A protocol asks for it with `Effect.serviceOption(JobRunner)` and runs the same job
 * functions inline when no runner is provided (in-memory tests, browsers without workers).
 */
import { Context, Effect, Option, Schema } from "effect"
import * as Kernels from "./Kernels.ts"
import type { BigIntKernels } from "./Kernels.ts"

export type Job = (input: Uint8Array) => Uint8Array

export class JobRunnerError extends Schema.TaggedError<JobRunnerError>()("JobRunnerError", {
  job: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `job ${this.job} failed: ${this.detail}`
  }
}

export interface JobRunnerService {
  /** How many jobs run at once: split batches into at least this many inputs. */
  readonly size: number
  /** Runs `job` once per input; outputs in input order. */
  readonly runAll: (job: string, inputs: ReadonlyArray<Uint8Array>) => Effect.Effect<Array<Uint8Array>, JobRunnerError>
  /**
   * Runs `job` once in time the runner's workers have to spare (none while a `runAll` job waits), for work done
   * ahead of need; absent where there are no workers to spare (inline runners: the work would take the caller's thread).
   */
  readonly runIdle?: (job: string, input: Uint8Array) => Effect.Effect<Uint8Array, JobRunnerError>
  /**
   * Whether this runner's jobs take the test harness's key sizes: only a test helper's (testing/IdleRunner.ts) do.
   * The worker pool's jobs refuse them, so without this a protocol runs test-size keys on its inline jobs.
   */
  readonly unsafeAllowTestKeySizes?: boolean
}

export class JobRunner extends Context.Service<JobRunner, JobRunnerService>()("jointly/JobRunner") {}

/** Runs jobs from `table` on the calling thread. */
export const inline = (table: Readonly<Record<string, Job>>): JobRunnerService => ({
  size: 1,
  runAll: (job, inputs) =>
    Effect.try({
      try: () => {
        const f = table[job]
        if (f === undefined) throw new Error(`no job named ${job}`)
        return inputs.map((input) => f(input))
      },
      catch: (error) => new JobRunnerError({ job, detail: error instanceof Error ? error.message : String(error) })
    })
})

/**
 * The runner of a protocol's Paillier batch work: the host's (its worker pool) when it provides one and the key
 * has a production size (the pool's jobs refuse test sizes) or the runner takes test sizes, else `table`'s jobs
 * inline over the host's big-integer kernels. Inline tables are built once per kernels instance and key-size
 * policy: their key and weight-table caches outlive a stage.
 */
export const paillierRunner = (table: (kernels: BigIntKernels, policy: { readonly unsafeAllowTestKeySizes?: boolean }) => Readonly<Record<string, Job>>) => {
  const tables = new WeakMap<BigIntKernels, Map<boolean, JobRunnerService>>()
  return (policy: { readonly unsafeAllowTestKeySizes?: boolean }): Effect.Effect<{ readonly kernels: BigIntKernels; readonly runner: JobRunnerService }> =>
    Effect.gen(function*() {
      const kernels = yield* Kernels.BigIntKernels
      const host = yield* Effect.serviceOption(JobRunner)
      const testSizes = policy.unsafeAllowTestKeySizes === true
      if (Option.isSome(host) && (!testSizes || host.value.unsafeAllowTestKeySizes === true)) return { kernels, runner: host.value }
      let byPolicy = tables.get(kernels)
      if (byPolicy === undefined) tables.set(kernels, (byPolicy = new Map()))
      let runner = byPolicy.get(testSizes)
      if (runner === undefined) byPolicy.set(testSizes, (runner = inline(table(kernels, { unsafeAllowTestKeySizes: testSizes }))))
      return { kernels, runner }
    })
}
