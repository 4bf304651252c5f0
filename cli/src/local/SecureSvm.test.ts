/**
 * SecureSVM mode A over real parts: anvil, the coordinator's socket.io server and three participant processes,
 * each reading its own third of bcw from a CSV file. The trained model must equal the exact fixed-point
 * trajectory computed in this process, and its precision/recall the float SVM's within 1 point.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Model from "@jointly/core/internal/protocols/secure-svm/Model"
import { hyperOf, type Params, type Result } from "@jointly/core/internal/protocols/secure-svm/spec"
import * as LocalCluster from "./LocalCluster.ts"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const source = datasetFile("bcw.csv")
const names = ["north", "south", "east"]
let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let parties: Array<Model.PartyData>
let features: Array<string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-svm-"))
  await mkdir(join(dir, "csv"))
  const [header, ...lines] = (await readFile(source, "utf8")).trim().split("\n")
  const columns = header!.split(",")
  features = columns.slice(1, 10)
  const thirds = [0, 1, 2].map((p) => lines.filter((_, i) => i % 3 === p))
  parties = thirds.map((rows) => {
    const values = rows.map((l) => l.split(",").map(Number))
    return { x: values.map((r) => Float64Array.from(r.slice(1, 10))), y: Int8Array.from(values, (r) => (r[10] === 1 ? 1 : -1)) }
  })
  const files = await Promise.all(thirds.map(async (rows, i) => {
    const file = join(dir, "csv", `bcw-${names[i]}.csv`)
    await writeFile(file, [header, ...rows].join("\n") + "\n")
    return file
  }))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: names.map((name, i) => ({
      name,
      datasets: [{ name: "bcw", file: files[i]!, columns: columns.map((c) => ({ name: c, type: c === "id" ? ("string" as const) : ("integer" as const) })) }]
    }))
  })
}, 300_000)

afterAll(async () => {
  await starter.stop()
  await removeDir(dir)
})

describe("SecureSVM over a local cluster", () => {
  it("mode A trains on bcw over three participant processes", async () => {
    const params = { features, label: { column: "label", positive: 1, negative: 0 }, seed: 7 } as unknown as Params
    const id = await cluster.submit({ kind: "modeling.secure-svm", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "bcw" })) as never, params })
    const detail = await cluster.waitForTask(id)
    expect(detail.reason).toBeNull()
    expect(detail.status).toBe("Succeeded")
    const result = detail.result as Result
    const fixed = Model.trainFixedPoint(parties, hyperOf(params), result.model.scaling!)
    expect(result.model.weights).toEqual(fixed.model.weights)
    expect(result.model.bias).toBe(fixed.model.bias)
    const plain = Model.metrics(Model.trainPlaintext(parties, hyperOf(params), result.model.scaling!).confusion)
    expect(Math.abs(result.test.precision - plain.precision)).toBeLessThanOrEqual(0.01)
    expect(Math.abs(result.test.recall - plain.recall)).toBeLessThanOrEqual(0.01)
  }, 90_000)
})
