/**
 * A browser participant's datasets: what the host page hands over — a CSV or Parquet `File` or `Blob` (a file
 * input, a drop, a fetch's blob) or an in-memory table (typed columns) — read once, every value of every declared
 * column checked, into the same in-memory table the protocols read (`TabularData`). Parquet is read with
 * hyparquet (pure JavaScript: only the declared columns' chunks are sliced from the Blob) and every codec but LZO
 * through hyparquet-compressors (gzip, brotli, zstd, lz4, lz4-raw, and snappy in a 3 kB WASM), loaded on the first
 * Parquet file rather than at the page's start. The rows never leave the page's
 * memory except as a protocol sends them; messages name the file (its name, never its content).
 */
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import { type ColumnSpec, columnTable, isNumericType, type TabularData } from "@jointly/core/internal/data/Tabular"
import { parquetMetadataAsync, parquetRead } from "hyparquet"
import { readColumns, recordsOf } from "../datasets/CsvText.ts"
import type { DatasetSummary } from "../datasets/Dataset.ts"

/** A CSV file or Blob with its declared schema (`File.name` names it in errors). */
export interface CsvInput {
  readonly name: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly id?: string
  readonly csv: Blob | string
}

/** Columns the page already holds: numbers (any array-like of numbers) or text, one entry per row. */
export interface TableInputValue {
  readonly name: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly id?: string
  readonly table: Readonly<Record<string, ArrayLike<number> | ReadonlyArray<string>>>
}

/** A Parquet file or Blob with its declared schema: only the declared columns are read. */
export interface ParquetInput {
  readonly name: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly id?: string
  readonly parquet: Blob
}

export type TableInput = CsvInput | ParquetInput | TableInputValue

export interface Opened {
  readonly summary: DatasetSummary
  readonly table: TabularData
  /** SHA-256 over the canonical encoding of the declared columns (a catalogue's dataHash), 0x-prefixed. */
  readonly contentHash: string
}

const sourceOf = (input: CsvInput): string =>
  typeof input.csv === "string" ? `csv text ${input.name}` : "name" in input.csv && typeof input.csv.name === "string" ? input.csv.name : `blob ${input.name}`

/** The lines of a Blob, decoded as UTF-8 as they stream (without line breaks; "\r\n" counts as one). */
async function* linesOf(blob: Blob): AsyncGenerator<string> {
  const reader = blob.stream().pipeThrough(new TextDecoderStream()).getReader()
  let rest = ""
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const lines = (rest + value).split("\n")
      rest = lines.pop()!
      for (const line of lines) yield line.endsWith("\r") ? line.slice(0, -1) : line
    }
    if (rest !== "") yield rest.endsWith("\r") ? rest.slice(0, -1) : rest
  } finally {
    reader.releaseLock()
  }
}

const fromCsv = async (input: CsvInput): Promise<Opened> => {
  const source = sourceOf(input)
  const lines = typeof input.csv === "string" ? input.csv.split(/\r?\n/) : linesOf(input.csv)
  const { rowCount, columns } = await readColumns(source, input, recordsOf(source, lines))
  return opened(input, "csv", source, rowCount, columns)
}

/** Checks every declared column of values the page or a Parquet file gave, naming `source` and the row. */
const checkedColumns = (input: { readonly name: string; readonly columns: ReadonlyArray<ColumnSpec> }, source: string, table: TableInputValue["table"]) => {
  let rowCount: number | undefined
  const columns = new Map<string, Float64Array | ReadonlyArray<string>>()
  for (const column of input.columns) {
    const values = table[column.name]
    if (values === undefined) throw new DatasetError({ reason: "UnknownColumn", source, column: column.name, detail: `the table has no column ${column.name}` })
    if (rowCount !== undefined && values.length !== rowCount) {
      throw new DatasetError({ reason: "RowLength", source, column: column.name, detail: `${values.length} values where the first column has ${rowCount}` })
    }
    rowCount = values.length
    const raw = values as ArrayLike<unknown>
    if (isNumericType(column.type)) {
      const numbers = Float64Array.from(values as ArrayLike<number>)
      numbers.forEach((x, row) => {
        if (raw[row] === null || raw[row] === undefined) throw new DatasetError({ reason: "NullValue", source, row: row + 1, column: column.name, detail: "no value" })
        if (typeof raw[row] !== "number") throw new DatasetError({ reason: "NotNumeric", source, row: row + 1, column: column.name, detail: "not a number" })
        if (!Number.isFinite(x)) throw new DatasetError({ reason: "NotFinite", source, row: row + 1, column: column.name, detail: `${x} is not finite` })
        if (column.type === "integer" && !Number.isSafeInteger(x)) throw new DatasetError({ reason: "NotInteger", source, row: row + 1, column: column.name, detail: `${x} is not a safe integer` })
      })
      columns.set(column.name, numbers)
    } else {
      columns.set(column.name, Array.from(raw, (v, row) => {
        if (v === null || v === undefined) throw new DatasetError({ reason: "NullValue", source, row: row + 1, column: column.name, detail: "no value" })
        return String(v)
      }))
    }
  }
  if (rowCount === undefined || rowCount === 0) throw new DatasetError({ reason: "Empty", source, detail: `table ${input.name} has no rows` })
  return { rowCount, columns }
}

const fromTable = (input: TableInputValue): Opened => {
  const source = `memory table ${input.name}`
  const { rowCount, columns } = checkedColumns(input, source, input.table)
  return opened(input, "memory", source, rowCount, columns)
}

/** A Parquet INT64 arrives as a bigint: a number when it is one exactly, else left for the check to name. */
const plain = (v: unknown): unknown => (typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : `${v}n`) : v)

/** Parquet codecs read here: hyparquet's own and hyparquet-compressors' (every codec of the format but LZO). */
const CODECS: ReadonlySet<string> = new Set(["UNCOMPRESSED", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4", "LZ4_RAW"])

const fromParquet = async (input: ParquetInput): Promise<Opened> => {
  const source = "name" in input.parquet && typeof input.parquet.name === "string" ? input.parquet.name : `parquet blob ${input.name}`
  const blob = input.parquet
  // Only the byte ranges of the footer and the declared columns' chunks are read from the Blob.
  const file = { byteLength: blob.size, slice: (start: number, end?: number) => blob.slice(start, end).arrayBuffer() }
  const names = input.columns.map((c) => c.name)
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>
  try {
    metadata = await parquetMetadataAsync(file)
  } catch (error) {
    throw new DatasetError({ reason: "Unreadable", source, detail: `not a Parquet file: ${error instanceof Error ? error.message : String(error)}` })
  }
  const present = new Set(metadata.schema.map((e) => e.name))
  const missing = names.find((n) => !present.has(n))
  if (missing !== undefined) throw new DatasetError({ reason: "MissingColumn", source, column: missing, detail: `the file has no column ${missing}` })
  // Named before any page is read: a chunk of a declared column in a codec no reader here knows (LZO, or one a
  // later format version adds).
  const unsupported = metadata.row_groups.flatMap((group) => group.columns.map((chunk) => chunk.meta_data))
    .find((meta) => meta !== undefined && names.includes(meta.path_in_schema.join(".")) && !CODECS.has(meta.codec))
  if (unsupported !== undefined) {
    const column = unsupported.path_in_schema.join(".")
    throw new DatasetError({ reason: "UnsupportedCodec", source, column, detail: `column ${column} is compressed with ${unsupported.codec}, which this reader does not decompress (it reads ${[...CODECS].join(", ")})` })
  }
  const { compressors } = await import("hyparquet-compressors")
  let rows: Array<Array<unknown>>
  try {
    rows = await new Promise<Array<Array<unknown>>>((resolve, reject) => {
      parquetRead({ file, metadata, columns: names, rowFormat: "array", compressors, onComplete: (r) => resolve(r) }).catch(reject)
    })
  } catch (error) {
    throw new DatasetError({ reason: "Unreadable", source, detail: error instanceof Error ? error.message : String(error) })
  }
  const table = Object.fromEntries(names.map((name, i) => [name, rows.map((row) => plain(row[i]))])) as unknown as TableInputValue["table"]
  const { rowCount, columns } = checkedColumns(input, source, table)
  return opened(input, "parquet", source, rowCount, columns)
}

const opened = (input: TableInput, kind: DatasetSummary["kind"], source: string, rowCount: number, columns: Map<string, Float64Array | ReadonlyArray<string>>): Opened => ({
  summary: { name: input.name, kind, rowCount, columns: input.columns },
  table: columnTable(input.name, input.columns, rowCount, columns, source),
  contentHash: ContentHash.ofColumns(input.columns, rowCount, columns)
})

/** Reads and checks a dataset; rejects with DatasetError naming the file, the line or row and the column. */
export const open = (input: TableInput): Promise<Opened> =>
  "csv" in input ? fromCsv(input) : "parquet" in input ? fromParquet(input) : Promise.resolve(fromTable(input))
