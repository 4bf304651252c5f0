/**
 * The browser participant's dataset inputs, run on Node's Blob: a Parquet file (written by DuckDB from the CSV,
 * typed DOUBLE, BIGINT and VARCHAR, snappy-compressed as DuckDB writes by default, and in every other codec DuckDB
 * writes) opens to exactly the table of the same rows from CSV — the same content hash over every declared column —
 * and a Parquet file with a missing column, a null value or a codec the reader lacks (LZO) fails with a
 * DatasetError naming the file, column and row or codec.
 */
import { readFile, mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DuckDBInstance } from "@duckdb/node-api"
import { parquetMetadata } from "hyparquet"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { ColumnSpec } from "@jointly/core/internal/data/Tabular"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
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

/** The codecs DuckDB writes besides its default (snappy; its "lz4" is LZ4_RAW): hyparquet-compressors reads them all. */
const codecs = ["uncompressed", "gzip", "zstd", "brotli", "lz4_raw"] as const
const pimaSelect = `SELECT CAST(glucose AS DOUBLE) AS glucose, CAST(mass AS DOUBLE) AS mass, CAST(pedigree AS DOUBLE) AS pedigree, CAST(age AS BIGINT) AS age FROM read_csv('${pimaCsv}', header = true, all_varchar = true)`

/**
 * A copy of a gzip Parquet file whose footer says LZO for the chunk of `column` (no writer here writes LZO): in the
 * Thrift compact footer, ColumnMetaData's codec (field 4, an i32: header byte 0x15) follows the column's path, and
 * GZIP (2) is the zigzag varint 0x04, LZO (3) 0x06.
 */
const asLzo = (bytes: Uint8Array, column: string): Uint8Array<ArrayBuffer> => {
  const pattern = [...new TextEncoder().encode(column), 0x15, 0x04]
  const copy = Uint8Array.from(bytes)
  const at = copy.findIndex((_, i) => pattern.every((b, k) => copy[i + k] === b))
  if (at < 0) throw new Error(`no codec field after ${column}`)
  copy[at + pattern.length - 1] = 0x06
  return copy
}

let dir: string
const file = (name: string) => join(dir, name)
const blobOf = async (path: string) => new File([await readFile(path)], path.split("/").pop()!)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-table-input-"))
  const duck = await DuckDBInstance.create(":memory:")
  const connection = await duck.connect()
  const copy = (select: string, to: string, options = "") => connection.run(`COPY (${select}) TO '${file(to)}' (FORMAT parquet${options})`)
  await copy(pimaSelect, "pima.parquet")
  await copy(`SELECT id, CAST(bland_chromatin AS BIGINT) AS bland_chromatin, CAST(mitoses AS BIGINT) AS mitoses FROM read_csv('${bcwCsv}', header = true, all_varchar = true)`, "bcw.parquet")
  await copy(`SELECT CAST(glucose AS DOUBLE) AS glucose, CAST(NULLIF(mass, '0') AS DOUBLE) AS mass FROM read_csv('${pimaCsv}', header = true, all_varchar = true)`, "nulls.parquet")
  for (const codec of codecs) await copy(pimaSelect, `pima-${codec}.parquet`, `, COMPRESSION ${codec}`)
  connection.closeSync()
  duck.closeSync()
}, 60_000)

afterAll(async () => {
  if (dir) await removeDir(dir)
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

  it("reads every codec DuckDB writes (gzip, zstd, brotli, lz4_raw, none) to the CSV's content hash", async () => {
    const fromCsv = await TableInput.open({ name: "t", columns: pimaColumns, csv: await blobOf(pimaCsv) })
    for (const codec of codecs) {
      const bytes = await readFile(file(`pima-${codec}.parquet`))
      // The file really is in that codec (DuckDB could fall back to another).
      const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
      expect(new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)))).toEqual(new Set([codec.toUpperCase()]))
      const fromParquet = await TableInput.open({ name: "t", columns: pimaColumns, parquet: await blobOf(file(`pima-${codec}.parquet`)) })
      expect(fromParquet.contentHash, codec).toBe(fromCsv.contentHash)
    }
  })

  it("names the file and the column of a missing column, the row of a null value, and an unsupported codec", async () => {
    const missing = await failure({ name: "t", columns: [...pimaColumns, { name: "insulin", type: "number" }], parquet: await blobOf(file("pima.parquet")) })
    expect(missing).toMatchObject({ reason: "MissingColumn", source: "pima.parquet", column: "insulin" })
    const nulls = await failure({ name: "t", columns: [{ name: "glucose", type: "number" }, { name: "mass", type: "number" }], parquet: await blobOf(file("nulls.parquet")) })
    expect(nulls).toMatchObject({ reason: "NullValue", source: "nulls.parquet", column: "mass" })
    expect(nulls.row).toBeGreaterThan(0)
    const lzo = new File([asLzo(await readFile(file("pima-gzip.parquet")), "mass")], "lzo.parquet")
    const codec = await failure({ name: "t", columns: pimaColumns, parquet: lzo })
    expect(codec).toMatchObject({ reason: "UnsupportedCodec", source: "lzo.parquet", column: "mass", detail: expect.stringContaining("LZO") })
    // The other columns of that file still read: only a declared column in LZO is refused.
    const glucose = await TableInput.open({ name: "t", columns: [{ name: "glucose", type: "number" }], parquet: lzo })
    expect(glucose.summary.rowCount).toBeGreaterThan(100)
    const notParquet = await failure({ name: "t", columns: pimaColumns, parquet: await blobOf(pimaCsv) })
    expect(notParquet.reason).toBe("Unreadable")
  })
})
