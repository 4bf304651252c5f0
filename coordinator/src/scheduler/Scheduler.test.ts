/**
 * The scheduler's submission over a real task store (embedded PGlite): what a submitter going away does to a task,
 * and what a failed first transition leaves — a task its holder must still open, offer again, and whose early
 * consents it must keep. The hub and the round engine are recording stand-ins — these paths only offer the task.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { getAddress, getBytes, Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { CoordinatorSession } from "@jointly/core/internal/protocols/Protocol"
import type { RoundEngine, TaskHooks } from "@jointly/core/internal/runtime/RoundEngine"
import { type TaskSpec, taskId } from "@jointly/core/internal/task/TaskSpec"
import type { TaskOffer } from "@jointly/core/internal/wire/Messages"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { AdmissionRefused, type Auth } from "../auth/Auth.ts"
import * as Log from "../Log.ts"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as FailingStore from "../testing/FailingStore.ts"
import * as TaskRouting from "../cluster/TaskRouting.ts"
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

// One store for the file: each test's tasks have their own ids.
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
  await removeDir(dir)
})

/**
 * A scheduler over the file's store whose parties' orgs are Audited, nobody online, and whose consents' "signature"
 * names their signer (the EIP-712 recovery is not what these paths are about); a test passes what it needs otherwise.
 */
const schedulerWith = (deps: Partial<Scheduler.Deps>) =>
  Scheduler.make({
    store,
    hub: { offer: () => true, ended: () => true, isOnline: () => false },
    rounds: { taskEnded: () => Effect.void } as unknown as RoundEngine["Service"],
    auth: { checkOrg: () => Effect.succeed({ state: "Audited", name: "test" }) } as unknown as Auth,
    consent: { recover: (_consent, signature) => signature },
    log: Log.make("scheduler-test", "error"),
    instance: "test-instance",
    backends: Layer.empty as never,
    ...deps
  })

describe("a submission", () => {
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
      auth: { checkOrg: () => Effect.succeed({ state: "Audited", name: "test" }) } as unknown as Auth,
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

describe("a submission while the chain does not answer", () => {
  it("is refused as Unavailable, not as a party's fault, records nothing, and the same signed submission is taken once the chain is back", async () => {
    let chainUp = false
    const offers: Array<string> = []
    const scheduler = Scheduler.make({
      store,
      hub: { offer: (account) => offers.push(account) > 0, ended: () => true, isOnline: () => false },
      rounds: { taskEnded: () => Effect.void } as unknown as RoundEngine["Service"],
      auth: {
        checkOrg: () => chainUp
          ? Effect.succeed({ state: "Audited", name: "test" })
          : Effect.fail(new AdmissionRefused({ code: "Unavailable", detail: "the org registry did not answer" }))
      } as unknown as Auth,
      consent: { recover: () => "0x" },
      log: Log.make("scheduler-test", "error"),
      instance: "test-instance",
      backends: Layer.empty as never
    })
    const spec = { ...specOf("chain-down"), consentTimeoutMs: 60_000 } as TaskSpec
    const id = taskId(spec)
    const signature = initiator.signMessageSync(getBytes(id))
    const refused = await Effect.runPromiseExit(scheduler.submit(spec, signature))
    expect(Exit.isFailure(refused) && Exit.findErrorOption(refused)).toMatchObject({ _tag: "Some", value: { _tag: "Unavailable" } })
    expect(await Effect.runPromise(store.get(id))).toBeUndefined()
    expect(offers).toEqual([])
    chainUp = true
    expect(await Effect.runPromise(scheduler.submit(spec, signature))).toBe(id)
    expect((await Effect.runPromise(store.get(id)))?.status).toBe("AwaitingConsent")
    await Effect.runPromise(scheduler.close)
  })
})

describe("a task whose move to AwaitingConsent failed in the store", () => {
  /** A scheduler whose store fails the first transition it is asked for (a store that went away for a moment). */
  const schedulerFailingFirstMove = () => {
    const blip = FailingStore.blipping(store)
    blip.failNext("transition")
    const offers: Array<string> = []
    const scheduler = schedulerWith({ store: blip.store, hub: { offer: (account) => offers.push(account) > 0, ended: () => true, isOnline: () => false } })
    return { scheduler, offers }
  }

  const submitFailing = async (scheduler: Scheduler.SchedulerShape, nonce: string) => {
    const spec = { ...specOf(nonce), consentTimeoutMs: 60_000 } as TaskSpec
    const id = taskId(spec)
    const exit = await Effect.runPromiseExit(scheduler.submit(spec, initiator.signMessageSync(getBytes(id))))
    // The submitter hears of the failure; the task is recorded, still Submitted, and nobody was offered it.
    expect(Exit.isFailure(exit)).toBe(true)
    expect((await Effect.runPromise(store.get(id)))?.status).toBe("Submitted")
    return id
  }
  const status = async (id: string) => (await Effect.runPromise(store.get(id)))?.status
  const consent = (scheduler: Scheduler.SchedulerShape, id: string, account: string, signature = getAddress(account)) =>
    Effect.runPromiseExit(scheduler.consent(account, { taskId: id, approve: true, reason: "ok", signature }))

  it("is opened and offered by its holder's periodic re-offer, then offered again only to those that have not answered", async () => {
    const { scheduler, offers } = schedulerFailingFirstMove()
    const id = await submitFailing(scheduler, "reoffer")
    expect(offers).toEqual([])
    await Effect.runPromise(scheduler.reoffer)
    expect(await status(id)).toBe("AwaitingConsent")
    expect([...offers].sort()).toEqual([...parties].sort())
    expect(Exit.isSuccess(await consent(scheduler, id, parties[0]!))).toBe(true)
    offers.length = 0
    await Effect.runPromise(scheduler.reoffer)
    expect(offers).toEqual([parties[1]])
    await Effect.runPromise(scheduler.close)
  })

  it("is opened by a periodic pass in which another task's move fails in the store, and that one by the next pass", async () => {
    const blip = FailingStore.blipping(store)
    const offers: Array<string> = []
    const scheduler = schedulerWith({ store: blip.store, hub: { offer: (account) => offers.push(account) > 0, ended: () => true, isOnline: () => false } })
    blip.failNext("transition", 2)
    const first = await submitFailing(scheduler, "pass-isolated-first")
    const second = await submitFailing(scheduler, "pass-isolated-second")
    // The pass takes the tasks in the order they were submitted: the first one's move fails, the second's lands.
    blip.failNext("transition")
    const pass = await Effect.runPromiseExit(scheduler.reoffer)
    expect(pass, String(Exit.isFailure(pass) ? pass.cause : "")).toSatisfy(Exit.isSuccess)
    expect([await status(first), await status(second)]).toEqual(["Submitted", "AwaitingConsent"])
    expect([...offers].sort()).toEqual([...parties].sort())
    offers.length = 0
    await Effect.runPromise(scheduler.reoffer)
    expect([await status(first), await status(second)]).toEqual(["AwaitingConsent", "AwaitingConsent"])
    // The second task's parties were offered it again (it still awaits them), the first's for the first time.
    expect([...offers].sort()).toEqual([...parties, ...parties].sort())
    await Effect.runPromise(scheduler.close)
  })

  it("keeps a consent that arrives while it is still Submitted, and the same signed consent again changes nothing", async () => {
    const { scheduler, offers } = schedulerFailingFirstMove()
    const id = await submitFailing(scheduler, "early-consent")
    // The first party's answer comes before the task was opened (an offer made before the move landed).
    const early = await consent(scheduler, id, parties[0]!)
    expect(early, String(Exit.isFailure(early) ? early.cause : "")).toSatisfy(Exit.isSuccess)
    expect(await status(id)).toBe("AwaitingConsent")
    expect((await Effect.runPromise(store.consents(id))).map((c) => c.participant)).toEqual([parties[0]])
    expect(offers).toContain(parties[1])
    // Answered again with the same signature (an offer repeated): kept once, no refusal; a different answer is refused.
    expect(Exit.isSuccess(await consent(scheduler, id, parties[0]!))).toBe(true)
    expect(await Effect.runPromise(store.consents(id))).toHaveLength(1)
    const replayed = await consent(scheduler, id, parties[0]!, getAddress(parties[0]!).toLowerCase())
    expect(Exit.isFailure(replayed) && String(replayed.cause)).toContain("already answered")
    // The second answer completes the task's consents; sent again once the task moved on, it is still not refused.
    expect(Exit.isSuccess(await consent(scheduler, id, parties[1]!))).toBe(true)
    expect(await status(id)).toBe("Scheduled")
    expect(Exit.isSuccess(await consent(scheduler, id, parties[1]!))).toBe(true)
    expect(Exit.isFailure(await consent(scheduler, id, parties[1]!, getAddress(parties[1]!).toLowerCase()))).toBe(true)
    await Effect.runPromise(scheduler.close)
  })
})

describe("a task whose parties are all online, at its start", () => {
  /**
   * A scheduler whose every party is online and whose chain answers `standing` for each org read once the task is
   * submitted (the submission's own reads see every org Audited). The protocol run never begins: a Running task
   * stays Running, its round engine waiting.
   */
  const startingScheduler = (standing: (account: string) => Effect.Effect<{ state: "Audited"; name: string }, AdmissionRefused>, startTimeoutMs: number) => {
    let submitted = false
    const reads: Array<string> = []
    const scheduler = Scheduler.make({
      store,
      hub: { offer: () => true, ended: () => true, isOnline: () => true },
      rounds: { taskEnded: () => Effect.void, taskStarted: () => Effect.never } as unknown as RoundEngine["Service"],
      auth: {
        checkOrg: (account: string) => {
          if (!submitted) return Effect.succeed({ state: "Audited", name: "test" })
          reads.push(account)
          return standing(account)
        }
      } as unknown as Auth,
      consent: { recover: (_consent, signature) => signature },
      log: Log.make("scheduler-test", "error"),
      instance: "test-instance",
      backends: Layer.empty as never,
      options: { startTimeoutMs }
    })
    /** Submits a task and gives every party's consent: the last one starts it. */
    const consented = async (nonce: string) => {
      const spec = { ...specOf(nonce), consentTimeoutMs: 60_000 } as TaskSpec
      const id = await Effect.runPromise(scheduler.submit(spec, initiator.signMessageSync(getBytes(taskId(spec)))))
      submitted = true
      for (const party of parties) {
        const answered = await Effect.runPromiseExit(scheduler.consent(party, { taskId: id, approve: true, reason: "ok", signature: getAddress(party) }))
        expect(answered, String(Exit.isFailure(answered) ? answered.cause : "")).toSatisfy(Exit.isSuccess)
      }
      return id
    }
    return { scheduler, consented, reads }
  }
  const unavailable = () => Effect.fail(new AdmissionRefused({ code: "Unavailable", detail: "the chain could not be read: 503 Service Unavailable" }))
  const audited = () => Effect.succeed({ state: "Audited" as const, name: "test" })
  const stored = async (id: string) => await Effect.runPromise(store.get(id))

  it("starts once a chain that failed two reads answers again", async () => {
    let failures = 2
    const { scheduler, consented } = startingScheduler(() => (failures-- > 0 ? unavailable() : audited()), 10_000)
    const id = await consented("chain-blip")
    await expect.poll(async () => (await stored(id))?.status, { timeout: 8_000, interval: 50 }).toBe("Running")
    expect(failures).toBeLessThan(0)
    await Effect.runPromise(scheduler.close)
  })

  it("fails, naming the unreadable chain and no party, when the chain does not answer by the start deadline", async () => {
    const { scheduler, consented, reads } = startingScheduler(unavailable, 1_000)
    const id = await consented("chain-down-at-start")
    await expect.poll(async () => (await stored(id))?.status, { timeout: 8_000, interval: 50 }).toBe("Failed")
    const reason = (await stored(id))?.reason ?? ""
    expect(reason).toContain("could not be read to check the parties' standing")
    expect(reason).toContain("until the start deadline")
    expect(reason).not.toMatch(/suspended|revoked|not audited/i)
    // Asked again before it gave up, not once per account only.
    expect(reads.length).toBeGreaterThan(3)
    await Effect.runPromise(scheduler.close)
  })

  it("fails naming the party a chain that answers reports suspended, even while it does not answer for another", async () => {
    const suspended = getAddress(parties[1]!)
    const { scheduler, consented } = startingScheduler((account) =>
      account === suspended
        ? Effect.fail(new AdmissionRefused({ code: "OrgSuspended", detail: `organisation test (${account}) is suspended by the supervisor` }))
        : account === getAddress(parties[0]!) ? unavailable() : audited(), 10_000)
    const id = await consented("suspended-at-start")
    await expect.poll(async () => (await stored(id))?.status, { timeout: 8_000, interval: 50 }).toBe("Failed")
    expect((await stored(id))?.reason).toContain(`(${suspended}) is suspended by the supervisor`)
    await Effect.runPromise(scheduler.close)
  })
})

describe("a running task whose store fails to keep its state", () => {
  const digest = `0x${"ab".repeat(32)}`
  /**
   * A scheduler over the real store with `operations` failing, every party online and Audited, and a round engine
   * whose rounds answer every request with the same reply (the encrypted inference's protocol only relays them):
   * the protocol runs to its phase commitment in-process. The session hooks it was given are kept for the test.
   */
  const runningScheduler = (operations: ReadonlyArray<FailingStore.Operation>) => {
    const hooks: Array<TaskHooks> = []
    const rounds = {
      taskStarted: () => Effect.void,
      taskEnded: () => Effect.void,
      session: (given: TaskHooks): CoordinatorSession => {
        hooks.push(given)
        return {
          taskId: given.taskId,
          attempt: given.attempt,
          participants: given.participants,
          round: (_stage, requests) => Effect.succeed(new Map([...requests.keys()].map((p) => [p, { rows: 1, digest } as never]))),
          progress: given.progress,
          commit: given.commit,
          checkpoint: given.checkpoint
        }
      }
    } as unknown as RoundEngine["Service"]
    const scheduler = schedulerWith({ store: FailingStore.failing(store, operations), hub: { offer: () => true, ended: () => true, isOnline: () => true }, rounds })
    const started = async (nonce: string) => {
      const [requester, owner] = parties as [string, string]
      const spec = {
        kind: "prediction.encrypted-linear",
        initiator: initiator.address,
        nonce,
        parties: parties.map((participant) => ({ participant, dataset: "d" })),
        params: { requester, owner, modelId: digest, features: ["x"] },
        consentTimeoutMs: 60_000
      } as unknown as TaskSpec
      const id = await Effect.runPromise(scheduler.submit(spec, initiator.signMessageSync(getBytes(taskId(spec)))))
      for (const party of parties) await Effect.runPromise(scheduler.consent(party, { taskId: id, approve: true, reason: "ok", signature: getAddress(party) }))
      return id
    }
    return { scheduler, hooks, started }
  }
  const failureOf = async (effect: Effect.Effect<unknown, unknown>) => {
    const exit = await Effect.runPromiseExit(effect)
    return Exit.isFailure(exit) ? Exit.findErrorOption(exit) : "succeeded"
  }

  it("fails the task naming the phase commitment it could not keep, and commits nothing", async () => {
    const { scheduler, hooks, started } = runningScheduler(["commitPhase"])
    const id = await started("commit-not-kept")
    await expect.poll(async () => (await Effect.runPromise(store.get(id)))?.status, { timeout: 8_000, interval: 50 }).toBe("Failed")
    expect((await Effect.runPromise(store.get(id)))?.reason).toBe(
      "the task's state was not kept (commit prediction/output): the task store failed (commitPhase): connection terminated unexpectedly"
    )
    const events = await Effect.runPromise(store.events(id))
    expect(events.map((e) => e.type)).not.toContain("PhaseCommitted")
    expect((await Effect.runPromise(store.outbox(id))).map((o) => o.op.op)).not.toContain("commitPhase")
    // The hook itself fails typed, not as a defect.
    expect(await failureOf(hooks[0]!.commit("p", digest))).toMatchObject({ _tag: "Some", value: { _tag: "SessionStateFailed", operation: "commit", key: "p" } })
    await Effect.runPromise(scheduler.close)
  })

  it("fails a checkpoint's save and load typed, naming the key, and saves nothing", async () => {
    // The commitment is kept here: the run succeeds, and the hooks it was given are tried on their own.
    const { scheduler, hooks, started } = runningScheduler(["saveCheckpoint", "loadCheckpoint"])
    const id = await started("checkpoint-not-kept")
    await expect.poll(async () => (await Effect.runPromise(store.get(id)))?.status, { timeout: 8_000, interval: 50 }).toBe("Succeeded")
    const { save, load } = hooks[0]!.checkpoint
    expect(await failureOf(save("rounds", { round: 1 }))).toMatchObject({
      _tag: "Some",
      value: { _tag: "SessionStateFailed", operation: "checkpoint.save", key: "rounds", message: "the task's state was not kept (checkpoint.save rounds): the task store failed (saveCheckpoint): connection terminated unexpectedly" }
    })
    expect(await failureOf(load("rounds"))).toMatchObject({ _tag: "Some", value: { _tag: "SessionStateFailed", operation: "checkpoint.load", key: "rounds" } })
    expect(await Effect.runPromise(store.loadCheckpoint(id, "rounds"))).toBeUndefined()
    await Effect.runPromise(scheduler.close)
  })
})

describe("a consent whose store does not answer", () => {
  /** The consent route of a clustered instance over a failing store (FailingStore); what it forwards and handles. */
  const route = (failingStore: TaskStore.TaskStoreShape, deps: Partial<Scheduler.Deps> = {}) => {
    const scheduler = schedulerWith({ store: failingStore, ...deps })
    const forwarded: Array<string> = []
    const handled: Array<string> = []
    const routing = TaskRouting.make({
      instance: "test-instance",
      mayBeElsewhere: (id) => !scheduler.owns(id),
      ownerOf: failingStore.ownerOf,
      consent: scheduler.consent,
      consented: (_id, account) => void handled.push(account)
    })
    const consents = { route: routing.route(routing.consentHere, (owner) => void forwarded.push(owner)) }
    return { scheduler, consents, forwarded, handled }
  }
  const refusalOf = async (effect: Effect.Effect<void, unknown>) => {
    const exit = await Effect.runPromiseExit(effect)
    return Exit.isFailure(exit) ? Exit.findErrorOption(exit) : "taken"
  }

  it("is refused Unavailable when its task's owner cannot be read, neither taken nor forwarded", async () => {
    const { scheduler, consents, forwarded, handled } = route(FailingStore.failing(store, ["ownerOf"]))
    // A task this instance does not hold: its owner is asked of the store, which does not answer.
    const id = `0x${"cd".repeat(32)}`
    expect(await refusalOf(consents.route(parties[0]!, { taskId: id, approve: true, reason: "ok", signature: getAddress(parties[0]!) }))).toMatchObject({
      _tag: "Some",
      value: { _tag: "WireRefusal", code: "Unavailable", detail: "the task store failed (ownerOf): connection terminated unexpectedly; the message was not acted on, it is asked for again" }
    })
    expect(forwarded).toEqual([])
    expect(handled).toEqual([])
    await Effect.runPromise(scheduler.close)
  })

  it("is refused Unavailable when the store does not record it, and the task still awaits it", async () => {
    const { scheduler, consents, handled } = route(FailingStore.failing(store, ["recordConsent"]))
    const spec = { ...specOf("consent-not-recorded"), consentTimeoutMs: 60_000 } as TaskSpec
    const id = await Effect.runPromise(scheduler.submit(spec, initiator.signMessageSync(getBytes(taskId(spec)))))
    expect(await refusalOf(consents.route(parties[0]!, { taskId: id, approve: true, reason: "ok", signature: getAddress(parties[0]!) }))).toMatchObject({
      _tag: "Some",
      value: { _tag: "WireRefusal", code: "Unavailable" }
    })
    expect(handled).toEqual([parties[0]])
    expect(await Effect.runPromise(store.consents(id))).toEqual([])
    expect((await Effect.runPromise(store.get(id)))?.status).toBe("AwaitingConsent")
    await Effect.runPromise(scheduler.close)
  })

  describe("kept, whose task's move then fails once", () => {
    /**
     * A task of the route's instance over a store whose next transition, once armed, fails (after the insert and the
     * move to AwaitingConsent have landed); who was offered it and told of its end.
     */
    const kept = async (nonce: string) => {
      const blip = FailingStore.blipping(store)
      const offers: Array<string> = []
      const ended: Array<string> = []
      const hub = { offer: (account: string) => offers.push(account) > 0, ended: (account: string) => ended.push(account) > 0, isOnline: () => false }
      const { scheduler, consents } = route(blip.store, { hub })
      const spec = { ...specOf(nonce), consentTimeoutMs: 60_000 } as TaskSpec
      const id = await Effect.runPromise(scheduler.submit(spec, initiator.signMessageSync(getBytes(taskId(spec)))))
      const answer = (party: string, approve: boolean) =>
        refusalOf(consents.route(party, { taskId: id, approve, reason: approve ? "ok" : "not our data", signature: getAddress(party) }))
      return { scheduler, id, blip, offers, ended, answer }
    }
    const status = async (id: string) => (await Effect.runPromise(store.get(id)))?.status
    const eventsOf = async (id: string) => (await Effect.runPromise(store.events(id))).map((e) => e.type)
    const chainOpsOf = async (id: string) => (await Effect.runPromise(store.outbox(id))).map((o) => (o.op.op === "transition" ? `transition ${o.op.to}` : o.op.op))

    it("is taken, and the periodic pass schedules the task once without asking anyone again", async () => {
      const { scheduler, id, blip, offers, answer } = await kept("moved-on-scheduled")
      expect(await answer(parties[0]!, true)).toBe("taken")
      blip.failNext("transition")
      // The last consent is kept and the sender is not told to send it again (it would never be asked for).
      expect(await answer(parties[1]!, true)).toBe("taken")
      expect(await status(id)).toBe("AwaitingConsent")
      expect(await Effect.runPromise(store.consents(id))).toHaveLength(2)
      offers.length = 0
      // Two passes at once (as a pass racing the consent timeout): the move is made once, neither fails.
      await Effect.runPromise(Effect.all([scheduler.reoffer, scheduler.reoffer], { concurrency: "unbounded" }))
      await Effect.runPromise(scheduler.reoffer)
      expect(await status(id)).toBe("Scheduled")
      expect(offers).toEqual([])
      expect(await eventsOf(id)).toEqual(["Submitted", "AwaitingConsent", "ConsentApproved", "ConsentApproved", "Scheduled"])
      expect(await chainOpsOf(id)).toEqual(["createTask", "transition AwaitingConsent", "recordConsent", "recordConsent", "transition Scheduled"])
      await Effect.runPromise(scheduler.close)
    })

    it("is taken, and a refusal's task is rejected by the periodic pass once, the unanswered party never asked", async () => {
      const { scheduler, id, blip, offers, ended, answer } = await kept("moved-on-rejected")
      blip.failNext("transition")
      expect(await answer(parties[0]!, false)).toBe("taken")
      expect(await status(id)).toBe("AwaitingConsent")
      offers.length = 0
      await Effect.runPromise(scheduler.reoffer)
      await Effect.runPromise(scheduler.reoffer)
      expect(await status(id)).toBe("Rejected")
      expect((await Effect.runPromise(store.get(id)))?.reason).toBe(`participant ${parties[0]} rejected the task: not our data`)
      expect(offers).toEqual([])
      expect([...ended].sort()).toEqual([...parties].sort())
      expect(await eventsOf(id)).toEqual(["Submitted", "AwaitingConsent", "ConsentRejected", "Rejected"])
      expect(await chainOpsOf(id)).toEqual(["createTask", "transition AwaitingConsent", "recordConsent", "transition Rejected"])
      await Effect.runPromise(scheduler.close)
    })
  })
})

describe("a scheduled task whose move to Running failed in the store", () => {
  /**
   * A scheduler whose every party is online and Audited over a store whose first move to Running fails (the moves
   * before it land), and a round engine whose rounds never answer: a started task stays Running. Whose runs began.
   */
  const scheduler = () => {
    const blip = FailingStore.blipping(store)
    let runningFails = 1
    const failingStore: TaskStore.TaskStoreShape = {
      ...blip.store,
      transition: (claim, from, to, details) => {
        if (to === "Running" && runningFails-- > 0) blip.failNext("transition")
        return blip.store.transition(claim, from, to, details)
      }
    }
    const runs: Array<string> = []
    const rounds = {
      taskStarted: () => Effect.void,
      taskEnded: () => Effect.void,
      session: (given: TaskHooks): CoordinatorSession => {
        runs.push(given.taskId)
        return { ...given, round: () => Effect.never } as unknown as CoordinatorSession
      }
    } as unknown as RoundEngine["Service"]
    const made = schedulerWith({ store: failingStore, hub: { offer: () => true, ended: () => true, isOnline: () => true }, rounds })
    return { scheduler: made, runs }
  }
  const status = async (id: string) => (await Effect.runPromise(store.get(id)))?.status
  const eventsOf = async (id: string) => (await Effect.runPromise(store.events(id))).map((e) => e.type)
  const chainOpsOf = async (id: string) => (await Effect.runPromise(store.outbox(id))).map((o) => (o.op.op === "transition" ? `transition ${o.op.to}` : o.op.op))

  it("is started by the periodic pass, once, even by two passes at once", async () => {
    const { scheduler: s, runs } = scheduler()
    const spec = { ...specOf("pass-starts-scheduled"), consentTimeoutMs: 60_000 } as TaskSpec
    const id = await Effect.runPromise(s.submit(spec, initiator.signMessageSync(getBytes(taskId(spec)))))
    for (const party of parties) await Effect.runPromise(s.consent(party, { taskId: id, approve: true, reason: "ok", signature: getAddress(party) }))
    // The last consent moved the task to Scheduled; its start failed in the store, and every party is online:
    // no start check is armed to try it again.
    expect(await status(id)).toBe("Scheduled")
    expect(runs).toEqual([])
    await Effect.runPromise(Effect.all([s.reoffer, s.reoffer], { concurrency: "unbounded" }))
    await Effect.runPromise(s.reoffer)
    expect(await status(id)).toBe("Running")
    expect(runs).toEqual([id])
    expect(await eventsOf(id)).toEqual(["Submitted", "AwaitingConsent", "ConsentApproved", "ConsentApproved", "Scheduled", "Running"])
    expect(await chainOpsOf(id)).toEqual(["createTask", "transition AwaitingConsent", "recordConsent", "recordConsent", "transition Scheduled", "transition Running"])
    await Effect.runPromise(s.close)
  })
})
