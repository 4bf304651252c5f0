/**
 * The worker pool on Web Workers (the pool itself is worker/Pool.ts; Node's adapter is WorkerPool.ts): each
 * worker runs the job-worker bundle (JobWorker.ts) as a module worker, spoken to with comlink, and the pool is
 * sized by `navigator.hardwareConcurrency`. A worker that fails (an uncaught error, an out-of-memory kill)
 * fails its job with WorkerCrashed and is replaced, as on Node.
 */
import { Effect, Layer } from "effect"
import { JobRunner, JobRunnerError, type JobRunnerService } from "@jointly/core/internal/compute/JobRunner"
import * as Pool from "../worker/Pool.ts"
import type { Thread } from "../worker/Thread.ts"
import type { JobWorkerApi, JobWorkerSetup } from "./JobWorker.ts"
import { startThread } from "./WebThread.ts"

export interface WebWorkerOptions {
  /** URL of the job-worker bundle (jointly-job-worker.js). */
  readonly workerUrl: string | URL
  /** Base URL of the WASM binaries. */
  readonly assets: string
  /** Workers in the pool; `navigator.hardwareConcurrency` (at least 1) by default. */
  readonly size?: number
  readonly bigint?: JobWorkerSetup["bigint"]
}

export const defaultSize = (): number => Math.max(1, Math.floor(globalThis.navigator?.hardwareConcurrency ?? 1))

/** Starts one job worker and waits until its backends and registry are built. */
const spawnWorker = async (options: WebWorkerOptions, id: number): Promise<Thread<JobWorkerApi>> => {
  const thread = startThread<JobWorkerApi>(options.workerUrl, `jointly-jobs-${id}`)
  try {
    await thread.untilExit(Promise.resolve(thread.remote.init({ assets: options.assets, id, ...(options.bigint === undefined ? {} : { bigint: options.bigint }) })))
  } catch (error) {
    await thread.terminate()
    throw error
  }
  return thread
}

/** The platform-neutral pool's options for Web Workers. */
export const poolOptions = (options: WebWorkerOptions): Pool.PoolOptions => {
  let next = 0
  return {
    size: options.size ?? defaultSize(),
    spawn: () => spawnWorker(options, ++next) as Promise<Thread<never>>,
    setup: { modules: [], backends: {} }
  }
}

export const open = (options: WebWorkerOptions): Promise<Pool.WorkerPoolHandle> => Pool.open(poolOptions(options))

/** The JobRunner protocols fan batch work out to, over one pool opened on the first batch. */
export const jobRunner = (open: () => Promise<Pool.WorkerPoolHandle>, size: number): { readonly runner: JobRunnerService; readonly layer: Layer.Layer<JobRunner> } => {
  const runner: JobRunnerService = {
    size,
    runAll: (job, inputs) =>
      Effect.tryPromise({
        try: async () => (inputs.length === 0 ? [] : (await open()).runAll(job, inputs)),
        catch: (error) => new JobRunnerError({ job, detail: error instanceof Pool.WorkerError ? `${error.reason}: ${error.detail}` : String(error) })
      })
  }
  return { runner, layer: Layer.succeed(JobRunner, runner) }
}
