/**
 * Records the results of the task kinds too slow to run inside the dashboard's Chromium test — a vertical logistic
 * regression on threshold Paillier and a Shapley contribution valuation — from real runs: anvil, the coordinator
 * and four participant processes (LocalCluster), the repository's Wisconsin breast-cancer rows. The dashboard test
 * renders these stored results (testing/results/*.json) beside the results of the cheap kinds it runs itself.
 *
 *   node --conditions=@jointly/source --import tsx coordinator/src/dashboard/testing/recordResults.ts
 *
 * Run it again when a result's Schema changes; the files hold only what the API returns to a recipient.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as VerticalReference from "@jointly/core/internal/protocols/vertical/Reference"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const owners = ["north", "south", "east"] as const
const verticalFiles = ["a", "b", "c"].map((p) => here(`../../../../examples/query/bcw_vertical_party_${p}_psi.csv`))

const main = async () => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-dashboard-results-"))
  try {
    // Owners' shards and the valuer's test set, from a fixed shuffle of bcw.csv (as coordinator/src/Contribution.test.ts).
    const [head, ...lines] = (await readFile(datasetFile("bcw.csv"), "utf8")).trim().split("\n")
    const header = head!.split(",")
    const label = header.length - 1
    const rows = lines.map((line, i) => ({ line, key: (i * 2654435761) % 4294967296 })).sort((a, b) => a.key - b.key).map((r) => r.line.split(","))
    const flip = (r: Array<string>) => r.map((v, j) => (j === label ? String(1 - Number(v)) : v))
    const shards: Record<string, Array<Array<string>>> = { north: rows.slice(0, 200), south: rows.slice(200, 260), east: rows.slice(260, 380).map(flip), valuer: rows.slice(510, 680) }
    const files = Object.fromEntries(await Promise.all(Object.entries(shards).map(async ([name, shard]) => {
      const file = join(dir, `${name}.csv`)
      await writeFile(file, [header.join(","), ...shard.map((r) => r.join(","))].join("\n") + "\n")
      return [name, file] as const
    })))
    const bcwColumns = header.map((name, j) => ({ name, type: j === 0 ? ("string" as const) : ("integer" as const) }))
    const verticalTables = await Promise.all(verticalFiles.map(async (f) => VerticalReference.parseCsv(await readFile(f, "utf8"))))
    const cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      onProgress: (line) => process.stderr.write(`${line}\n`),
      parties: [...owners, "valuer"].map((name, i) => ({
        name,
        datasets: [
          { name: "bcw", file: files[name]!, columns: bcwColumns },
          ...(i < 3 ? [{ name: "bcw-vertical", file: verticalFiles[i]!, columns: verticalTables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? ("string" as const) : ("integer" as const) })) }] : [])
        ]
      }))
    })
    try {
      const run = async (spec: Parameters<typeof cluster.submit>[0]) => {
        const id = await cluster.submit(spec)
        const detail = await cluster.waitForTask(id, { timeoutMs: 900_000 })
        if (detail.status !== "Succeeded") throw new Error(`${spec.kind}: ${detail.status} ${detail.reason}`)
        const { result } = await cluster.client.result(id)
        const file = here(`./results/${spec.kind}.json`)
        await writeFile(file, JSON.stringify({ kind: spec.kind, recordedBy: "coordinator/src/dashboard/testing/recordResults.ts", result }, null, 2) + "\n")
        process.stderr.write(`wrote ${file}\n`)
      }
      const features = header.slice(1, -1)
      await run({
        kind: "incentives.shapley",
        name: "who helped the screening model",
        parties: [...owners, "valuer"].map((name) => ({ participant: cluster.party(name).address, dataset: "bcw" })) as never,
        params: {
          valuer: cluster.party("valuer").address,
          training: {
            model: { class_name: "Sequential", config: { name: "lr", layers: [{ class_name: "Dense", config: { units: 2, activation: "softmax", use_bias: true, batch_input_shape: [null, features.length] } }] } },
            featureColumns: features,
            labelColumn: header.at(-1),
            scaling: { mean: features.map(() => 4), std: features.map(() => 3) },
            optimizer: "sgd",
            learningRate: 0.5,
            localEpochs: 1,
            batchSize: 100_000,
            rounds: 3,
            validationSplit: 0,
            seed: 3
          }
        },
        roundTimeoutMs: 90_000
      } as never)
      await run({
        kind: "modeling.vertical-logistic",
        name: "vertical screening model",
        parties: owners.map((name) => ({ participant: cluster.party(name).address, dataset: "bcw-vertical" })) as never,
        params: VerticalReference.trainParams(owners.map((name, i) => ({ address: cluster.party(name).address, table: verticalTables[i]! })), { keyBits: 2048, updates: 150, batchSize: 50 }) as never,
        roundTimeoutMs: 120_000
      } as never)
    } finally {
      await cluster.stop()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
