/**
 * The participant's worker pool behind the JobRunner service, as the protocol host provides it: benches that fan
 * Paillier work out over threads open it once and pass the layer to every in-memory party.
 */
import { Effect, Layer } from "effect"
import { JobRunner, JobRunnerError } from "@jointly/core/compute/JobRunner.ts"
import * as WorkerPool from "@jointly/participant/worker/WorkerPool.ts"

export const open = async () => {
  const pool = await WorkerPool.open()
  const runner = Layer.succeed(JobRunner, {
    size: pool.size,
    runAll: (job, inputs) => Effect.tryPromise({ try: () => pool.runAll(job, inputs), catch: (e) => new JobRunnerError({ job, detail: String(e) }) })
  })
  return { pool, runner }
}
