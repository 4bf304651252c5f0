/**
 * What the joint-query protocols (core/src/protocols/joint-query) get from a participant host besides its data:
 *   - QueryCompute over a worker pool (DESIGN.md §6): a chunk of ids or points is split across the pool's
 *     threads (`query.hash-blind`, `query.blind` in worker/jobs.ts); small chunks stay on this thread. The pool
 *     starts on first use and closes after a minute idle, so tasks of other kinds never pay for it. Every
 *     thread, this one included, computes with the same group kernels: this thread's from the host's backends
 *     (the `Groups` service), the pool's built from the same backend choice in each worker.
 *   - TaskOutput to `<data dir>/outputs/<taskId>.json` (mode 0600), the receiver's private output, when the host
 *     has a data dir (`jointly participant` passes its config's); without one the protocols keep the output in
 *     task memory.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { concatBytes } from "@noble/hashes/utils.js"
import { Effect, Layer } from "effect"
import type { Choice } from "@jointly/backends/internal/Backends"
import { TaskOutput } from "@jointly/core/internal/data/TaskOutput"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import * as WorkerPool from "../worker/WorkerPool.ts"

/** Below this many elements per thread, the message passing costs more than it saves. */
const MIN_PER_THREAD = 512
const IDLE_CLOSE_MS = 60_000

export interface PoolComputeOptions {
  readonly size?: number
  /** This thread's group kernels, for the chunks too small to send to the pool. */
  readonly groups: Compute.GroupKernelSet
  /** The pool's backends: the same choice this thread's `groups` came from. */
  readonly backends?: Choice
}

export const poolCompute = (options: PoolComputeOptions): Compute.QueryComputeService & { readonly close: () => Promise<void> } => {
  const inline = Compute.inline(options.groups)
  let pool: Promise<WorkerPool.WorkerPoolHandle> | undefined
  let idle: ReturnType<typeof setTimeout> | undefined
  let busy = 0
  const acquire = async () => {
    busy++
    if (idle) clearTimeout(idle)
    return (pool ??= WorkerPool.open({ size: options.size, backends: options.backends }))
  }
  const release = () => {
    if (--busy > 0) return
    idle = setTimeout(() => void close(), IDLE_CLOSE_MS)
    idle.unref?.()
  }
  const close = async () => {
    const open = pool
    pool = undefined
    if (open) await (await open).close()
  }
  const spread = <A>(items: number, work: (parts: Array<readonly [number, number]>, handle: WorkerPool.WorkerPoolHandle) => Promise<A>, inline: () => Promise<A>) =>
    async (): Promise<A> => {
      if (items < MIN_PER_THREAD * 2) return inline()
      const handle = await acquire()
      try {
        return await work(Compute.ranges(items, Math.min(handle.size, Math.ceil(items / MIN_PER_THREAD))), handle)
      } finally {
        release()
      }
    }
  return {
    close,
    hashBlind: (group, domain, ids, scalar) =>
      Effect.promise(spread(ids.length, async (parts, handle) =>
        concatBytes(...await handle.runAll(Compute.jobNames.hashBlind, parts.map(([a, b]) => Compute.encodeHashBlind(group, domain, ids.slice(a, b), scalar)))),
        () => Effect.runPromise(inline.hashBlind(group, domain, ids, scalar)))),
    blind: (group, points, scalar) => {
      const count = Math.floor(points.length / Group.POINT_BYTES)
      if (points.length % Group.POINT_BYTES !== 0) return inline.blind(group, points, scalar)
      return Effect.tryPromise({
        try: spread(count, async (parts, handle) => {
          const outputs = await Promise.all(parts.map(([a, b]) =>
            handle.run(Compute.jobNames.blind, Compute.encodeBlind(group, points.slice(a * Group.POINT_BYTES, b * Group.POINT_BYTES), scalar)).catch((error: unknown) => {
              const detail = error instanceof WorkerPool.WorkerError ? error.detail : String(error)
              throw Compute.invalidPointFromJob(detail, a) ?? error
            })))
          return concatBytes(...outputs)
        }, () => Effect.runPromise(inline.blind(group, points, scalar))),
        catch: (error) => {
          if (error instanceof Compute.InvalidPoint) return error
          const squashed = error as { cause?: unknown }
          return squashed.cause instanceof Compute.InvalidPoint ? squashed.cause : new Compute.InvalidPoint({ index: -1, detail: String(error) })
        }
      })
    }
  }
}

export const fileOutput = (dataDir: string) => ({
  write: (taskId: string, output: unknown) =>
    Effect.tryPromise({
      try: async () => {
        const dir = join(dataDir, "outputs")
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const file = join(dir, `${taskId}.json`)
        await writeFile(file, JSON.stringify(output, null, 2) + "\n", { mode: 0o600 })
        return file
      },
      catch: (error) => new ParticipantFailure({ participant: "self", stage: "output", code: "OutputFailed", detail: error instanceof Error ? error.message : String(error) })
    })
})

/**
 * QueryCompute over a lazily started pool whose workers compose `backends` (this thread's groups come from the
 * context the layer is built in), and TaskOutput when a data dir is known.
 */
export const layer = (options: { readonly dataDir?: string; readonly poolSize?: number; readonly backends?: Choice } = {}) => {
  const compute = Layer.effect(Compute.QueryCompute, Effect.map(Compute.Groups, (groups) => poolCompute({ size: options.poolSize, groups, backends: options.backends })))
  return options.dataDir ? Layer.merge(compute, Layer.succeed(TaskOutput, fileOutput(options.dataDir))) : compute
}
