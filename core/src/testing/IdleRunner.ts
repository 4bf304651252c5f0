/**
 * Test helper: a JobRunner with time to spare, as a worker pool has. Inline runners offer no `runIdle` (their work
 * would take the caller's thread), so work a protocol does ahead of need (vertical training's stock of encryption
 * randomness, Secure.Stock) never runs in an in-memory test without one. This runner runs a job table on the
 * calling thread and has `runIdle` step aside first (one yield, so a job of the protocol's that is ready goes
 * first), counting its idle jobs by name. Its jobs are built by the test at the harness's key sizes, which it
 * declares (`unsafeAllowTestKeySizes`) so that protocols hand it work under test-size keys.
 */
import { Effect, Layer } from "effect"
import { inline, type Job, JobRunner, type JobRunnerService } from "../compute/JobRunner.ts"

export interface IdleRunner {
  readonly runner: JobRunnerService
  readonly layer: Layer.Layer<JobRunner>
  /** Idle jobs run so far, by job name. */
  readonly idleJobs: ReadonlyMap<string, number>
}

export const make = (table: Readonly<Record<string, Job>>): IdleRunner => {
  const base = inline(table)
  const idleJobs = new Map<string, number>()
  const runner: JobRunnerService = {
    ...base,
    unsafeAllowTestKeySizes: true,
    runIdle: (job, input) =>
      Effect.andThen(Effect.yieldNow, Effect.map(base.runAll(job, [input]), ([output]) => {
        idleJobs.set(job, (idleJobs.get(job) ?? 0) + 1)
        return output!
      }))
  }
  return { runner, layer: Layer.succeed(JobRunner, runner), idleJobs }
}
