/**
 * Two coordinator processes over one real PostgreSQL (issue 17): the analyst submits a task to instance A, the
 * participants are connected to instance B (their consents and stage replies cross to A through the socket.io
 * Postgres adapter). A is killed with SIGKILL while the task runs; B sees A's lease run out, claims the task under
 * a new fencing token, reschedules it and completes it with the exact result — no task lost, none run twice, and
 * the chain outbox, whose lease A held, is drained by B with every event recorded once.
 * The PostgreSQL server itself stopped at once under a running task and started again seconds later: the store's
 * statements wait for it (TaskStore `reconnecting`), the instances take their leases back, and the task ends
 * exactly, its events and chain records once.
 * The owner's consent writes held up in the store while its lease runs out, the other instance's claim queued
 * behind them: every consent lands under the old token, the task changes hands before it is moved on, and the
 * instance that holds it now sees every answer in and starts it.
 * The cluster's NOTIFY traffic cut at the participants' instance (its adapter connections terminated until the
 * task's offers have gone out): the offers are lost on their way, the owner offers the task again to whoever has
 * not answered, and the task runs long before its consent deadline.
 * The owner cut off the same way while the participants consent: the consents forwarded to it are lost, and each
 * participant answers the next offer with its same signed consent. Both instances' listeners cut while a round
 * waits on one party (after three reconnections, which the adapter's pool once could not survive): the party's
 * reply and what the owner sends meanwhile are lost, and each instance, listening again, has the open requests sent
 * again — answered with the reply the party already computed. A round's request whose NOTIFY is swallowed in the
 * database while every listener stays up (testing/NotifyTap.ts) is sent again once its acknowledgement fails to
 * come, long before the round's timeout; after a listener reconnect with three open requests, two of them
 * acknowledged (their replies swallowed), only the third is sent in full again — counted at the database — the two
 * others reminded of; and a late copy of a request, delivered again after its task ended, is acknowledged and never
 * computed.
 * The store pool of an instance saturated by queries waiting on a lock: its lease is renewed all along (the lease
 * is kept over a connection of its own, by a loop of its own).
 * The instance the participants are connected to killed under a running task: each participant moves to the other
 * instance on its failover list, signs in there and serves the task to its exact end.
 * Real anvil, real PostgreSQL, the coordinators and three participants as their own processes.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"
import { expectNotarizedOnce } from "./testing/ChainOnce.ts"
import * as NotifyTap from "./testing/NotifyTap.ts"
import * as Postgres from "./testing/Postgres.ts"

const names = ["north", "south", "east"] as const
const leaseMs = 2_000
const A = 0
const B = 1

let dir: string
let server: Awaited<ReturnType<typeof Postgres.start>>
let tap: NotifyTap.NotifyTap
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let full: F.Csv

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-cluster-kill-"))
  server = await Postgres.start()
  // Before any coordinator connects: every connection of theirs publishes through it.
  tap = await NotifyTap.install(server.url)
  const pima = await F.pimaParties(dir, names)
  full = pima.full
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    coordinatorProcess: true,
    store: server.url,
    instances: 2,
    participantsAt: B,
    leaseMs,
    // The fencing test reads the coordinator's own warning that its lease expired: the coordinators this file
    // starts log warnings even where CI quiets logs to errors.
    logLevel: "warn",
    parties: pima.parties
  })
}, 180_000)

afterAll(async () => {
  for (const p of cluster?.parties ?? []) if (p.process.exitCode === null) p.process.kill("SIGCONT")
  await starter.stop()
  await tap?.close()
  await server?.stop()
  await removeDir(dir)
}, 60_000)

const params: Params = {
  columns: ["glucose", "mass", "age"],
  statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
  histogram: { glucose: [0, 100, 150, 200] }
}
const expectedTransitions = [
  "Submitted->AwaitingConsent",
  "AwaitingConsent->Scheduled",
  "Scheduled->Running",
  "Running->Scheduled",
  "Scheduled->Running",
  "Running->Succeeded"
]

/**
 * Freezes east (SIGSTOP) the instant it has consented to the next task: the task goes Running on its owner and
 * then waits on east, so whatever happens to the owner next happens mid-task.
 */
const freezeEastAtConsent = () => {
  const east = cluster.parties.find((p) => p.name === "east")!
  const state = { frozen: false }
  const freeze = (chunk: Buffer) => {
    if (!state.frozen && chunk.toString().includes('"type":"consent"')) state.frozen = east.process.kill("SIGSTOP")
  }
  east.process.stderr!.on("data", freeze)
  return {
    party: east,
    get frozen() {
      return state.frozen
    },
    thaw: () => {
      east.process.stderr!.off("data", freeze)
      if (state.frozen) east.process.kill("SIGCONT")
      state.frozen = false
    }
  }
}

const expectChainOnce = (detail: LocalCluster.TaskDetail) => expectNotarizedOnce(cluster.supervisorLedger, detail, expectedTransitions)

const submitAndRun = async () => {
  const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params }, A)
  const running = await F.eventually(async () => {
    const detail = await cluster.task(id, A)
    return detail.status === "Running" ? detail : undefined
  }, "the task to run on instance A", 60_000)
  expect(running.attempt).toBe(0)
  return id
}

const row = async (id: string) => {
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  try {
    const { rows } = await client.query<{ owner: string | null; fence: string; status: string }>(`select owner, fence, status from tasks where id = $1`, [id])
    return rows[0]!
  } finally {
    await client.end()
  }
}

describe("two coordinators over one PostgreSQL", () => {
  it("takes a task over by lease when its owner is killed with SIGKILL, and completes it exactly, every chain event once", async () => {
    const east = freezeEastAtConsent()
    try {
      const id = await submitAndRun()
      expect(east.frozen).toBe(true)
      const before = await row(id)
      expect(before.owner).not.toBeNull()
      // B answers for the task too: it reads the shared store, but does not own it.
      expect((await cluster.task(id, B)).status).toBe("Running")

      const killedAt = Date.now()
      await cluster.signalCoordinator("SIGKILL", A)
      // B takes the task within two lease periods (plus a tick) of A's death.
      const taken = await F.eventually(async () => {
        const now = await row(id)
        return now.owner !== before.owner ? now : undefined
      }, "instance B to claim the task", 10 * leaseMs)
      expect(Date.now() - killedAt).toBeLessThan(3 * leaseMs)
      expect(Number(taken.fence)).toBe(Number(before.fence) + 1)
      east.thaw()

      const detail = await cluster.waitForTask(id, { instance: B, timeoutMs: 120_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      // Run once more, by B alone: one rescheduled attempt, the reason naming both instances.
      expect(detail.attempt).toBe(1)
      const rescheduled = detail.events.filter((e) => e.type === "Scheduled" && String((e.data as { reason?: string }).reason).includes("taken over by"))
      expect(rescheduled).toHaveLength(1)
      expect(String((rescheduled[0]!.data as { reason: string }).reason)).toContain(`${before.owner} stopped; taken over by ${taken.owner}`)
      const result = detail.result as Result
      expect(result.contributors).toHaveLength(3)
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      expect((await row(id)).owner).toBe(taken.owner)
      // The outbox, drained by A until it died and by B after (its lease passed on).
      await expectChainOnce(detail)
    } finally {
      east.thaw()
    }
  }, 300_000)

  it("fences an owner paused past its lease: once it wakes after the takeover it writes nothing more, and the task stays exact", async () => {
    // A again, as a new instance (A died in the test before).
    await cluster.restartCoordinator("SIGKILL", A)
    const east = freezeEastAtConsent()
    let paused = false
    try {
      const id = await submitAndRun()
      const before = await row(id)
      await cluster.signalCoordinator("SIGSTOP", A)
      paused = true
      const taken = await F.eventually(async () => {
        const now = await row(id)
        return now.owner !== before.owner ? now : undefined
      }, "instance B to claim the paused owner's task", 10 * leaseMs)
      expect(Number(taken.fence)).toBe(Number(before.fence) + 1)
      east.thaw()
      const detail = await cluster.waitForTask(id, { instance: B, timeoutMs: 120_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      expect(detail.attempt).toBe(1)

      // The old owner wakes still believing it runs the task: its lease is gone, so it stops it and writes nothing.
      // The buffer keeps the last 500 lines (older ones shift out), so lines are told apart by their time, not index.
      const stderr = cluster.coordinatorStderrs[A]!
      const woke = new Date().toISOString()
      const loggedSince = (line: string) => (/"at":"([^"]+)"/.exec(line)?.[1] ?? "") >= woke
      await cluster.signalCoordinator("SIGCONT", A)
      paused = false
      await F.eventually(() => stderr.some((line) => line.includes("instance lease had expired") && loggedSince(line)) || undefined, "A to notice its lease expired", 10 * leaseMs)
      // Two more lease periods for any late write of A to land, if it could.
      await new Promise((r) => setTimeout(r, 2 * leaseMs))
      const after = await cluster.task(id, A)
      expect(after.status).toBe("Succeeded")
      expect(after.attempt).toBe(1)
      expect(after.events.map((e) => e.type)).toEqual(detail.events.map((e) => e.type))
      expect(await row(id)).toMatchObject({ owner: taken.owner, fence: taken.fence, status: "Succeeded" })
      const result = after.result as Result
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      await expectChainOnce(await cluster.waitForTask(id, { instance: A }))
    } finally {
      if (paused) await cluster.signalCoordinator("SIGCONT", A)
      east.thaw()
    }
  }, 300_000)

  it("finishes a task exactly across a PostgreSQL restart under it, losing nothing and recording every event once", async () => {
    const east = freezeEastAtConsent()
    let down = false
    try {
      const id = await submitAndRun()
      const before = await cluster.task(id, A)
      // The server goes away at once; east goes on meanwhile, so the task's rounds and writes meet the outage.
      await server.halt()
      down = true
      east.thaw()
      await new Promise((r) => setTimeout(r, 3_000))
      await server.resume()
      down = false

      const detail = await cluster.waitForTask(id, { instance: B, timeoutMs: 120_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      // Neither instance stopped over it.
      expect(cluster.coordinatorPids().every((pid) => pid !== undefined)).toBe(true)
      const result = detail.result as Result
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      expect(result.contributors).toHaveLength(3)
      // Nothing written before the outage is lost: its consents and events are all still there, in order.
      expect(detail.consents.map((c) => c.participant).sort()).toEqual(before.consents.map((c) => c.participant).sort())
      expect(detail.events.slice(0, before.events.length)).toEqual(before.events)
      // An outage longer than the lease period hands the task to a new attempt (both instances' leases ran out);
      // either way each transition is recorded once, on chain as in the store.
      const rerun = Array.from({ length: detail.attempt }, () => ["Running->Scheduled", "Scheduled->Running"]).flat()
      const transitions = ["Submitted->AwaitingConsent", "AwaitingConsent->Scheduled", "Scheduled->Running", ...rerun, "Running->Succeeded"]
      expect(detail.events.filter((e) => e.type === "Succeeded")).toHaveLength(1)
      await expectNotarizedOnce(cluster.supervisorLedger, detail, transitions)
    } finally {
      if (down) await server.resume()
      east.thaw()
    }
  }, 300_000)

  it("starts a task whose consents the owner recorded just before its lease ran out, whichever instance takes it", async () => {
    // The store slow for a moment (a lock on the consents table, held here): the owner's consent writes wait in
    // the database. Meanwhile the owner pauses past its lease and the other instance queues its claim behind them.
    // Once the store goes on, every consent is recorded under the old owner's token, but the task changes hands
    // before that owner can move it to Scheduled: whoever holds it now must see that every answer is in.
    const lock = new pg.Client({ connectionString: server.url })
    await lock.connect()
    // Watched from outside the locking transaction: inside one, pg_stat_activity is a snapshot taken once.
    const watch = new pg.Client({ connectionString: server.url })
    await watch.connect()
    let paused = false
    /** Statements waiting on a lock whose text starts with `prefix`. */
    const waiting = async (prefix: string) =>
      Number((await watch.query<{ n: string }>(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and starts_with(query, $1)`, [prefix])).rows[0]!.n)
    try {
      await lock.query("begin")
      await lock.query("lock table consents in exclusive mode")
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params }, A)
      const before = await row(id)
      // Every party has consented, and the owner's writes of those consents wait in the database.
      for (const p of cluster.parties) {
        await F.eventually(() => p.stderr.some((line) => line.includes('"type":"consent"') && line.includes(id)) || undefined, `${p.name} to consent`, 60_000)
      }
      // The first on the table, the other two on the task's row it holds: queued before any claim can be.
      await F.eventually(async () => ((await waiting("insert into consents")) === 1 && (await waiting("select owner, fence from tasks")) === 2) || undefined, "the three consent writes to wait", 30_000)
      await cluster.signalCoordinator("SIGSTOP", A)
      paused = true
      // B finds A's lease run out, and its claim waits behind them (looked for a while: the outcome must hold either way).
      await F.eventually(async () => ((await waiting("update tasks t set owner")) === 1) || undefined, "instance B's claim to wait", 10 * leaseMs).catch(() => undefined)
      await lock.query("rollback")
      await cluster.signalCoordinator("SIGCONT", A)
      paused = false

      const detail = await cluster.waitForTask(id, { instance: B, timeoutMs: 90_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      // The consents A recorded are the ones the run went on: one from each party.
      expect(detail.consents.map((c) => c.participant).sort()).toEqual(cluster.parties.map((p) => p.address).sort())
      expect(Number((await row(id)).fence)).toBeGreaterThan(Number(before.fence))
      const result = detail.result as Result
      expect(result.contributors).toHaveLength(3)
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      expect(detail.events.filter((e) => e.type === "Scheduled")).toHaveLength(1)
      await expectNotarizedOnce(cluster.supervisorLedger, detail, ["Submitted->AwaitingConsent", "AwaitingConsent->Scheduled", "Scheduled->Running", "Running->Succeeded"])
    } finally {
      await lock.query("rollback").catch(() => {})
      await lock.end()
      await watch.end()
      if (paused) await cluster.signalCoordinator("SIGCONT", A)
    }
  }, 300_000)

  /**
   * Cuts instances off the cluster's NOTIFY traffic until `until` says (at least once): their socket.io adapter's
   * LISTEN connections (named `jointly adapter <instance id>`, whose id holds the process's pid; the last statement
   * a LISTEN) are terminated again and again, and the adapter listens again only 1–3 s after each cut — what the
   * other instance sends meanwhile is lost. Their publishing connections are left alone.
   */
  const deafen = async (instances: ReadonlyArray<number>, until: () => Promise<boolean>) => {
    const pids = instances.map((i) => cluster.coordinatorPids()[i]!)
    const admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    let cuts = 0
    try {
      do {
        for (const pid of pids) {
          const { rows } = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1 and starts_with(query, 'LISTEN ')`, [`jointly adapter %-${pid}-%`])
          cuts += rows.length
        }
        await new Promise((r) => setTimeout(r, 100))
      } while (!(await until()))
    } finally {
      await admin.end()
    }
    return cuts
  }
  const once = async () => true
  /** The backends of the instances' adapter LISTEN connections now. */
  const listeners = async (instances: ReadonlyArray<number>) => {
    const admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    try {
      const names = instances.map((i) => `jointly adapter %-${cluster.coordinatorPids()[i]!}-%`)
      const { rows } = await admin.query<{ pid: number }>(`select pid from pg_stat_activity where application_name like any($1) and starts_with(query, 'LISTEN ')`, [names])
      return rows.map((r) => r.pid)
    } finally {
      await admin.end()
    }
  }
  /** Both instances' listeners cut once, and listening again (each on a new connection, 1–3 s later). */
  const cutListeners = async () => {
    const before = await listeners([A, B])
    expect(await deafen([A, B], once)).toBeGreaterThanOrEqual(2)
    await F.eventually(async () => {
      const now = await listeners([A, B])
      return (now.length >= 2 && now.every((pid) => !before.includes(pid))) || undefined
    }, "both instances to listen again", 20_000)
  }
  const stageLines = (p: LocalCluster.LocalCluster["parties"][number], id: string) => p.stderr.filter((line) => line.includes('"type":"stage"') && line.includes(id)).length
  const consentLines = (p: LocalCluster.LocalCluster["parties"][number], id: string) => p.stderr.filter((line) => line.includes('"type":"consent"') && line.includes(id)).length
  /** Well beyond the task's run, well within the wait below: a task left waiting for a lost answer times out. */
  const consentTimeoutMs = 40_000

  /** Submits a task to A while `instances` are deaf, until `until` says of the task; its id. */
  const submitWhileDeaf = async (instances: ReadonlyArray<number>, until: (id: string) => Promise<boolean>) => {
    let submitted: string | undefined
    const deaf = deafen(instances, async () => submitted !== undefined && (await until(submitted)))
    submitted = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params, consentTimeoutMs }, A)
    expect(await deaf).toBeGreaterThan(0)
    return submitted
  }
  /** The task succeeds long before its consent deadline, exactly, on one consent of each party, each decided once. */
  const expectConsentedOnce = async (id: string) => {
    const detail = await cluster.waitForTask(id, { instance: A, timeoutMs: 2 * consentTimeoutMs })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.consents.map((c) => c.participant).sort()).toEqual(cluster.parties.map((p) => p.address).sort())
    for (const p of cluster.parties) expect(consentLines(p, id), p.name).toBe(1)
    const result = detail.result as Result
    expect(result).toEqual(F.exactReference([full], params, result.contributors))
  }

  it("offers a task again whose offers were lost on their way to the participants' instance", async () => {
    // B deaf from before the submission until the owner has opened the task: its offers go out as it opens it,
    // while B's listener waits out its reconnection delay (at least a second after the last cut). Not longer: what
    // the owner sends once the offers are answered (the stage requests) must reach B again.
    await expectConsentedOnce(await submitWhileDeaf([B], async (id) => (await row(id)).status !== "Submitted"))
  }, 300_000)

  it("starts a task whose consents were lost on their way to the owner: each party sends its same consent again when offered again", async () => {
    // A, the owner, deaf from before the submission until every party has consented (and 1–3 s more): the consents
    // B forwards are NOTIFYed while A does not listen. Only the participants' answer to the next offer can start it
    // (each decided and signed once: what reaches A is the consent it sent again).
    const id = await submitWhileDeaf([A], async (id) => cluster.parties.every((p) => consentLines(p, id) > 0))
    expect((await cluster.task(id, A)).consents).toEqual([])
    await expectConsentedOnce(id)
  }, 300_000)

  it("delivers a round's request and reply lost while both instances' listeners reconnected, and the task completes exactly", async () => {
    // Three reconnections first, each waited out: the adapter never gave a dead LISTEN client back to its pool of
    // four, so from the third on an instance had no connection left to publish with (nor, next, to listen with).
    for (let i = 0; i < 3; i++) await cutListeners()
    const east = freezeEastAtConsent()
    try {
      // A round short enough that a reply lost for good fails the task well within the wait below.
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params, roundTimeoutMs: 20_000 }, A)
      // The first round is open on east alone: north and south have answered it, east is frozen with its request.
      for (const p of cluster.parties.filter((p) => p.name !== "east")) await F.eventually(() => stageLines(p, id) > 0 || undefined, `${p.name} to answer the first round`, 60_000)
      expect(east.frozen).toBe(true)
      expect((await cluster.task(id, A)).status).toBe("Running")
      // Both listeners cut (once: each listens again only 1–3 s later), then east answers at once: its reply,
      // forwarded by B, is NOTIFYed while A does not listen — and whatever A sends meanwhile reaches a B that does not.
      const cuts = await deafen([A, B], once)
      expect(cuts).toBeGreaterThanOrEqual(2)
      east.thaw()
      const detail = await cluster.waitForTask(id, { instance: A, timeoutMs: 60_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      const result = detail.result as Result
      expect(result.contributors).toHaveLength(3)
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      // Every stage computed once by each party: the request sent again was answered with the reply already made.
      const north = cluster.parties.find((p) => p.name === "north")!
      for (const p of cluster.parties) expect(stageLines(p, id), p.name).toBe(stageLines(north, id))
    } finally {
      east.thaw()
    }
  }, 120_000)

  /** The adapter's connections of instance `i` (application_name `jointly adapter <id>`, the id holding its pid). */
  const adapterOf = (i: number) => `jointly adapter %-${cluster.coordinatorPids()[i]!}-%`
  /** What the instances published of task `id`'s rounds: each stage request and reminder (with its room), and each acknowledgement. */
  const roundTraffic = async (id: string) =>
    (await tap.published()).flatMap(({ app, payload }) => {
      const message = JSON.parse(payload) as {
        type: number
        data?: { opts?: { rooms?: Array<string> }; packet?: { data?: [string, { requestId?: string; taskId?: string }] } & { requestId?: string; known?: boolean } }
      }
      // socket.io-adapter's BROADCAST (3): an event to a room, here with an acknowledgement asked for.
      if (message.type === 3) {
        const [event, body] = message.data?.packet?.data ?? []
        if (body?.taskId !== id) return []
        return [{ app, event: String(event), requestId: String(body.requestId), room: message.data?.opts?.rooms?.[0], payload }]
      }
      // Its BROADCAST_ACK (12): what a client acknowledged, our StageReceipt.
      if (message.type === 12 && message.data?.packet?.requestId !== undefined) {
        return [{ app, event: "ack", requestId: message.data.packet.requestId, room: undefined, payload }]
      }
      return []
    })
  const roomOfParty = (p: LocalCluster.LocalCluster["parties"][number]) => `account:${p.address.toLowerCase()}`
  const partyNamed = (name: string) => cluster.parties.find((p) => p.name === name)!

  it("delivers a round's request whose NOTIFY was lost while every listener stayed up, long before the round's timeout", async () => {
    await tap.watch('%"stage.re%')
    // A's first publication of a stage request to east is swallowed in the database: nobody reconnects, nothing else
    // is lost. Without an acknowledgement, A sends it again; waited for less than the round's timeout.
    const east = partyNamed("east")
    const rule = await tap.drop(adapterOf(A), ['%"stage.request"%', `%${roomOfParty(east)}%`], 1)
    const roundTimeoutMs = 60_000
    const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params, roundTimeoutMs }, A)
    const detail = await cluster.waitForTask(id, { instance: A, timeoutMs: roundTimeoutMs - 15_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(await tap.remaining(rule)).toBe(0)
    const result = detail.result as Result
    expect(result.contributors).toHaveLength(3)
    expect(result).toEqual(F.exactReference([full], params, result.contributors))
    // East's first request went out twice (the lost copy and the one sent again); every stage computed once by each.
    const toEast = (await roundTraffic(id)).filter((m) => m.event === "stage.request" && m.room === roomOfParty(east))
    expect(toEast.filter((m) => m.requestId === toEast[0]!.requestId).length).toBeGreaterThanOrEqual(2)
    for (const p of cluster.parties) expect(stageLines(p, id), p.name).toBe(stageLines(partyNamed("north"), id))
  }, 120_000)

  it("sends again, after a listener reconnect, only the open requests not acknowledged, and processes a late copy of a request once", async () => {
    await tap.watch('%"stage.re%')
    await tap.watch('%"known":%')
    const north = partyNamed("north")
    const south = partyNamed("south")
    const east = freezeEastAtConsent()
    // The replies B forwards to A are lost until the listeners are back: north's and south's requests stay open
    // though acknowledged, east's (frozen with it) is not acknowledged at all.
    const replies = await tap.drop(adapterOf(B), ['%"kind":"reply"%'], 1_000)
    try {
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params, roundTimeoutMs: 90_000 }, A)
      for (const p of [north, south]) await F.eventually(() => stageLines(p, id) > 0 || undefined, `${p.name} to answer the first round`, 60_000)
      const firstTo = async (p: LocalCluster.LocalCluster["parties"][number]) => (await roundTraffic(id)).find((m) => m.event === "stage.request" && m.room === roomOfParty(p))!
      const [toNorth, toSouth, toEast] = [await firstTo(north), await firstTo(south), await firstTo(east.party)]
      // North's and south's acknowledgements are out (and heard by A, whose listener is up).
      await F.eventually(async () => {
        const acks = (await roundTraffic(id)).filter((m) => m.event === "ack").map((m) => m.requestId)
        return (acks.includes(toNorth.requestId) && acks.includes(toSouth.requestId)) || undefined
      }, "north and south to acknowledge", 20_000)
      expect(east.frozen).toBe(true)
      await cutListeners()
      await tap.stop(replies)
      east.thaw()
      const detail = await cluster.waitForTask(id, { instance: A, timeoutMs: 60_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      const result = detail.result as Result
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      const traffic = await roundTraffic(id)
      const sent = (requestId: string, event: string) => traffic.filter((m) => m.requestId === requestId && m.event === event).length
      // Three open requests at the reconnect: the two acknowledged were never sent in full again (only reminded
      // of: their replies came back that way), the unacknowledged one was.
      expect([sent(toNorth.requestId, "stage.request"), sent(toSouth.requestId, "stage.request")]).toEqual([1, 1])
      expect(sent(toNorth.requestId, "stage.remind") + sent(toSouth.requestId, "stage.remind")).toBeGreaterThan(0)
      expect(sent(toEast.requestId, "stage.request")).toBeGreaterThan(1)
      // East got its request several times and computed it once, like every stage of every party.
      for (const p of cluster.parties) expect(stageLines(p, id), p.name).toBe(stageLines(north, id))

      // A late copy of east's first request, delivered again after the task ended: acknowledged, never computed.
      const acked = sent(toEast.requestId, "ack")
      const lines = stageLines(east.party, id)
      await tap.republish(`socket.io#/participants`, toEast.payload)
      await F.eventually(async () => (await roundTraffic(id)).filter((m) => m.requestId === toEast.requestId && m.event === "ack").length > acked || undefined, "east to acknowledge the late copy", 20_000)
      expect(stageLines(east.party, id)).toBe(lines)
      const after = await cluster.task(id, A)
      expect(after.events).toEqual(detail.events)
      expect(after.result).toEqual(detail.result)
    } finally {
      await tap.stop(replies)
      east.thaw()
    }
  }, 180_000)

  it("keeps an instance's lease while its store pool is saturated by queries that wait", async () => {
    // A lock on the tasks table: every query of A's store pool that reads tasks waits behind it — its own
    // housekeeping, its re-offers, and the API requests sent below, more than the pool has connections.
    const pid = cluster.coordinatorPids()[A]!
    const lock = new pg.Client({ connectionString: server.url })
    const watch = new pg.Client({ connectionString: server.url })
    await lock.connect()
    await watch.connect()
    const lapsedSince = (from: string) =>
      cluster.coordinatorStderrs[A]!.some((line) => line.includes("instance lease had expired") && (/"at":"([^"]+)"/.exec(line)?.[1] ?? "") >= from)
    const from = new Date().toISOString()
    const requests: Array<Promise<unknown>> = []
    try {
      await lock.query("begin")
      await lock.query("lock table tasks in access exclusive mode")
      // Unknown ids: each request is a store read of the tasks table (then a 404).
      for (let i = 0; i < 16; i++) requests.push(cluster.task(`0x${i.toString(16).padStart(64, "0")}`, A).catch(() => undefined))
      const storeWaiting = async () =>
        Number((await watch.query<{ n: string }>(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and application_name like $1`, [`jointly store %-${pid}-%`])).rows[0]!.n)
      // The pool's eight connections all wait on the lock (and more queries queue in the pool behind them).
      await F.eventually(async () => ((await storeWaiting()) >= 8) || undefined, "A's store pool to wait on the lock", 30_000)
      // Four lease periods: a renewal that had to wait for the pool, or for a loop stuck on the pool, lapses.
      const until = Date.now() + 4 * leaseMs
      let checks = 0
      while (Date.now() < until) {
        const { rows } = await watch.query<{ alive: boolean }>(`select expires_at > now() as alive from coordinator_instances where id like $1`, [`%-${pid}-%`])
        expect(rows.map((r) => r.alive)).toEqual([true])
        checks++
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(checks).toBeGreaterThan(10)
      expect(await storeWaiting()).toBeGreaterThanOrEqual(8)
    } finally {
      await lock.query("rollback").catch(() => {})
      await lock.end()
      await watch.end()
    }
    await Promise.all(requests)
    // A never took itself for dead: it kept its tasks and roles (B, seeing the lease alive, claimed nothing).
    expect(lapsedSince(from)).toBe(false)
  }, 120_000)

  it("moves the participants to the other instance when theirs is killed mid-task, and the task completes exactly", async () => {
    const east = freezeEastAtConsent()
    try {
      const id = await submitAndRun()
      const killedAt = new Date().toISOString()
      await cluster.signalCoordinator("SIGKILL", B)
      east.thaw()
      // Every participant reconnects, to A: its config names B first and A to fail over to.
      for (const p of cluster.parties) {
        await F.eventually(
          () => p.stderr.some((line) => line.includes('"type":"connected"') && line.includes(`"coordinator":"${cluster.coordinatorUrls[A]}"`) && (/"at":"([^"]+)"/.exec(line)?.[1] ?? "") >= killedAt) || undefined,
          `${p.name} to connect to instance A`,
          30_000
        )
      }
      const detail = await cluster.waitForTask(id, { instance: A, timeoutMs: 120_000 })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      const result = detail.result as Result
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      expect(result.contributors).toHaveLength(3)
    } finally {
      east.thaw()
    }
  }, 300_000)
})
