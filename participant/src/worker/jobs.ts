/**
 * The job registry: every computation a participant runs off the event loop, by name (DESIGN.md §6).
 *
 * A job takes the encoded bytes of its input (`@jointly/core/internal/compute/JobCodec`, or any byte format the
 * job and its caller agree on) and returns encoded bytes. A registry module exports `jobs`: an Effect that
 * builds its table from the worker's backends (the kernel services of `@jointly/backends`), run once when a
 * worker of a pool starts (JobHost.ts), so every table belongs to one worker of one pool and nothing is chosen
 * at module load. Keep registries free of Node-only APIs so the same one can run in a browser Web Worker. To
 * add a job, add an entry below, named `<area>.<action>` like protocol stages.
 */
import { Effect } from "effect"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import { makePaillierJobs } from "@jointly/core/internal/crypto/paillier/Jobs"
import { makeSecureBoostJobs } from "@jointly/core/internal/protocols/secureboost/Jobs"
import { makeThresholdJobs } from "@jointly/core/internal/crypto/threshold-paillier/Jobs"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import { makeSecureSvmJobs } from "@jointly/core/internal/protocols/secure-svm/Blind"
import type * as Backends from "@jointly/backends/internal/Backends"
import * as FlJobs from "../modeling/FlJobs.ts"

export type Job = (input: Uint8Array) => Uint8Array | Promise<Uint8Array>

export type JobRegistry = Readonly<Record<string, Job>>

/** What a registry module exports as `jobs`: its table, built from the backends of the worker that loads it. */
export type RegistryModule = Effect.Effect<JobRegistry, never, Backends.Services>

export const jobs: RegistryModule = Effect.gen(function*() {
  const kernels = yield* Kernels.BigIntKernels
  return {
    /** Paillier batch work (encrypt, decrypt, randomness, modpow) and SecureSVM's packed blind comparisons. */
    ...makePaillierJobs(kernels),
    /** Joint query: hash ids into the task's group (x25519 or ristretto255) and blind chunks (`query.hash-blind`, `query.blind`). */
    ...Compute.makeJobs(yield* Compute.Groups),
    ...makeSecureSvmJobs(kernels),
    /** Threshold-Paillier partial decryptions with proofs and proof checks (vertical training and prediction). */
    ...makeThresholdJobs(kernels),
    /** SecureBoost feature holders: encrypted histograms by row chunk, packed cumulative cells, selected bits. */
    ...makeSecureBoostJobs(kernels),
    /** Federated-learning local training (`fl.initialize`, `fl.train`, …); the runtime loads tfjs on the first one. */
    ...FlJobs.make(yield* ModelRuntime),

    /** Returns its input: a liveness probe for the pool. */
    "worker.echo": (input) => input,

    /** Sum of each Float64Array in a JobCodec-encoded array: `Float64Array[] → number[]`. */
    "stats.column-sums": (input) => {
      const columns = JobCodec.decode(input)
      if (!Array.isArray(columns)) throw new TypeError("stats.column-sums expects an array of Float64Array")
      return JobCodec.encode(
        columns.map((column) => {
          if (!(column instanceof Float64Array)) throw new TypeError("stats.column-sums expects an array of Float64Array")
          let sum = 0
          for (const x of column) sum += x
          return sum
        })
      )
    }
  } satisfies JobRegistry
})
