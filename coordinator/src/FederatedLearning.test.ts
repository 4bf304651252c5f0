/**
 * Horizontal federated learning over real processes: anvil, the coordinator's socket.io hub and HTTP API, and
 * three participant processes (LocalCluster) holding label-skewed shards of digits.csv. Trains with secure
 * aggregation, checks the notarized single Merkle commitment, the model store and online prediction through
 * the HTTP API, batch prediction at one participant, and a consent refusal for a model over a policy bound.
 */
import { createHash } from "node:crypto"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Result } from "@jointly/core/internal/protocols/federated-learning/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { digitsParams, digitsTopology, loadDigits, nonIid, type Digits } from "@jointly/participant/internal/modeling/DigitsFixture"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"

const names = ["a", "b", "c"] as const
let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let digits: Digits
let test: ReadonlyArray<ReadonlyArray<number>>

const csv = (d: Digits, rows: ReadonlyArray<ReadonlyArray<number>>) => [d.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n"

describe("modeling.horizontal-fl over LocalCluster", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-fl-"))
    digits = loadDigits()
    const split = nonIid(digits, names.length)
    test = split.test
    await mkdir(join(dir, "csv"))
    const columns = digits.header.map((name) => ({ name, type: "integer" as const }))
    const files = await Promise.all(split.shards.map(async (rows, i) => {
      const f = join(dir, "csv", `digits-${names[i]}.csv`)
      await writeFile(f, csv(digits, rows))
      return f
    }))
    cluster = await starter.start({
      dataDir: join(dir, "cluster"),
      parties: names.map((name, i) => ({
        name,
        datasets: [{ name: "digits", file: files[i]!, columns }],
        ...(name === "c"
          ? { policy: { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { digits: {} }, modeling: { maxParameters: 5000, layerTypes: ["Dense"], requireSecureAggregation: true } } as never }
          // a runs batch predictions alone on its own rows: a one-party task needs minParties 1.
          : name === "a"
          ? { policy: { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 1, datasets: { digits: {} } } as never }
          : {})
      }))
    })
  }, 300_000)

  afterAll(async () => {
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  const parties = () => cluster.parties.map((p) => ({ participant: p.address, dataset: "digits" })) as never

  it("refuses a model beyond a participant's policy, naming the bound", async () => {
    const id = await cluster.submit({ kind: "modeling.horizontal-fl", parties: parties(), params: digitsParams(digits.header, { model: digitsTopology(128) }) })
    const detail = await cluster.waitForTask(id, { timeoutMs: 60_000 })
    expect(detail.status).toBe("Rejected")
    expect(detail.reason).toContain("parameters, more than the 5000 allowed")
  }, 90_000)

  it("trains with secure aggregation, stores the model and predicts online and in batch", async () => {
    const params = digitsParams(digits.header, { rounds: 15 })
    const id = await cluster.submit({ kind: "modeling.horizontal-fl", parties: parties(), params, roundTimeoutMs: 60_000 })
    const detail = await cluster.waitForTask(id, { timeoutMs: 170_000 })
    expect(detail.reason).toBeNull()
    expect(detail.status).toBe("Succeeded")
    const result = detail.result as Result
    expect(result.model).toBeUndefined() // moved into the model store
    expect(result.rounds).toHaveLength(15)
    expect(result.rounds.every((r) => r.contributors.length === 3)).toBe(true)
    // One phase commitment for all rounds, notarized; per-round metrics stored as progress events.
    const commits = detail.chain.filter((c) => c.op === "commitPhase")
    expect(commits).toHaveLength(1)
    expect(commits[0]!.status).toBe("confirmed")
    expect(detail.events.filter((e) => e.type === "Progress" && (e.data as { stage: string }).stage === "fl.round")).toHaveLength(15)

    // The analyst (initiator) sees the model's metadata; a party that trained it reads its weights and predicts.
    const stored = await cluster.client.model(result.modelId)
    expect(stored.id).toBe(result.modelId)
    expect(stored.format).toBe("tfjs-layers")
    const trainer = cluster.clientFor(await cluster.walletOf(cluster.parties[0]!.name))
    const weights = await trainer.weights(result.modelId)
    expect(weights.id).toBe(result.modelId)
    const predictions = (await trainer.predict(result.modelId, test.map((r) => r.slice(0, 64)))) as Array<{ prediction: string }>
    const accuracy = predictions.filter((p, i) => p.prediction === String(test[i]![64])).length / test.length
    expect(accuracy).toBeGreaterThan(0.85)

    // Batch prediction at party a: only a count and a digest come back; the file stays in a's data dir.
    const batchId = await cluster.submit({
      kind: "prediction.batch",
      parties: [{ participant: cluster.parties[0]!.address, dataset: "digits" }] as never,
      params: { modelId: result.modelId, model: weights.artifact }
    })
    const batch = await cluster.waitForTask(batchId, { timeoutMs: 60_000 })
    expect(batch.reason).toBeNull()
    expect(batch.status).toBe("Succeeded")
    const batchResult = batch.result as { count: number; digest: string }
    const written = await readFile(join(cluster.parties[0]!.dataDir, "predictions", `${batchId}.csv`))
    expect("0x" + createHash("sha256").update(written).digest("hex")).toBe(batchResult.digest)
    expect(batchResult.count).toBe(written.toString("utf8").trim().split("\n").length - 1)
  }, 240_000)
})
