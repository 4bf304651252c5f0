/**
 * Records the results of the task kinds too slow to run inside the dashboard's Chromium test — a vertical logistic
 * regression on threshold Paillier, a Shapley contribution valuation, SecureBoost's training and a batch prediction
 * with its model (2048-bit Paillier), SecureSVM (mode A) with an encrypted linear prediction by its model (CKKS), and an encrypted similarity search over the digits (BFV) —
 * from real runs: anvil, the coordinator and four participant processes (LocalCluster), the repository's Wisconsin
 * breast-cancer rows and digits. The dashboard test renders these stored results (testing/results/*.json) beside
 * the results of the cheap kinds it runs itself.
 *
 *   node --conditions=@jointly/source --import tsx coordinator/src/dashboard/testing/recordResults.ts [kind …]
 *
 * With kinds named, only those are recorded (prediction.secureboost needs modeling.secureboost in the same run,
 * prediction.encrypted-linear needs modeling.secure-svm).
 * Run it again when a result's Schema changes; the files hold only what the API returns to a recipient.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { artifactId, LinearArtifact } from "@jointly/core/internal/models/ModelArtifact"
import * as VerticalReference from "@jointly/core/internal/protocols/vertical/Reference"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const owners = ["north", "south", "east"] as const
const verticalFiles = ["a", "b", "c"].map((p) => here(`../../../../examples/query/bcw_vertical_party_${p}_psi.csv`))
const boostFiles = ["a", "b", "c"].map((p) => datasetFile(`bcw_vertical_party_${p}.csv`))
const pixels = Array.from({ length: 64 }, (_, i) => `pixel_${Math.floor(i / 8)}_${i % 8}`)
const only = new Set(process.argv.slice(2))
const wanted = (kind: string) => only.size === 0 || only.has(kind)

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
    const boostHeaders = await Promise.all(boostFiles.map(async (f) => (await readFile(f, "utf8")).split(/\r?\n/, 1)[0]!.split(",")))
    // The digits as south's image collection (an id per image), one of them with six pixels redrawn as north's query.
    const digitLines = (await readFile(datasetFile("digits.csv"), "utf8")).trim().split(/\r?\n/)
    const digitHeader = digitLines[0]!.split(",")
    const digitRows = digitLines.slice(1).map((l) => l.split(",").map(Number))
    const image = (r: ReadonlyArray<number>) => pixels.map((p) => r[digitHeader.indexOf(p)]!)
    const query = image(digitRows[1234]!)
    for (const [i, v] of [[3, 16], [10, 0], [20, 9], [33, 2], [50, 16], [61, 5]] as const) query[i] = v
    const galleryFile = join(dir, "gallery.csv")
    const queryFile = join(dir, "query.csv")
    await writeFile(galleryFile, [["id", "label", ...pixels].join(","), ...digitRows.map((r, i) => [`img-${String(i).padStart(4, "0")}`, r[digitHeader.indexOf("label")], ...image(r)].join(","))].join("\n") + "\n")
    await writeFile(queryFile, [pixels.join(","), query.join(",")].join("\n") + "\n")
    const ints = (names: ReadonlyArray<string>) => names.map((name) => ({ name, type: "integer" as const }))
    const cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      onProgress: (line) => process.stderr.write(`${line}\n`),
      parties: [...owners, "valuer"].map((name, i) => ({
        name,
        datasets: [
          { name: "bcw", file: files[name]!, columns: bcwColumns },
          ...(i < 3 ? [{ name: "bcw-vertical", file: verticalFiles[i]!, columns: verticalTables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? ("string" as const) : ("integer" as const) })) }] : []),
          ...(i < 3 ? [{ name: "bcw-boost", file: boostFiles[i]!, columns: boostHeaders[i]!.map((c) => ({ name: c, type: c === "id" ? ("string" as const) : ("integer" as const) })) }] : []),
          ...(name === "north" ? [{ name: "query", file: queryFile, columns: ints(pixels) }] : []),
          ...(name === "south" ? [{ name: "gallery", file: galleryFile, id: "id", columns: [{ name: "id", type: "string" as const }, ...ints(["label", ...pixels])] }] : [])
        ]
      }))
    })
    try {
      /** Runs a kind wanted, or needed by a later kind wanted (`for`); records only a kind wanted. */
      const run = async (spec: Parameters<typeof cluster.submit>[0], needed?: { for: string }) => {
        if (!wanted(spec.kind) && !(needed && wanted(needed.for))) return undefined
        const id = await cluster.submit(spec)
        const detail = await cluster.waitForTask(id, { timeoutMs: 900_000 })
        if (detail.status !== "Succeeded") throw new Error(`${spec.kind}: ${detail.status} ${detail.reason}`)
        const { result } = await cluster.client.result(id)
        if (!wanted(spec.kind)) return id
        const file = here(`./results/${spec.kind}.json`)
        // Where a participant keeps an output is a path of this machine: kept as the party's name only.
        const text = JSON.stringify({ kind: spec.kind, recordedBy: "coordinator/src/dashboard/testing/recordResults.ts", result }, null, 2).replaceAll(join(dir, "cluster", "parties") + "/", "<data dirs>/")
        await writeFile(file, text + "\n")
        process.stderr.write(`wrote ${file}\n`)
        return id
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
      const svm = await run({
        kind: "modeling.secure-svm",
        name: "screening SVM",
        parties: (["north", "south"] as const).map((name) => ({ participant: cluster.party(name).address, dataset: "bcw" })) as never,
        params: { features, label: { column: "label", positive: 1, negative: 0 }, seed: 7 }
      } as never, { for: "prediction.encrypted-linear" })
      if (svm !== undefined) {
        // North owns the SVM: its linear model goes to north's model store (participant/src/he/OwnedModels.ts), and
        // south scores its own rows under CKKS against it without north ever seeing them.
        const model = LinearArtifact.pipe(Schema.decodeUnknownSync)(((await cluster.client.result(svm)).result as { model: unknown }).model)
        const modelId = artifactId(model)
        await mkdir(join(cluster.party("north").dataDir, "models"), { recursive: true })
        await writeFile(join(cluster.party("north").dataDir, "models", `${modelId}.json`), JSON.stringify(model))
        await run({
          kind: "prediction.encrypted-linear",
          name: "south's rows scored under encryption",
          parties: (["south", "north"] as const).map((name) => ({ participant: cluster.party(name).address, dataset: "bcw" })) as never,
          params: { requester: cluster.party("south").address, owner: cluster.party("north").address, modelId, features: model.featureColumns }
        } as never)
      }
      const boostOwners = owners.map((name) => cluster.party(name).address)
      const boosted = await run({
        kind: "modeling.secureboost",
        name: "boosted screening trees",
        parties: boostOwners.map((participant) => ({ participant, dataset: "bcw-boost" })) as never,
        params: {
          idColumn: "id",
          labelHolder: boostOwners[0],
          label: { column: "label", positive: 1 },
          features: boostOwners.map((party, i) => ({ party, columns: boostHeaders[i]!.filter((c) => c !== "id" && c !== "label") })),
          maxIds: 10_000,
          trees: 4,
          maxDepth: 2,
          validationFraction: 0.2
        }
      } as never)
      if (boosted !== undefined) {
        await run({
          kind: "prediction.secureboost",
          name: "score every shared id",
          parties: boostOwners.map((participant) => ({ participant, dataset: "bcw-boost" })) as never,
          params: { model: boosted, labelHolder: boostOwners[0], requester: boostOwners[1], idColumn: "id", batchSize: 400 }
        } as never)
      }
      await run({
        kind: "query.similar",
        name: "ten nearest scans",
        parties: [{ participant: cluster.party("north").address, dataset: "query" }, { participant: cluster.party("south").address, dataset: "gallery" }] as never,
        params: { querier: cluster.party("north").address, owner: cluster.party("south").address, features: pixels, featureMax: 16, idColumn: "id", labelColumn: "label", k: 10 }
      } as never)
    } finally {
      await cluster.stop()
    }
  } finally {
    await removeDir(dir)
  }
}

await main()
