/**
 * The job registry: every computation a participant runs off the event loop, by name (DESIGN.md §6).
 *
 * A job takes the encoded bytes of its input (`@jointly/core/compute/JobCodec.ts`, or any byte format the
 * job and its caller agree on) and returns encoded bytes. Jobs run inside worker threads, so they must not
 * close over main-thread state; keep them free of Node-only APIs so the same registry can later run in a
 * browser Web Worker. To add one, add an entry below, named `<area>.<action>` like protocol stages.
 */
import * as JobCodec from "@jointly/core/compute/JobCodec.ts"
import * as SelectKernels from "@jointly/core/compute/SelectKernels.ts"
import { makePaillierJobs } from "@jointly/core/crypto/paillier/Jobs.ts"
import { jobs as queryJobs } from "@jointly/core/protocols/joint-query/Compute.ts"
import { makeSecureSvmJobs } from "@jointly/core/protocols/secure-svm/Blind.ts"
import { makeSecureBoostJobs } from "@jointly/core/protocols/secureboost/Jobs.ts"
import { makeThresholdJobs } from "@jointly/core/crypto/threshold-paillier/Jobs.ts"
import { jobs as flJobs } from "../modeling/FlJobs.ts"

/** This worker's big-integer backend, chosen once: OpenSSL in Node, WebAssembly in a browser worker. */
const kernels = await SelectKernels.select({ wasm: () => import("@jointly/wasm").then((m) => m.loadWasmKernels()) })

// Joint-query group kernels: native in Node when built (OpenSSL's X25519, libsodium's ristretto255), libsodium's
// WASM build otherwise (and in browsers);
// imported dynamically so a browser bundle of this registry never pulls in the Node-only loader.
if (typeof process !== "undefined" && process.versions?.node !== undefined) (await import("./NativeGroups.ts")).install()

export type Job = (input: Uint8Array) => Uint8Array | Promise<Uint8Array>

export type JobRegistry = Readonly<Record<string, Job>>

export const jobs: JobRegistry = {
  /** Paillier batch work (encrypt, decrypt, randomness, modpow) and SecureSVM's packed blind comparisons. */
  ...makePaillierJobs(kernels),
  /** Joint query: hash ids into the task's group (x25519 or ristretto255) and blind chunks (`query.hash-blind`, `query.blind`). */
  ...queryJobs,
  ...makeSecureSvmJobs(kernels),
  /** Threshold-Paillier partial decryptions with proofs and proof checks (vertical training and prediction). */
  ...makeThresholdJobs(kernels),
  /** SecureBoost feature holders: encrypted histograms by row chunk, packed cumulative cells, selected bits. */
  ...makeSecureBoostJobs(kernels),
  /** Federated-learning local training on tfjs-wasm (`fl.initialize`, `fl.train`, …); tfjs loads on the first one. */
  ...flJobs,

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
}
