/**
 * A coordinator killed mid-task (SIGKILL, no goodbye) and restarted over the same PGlite directory: the task
 * is resumed and finishes — never stuck — and the chain outbox delivers every event exactly once.
 * Real anvil, the coordinator as its own process, three participant processes.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { expectNotarizedOnce } from "./testing/ChainOnce.ts"
import * as F from "./testing/fixtures.ts"

const names = ["north", "south", "east"] as const

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let full: F.Csv

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-restart-"))
  const pima = await F.pimaParties(dir, names)
  full = pima.full
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    coordinatorProcess: true,
    parties: pima.parties
  })
}, 300_000)

afterAll(async () => {
  for (const p of cluster?.parties ?? []) if (p.process.exitCode === null) p.process.kill("SIGCONT")
  await starter.stop()
  await removeDir(dir)
})

describe("coordinator crash", () => {
  it("resumes a task that was Running when the coordinator was killed, and notarizes every event exactly once; a watch spans the restart", async () => {
    const params: Params = {
      columns: ["glucose", "mass", "age"],
      statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
      histogram: { glucose: [0, 100, 150, 200] }
    }
    // Freeze east the instant it has consented: the task goes Running and then waits on east, so the
    // coordinator is surely killed mid-task.
    const east = cluster.parties.find((p) => p.name === "east")!
    let frozen = false
    const freeze = (chunk: Buffer) => {
      if (!frozen && chunk.toString().includes('"type":"consent"')) {
        frozen = east.process.kill("SIGSTOP")
      }
    }
    east.process.stderr!.on("data", freeze)
    try {
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params })
      const running = await F.eventually(async () => {
        const detail = await cluster.task(id)
        return detail.status === "Running" ? detail : undefined
      }, "the task to run", 60_000)
      expect(frozen).toBe(true)
      expect(running.attempt).toBe(0)

      // A watch started before the crash reads the task every 100 ms, so it surely tries while the coordinator is
      // down: it waits for it to come back instead of failing.
      const watched = cluster.client.watch(id, { intervalMs: 100, timeoutMs: 120_000 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      await cluster.restartCoordinator("SIGKILL")
      east.process.kill("SIGCONT")
      const detail = await watched

      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      expect(detail.attempt).toBe(1)
      const result = detail.result as Result
      expect(result.contributors).toHaveLength(3)
      expect(result).toEqual(F.exactReference([full], params, result.contributors))
      const rescheduled = detail.events.find((e) => e.type === "Scheduled" && String((e.data as { reason?: string }).reason).includes("coordinator restarted"))
      expect(rescheduled).toBeDefined()

      // The outbox: every entry confirmed, with a transaction that recorded exactly that event.
      await expectNotarizedOnce(cluster.supervisorLedger, detail, [
        "Submitted->AwaitingConsent",
        "AwaitingConsent->Scheduled",
        "Scheduled->Running",
        "Running->Scheduled",
        "Scheduled->Running",
        "Running->Succeeded"
      ])
    } finally {
      east.process.stderr!.off("data", freeze)
      if (frozen) east.process.kill("SIGCONT")
    }
  })
})
