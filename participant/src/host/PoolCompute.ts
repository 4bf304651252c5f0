/**
 * QueryCompute over a worker pool, on any platform (DESIGN.md §6): a chunk of ids or points is split across the
 * pool's workers (`query.hash-blind`, `query.blind` in worker/jobs.ts); small chunks stay on this thread. The
 * pool starts on first use and closes after a minute idle, so tasks of other kinds never pay for it. Every
 * thread, this one included, computes with the same group kernels. QueryServices.ts opens Node worker threads;
 * the browser participant opens Web Workers.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import * as Pool from "../worker/Pool.ts"

/** Below this many elements per thread, the message passing costs more than it saves. */
const MIN_PER_THREAD = 512
const IDLE_CLOSE_MS = 60_000

export interface Options {
  /** Starts the pool (Node worker threads, or a page's Web Workers): on first use, again after an idle close. */
  readonly open: () => Promise<Pool.WorkerPoolHandle>
  /** This thread's group kernels, for the chunks too small to send to the pool. */
  readonly groups: Compute.GroupKernelSet
}

export const make = (options: Options): Compute.QueryComputeService & { readonly close: () => Promise<void> } => {
  const inline = Compute.inline(options.groups)
  let pool: Promise<Pool.WorkerPoolHandle> | undefined
  let idle: ReturnType<typeof setTimeout> | undefined
  let busy = 0
  const acquire = async () => {
    busy++
    if (idle) clearTimeout(idle)
    return (pool ??= options.open())
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
  const spread = <A>(items: number, work: (parts: Array<readonly [number, number]>, handle: Pool.WorkerPoolHandle) => Promise<A>, inline: () => Promise<A>) =>
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
      Effect.tryPromise({
        try: spread(ids.length, async (parts, handle) =>
          concatBytes(...await handle.runAll(Compute.jobNames.hashBlind, parts.map(([a, b]) => Compute.encodeHashBlind(group, domain, ids.slice(a, b), scalar)))),
          () => Effect.runPromise(inline.hashBlind(group, domain, ids, scalar))),
        // A worker that crashed or exited, the pool that did not start, or the inline kernels that did not load.
        catch: (error) => {
          const cause = (error as { cause?: unknown }).cause
          if (error instanceof Compute.ComputeFailed) return error
          if (cause instanceof Compute.ComputeFailed) return cause
          return new Compute.ComputeFailed({ job: Compute.jobNames.hashBlind, detail: error instanceof Pool.WorkerError ? error.detail : String(error) })
        }
      }),
    blind: (group, points, scalar) => {
      const count = Math.floor(points.length / Group.POINT_BYTES)
      if (points.length % Group.POINT_BYTES !== 0) return inline.blind(group, points, scalar)
      return Effect.tryPromise({
        try: spread(count, async (parts, handle) => {
          const outputs = await Promise.all(parts.map(([a, b]) =>
            handle.run(Compute.jobNames.blind, Compute.encodeBlind(group, points.slice(a * Group.POINT_BYTES, b * Group.POINT_BYTES), scalar)).catch((error: unknown) => {
              const detail = error instanceof Pool.WorkerError ? error.detail : String(error)
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

