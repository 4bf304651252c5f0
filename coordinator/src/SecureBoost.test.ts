/**
 * SecureBoost over real processes: anvil, the coordinator and three participant processes (LocalCluster) reading
 * the bcw vertical split of datasets/ (label at party a), at the production key size (2048-bit Paillier: the
 * kinds have no test-size parameter). Two trees of depth 2 keep it short; the in-memory test covers more.
 * The label holder's evaluation and an online prediction for party c agree, id by id, with the plaintext
 * reference with the same bins; the coordinator's stored result holds no id, margin or threshold, and each
 * party's model part lies sealed in its own store.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Fixtures from "@jointly/core/internal/testing/SecureBoostFixtures"
import * as Reference from "@jointly/core/internal/protocols/secureboost/Reference"
import * as Spec from "@jointly/core/internal/protocols/secureboost/spec"
import type * as Stages from "@jointly/core/internal/protocols/secureboost/Stages"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"

const names = ["a", "b", "c"] as const
const files = Object.fromEntries(names.map((n) => [n, datasetFile(`bcw_vertical_party_${n}.csv`)])) as Record<(typeof names)[number], string>
const hyper = { maxDepth: 2, learningRate: 0.3, lambda: 1, gamma: 0, minChildWeight: 1, maxBins: 32, testFraction: 0.2, splitSeed: 1, objective: "binary:logistic", trees: 2 } as const

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let headers: Array<Array<string>>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-secureboost-"))
  headers = await Promise.all(names.map(async (n) => (await readFile(files[n], "utf8")).split(/\r?\n/, 1)[0]!.split(",")))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    // Its own process, so the restart case can SIGKILL it.
    coordinatorProcess: true,
    onProgress: (line) => process.env.SECUREBOOST_DEBUG && process.stderr.write(line + "\n"),
    parties: names.map((name, i) => ({
      name,
      datasets: [{ name: "bcw", file: files[name], columns: headers[i]!.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) }] as never
    }))
  })
}, 240_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

const party = (name: string) => cluster.party(name)
const outputOf = async (name: string, taskId: string): Promise<any> => cluster.outputOf(name, taskId)

const run = (kind: string, params: Record<string, unknown>) => cluster.runTask(kind, { parties: names, dataset: "bcw", params, timeoutMs: 200_000 })

const trainParams = (overrides: Record<string, unknown> = {}) => ({
  idColumn: "id",
  labelHolder: party("a").address,
  label: { column: "label", positive: 1 },
  features: names.map((n, i) => ({ party: party(n).address, columns: headers[i]!.filter((c) => c !== "id" && c !== "label") })),
  maxIds: 10_000,
  ...hyper,
  ...overrides
})

describe("SecureBoost over real processes (bcw, 2048-bit Paillier)", () => {
  it("trains, evaluates and predicts online like the plaintext reference", async () => {
    const params = trainParams()
    const trained = await run(Spec.kinds.train, params)
    const result = trained.detail.result as Stages.TrainResult
    expect(result.keyBits).toBe(2048)
    expect([result.rows, result.grown, result.kept]).toEqual([683, 2, 2])
    expect(Object.keys(result.commitments).sort()).toEqual(["secureboost.evaluate", "secureboost.finish", "secureboost.key", "secureboost.prepare", "secureboost.train"])

    const v = Fixtures.vertical("bcw")
    const ref = Reference.train(Fixtures.joined(v), Spec.hyperOf(hyper), Spec.fractionsOf(hyper))
    const refMargin = new Map(Array.from(ref.split.test, (i) => [v.labelHolder.ids[i]!, ref.margins[i]!] as const))
    const holder = await outputOf("a", trained.id)
    expect(new Set(holder.evaluation.ids)).toEqual(new Set(refMargin.keys()))
    holder.evaluation.ids.forEach((id: string, k: number) => expect(holder.evaluation.margins[k], id).toBe(refMargin.get(id)))
    expect(result.test.auc).toBe(holder.metrics.auc)

    // The stored result holds no id, margin or threshold; each part is sealed in its owner's store.
    const stored = JSON.stringify(trained.detail)
    for (const id of holder.evaluation.ids.slice(0, 10)) expect(stored).not.toContain(`"${id}"`)
    for (const m of holder.evaluation.margins.slice(0, 10)) expect(stored).not.toContain(String(m))
    for (const n of names) {
      const sealed = await Promise.all((await readdir(join(party(n).dataDir, "vertical-models"))).map((f) => readFile(join(party(n).dataDir, "vertical-models", f), "utf8")))
      expect(sealed.map((text) => JSON.parse(text).format)).toEqual(["jointly/secureboost-model-part"])
      expect(JSON.parse(sealed[0]!).digest).toBe(result.parts[party(n).address])
      for (const text of sealed) expect(text).not.toContain("threshold")
    }

    const ids = holder.evaluation.ids.slice(0, 5) as Array<string>
    const online = await run(Spec.kinds.predict, { model: trained.id, labelHolder: party("a").address, requester: party("c").address, idColumn: "id", ids })
    const out = await outputOf("c", online.id)
    expect(out.ids).toEqual(ids)
    ids.forEach((id, k) => expect(out.margins[k], id).toBe(refMargin.get(id)))
    expect(JSON.stringify(online.detail)).not.toContain("margins")

    // Batch over every id the parties share (aligned PSI join), in passes of 400: the requester's file holds
    // every row's score, the reference's id by id; the coordinator's result holds a count and a digest.
    const batch = await run(Spec.kinds.predict, { model: trained.id, labelHolder: party("a").address, requester: party("b").address, idColumn: "id", batchSize: 400 })
    const predicted = batch.detail.result as Stages.PredictResult
    expect([predicted.count, predicted.batches]).toEqual([683, 2])
    const all = new Map(v.labelHolder.ids.map((id, i) => [id, ref.margins[i]!] as const))
    const scored = await outputOf("b", batch.id)
    expect(scored.digest).toBe(predicted.digest)
    expect(new Set(scored.ids)).toEqual(new Set(all.keys()))
    scored.ids.forEach((id: string, k: number) => expect(scored.margins[k], id).toBe(all.get(id)))
    expect(batch.detail.events.filter((e: any) => e.type === "Progress" && e.data?.stage === "secureboost.predict").map((e: any) => e.data.done)).toEqual([400, 683])
    expect(JSON.stringify(batch.detail)).not.toContain(scored.ids[0])
  }, 300_000)

  it("resumes after the last sealed tree when the coordinator is SIGKILLed, and ends with the reference's margins", async () => {
    const overrides = { trees: 2 }
    const parties = names.map((n) => ({ participant: party(n).address, dataset: "bcw" }))
    const id = await cluster.submit({ kind: Spec.kinds.train, parties: parties as never, params: trainParams(overrides) as never })
    const grown = (e: { type: string; data: unknown }) => e.type === "Progress" && (e.data as { stage?: string }).stage === "secureboost.train"
    await F.eventually(async () => ((await cluster.task(id).catch(() => undefined))?.events.some(grown) ? true : undefined), "a first tree", 200_000)
    await cluster.restartCoordinator("SIGKILL")

    const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.attempt).toBe(1)
    const result = detail.result as Stages.TrainResult
    expect(result.resumedFromTree).toBeGreaterThanOrEqual(1)
    expect([result.grown, result.kept, result.curve.length]).toEqual([2, 2, 2])
    // The trees of both attempts make the reference's model: the test margins, id by id.
    const v = Fixtures.vertical("bcw")
    const ref = Reference.train(Fixtures.joined(v), Spec.hyperOf({ ...hyper, ...overrides }), Spec.fractionsOf(hyper))
    const refMargin = new Map(Array.from(ref.split.test, (i) => [v.labelHolder.ids[i]!, ref.margins[i]!] as const))
    const holder = await outputOf("a", id)
    expect(holder.evaluation.ids.length).toBe(refMargin.size)
    holder.evaluation.ids.forEach((x: string, k: number) => expect(holder.evaluation.margins[k], x).toBe(refMargin.get(x)))
    // The sealed progress is removed once the result is checkpointed: only the model part is left.
    for (const n of names) {
      const sealed = await Promise.all((await readdir(join(party(n).dataDir, "vertical-models"))).map((f) => readFile(join(party(n).dataDir, "vertical-models", f), "utf8")))
      expect(sealed.map((text) => JSON.parse(text).format).filter((f) => f === "jointly/secureboost-progress")).toEqual([])
    }
  }, 500_000)
})
