/**
 * The compute services a participant's protocols use besides its data and its backends: the model runtime on
 * the worker pool, and the sink for batch predictions. Built once per runner (inline or in the protocol worker
 * thread).
 *
 * With a job runner (the participant's worker pool) the model runtime forwards each call to the pool's
 * `fl.*` jobs (FlJobs.ts), so training never blocks the protocol thread; without one the backends' own runtime
 * (tfjs, loaded on first use) runs on the calling thread. Either way the protocol thread keeps DP clipping/noise
 * and the secure-aggregation secrets: only weights and the participant's own matrix cross.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import type { JobRunnerService } from "@jointly/core/internal/compute/JobRunner"
import { PredictionSink, PredictionSinkError } from "@jointly/core/internal/protocols/batch-prediction/spec"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { poolRuntime } from "./PoolRuntime.ts"

export { type PoolRuntime, poolRuntime } from "./PoolRuntime.ts"

/** Predictions go to `<data dir>/predictions/<taskId>.csv` (`jointly participant` passes its config's data dir). */
export const fileSink = (dataDir: string | undefined) => ({
  write: (taskId: string, bytes: Uint8Array) =>
    Effect.tryPromise({
      try: async () => {
        if (!dataDir) throw new Error("no data directory is configured for this participant")
        const dir = join(dataDir, "predictions")
        await mkdir(dir, { recursive: true })
        await writeFile(join(dir, `${taskId}.csv`), bytes)
      },
      catch: (error) => new PredictionSinkError({ detail: error instanceof Error ? error.message : String(error) })
    })
})

/**
 * `runner`: the participant's worker pool, where training runs (its `ModelRuntime` overrides the backends' one
 * when merged after them); without it, the backends' runtime runs on this thread.
 */
export const layer = (options: { readonly dataDir?: string; readonly runner?: JobRunnerService } = {}) =>
  Layer.mergeAll(
    options.runner === undefined ? Layer.empty : Layer.succeed(ModelRuntime, poolRuntime(options.runner)),
    Layer.succeed(PredictionSink, fileSink(options.dataDir))
  )
