/**
 * The task store on both engines it supports — embedded PGlite and a real PostgreSQL server — with the same
 * assertions: lifecycle checks, exactly-once consents, the outbox written with each state change, restart
 * recovery of unfinished tasks, the named leases and a cluster role started again after a failed start.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { IllegalTransition } from "@jointly/core/internal/task/Lifecycle"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Bridge from "../cluster/Bridge.ts"
import * as Cluster from "../cluster/Cluster.ts"
import * as Leases from "../cluster/Leases.ts"
import * as Log from "../Log.ts"
import * as Postgres from "../testing/Postgres.ts"
import * as Sql from "./Sql.ts"
import * as TaskStore from "./TaskStore.ts"
import { type Promised, promised } from "../testing/Promised.ts"

const spec = (nonce: string): TaskSpec => ({
  kind: "statistics.horizontal",
  initiator: "0x0000000000000000000000000000000000000001",
  nonce,
  parties: [
    { participant: "0x0000000000000000000000000000000000000002", dataset: "d" },
    { participant: "0x0000000000000000000000000000000000000003", dataset: "d" }
  ],
  params: { columns: ["x"], statistics: ["mean"] }
}) as unknown as TaskSpec

/** A cluster role's own failure, as ChainIndexFailed is the chain index's. */
class NotReady extends Schema.TaggedError<NotReady>()("NotReady", { detail: Schema.String }) {}

const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0")

const exercise = (open: () => Promise<Sql.Sql>) => {
  let sql: Sql.Sql
  let store: Promised<TaskStore.TaskStoreShape>
  beforeAll(async () => {
    sql = await open()
    store = promised(await Effect.runPromise(TaskStore.make(sql)))
  })
  afterAll(() => sql.close())

  it("moves a task through its life with an event and a queued chain record per step", async () => {
    const id = hash(1)
    const claim = await store.insert(id, spec("a"), id, ["0x2", "0x3"], "test-instance")
    await store.transition(claim, "Submitted", "AwaitingConsent", { reasonHash: hash(0) })
    expect(await store.recordConsent(claim, { participant: "0x2", approve: true, reason: "ok", signature: "0x01" }, hash(0))).toBe(true)
    expect(await store.recordConsent(claim, { participant: "0x2", approve: true, reason: "again", signature: "0x01" }, hash(0))).toBe(false)
    await store.transition(claim, "AwaitingConsent", "Scheduled", { reasonHash: hash(0) })
    await store.transition(claim, "Scheduled", "Running", { reasonHash: hash(0) })
    await store.succeed(claim, { mean: 1.5 }, hash(9), hash(0))
    const task = await store.get(id)
    expect(task).toMatchObject({ status: "Succeeded", result: { mean: 1.5 }, resultDigest: hash(9) })
    expect((await store.events(id)).map((e) => e.type)).toEqual(["Submitted", "AwaitingConsent", "ConsentApproved", "Scheduled", "Running", "Succeeded"])
    expect((await store.outbox(id)).map((o) => o.op.op)).toEqual(["createTask", "transition", "recordConsent", "transition", "transition", "recordResult", "transition"])
    expect(new Set((await store.outbox(id)).map((o) => o.eventId)).size).toBe(7)
  })

  it("refuses an illegal transition and a stale one without writing anything", async () => {
    const id = hash(2)
    const claim = await store.insert(id, spec("b"), id, [], "test-instance")
    await expect(store.transition(claim, "Submitted", "Succeeded", { reasonHash: hash(0) })).rejects.toBeInstanceOf(IllegalTransition)
    await expect(store.transition(claim, "AwaitingConsent", "Scheduled", { reasonHash: hash(0) })).rejects.toBeInstanceOf(TaskStore.StaleTransition)
    expect((await store.get(id))?.status).toBe("Submitted")
    expect(await store.outbox(id)).toHaveLength(1)
  })

  it("lists unfinished tasks for recovery and confirms outbox entries in order", async () => {
    const unfinished = (await store.unfinished()).map((t) => t.id)
    expect(unfinished).toContain(hash(2))
    expect(unfinished).not.toContain(hash(1))
    const first = await store.nextPending()
    expect(first?.op.op).toBe("createTask")
    await store.confirm(first!.id, hash(77), 5)
    const next = await store.nextPending()
    expect(next!.id).toBeGreaterThan(first!.id)
  })

  it("fences every state change: after another instance claims an orphan, the old owner's writes change nothing", async () => {
    const leases = Leases.make(sql)
    await leases.register("alive", null, 60_000)
    await leases.register("dying", null, 60_000)
    const id = hash(3)
    const old = await store.insert(id, spec("c"), id, ["0x2"], "dying")
    await store.transition(old, "Submitted", "AwaitingConsent", { reasonHash: hash(0) })
    // Owned by a live instance: nobody may claim it, and it is no orphan.
    expect((await store.orphans()).map((t) => t.id)).not.toContain(id)
    expect(await store.claim(id, "alive")).toBeUndefined()
    await leases.leave("dying")
    expect((await store.orphans()).map((t) => t.id)).toContain(id)
    const [a, b] = await Promise.all([store.claim(id, "alive"), store.claim(id, "alive")])
    // Of two claims of one orphan, one wins; the token went up by one.
    expect([a, b].filter((c) => c !== undefined)).toHaveLength(1)
    const claim = (a ?? b)!
    expect(claim.fence).toBe(old.fence + 1)
    const before = { events: (await store.events(id)).length, outbox: (await store.outbox(id)).length, consents: (await store.consents(id)).length }
    const stale: Array<() => Promise<unknown>> = [
      () => store.transition(old, "AwaitingConsent", "Cancelled", { reasonHash: hash(0) }),
      () => store.recordConsent(old, { participant: "0x2", approve: true, reason: "", signature: "0x01" }, hash(0)),
      () => store.event(old, "Progress", { done: 1 }),
      () => store.commitPhase(old, "p", hash(5)),
      () => store.saveCheckpoint(old, "k", 0, { round: 1 }),
      () => store.succeed(old, {}, hash(6), hash(0))
    ]
    for (const write of stale) {
      const error = await write().then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(TaskStore.LeaseLost)
      expect(error).toMatchObject({ _tag: "LeaseLost", subject: id, instance: "dying", holder: "alive", current: claim.fence })
    }
    expect(await store.get(id)).toMatchObject({ status: "AwaitingConsent", owner: "alive", fence: claim.fence })
    expect({ events: (await store.events(id)).length, outbox: (await store.outbox(id)).length, consents: (await store.consents(id)).length }).toEqual(before)
    expect(await store.loadCheckpoint(id, "k")).toBeUndefined()
    // The new owner writes.
    await store.transition(claim, "AwaitingConsent", "Cancelled", { reasonHash: hash(0) })
    expect((await store.get(id))?.status).toBe("Cancelled")
  })

  it("hands a named lease to one instance at a time; the outbox refuses a drainer whose token is stale", async () => {
    const leases = Leases.make(sql)
    const first = await leases.acquire("outbox", "alive", 60_000)
    expect(first).toBeDefined()
    expect(await leases.acquire("outbox", "other", 60_000)).toBeUndefined()
    const entry = (await store.nextPending())!
    await store.markSent(entry.id, hash(8), 1, first)
    await leases.release(first!)
    const second = (await leases.acquire("outbox", "other", 60_000))!
    expect(second.fence).toBe(first!.fence + 1)
    expect(await leases.extend(first!, 60_000)).toBe(false)
    await expect(store.confirm(entry.id, hash(8), 1, hash(9), first)).rejects.toBeInstanceOf(TaskStore.LeaseLost)
    expect((await store.outbox()).find((o) => o.id === entry.id)?.status).toBe("sent")
    await store.confirm(entry.id, hash(8), 1, hash(9), second)
    expect((await store.outbox()).find((o) => o.id === entry.id)?.status).toBe("confirmed")
  })

  it("a cluster role whose start fails gives its lease up and is started again, under a new token", async () => {
    const instance = "role-test-instance"
    const log = Log.make("cluster", "error")
    const shape = await Effect.runPromise(TaskStore.make(sql))
    const cluster = Cluster.make({ sql, store: shape, bridge: Bridge.make({ instance, log }), log, instance, leaseMs: 300, exclusive: false, local: () => [] })
    const starts: Array<number> = []
    let stops = 0
    let started!: () => void
    const running = new Promise<void>((resolve) => (started = resolve))
    cluster.role("role-test", {
      start: (token) =>
        Effect.suspend(() => {
          starts.push(token.fence)
          // The first start fails as the chain index's first pass does while the chain is down.
          if (starts.length === 1) return Effect.fail(new NotReady({ detail: "the chain did not answer (test)" }))
          started()
          return Effect.void
        }),
      stop: Effect.sync(() => void stops++)
    })
    await cluster.start({ adopt: () => Effect.void, lost: Effect.void, online: () => {}, offline: () => {} })
    try {
      await running
      // Taken again after it was given up: a new fence, and whatever the first start left stopped.
      expect(starts).toHaveLength(2)
      expect(starts[1]).toBeGreaterThan(starts[0]!)
      expect(stops).toBe(1)
      expect(cluster.token("role-test")?.fence).toBe(starts[1])
    } finally {
      await cluster.stop()
    }
  })
}

describe("TaskStore on PGlite", () => {
  const dir = mkdtempSync(join(tmpdir(), "jointly-pglite-"))
  afterAll(() => removeDir(dir))
  exercise(() => Sql.open(join(dir, "db")))
})

describe("TaskStore on PostgreSQL", () => {
  let server: Awaited<ReturnType<typeof Postgres.start>>
  beforeAll(async () => {
    server = await Postgres.start()
  })
  afterAll(() => server?.stop())
  exercise(() => Sql.open(server.url))

  it("waits for a server that went away: reads and writes made while it is down complete once it is back, each once", async () => {
    const sql = await Sql.open(server.url)
    try {
      const store = promised(await Effect.runPromise(TaskStore.make(sql)))
      const id = hash(50)
      const claim = await store.insert(id, spec("restart"), id, [], "test-instance")
      await server.halt()
      let resumed = false
      const writing = store.transition(claim, "Submitted", "AwaitingConsent", { reasonHash: hash(0) }).then(() => resumed)
      const reading = store.get(id).then((task) => ({ task, resumed }))
      await new Promise((r) => setTimeout(r, 1_500))
      resumed = true
      await server.resume()
      // Both settled only after the server was back: they waited, they did not fail.
      expect(await writing).toBe(true)
      expect((await reading).resumed).toBe(true)
      expect((await store.get(id))?.status).toBe("AwaitingConsent")
      expect((await store.events(id)).map((e) => e.type)).toEqual(["Submitted", "AwaitingConsent"])
      expect((await store.outbox(id)).map((o) => o.op.op)).toEqual(["createTask", "transition"])
    } finally {
      await sql.close()
    }
  }, 60_000)
})
