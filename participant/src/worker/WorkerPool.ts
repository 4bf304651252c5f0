/**
 * The worker pool on Node worker threads (the pool itself is Pool.ts): each worker boots JobHost.ts, builds its
 * backends from the pool's `backends` choice (`@jointly/backends/node`, once per thread) and the pool's job
 * registries over them: jobs.ts, then `modules`.
 */
import type { Effect, Layer, Scope } from "effect"
import { availableParallelism } from "node:os"
import type { Choice } from "@jointly/backends/internal/Backends"
import type { JobHostApi } from "./JobHostApi.ts"
import * as Pool from "./Pool.ts"
import * as WorkerThread from "./WorkerThread.ts"

export { WorkerError, WorkerPool, type WorkerPoolHandle, type WorkerPoolService } from "./Pool.ts"

export interface WorkerPoolOptions {
  /** Number of worker threads; defaults to `os.availableParallelism()`. */
  readonly size?: number
  /**
   * Extra job registries: module URLs or file paths, each exporting `jobs` (jobs.ts' `RegistryModule`), merged
   * over `jobs.ts` inside every worker of this pool (later modules win on a name clash).
   */
  readonly modules?: ReadonlyArray<string | URL>
  /** The backend of each kernel family the workers compose; the fastest Node ones by default. */
  readonly backends?: Choice
}

const spawn: Pool.Spawn = (setup) => WorkerThread.spawn<JobHostApi>("JobHost", setup)

/** The platform-neutral pool options for Node worker threads. */
export const options = (options: WorkerPoolOptions = {}): Pool.PoolOptions => ({
  size: options.size ?? availableParallelism(),
  spawn,
  setup: { modules: (options.modules ?? []).map(WorkerThread.moduleUrl), backends: options.backends ?? {} }
})

/** Builds a pool in the current scope; closing the scope terminates every worker thread. */
export const make = (o: WorkerPoolOptions = {}): Effect.Effect<Pool.WorkerPoolService, Pool.WorkerError, Scope.Scope> => Pool.make(options(o))

/** The pool as a scoped Layer: workers start when the layer is built and are terminated on release. */
export const layer = (o: WorkerPoolOptions = {}): Layer.Layer<Pool.WorkerPool, Pool.WorkerError> => Pool.layer(options(o))

/** Starts a pool; rejects with WorkerError("SpawnFailed") when a worker cannot boot. Jobs reject with WorkerError. */
export const open = (o: WorkerPoolOptions = {}): Promise<Pool.WorkerPoolHandle> => Pool.open(options(o))
