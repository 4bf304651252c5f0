/**
 * What the joint-query protocols (core/src/protocols/joint-query) get from a participant host besides its data:
 *   - QueryCompute over a worker pool (DESIGN.md §6): a chunk of ids or points is split across the pool's
 *     threads (`query.hash-blind`, `query.blind` in worker/jobs.ts); small chunks stay on this thread. The pool
 *     starts on first use and closes after a minute idle, so tasks of other kinds never pay for it. Every
 *     thread, this one included, computes with the same group kernels: this thread's from the host's backends
 *     (the `Groups` service), the pool's built from the same backend choice in each worker.
 *   - TaskOutput to `<data dir>/outputs/<taskId>.json` (mode 0600), the receiver's private output, when the host
 *     has a data dir (`jointly participant` passes its config's), whole or streamed (core/src/data/StreamedOutput.ts);
 *     without one the protocols keep the output in task memory.
 *   - Spill to `<data dir>/spill` (SpillFiles.ts), where the OT-PSI keeps a large id set in buckets instead of
 *     memory, and what it needs to resume a task after a restart; cleared of a previous run's leftovers (but the
 *     resumable directories still within their keeping time) when the layer is built.
 */
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Layer } from "effect"
import type { Choice } from "@jointly/backends/internal/Backends"
import { type OutputStream, TaskOutput } from "@jointly/core/internal/data/TaskOutput"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import { Spill } from "@jointly/core/internal/protocols/joint-query/Spill"
import * as WorkerPool from "../worker/WorkerPool.ts"
import * as PoolCompute from "./PoolCompute.ts"
import * as SpillFiles from "./SpillFiles.ts"

export interface PoolComputeOptions {
  readonly size?: number
  /** This thread's group kernels, for the chunks too small to send to the pool. */
  readonly groups: Compute.GroupKernelSet
  /** The pool's backends: the same choice this thread's `groups` came from. */
  readonly backends?: Choice
}

/** QueryCompute over a pool of Node worker threads (PoolCompute.ts). */
export const poolCompute = (options: PoolComputeOptions) =>
  PoolCompute.make({ open: () => WorkerPool.open({ size: options.size, backends: options.backends }), groups: options.groups })

/** Where a participant with data directory `dataDir` keeps its private output of task `taskId`. */
export const outputFile = (dataDir: string, taskId: string) => join(dataDir, "outputs", `${taskId}.json`)

const outputFailed = (error: unknown) =>
  new ParticipantFailure({ participant: "self", stage: "output", code: "OutputFailed", detail: error instanceof Error ? error.message : String(error) })

export const fileOutput = (dataDir: string) => ({
  write: (taskId: string, output: unknown) =>
    Effect.tryPromise({
      try: async () => {
        const file = outputFile(dataDir, taskId)
        await mkdir(dirname(file), { recursive: true, mode: 0o700 })
        await writeFile(file, JSON.stringify(output, null, 2) + "\n", { mode: 0o600 })
        return file
      },
      catch: outputFailed
    }),
  // A streamed output goes to `<taskId>.json.partial` and takes its name once whole: the file a reader finds under
  // the task's name is always complete.
  open: (taskId: string) =>
    Effect.tryPromise({
      try: async (): Promise<OutputStream> => {
        const file = outputFile(dataDir, taskId)
        const partial = `${file}.partial`
        await mkdir(dirname(file), { recursive: true, mode: 0o700 })
        const handle = await open(partial, "w", 0o600)
        let closed = false
        const close = async () => {
          if (closed) return
          closed = true
          await handle.close()
        }
        return {
          append: (bytes) =>
            Effect.tryPromise({
              try: async () => {
                for (let at = 0; at < bytes.length;) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten
              },
              catch: outputFailed
            }),
          commit: Effect.tryPromise({
            try: async () => {
              await close()
              await rename(partial, file)
              return file
            },
            catch: outputFailed
          }),
          // Aborting is cleanup after a failed output, which it must not turn into another failure: a partial file
          // it could not remove is reported (the output never names it; only `commit` renames it into place).
          abort: Effect.tryPromise({
            try: async () => {
              await close().catch(() => undefined)
              await rm(partial, { force: true })
            },
            catch: outputFailed
          }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
        }
      },
      catch: outputFailed
    })
})

/**
 * QueryCompute over a lazily started pool whose workers compose `backends` (this thread's groups come from the
 * context the layer is built in), and TaskOutput and Spill when a data dir is known.
 */
export const layer = (options: {
  readonly dataDir?: string
  readonly poolSize?: number
  readonly backends?: Choice
  /** How long a task's resumable spill directory outlives its last use across host restarts (SpillFiles.DEFAULT_KEEP_MS). */
  readonly spillKeepMs?: number
} = {}) => {
  const compute = Layer.effect(Compute.QueryCompute, Effect.map(Compute.Groups, (groups) => poolCompute({ size: options.poolSize, groups, backends: options.backends })))
  const dataDir = options.dataDir
  if (dataDir === undefined) return compute
  // Clearing what a crash left is housekeeping: when it fails the host still starts (reported), and a spill
  // directory it then cannot open fails that task's spill, typed.
  const cleared = Effect.catch(SpillFiles.clearStale(dataDir, options.spillKeepMs), (error) => Effect.logWarning(error.message))
  const spill = Layer.effect(Spill, Effect.as(cleared, SpillFiles.make(dataDir)))
  return Layer.mergeAll(compute, Layer.succeed(TaskOutput, fileOutput(dataDir)), spill)
}
