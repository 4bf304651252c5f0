/**
 * The scheduler's submission over a real task store (embedded PGlite): what a submitter going away does to a task.
 * The hub and the round engine are recording stand-ins — submission only offers the task.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { getBytes, Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { RoundEngine } from "@jointly/core/internal/runtime/RoundEngine"
import { type TaskSpec, taskId } from "@jointly/core/internal/task/TaskSpec"
import type { TaskOffer } from "@jointly/core/internal/wire/Messages"
import type { Auth } from "../auth/Auth.ts"
import * as Log from "../Log.ts"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as Scheduler from "./Scheduler.ts"

const initiator = Wallet.createRandom()
const parties = [Wallet.createRandom().address, Wallet.createRandom().address]
const specOf = (nonce: string) => ({
  kind: "statistics.horizontal",
  initiator: initiator.address,
  nonce,
  parties: parties.map((participant) => ({ participant, dataset: "d" })),
  params: { columns: ["x"], statistics: ["mean"] },
  consentTimeoutMs: 1_500
}) as unknown as TaskSpec

describe("a submission", () => {
  let dir: string
  let sql: Sql.Sql
  let store: TaskStore.TaskStoreShape
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "jointly-scheduler-"))
    sql = await Sql.openPglite(join(dir, "store"))
    store = await Effect.runPromise(TaskStore.make(sql))
  })
  afterAll(async () => {
    await sql.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("whose submitter goes away once the task is recorded is still offered to every party and timed", async () => {
    // The store stops right after the insert, at the first transition, until the test has interrupted the submitter.
    const inserted = Deferred.makeUnsafe<void>()
    const resume = Deferred.makeUnsafe<void>()
    const paused: TaskStore.TaskStoreShape = {
      ...store,
      insert: (...args) => Effect.tap(store.insert(...args), () => Deferred.succeed(inserted, undefined)),
      transition: (...args) => Effect.andThen(Deferred.await(resume), store.transition(...args))
    }
    const offers: Array<{ account: string; offer: TaskOffer }> = []
    const scheduler = Scheduler.make({
      store: paused,
      hub: { offer: (account, offer) => offers.push({ account, offer }) > 0, ended: () => true, isOnline: () => false },
      rounds: { taskEnded: () => Effect.void } as unknown as RoundEngine["Service"],
      auth: { checkOrg: async () => ({ name: "test" }) } as unknown as Auth,
      consent: { recover: () => "0x" },
      log: Log.make("scheduler-test", "error"),
      instance: "test-instance",
      backends: Layer.empty as never
    })
    const spec = specOf("gone")
    const id = taskId(spec)
    const submitting = Effect.runFork(scheduler.submit(spec, initiator.signMessageSync(getBytes(id))))
    await Effect.runPromise(Deferred.await(inserted))
    // The HTTP request carrying the submission is interrupted (its client went away) between insert and offers.
    const interrupting = Effect.runPromise(Fiber.interrupt(submitting))
    await Effect.runPromise(Deferred.succeed(resume, undefined))
    await interrupting
    // The submitter sees an interruption; the task is nevertheless recorded whole.
    expect(Exit.hasInterrupts(await Effect.runPromise(Fiber.await(submitting)))).toBe(true)
    expect((await Effect.runPromise(store.get(id)))?.status).toBe("AwaitingConsent")
    expect(offers.map((o) => o.account).sort()).toEqual([...parties].sort())
    expect(offers.every((o) => o.offer.taskId === id)).toBe(true)
    // And its consent timer runs: with no answer it times out rather than wait forever.
    await expect.poll(async () => (await Effect.runPromise(store.get(id)))?.status, { timeout: 10_000, interval: 200 }).toBe("TimedOut")
    await Effect.runPromise(scheduler.close)
  })
})
