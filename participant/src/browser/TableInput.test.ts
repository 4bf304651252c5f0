/**
 * The browser participant's dataset inputs, run on Node's Blob: a Parquet file (written by DuckDB from the CSV,
 * typed DOUBLE, BIGINT and VARCHAR, snappy-compressed as DuckDB writes by default) opens to exactly the table of
 * the same rows from CSV — the same content hash over every declared column — and a Parquet file with a missing
 * column, a null value or a codec the reader lacks fails with a DatasetError naming the file, column and row.
 */
import { readFile, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DuckDBInstance } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { ColumnSpec } from "@jointly/core/internal/data/Tabular"
import * as TableInput from "./TableInput.ts"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const pimaCsv = join(repo, "examples/demo/pima-east.csv")
const bcwCsv = join(repo, "examples/query/bcw_vertical_party_c_psi.csv")
const pimaColumns: ReadonlyArray<ColumnSpec> = [
  { name: "glucose", type: "number" },
  { name: "mass", type: "number" },
  { name: "pedigree", type: "number" },
  { name: "age", type: "integer" }
]
const bcwColumns: ReadonlyArray<ColumnSpec> = [
  { name: "id", type: "string" },
  { name: "bland_chromatin", type: "integer" },
  { name: "mitoses", type: "integer" }
]

let dir: string
const file = (name: string) => join(dir, name)
const blobOf = async (path: string) => new File([await readFile(path)], path.split("/").pop()!)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-table-input-"))
  const duck = await DuckDBInstance.create(":memory:")
  const connection = await duck.connect()
  const copy = (select: string, to: string, options = "") => connection.run(`COPY (${select}) TO '${file(to)}' (FORMAT parquet${options})`)
  await copy(`SELECT CAST(glucose AS DOUBLE) AS glucose, CAST(mass AS DOUBLE) AS mass, CAST(pedigree AS DOUBLE) AS pedigree, CAST(age AS BIGINT) AS age FROM read_csv('${pimaCsv}', header = true, all_varchar = true)`, "pima.parquet")
  await copy(`SELECT id, CAST(bland_chromatin AS BIGINT) AS bland_chromatin, CAST(mitoses AS BIGINT) AS mitoses FROM read_csv('${bcwCsv}', header = true, all_varchar = true)`, "bcw.parquet")
  await copy(`SELECT CAST(glucose AS DOUBLE) AS glucose, CAST(NULLIF(mass, '0') AS DOUBLE) AS mass FROM read_csv('${pimaCsv}', header = true, all_varchar = true)`, "nulls.parquet")
  await copy(`SELECT CAST(glucose AS DOUBLE) AS glucose FROM read_csv('${pimaCsv}', header = true, all_varchar = true)`, "brotli.parquet", ", COMPRESSION brotli")
  connection.closeSync()
  duck.closeSync()
}, 60_000)

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const failure = async (input: TableInput.TableInput) => {
  const error = await TableInput.open(input).then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(DatasetError)
  return error as DatasetError
}

describe("a browser participant's Parquet input", () => {
  it("opens to exactly the table of the same rows from CSV (numbers, integers and text ids)", async () => {
    for (const [csv, parquet, columns] of [[pimaCsv, "pima.parquet", pimaColumns], [bcwCsv, "bcw.parquet", bcwColumns]] as const) {
      const fromCsv = await TableInput.open({ name: "t", columns, csv: await blobOf(csv) })
      const fromParquet = await TableInput.open({ name: "t", columns, parquet: await blobOf(file(parquet)) })
      expect(fromParquet.summary).toEqual({ ...fromCsv.summary, kind: "parquet" })
      expect(fromParquet.contentHash).toBe(fromCsv.contentHash)
      expect(fromParquet.summary.rowCount).toBeGreaterThan(100)
    }
  })

  it("names the file and the column of a missing column, the row of a null value, and an unsupported codec", async () => {
    const missing = await failure({ name: "t", columns: [...pimaColumns, { name: "insulin", type: "number" }], parquet: await blobOf(file("pima.parquet")) })
    expect(missing).toMatchObject({ reason: "MissingColumn", source: "pima.parquet", column: "insulin" })
    const nulls = await failure({ name: "t", columns: [{ name: "glucose", type: "number" }, { name: "mass", type: "number" }], parquet: await blobOf(file("nulls.parquet")) })
    expect(nulls).toMatchObject({ reason: "NullValue", source: "nulls.parquet", column: "mass" })
    expect(nulls.row).toBeGreaterThan(0)
    const codec = await failure({ name: "t", columns: [{ name: "glucose", type: "number" }], parquet: await blobOf(file("brotli.parquet")) })
    expect(codec).toMatchObject({ reason: "Unreadable", source: "brotli.parquet" })
    const notParquet = await failure({ name: "t", columns: pimaColumns, parquet: await blobOf(pimaCsv) })
    expect(notParquet.reason).toBe("Unreadable")
  })
})
