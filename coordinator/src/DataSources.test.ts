/**
 * Joint statistics and PSI over real processes where each clinic serves its rows from a different kind of
 * source: north from a PostgreSQL table (a throwaway server), south from a Parquet file, east from a CSV file.
 * The statistics equal, exactly, the same task over the same rows served from CSV by every clinic — and the
 * plaintext integer reference; the PSI receivers' outputs equal the plaintext intersection of the id files.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import pg from "pg"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { sha256Digest } from "@jointly/core/internal/wire/Canonical"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Postgres from "./testing/Postgres.ts"
import * as F from "./testing/fixtures.ts"

const columns: DatasetSpec["columns"] = [
  { name: "pregnant", type: "integer" },
  { name: "glucose", type: "number" },
  { name: "mass", type: "number" },
  { name: "pedigree", type: "number" },
  { name: "age", type: "integer" }
]
const names = ["north", "south", "east"] as const

const params: Params = {
  columns: ["glucose", "mass", "pedigree", "age"],
  statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
  histogram: { glucose: [0, 80, 100, 120, 140, 160, 180, 200], pedigree: [0, 0.25, 0.5, 1, 2.5] },
  where: { column: "glucose", op: ">", value: 0 }
}

let dir: string
let server: Awaited<ReturnType<typeof Postgres.start>>
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let parts: Array<F.Csv>

/** The bcw id files of examples/query/, one per clinic (ids are text: some carry a suffix). */
const idFiles = ["a", "b", "c"].map((p) => fileURLToPath(new URL(`../../examples/query/bcw_vertical_party_${p}_psi.csv`, import.meta.url)))
const idColumns: DatasetSpec["columns"] = [{ name: "id", type: "string" }, { name: "score", type: "integer" }]
const idsOf = async (file: string) => (await readFile(file, "utf8")).trim().split(/\r?\n/).slice(1).map((line) => line.split(",") as [string, string, ...Array<string>])

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-sources-cluster-"))
  const data = join(dir, "data")
  await mkdir(data)
  parts = F.splitRoundRobin(F.pima(), 3)
  const csvFiles = await Promise.all(parts.map((p, i) => F.writeCsv(data, `pima-${names[i]}.csv`, p)))

  // north: a PostgreSQL table typed as a bank would type it (int, float8, numeric), loaded from the same text.
  server = await Postgres.start()
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  await client.query("CREATE TABLE clinic (pregnant int4, glucose float8, mass numeric(5,1), pedigree float8, age int4, seq serial)")
  const north = parts[0]!
  const at = (name: string) => north.header.indexOf(name)
  for (const row of north.rows) {
    await client.query("INSERT INTO clinic (pregnant, glucose, mass, pedigree, age) VALUES ($1, $2, $3, $4, $5)", columns.map((c) => row[at(c.name)]!))
  }
  // north's PSI ids: a text key beside an integer column, inserted from the first id file.
  await client.query("CREATE TABLE patients (id text, score int4)")
  for (const [id, score] of await idsOf(idFiles[0]!)) await client.query("INSERT INTO patients VALUES ($1, $2)", [id, score])
  await client.end()

  // south: a Parquet file written by DuckDB from its CSV.
  const parquet = join(data, "pima-south.parquet")
  const duck = await DuckDBInstance.create(":memory:")
  const connection = await duck.connect()
  await connection.run(`COPY (SELECT CAST(pregnant AS INTEGER) AS pregnant, CAST(glucose AS DOUBLE) AS glucose, CAST(mass AS DOUBLE) AS mass, CAST(pedigree AS DOUBLE) AS pedigree, CAST(age AS BIGINT) AS age FROM read_csv('${csvFiles[1]}', header = true, all_varchar = true)) TO '${parquet}' (FORMAT parquet)`)
  const idsParquet = join(data, "ids-south.parquet")
  await connection.run(`COPY (SELECT id, CAST(marginal_adhesion AS INTEGER) AS score FROM read_csv('${idFiles[1]}', header = true, all_varchar = true)) TO '${idsParquet}' (FORMAT parquet)`)
  connection.closeSync()
  duck.closeSync()
  const idsCsv = join(data, "ids-east.csv")
  await writeFile(idsCsv, "id,score\n" + (await idsOf(idFiles[2]!)).map(([id, score]) => `${id},${score}`).join("\n") + "\n")

  const ids: ReadonlyArray<DatasetSpec> = [
    { name: "ids", postgres: { connection: server.url, table: "patients" }, columns: idColumns, id: "id" },
    { name: "ids", file: idsParquet, format: "parquet", columns: idColumns, id: "id" },
    { name: "ids", file: idsCsv, columns: idColumns, id: "id" }
  ]
  const mixed: ReadonlyArray<DatasetSpec> = [
    { name: "pima", postgres: { connection: server.url, table: "clinic" }, columns },
    { name: "pima", file: parquet, format: "parquet", columns },
    { name: "pima", file: csvFiles[2]!, columns }
  ]
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: names.map((name, i) => ({ name, datasets: [mixed[i]!, { name: "pima-csv", file: csvFiles[i]!, columns }, ids[i]!] }))
  })
}, 300_000)

afterAll(async () => {
  await starter.stop()
  await server?.stop()
  if (dir) await removeDir(dir)
})

describe("joint statistics from PostgreSQL, Parquet and CSV parties", () => {
  it("equals the all-CSV result and the plaintext integer reference exactly", async () => {
    const spec = (dataset: string) => ({
      kind: "statistics.horizontal",
      name: "mixed sources",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset })) as never,
      params
    })
    const [mixedId, csvId] = await Promise.all([cluster.submit(spec("pima")), cluster.submit(spec("pima-csv"))])
    const [mixed, allCsv] = await Promise.all([cluster.waitForTask(mixedId, { timeoutMs: 120_000 }), cluster.waitForTask(csvId, { timeoutMs: 120_000 })])
    expect(mixed.reason).toBeNull()
    expect(mixed.status).toBe("Succeeded")
    expect(allCsv.status).toBe("Succeeded")
    const { contributors: a, ...mixedResult } = mixed.result as Record<string, unknown>
    const { contributors: b, ...csvResult } = allCsv.result as Record<string, unknown>
    expect(mixedResult).toEqual(csvResult)
    expect(new Set(a as Array<string>)).toEqual(new Set(b as Array<string>))

    // The plaintext reference: every clinic's exact integer vector, summed.
    const { contributors: _, ...expected } = F.exactReference(parts, params, [])
    expect(mixedResult).toEqual(expected)
    expect((mixedResult as { count: number }).count).toBe(763)
  }, 240_000)

  it("PSI over a PostgreSQL table, a Parquet file and a CSV file gives the receivers the plaintext intersection", async () => {
    const sets = await Promise.all(idFiles.map(async (file) => new Set((await idsOf(file)).map(([id]) => id))))
    const shared = new Set([...sets[0]!].filter((id) => sets[1]!.has(id) && sets[2]!.has(id)))
    expect(shared.size).toBe(413)
    const [north, , east] = cluster.parties
    const id = await cluster.submit({
      kind: "query.psi",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "ids" })) as never,
      params: { idColumn: "id", receivers: [north!.address, east!.address], maxIds: 10_000 }
    })
    const detail = await cluster.waitForTask(id, { timeoutMs: 120_000 })
    expect(detail.reason).toBeNull()
    expect(detail.status).toBe("Succeeded")
    expect((detail.result as { cardinality: number }).cardinality).toBe(shared.size)
    for (const party of [north!, east!]) {
      const output = JSON.parse(await readFile(join(party.dataDir, "outputs", `${id}.json`), "utf8"))
      expect(new Set(output.ids)).toEqual(shared)
      const { digest, ...rest } = output
      expect(digest).toBe(sha256Digest(rest))
    }
  }, 180_000)
})
