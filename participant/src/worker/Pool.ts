/**
 * The participant's one thread boundary (DESIGN.md §2, §6): a pool of workers, spoken to with comlink, that
 * runs named jobs on encoded bytes, so the event loop stays free for the socket. Platform-neutral: a `Spawn`
 * adapter starts one worker with the pool's setup (WorkerPool.ts: Node worker threads; a browser adapter would
 * start Web Workers), and each worker builds the pool's registries over the backends the setup names.
 *
 * Only Uint8Arrays cross, and they are transferred, not copied: an input that spans its whole ArrayBuffer is
 * detached from the caller once sent. Each worker runs one job at a time; callers wait in one FIFO queue for
 * the next free worker. A worker that dies fails the job it was running with `WorkerCrashed` and is replaced;
 * the pool keeps serving.
 */
import { Context, Effect, Layer, ManagedRuntime, Option, Queue, Schema, type Scope } from "effect"
import { JobNotFoundName, type JobHostApi, type WorkerSetup } from "./JobHostApi.ts"
import { Crashed, type Thread, transferable } from "./Thread.ts"

export class WorkerError extends Schema.TaggedError<WorkerError>()("WorkerError", {
  reason: Schema.Literals(["JobNotFound", "JobFailed", "WorkerCrashed", "SpawnFailed"]),
  job: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `worker job "${this.job}": ${this.reason}: ${this.detail}`
  }
}

/** Starts one job worker with `setup`; resolves once its registries are built and it answers. */
export type Spawn = (setup: WorkerSetup) => Promise<Thread<JobHostApi>>

export interface PoolOptions {
  /** Number of workers. */
  readonly size: number
  readonly spawn: Spawn
  /** What every worker of this pool builds: its backends and its job registries. */
  readonly setup: WorkerSetup
}

export interface WorkerPoolService {
  readonly size: number
  /** Runs `job` on `input` in the next free worker. */
  readonly run: (job: string, input: Uint8Array) => Effect.Effect<Uint8Array, WorkerError>
  /** Runs `job` once per input across the pool; outputs in input order; fails with the first error. */
  readonly runAll: (job: string, inputs: ReadonlyArray<Uint8Array>) => Effect.Effect<Array<Uint8Array>, WorkerError>
  /**
   * Runs `job` on `input` in time no `run` wants: it waits until a worker is free while no `run` waits for one, and
   * on a pool of several workers leaves one free (at most `size − 1` such jobs at once), so work done ahead of need
   * (precomputed randomness) never goes before a waiting job, and one that arrives finds a worker free.
   */
  readonly runIdle: (job: string, input: Uint8Array) => Effect.Effect<Uint8Array, WorkerError>
}

export class WorkerPool extends Context.Service<WorkerPool, WorkerPoolService>()("jointly/WorkerPool") {}

/** A seat in the pool: holds its current worker, replaced when that worker dies. */
interface Lane {
  thread: Thread<JobHostApi> | undefined
  inFlight: Promise<unknown> | undefined
}

const toWorkerError = (job: string, cause: unknown): WorkerError => {
  if (cause instanceof Crashed) return new WorkerError({ reason: "WorkerCrashed", job, detail: cause.detail })
  if (cause instanceof WorkerError) return cause
  if (cause instanceof Error) {
    if (cause.name === JobNotFoundName) return new WorkerError({ reason: "JobNotFound", job, detail: cause.message })
    return new WorkerError({ reason: "JobFailed", job, detail: `${cause.name}: ${cause.message}` })
  }
  return new WorkerError({ reason: "JobFailed", job, detail: String(cause) })
}

/** Builds a pool in the current scope; closing the scope terminates every worker. */
export const make = (options: PoolOptions): Effect.Effect<WorkerPoolService, WorkerError, Scope.Scope> =>
  Effect.gen(function* () {
    const size = options.size
    if (!Number.isInteger(size) || size < 1) {
      return yield* new WorkerError({ reason: "SpawnFailed", job: "", detail: `pool size must be a positive integer, got ${size}` })
    }
    const spawn = Effect.tryPromise({
      try: () => options.spawn(options.setup),
      catch: (cause) =>
        new WorkerError({ reason: "SpawnFailed", job: "", detail: cause instanceof Crashed ? cause.detail : String(cause) })
    })

    const lanes = yield* Effect.acquireRelease(
      Effect.forEach(Array.from({ length: size }), () => spawn, { concurrency: "unbounded" }).pipe(
        Effect.map((threads): Array<Lane> => threads.map((thread) => ({ thread, inFlight: undefined })))
      ),
      // Never rejects (allSettled): a worker that fails to terminate is gone or going; the others still are.
      (lanes) =>
        Effect.promise(() =>
          Promise.allSettled(
            lanes.map(async (lane) => {
              const thread = lane.thread
              lane.thread = undefined
              if (thread !== undefined) await thread.terminate()
            })
          )
        )
    )

    const free = yield* Queue.unbounded<Lane>()
    yield* Queue.offerAll(free, lanes)
    // `run`'s callers waiting for a lane, and a promise settled whenever a lane may have become free for `runIdle`
    // (a lane handed back, or the last waiting `run` served). The queue wakes its takers a tick after a lane is
    // offered, so `runIdle` steps aside while any `run` waits rather than racing it for the lane.
    let waiting = 0
    // Idle-time jobs running, at most `size − 1` (one on a pool of one): a worker stays free for a job that arrives.
    let idle = 0
    const maxIdle = Math.max(1, size - 1)
    const resolvable = () => {
      let resolve = () => {}
      const promise = new Promise<void>((r) => (resolve = r))
      return { promise, resolve }
    }
    let mayBeFree = resolvable()
    const signal = () => {
      const settled = mayBeFree
      mayBeFree = resolvable()
      settled.resolve()
    }

    const isDead = (thread: Thread<JobHostApi>) => !thread.state.alive

    const call = (lane: Lane, job: string, input: Uint8Array): Effect.Effect<Uint8Array, WorkerError> =>
      Effect.gen(function* () {
        // A lane whose replacement could not be spawned retries here, so a transient failure does not shrink the pool.
        if (lane.thread === undefined || isDead(lane.thread)) {
          lane.thread = yield* spawn.pipe(Effect.mapError((e) => new WorkerError({ reason: e.reason, job, detail: e.detail })))
        }
        const thread = lane.thread
        const result = thread.untilExit(thread.remote.run(job, transferable(input)))
        lane.inFlight = result
        return yield* Effect.tryPromise({ try: () => result, catch: (cause) => toWorkerError(job, cause) })
      })

    const release = (lane: Lane) =>
      Effect.gen(function* () {
        // If the caller was interrupted, the worker is still busy: hand the lane on only once it is idle.
        const inFlight = lane.inFlight
        lane.inFlight = undefined
        // Never rejects (both outcomes mapped to undefined): only the lane's idleness matters here.
        if (inFlight !== undefined) yield* Effect.promise(() => inFlight.then(() => undefined, () => undefined))
        if (lane.thread !== undefined && isDead(lane.thread)) {
          lane.thread = yield* spawn.pipe(Effect.orElseSucceed(() => undefined))
        }
        yield* Queue.offer(free, lane)
        signal()
      })

    const take = Effect.suspend(() => {
      waiting++
      return Effect.ensuring(Queue.take(free), Effect.sync(() => {
        if (--waiting === 0) signal()
      }))
    })

    // Polls for a free lane while no `run` waits and fewer than `maxIdle` idle-time jobs run; otherwise waits for
    // the next signal (taken before polling, so a lane freed in between is not missed).
    const takeIdle: Effect.Effect<Lane> = Effect.suspend(() => {
      const next = mayBeFree.promise
      return Effect.flatMap(waiting === 0 && idle < maxIdle ? Queue.poll(free) : Effect.succeed(Option.none<Lane>()), (lane) => {
        if (Option.isNone(lane)) return Effect.flatMap(Effect.promise(() => next), () => takeIdle)
        idle++
        return Effect.succeed(lane.value)
      })
    })
    const releaseIdle = (lane: Lane) =>
      Effect.ensuring(release(lane), Effect.sync(() => {
        idle--
        signal()
      }))

    const run = (job: string, input: Uint8Array) => Effect.acquireUseRelease(take, (lane) => call(lane, job, input), release)

    return {
      size,
      run,
      runAll: (job, inputs) => Effect.forEach(inputs, (input) => run(job, input), { concurrency: "unbounded" }),
      runIdle: (job, input) => Effect.acquireUseRelease(takeIdle, (lane) => call(lane, job, input), releaseIdle)
    } satisfies WorkerPoolService
  })

/** The pool as a scoped Layer: workers start when the layer is built and are terminated on release. */
export const layer = (options: PoolOptions): Layer.Layer<WorkerPool, WorkerError> => Layer.effect(WorkerPool, make(options))

/** Promise facade for embedders that do not use Effect. Call `close()` to terminate the workers. */
export interface WorkerPoolHandle {
  readonly size: number
  readonly run: (job: string, input: Uint8Array) => Promise<Uint8Array>
  readonly runAll: (job: string, inputs: ReadonlyArray<Uint8Array>) => Promise<Array<Uint8Array>>
  readonly runIdle: (job: string, input: Uint8Array) => Promise<Uint8Array>
  readonly close: () => Promise<void>
}

/** Starts a pool; rejects with WorkerError("SpawnFailed") when a worker cannot boot. Jobs reject with WorkerError. */
export const open = async (options: PoolOptions): Promise<WorkerPoolHandle> => {
  const runtime = ManagedRuntime.make(layer(options))
  try {
    const pool = await runtime.runPromise(WorkerPool)
    return {
      size: pool.size,
      run: (job, input) => runtime.runPromise(pool.run(job, input)),
      runAll: (job, inputs) => runtime.runPromise(pool.runAll(job, inputs)),
      runIdle: (job, input) => runtime.runPromise(pool.runIdle(job, input)),
      close: () => runtime.dispose()
    }
  } catch (error) {
    await runtime.dispose()
    throw error
  }
}
