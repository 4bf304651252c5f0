import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import { Effect, Fiber, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as WorkerPool from "./WorkerPool.ts"

const testJobs = new URL("./test-jobs.ts", import.meta.url)

const withPool = <A, E>(effect: Effect.Effect<A, E, WorkerPool.WorkerPool>, size = 2) =>
  Effect.runPromise(Effect.provide(effect, WorkerPool.layer({ size, modules: [testJobs] })))

const spin = (ms: number, tag: number) => JobCodec.encode({ ms, tag })

describe("WorkerPool (Effect)", () => {
  it("runs jobs in parallel threads and keeps outputs in input order", async () => {
    const outputs = await withPool(
      Effect.gen(function* () {
        const pool = yield* WorkerPool.WorkerPool
        return yield* pool.runAll("test.spin", [spin(300, 0), spin(300, 1), spin(300, 2), spin(300, 3)])
      })
    )
    const decoded = outputs.map((bytes) => JobCodec.decode(bytes) as { threadId: number; tag: number })
    expect(decoded.map((d) => d.tag)).toEqual([0, 1, 2, 3])
    expect(new Set(decoded.map((d) => d.threadId)).size).toBe(2)
    expect(decoded.every((d) => d.threadId > 0)).toBe(true)
  })

  it("runs a registry job from jobs.ts on codec bytes", async () => {
    const columns = [Float64Array.from([1, 2, 3.5]), Float64Array.from([-1, 1])]
    const out = await withPool(
      Effect.gen(function* () {
        const pool = yield* WorkerPool.WorkerPool
        return yield* pool.run("stats.column-sums", JobCodec.encode(columns))
      }),
      1
    )
    expect(JobCodec.decode(out)).toEqual([6.5, 0])
  })

  it("fails with typed errors for unknown and throwing jobs, and keeps serving", async () => {
    const result = await withPool(
      Effect.gen(function* () {
        const pool = yield* WorkerPool.WorkerPool
        const notFound = yield* Effect.flip(pool.run("no.such-job", new Uint8Array([1])))
        const failed = yield* Effect.flip(pool.run("test.fail", new Uint8Array(0)))
        const after = yield* pool.run("worker.echo", new Uint8Array([7, 8, 9]))
        return { notFound, failed, after }
      })
    )
    expect(result.notFound).toBeInstanceOf(WorkerPool.WorkerError)
    expect(result.notFound.reason).toBe("JobNotFound")
    expect(result.notFound.message).toContain("no.such-job")
    expect(result.failed.reason).toBe("JobFailed")
    expect(result.failed.detail).toContain("RangeError: deliberate failure")
    expect([...result.after]).toEqual([7, 8, 9])
  })

  it("fails the job of a crashed worker, replaces the worker and keeps serving", async () => {
    const result = await withPool(
      Effect.gen(function* () {
        const pool = yield* WorkerPool.WorkerPool
        const before = JobCodec.decode(yield* pool.run("test.thread", new Uint8Array(0))) as number
        const crashed = yield* Effect.flip(pool.run("test.crash", new Uint8Array(0)))
        const after = yield* pool.runAll("test.thread", [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)])
        return { before, crashed, after: after.map((b) => JobCodec.decode(b) as number) }
      }),
      1
    )
    expect(result.crashed.reason).toBe("WorkerCrashed")
    expect(result.crashed.detail).toContain("deliberate crash")
    expect(result.after).toHaveLength(3)
    // The only thread died: every later job ran on its replacement.
    expect(result.after.every((id) => id !== result.before)).toBe(true)
  })

  /** Starts the jobs in order (`after` ms after the previous one) on a pool of `size`; their tags as they finished. */
  const finishOrder = (size: number, jobs: ReadonlyArray<{ readonly idle: boolean; readonly ms: number; readonly after?: number }>) =>
    withPool(
      Effect.gen(function* () {
        const pool = yield* WorkerPool.WorkerPool
        const done: Array<number> = []
        const fibers = []
        for (const [tag, job] of jobs.entries()) {
          if (job.after !== undefined) yield* Effect.sleep(job.after)
          const start = job.idle ? pool.runIdle : pool.run
          fibers.push(yield* Effect.forkChild(Effect.tap(start("test.spin", spin(job.ms, tag)), () => Effect.sync(() => done.push(tag)))))
        }
        yield* Fiber.joinAll(fibers)
        return done
      }),
      size
    )

  // The first job runs long (600 ms) so the later ones arrive while it runs even when a loaded machine delays them.
  it("runs an idle-time job only once no other job waits for a worker", async () => {
    // The one worker busy; then an idle-time job asks for it before an ordinary job does. First come, first served
    // would run 1 before 2.
    expect(await finishOrder(1, [{ idle: false, ms: 600 }, { idle: true, ms: 20, after: 30 }, { idle: false, ms: 20, after: 10 }])).toEqual([0, 2, 1])
  })

  it("leaves a worker free of idle-time jobs for a job that arrives", async () => {
    // Two idle-time jobs on two free workers: the second waits for the first, so the ordinary job that comes next
    // runs at once on the other worker. Both idle-time jobs at once would finish 1 first and make 2 wait for it.
    expect(await finishOrder(2, [{ idle: true, ms: 600 }, { idle: true, ms: 20 }, { idle: false, ms: 20, after: 30 }])).toEqual([2, 0, 1])
  })

  it("builds each pool's registries over that pool's backends, pools side by side", async () => {
    const kernelsOf = (backends: Parameters<typeof WorkerPool.layer>[0]) =>
      Effect.runPromise(Effect.provide(
        Effect.flatMap(WorkerPool.WorkerPool, (pool) => pool.runAll("test.kernels", [new Uint8Array(0), new Uint8Array(0)])),
        WorkerPool.layer({ size: 2, modules: [testJobs], ...backends })
      )).then((outputs) => outputs.map((b) => JobCodec.decode(b)))
    const [fast, portable] = await Promise.all([kernelsOf({}), kernelsOf({ backends: { bigint: "wasm" } })])
    expect(fast).toEqual(["node-openssl", "node-openssl"])
    expect(portable).toEqual(["wasm", "wasm"])
  })

  it("fails to build when a job module cannot load", async () => {
    const error = await Effect.runPromise(
      Effect.flip(Layer.build(WorkerPool.layer({ size: 1, modules: [new URL("./no-such-module.ts", import.meta.url)] })).pipe(Effect.scoped))
    )
    expect(error.reason).toBe("SpawnFailed")
  })
})

describe("WorkerPool (Promise facade)", () => {
  let pool: WorkerPool.WorkerPoolHandle
  beforeAll(async () => {
    pool = await WorkerPool.open({ size: 2, modules: [testJobs] })
  })
  afterAll(() => pool.close())

  it("runs, fans out and rejects with WorkerError", async () => {
    expect(pool.size).toBe(2)
    const input = Uint8Array.from([1, 2, 3])
    expect([...(await pool.run("worker.echo", input))]).toEqual([1, 2, 3])
    // Sent by transfer: the caller's buffer is detached.
    expect(input.byteLength).toBe(0)
    const tags = (await pool.runAll("test.spin", [spin(50, 5), spin(50, 6)])).map((b) => (JobCodec.decode(b) as { tag: number }).tag)
    expect(tags).toEqual([5, 6])
    await expect(pool.run("test.fail", new Uint8Array(0))).rejects.toMatchObject({ _tag: "WorkerError", reason: "JobFailed" })
  })

  it("copies a view into a larger buffer instead of detaching it", async () => {
    const backing = Uint8Array.from([0, 1, 2, 3, 4, 5])
    const out = await pool.run("worker.echo", backing.subarray(2, 4))
    expect([...out]).toEqual([2, 3])
    expect(backing.byteLength).toBe(6)
  })
})
