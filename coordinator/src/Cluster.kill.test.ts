/**
 * Two coordinator processes over one real PostgreSQL (issue 17): the analyst submits a task to instance A, the
 * participants are connected to instance B (their consents and stage replies cross to A through the socket.io
 * Postgres adapter). A is killed with SIGKILL while the task runs; B sees A's lease run out, claims the task under
 * a new fencing token, reschedules it and completes it with the exact result — no task lost, none run twice, and
 * the chain outbox, whose lease A held, is drained by B with every event recorded once.
 * Real anvil, real PostgreSQL, the coordinators and three participants as their own processes.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params, Result } from "@jointly/core/protocols/joint-statistics/spec.ts"
import * as LocalCluster from "@jointly/cli/local/LocalCluster.ts"
import * as F from "./testing/fixtures.ts"
import * as Postgres from "./testing/Postgres.ts"

const names = ["north", "south", "east"] as const
const columns = [
  { name: "glucose", type: "number" },
  { name: "mass", type: "number" },
  { name: "age", type: "integer" }
] as const
const leaseMs = 2_000
const A = 0
const B = 1

let dir: string
let server: Awaited<ReturnType<typeof Postgres.start>>
let cluster: LocalCluster.LocalCluster
let full: F.Csv

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-cluster-kill-"))
  await mkdir(join(dir, "csv"))
  server = await Postgres.start()
  full = F.pima()
  const files = await Promise.all(F.splitRoundRobin(full, 3).map((p, i) => F.writeCsv(join(dir, "csv"), `pima-${names[i]}.csv`, p)))
  cluster = await LocalCluster.start({
    dataDir: join(dir, "cluster"),
    coordinatorProcess: true,
    store: server.url,
    instances: 2,
    participantsAt: B,
    leaseMs,
    parties: names.map((name, i) => ({ name, datasets: [{ name: "pima", file: files[i]!, columns: [...columns] }] }))
  })
}, 180_000)

afterAll(async () => {
  for (const p of cluster?.parties ?? []) if (p.process.exitCode === null) p.process.kill("SIGCONT")
  await cluster?.stop()
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
}, 60_000)

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
    const params: Params = {
      columns: ["glucose", "mass", "age"],
      statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
      histogram: { glucose: [0, 100, 150, 200] }
    }
    // Freeze east the instant it has consented: the task goes Running on A and then waits on east, so A is
    // surely killed mid-task.
    const east = cluster.parties.find((p) => p.name === "east")!
    let frozen = false
    const freeze = (chunk: Buffer) => {
      if (!frozen && chunk.toString().includes('"type":"consent"')) {
        frozen = east.process.kill("SIGSTOP")
      }
    }
    east.process.stderr!.on("data", freeze)
    try {
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params }, A)
      const running = await F.eventually(async () => {
        const detail = await cluster.task(id, A)
        return detail.status === "Running" ? detail : undefined
      }, "the task to run on instance A", 60_000)
      expect(frozen).toBe(true)
      expect(running.attempt).toBe(0)
      const before = await row(id)
      // B answers for the task too: it reads the shared store, but does not own it.
      expect((await cluster.task(id, B)).status).toBe("Running")
      expect(before.owner).not.toBeNull()

      const killedAt = Date.now()
      await cluster.signalCoordinator("SIGKILL", A)
      // B takes the task within two lease periods (plus a tick) of A's death.
      const taken = await F.eventually(async () => {
        const now = await row(id)
        return now.owner !== before.owner ? now : undefined
      }, "instance B to claim the task", 10 * leaseMs)
      const takeoverMs = Date.now() - killedAt
      expect(takeoverMs).toBeLessThan(2 * leaseMs + leaseMs)
      expect(Number(taken.fence)).toBe(Number(before.fence) + 1)
      east.process.kill("SIGCONT")
      frozen = false

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

      // The outbox, drained by A until it died and by B after: every entry confirmed by exactly one transaction.
      const history = await cluster.supervisorLedger.taskHistory(id)
      const ids = history.map((e) => e.eventId.toLowerCase())
      expect(new Set(ids).size).toBe(ids.length)
      expect(detail.chain.length).toBe(history.length)
      for (const entry of detail.chain) {
        expect(entry.status, `${entry.op} ${entry.lastError}`).toBe("confirmed")
        const onChain = history.filter((e) => e.eventId.toLowerCase() === entry.eventId.toLowerCase())
        expect(onChain, `${entry.op} ${entry.eventId}`).toHaveLength(1)
        expect(onChain[0]!.txHash).toBe(entry.txHash)
      }
      expect(history.flatMap((e) => (e._tag === "TaskTransitioned" ? [`${e.from}->${e.to}`] : []))).toEqual([
        "Submitted->AwaitingConsent",
        "AwaitingConsent->Scheduled",
        "Scheduled->Running",
        "Running->Scheduled",
        "Scheduled->Running",
        "Running->Succeeded"
      ])
      expect(history.filter((e) => e._tag === "ResultRecorded").map((e) => e.resultDigest)).toEqual([detail.resultDigest])
    } finally {
      east.process.stderr!.off("data", freeze)
      if (frozen) east.process.kill("SIGCONT")
    }
  }, 300_000)
})
