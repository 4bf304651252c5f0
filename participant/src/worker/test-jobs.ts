/**
 * Jobs used only by the worker pool's tests: they report their thread, fail and crash on purpose.
 * Loaded through the pool's `modules` option, never through the default registry.
 */
import { Effect } from "effect"
import { threadId } from "node:worker_threads"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import type { RegistryModule } from "./jobs.ts"

export const jobs: RegistryModule = Effect.map(Kernels.BigIntKernels, (kernels) => ({
  /** The big-integer backend this worker composed (the pool's `backends` choice reaches every worker). */
  "test.kernels": () => JobCodec.encode(kernels.name),
  /** Busy-waits `ms` milliseconds (so several jobs overlap), then returns `{ threadId, input }`. */
  "test.spin": (input) => {
    const { ms, tag } = JobCodec.decode(input) as { ms: number; tag: number }
    const until = Date.now() + ms
    while (Date.now() < until) {
      // keep the thread busy so concurrent jobs must land on different threads
    }
    return JobCodec.encode({ threadId, tag })
  },
  "test.fail": () => {
    throw new RangeError("deliberate failure")
  },
  /** An exception outside the job's promise: the worker thread dies. */
  "test.crash": () =>
    new Promise<Uint8Array>(() => {
      setTimeout(() => {
        throw new Error("deliberate crash")
      }, 0)
    }),
  "test.thread": () => JobCodec.encode(threadId)
}))
