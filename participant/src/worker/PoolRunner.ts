/**
 * The `JobRunner` a participant's protocols fan batch work out to (core/src/compute/JobRunner.ts), backed by a
 * worker pool sized to the cores (DESIGN.md §6). The pool starts on the first batch, so tasks that run no jobs
 * never pay for the threads; `close` terminates it with the runner that owns it (the agent's inline runner or
 * the protocol worker thread).
 */
import { Effect, Layer } from "effect"
import { availableParallelism } from "node:os"
import { JobRunner, JobRunnerError, type JobRunnerService } from "@jointly/core/internal/compute/JobRunner"
import * as WorkerPool from "./WorkerPool.ts"

export interface PoolRunner {
  readonly runner: JobRunnerService
  readonly layer: Layer.Layer<JobRunner>
  readonly close: () => Promise<void>
}

export const make = (options: WorkerPool.WorkerPoolOptions = {}): PoolRunner => {
  const size = options.size ?? availableParallelism()
  let pool: Promise<WorkerPool.WorkerPoolHandle> | undefined
  let closed = false
  const open = () => {
    if (closed) return Promise.reject(new Error("the job pool is closed"))
    if (pool === undefined) {
      const opening = WorkerPool.open({ ...options, size })
      // A pool that failed to start is retried by the next batch, not cached as failed.
      opening.catch(() => {
        if (pool === opening) pool = undefined
      })
      pool = opening
    }
    return pool
  }
  const failed = (job: string) => (error: unknown) =>
    new JobRunnerError({ job, detail: error instanceof WorkerPool.WorkerError ? `${error.reason}: ${error.detail}` : String(error) })
  const runner: JobRunnerService = {
    size,
    runAll: (job, inputs) =>
      Effect.tryPromise({ try: async () => (inputs.length === 0 ? [] : (await open()).runAll(job, inputs)), catch: failed(job) }),
    runIdle: (job, input) => Effect.tryPromise({ try: async () => (await open()).runIdle(job, input), catch: failed(job) })
  }
  return {
    runner,
    layer: Layer.succeed(JobRunner, runner),
    close: async () => {
      closed = true
      const opening = pool
      pool = undefined
      if (opening !== undefined) await (await opening.catch(() => undefined))?.close()
    }
  }
}
