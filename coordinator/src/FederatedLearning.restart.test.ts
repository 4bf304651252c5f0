/**
 * A coordinator killed (SIGKILL) between federated-learning rounds and restarted over the same store: the task
 * resumes from the last checkpointed round — no checkpointed round trained again, the attempt counted — and
 * finishes with one Merkle-root phase commitment over all rounds. Real anvil, the coordinator as its own
 * process, three participant processes holding label-skewed shards of digits.csv.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Result } from "@jointly/core/internal/protocols/federated-learning/spec"
import { digitsParams, loadDigits, nonIid, type Digits } from "@jointly/participant/internal/modeling/DigitsFixture"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"

const names = ["a", "b", "c"] as const
const rounds = 8
let dir: string
let cluster: LocalCluster.LocalCluster
let digits: Digits

const csv = (d: Digits, rows: ReadonlyArray<ReadonlyArray<number>>) => [d.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n"

/** Rounds whose `fl.round` progress event (sent right after the round's checkpoint) the store holds. */
const roundEvents = (events: LocalCluster.TaskDetail["events"]) =>
  events.flatMap((e) => (e.type === "Progress" && (e.data as { stage?: string }).stage === "fl.round" ? [(e.data as { done: number }).done] : []))

describe("modeling.horizontal-fl across a coordinator crash", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-fl-restart-"))
    digits = loadDigits()
    const { shards } = nonIid(digits, names.length)
    await mkdir(join(dir, "csv"))
    const columns = digits.header.map((name) => ({ name, type: "integer" as const }))
    const files = await Promise.all(shards.map(async (rows, i) => {
      const f = join(dir, "csv", `digits-${names[i]}.csv`)
      await writeFile(f, csv(digits, rows))
      return f
    }))
    cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      coordinatorProcess: true,
      parties: names.map((name, i) => ({ name, datasets: [{ name: "digits", file: files[i]!, columns }] }))
    })
  }, 120_000)

  afterAll(async () => {
    await cluster?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it("resumes from the last checkpointed round after SIGKILL and commits one Merkle root", async () => {
    const params = digitsParams(digits.header, { rounds, localEpochs: 1 })
    const id = await cluster.submit({
      kind: "modeling.horizontal-fl",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "digits" })) as never,
      params,
      roundTimeoutMs: 60_000
    })
    // Kill once at least three rounds are checkpointed (each round's progress event follows its checkpoint).
    const before = await F.eventually(async () => {
      const detail = await cluster.task(id)
      return roundEvents(detail.events).length >= 3 ? detail : undefined
    }, "three checkpointed rounds", 150_000)
    expect(before.status).toBe("Running")
    expect(before.attempt).toBe(0)
    await cluster.restartCoordinator("SIGKILL")

    const detail = await cluster.waitForTask(id, { timeoutMs: 150_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.attempt).toBe(1)
    const result = detail.result as Result

    // Resumed from the last checkpoint: at or after every round recorded before the kill, and not past the
    // rounds attempt 0 recorded (a round can be checkpointed in the instant before its event is written).
    const restartAt = detail.events.findIndex((e) => e.type === "Scheduled" && String((e.data as { reason?: string }).reason).includes("coordinator restarted"))
    expect(restartAt).toBeGreaterThan(0)
    const firstAttempt = roundEvents(detail.events.slice(0, restartAt))
    const secondAttempt = roundEvents(detail.events.slice(restartAt))
    expect(firstAttempt.slice(0, 3)).toEqual([1, 2, 3])
    expect(result.resumedFromRound).toBeGreaterThanOrEqual(Math.max(...roundEvents(before.events)))
    expect(result.resumedFromRound).toBeLessThanOrEqual(Math.max(...firstAttempt) + 1)
    expect(result.resumedFromRound).toBeLessThan(rounds)
    // No checkpointed round trained again: attempt 1 records exactly the rounds after the checkpoint, once each.
    expect(secondAttempt).toEqual(Array.from({ length: rounds - result.resumedFromRound }, (_, i) => result.resumedFromRound + 1 + i))

    expect(result.rounds.map((r) => r.round)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1))
    expect(result.rounds.every((r) => r.contributors.length === 3)).toBe(true)
    const commits = detail.chain.filter((c) => c.op === "commitPhase")
    expect(commits).toHaveLength(1)
    expect(commits[0]!.status).toBe("confirmed")
  }, 360_000)
})
