/**
 * The participant's worker pool behind the JobRunner service, and the Node backends its threads compose, as the
 * protocol host provides them: benches that fan Paillier work out over threads open both once and pass the
 * layers to every in-memory party.
 */
import { Context, Effect, Layer } from "effect"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import { JobRunner, JobRunnerError } from "@jointly/core/internal/compute/JobRunner"
import * as WorkerPool from "@jointly/participant/internal/worker/WorkerPool"

export const open = async (choice: Backends.Choice = {}) => {
  const [pool, backends] = await Promise.all([WorkerPool.open({ backends: choice }), Backends.build(NodeBackends.layer(choice))])
  const runner = Layer.succeed(JobRunner, {
    size: pool.size,
    runAll: (job, inputs) => Effect.tryPromise({ try: () => pool.runAll(job, inputs), catch: (e) => new JobRunnerError({ job, detail: String(e) }) }),
    runIdle: (job, input) => Effect.tryPromise({ try: () => pool.runIdle(job, input), catch: (e) => new JobRunnerError({ job, detail: String(e) }) })
  })
  return { pool, runner, backends, kernels: Context.get(backends.context, Kernels.BigIntKernels) }
}
