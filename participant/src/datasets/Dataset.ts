/**
 * A participant's dataset in memory: declared columns only, stored column by column (Float64Array for
 * numbers, string[] for strings) so kernels can hand a column to a worker as one transferable buffer.
 *
 * Adapters (`CsvDataset.ts`, later SQL) build a Dataset from a `DatasetSpec`; the rest of the participant
 * reads columns through `numeric` / `strings` and selects rows with `where`. Nothing here touches Node APIs.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"

export const ColumnType = Schema.Literals(["number", "integer", "string"])
export type ColumnType = typeof ColumnType.Type

export const ColumnSpec = Schema.Struct({ name: Schema.String, type: ColumnType })
export type ColumnSpec = typeof ColumnSpec.Type

/** How a dataset is registered: a name, its source file, the columns to load and optionally a row-id column. */
export const DatasetSpec = Schema.Struct({
  name: Schema.String,
  file: Schema.String,
  columns: Schema.Array(ColumnSpec),
  id: Schema.optional(Schema.String)
})
export type DatasetSpec = typeof DatasetSpec.Type

export const DatasetErrorReason = Schema.Literals([
  "FileNotFound",
  "Unreadable",
  "Empty",
  "MissingColumn",
  "DuplicateColumn",
  "RowLength",
  "NotNumeric",
  "NotFinite",
  "NotInteger",
  "UnknownColumn",
  "WrongType"
])

/** Any failure to load or query a dataset; names the file, the 1-based line and the column where they apply. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  reason: DatasetErrorReason,
  file: Schema.String,
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    const where = [this.file, this.line === undefined ? undefined : `line ${this.line}`, this.column === undefined ? undefined : `column "${this.column}"`]
      .filter((part) => part !== undefined)
      .join(", ")
    return `${where}: ${this.reason}: ${this.detail}`
  }
}

/** What the agent may know of a dataset without its rows (consent, status); crosses the worker boundary. */
export const DatasetSummary = Schema.Struct({
  name: Schema.String,
  rowCount: Schema.Int,
  contentHash: Schema.String,
  columns: Schema.Array(ColumnSpec)
})
export type DatasetSummary = typeof DatasetSummary.Type

export type Column = Float64Array | ReadonlyArray<string>

export class Dataset {
  /** Column name → values, in declared order; every column has `rowCount` entries. */
  readonly #columns: ReadonlyMap<string, Column>
  /** SHA-256 over the canonical encoding of the declared columns (`contentHash`), 0x-prefixed: usable as a catalogue dataHash. */
  readonly contentHash: string

  constructor(
    readonly spec: DatasetSpec,
    readonly rowCount: number,
    columns: ReadonlyMap<string, Column>
  ) {
    this.#columns = columns
    this.contentHash = contentHash(spec.columns, rowCount, columns)
  }

  get name(): string {
    return this.spec.name
  }

  get columns(): ReadonlyArray<ColumnSpec> {
    return this.spec.columns
  }

  /** The declared type of `column`, or undefined when it is not in the schema. */
  typeOf(column: string): ColumnType | undefined {
    return this.spec.columns.find((c) => c.name === column)?.type
  }

  /** A number or integer column; throws DatasetError (UnknownColumn, or WrongType for a string column). */
  numeric(column: string): Float64Array {
    const values = this.#get(column)
    if (!(values instanceof Float64Array)) {
      throw new DatasetError({ reason: "WrongType", file: this.spec.file, column, detail: `column is declared as string, not numeric, in dataset ${this.name}` })
    }
    return values
  }

  /** A string column; throws DatasetError (UnknownColumn, or WrongType for a numeric column). */
  strings(column: string): ReadonlyArray<string> {
    const values = this.#get(column)
    if (values instanceof Float64Array) {
      throw new DatasetError({ reason: "WrongType", file: this.spec.file, column, detail: `column is declared as numeric, not string, in dataset ${this.name}` })
    }
    return values
  }

  /** Row ids from the `id` column as strings, or undefined when the spec names none. */
  ids(): ReadonlyArray<string> | undefined {
    if (this.spec.id === undefined) return undefined
    const values = this.#get(this.spec.id)
    return values instanceof Float64Array ? Array.from(values, String) : values
  }

  #get(column: string): Column {
    const values = this.#columns.get(column)
    if (values === undefined) {
      throw new DatasetError({
        reason: "UnknownColumn",
        file: this.spec.file,
        column,
        detail: `dataset ${this.name} has no column "${column}" (declared: ${this.spec.columns.map((c) => c.name).join(", ")})`
      })
    }
    return values
  }
}

// Canonical encoding, hashed: "jointly.dataset.v1", rowCount, then per declared column in declared order its
// name, type and values (float64 little-endian; strings as u32 length + UTF-8). Parsed values are hashed, not
// file bytes, so "1.0" and "1", quoting, line endings and undeclared columns do not change the hash.
const contentHash = (columns: ReadonlyArray<ColumnSpec>, rowCount: number, values: ReadonlyMap<string, Column>): string => {
  const hash = sha256.create()
  const utf8 = new TextEncoder()
  const u32 = (n: number) => {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, n, true)
    hash.update(b)
  }
  const text = (s: string) => {
    const bytes = utf8.encode(s)
    u32(bytes.length)
    hash.update(bytes)
  }
  text("jointly.dataset.v1")
  u32(rowCount)
  u32(columns.length)
  for (const column of columns) {
    text(column.name)
    text(column.type)
    const data = values.get(column.name)!
    if (data instanceof Float64Array) {
      const bytes = new Uint8Array(data.length * 8)
      const view = new DataView(bytes.buffer)
      // -0 and 0 compare equal in every computation: hash them alike.
      for (let i = 0; i < data.length; i++) view.setFloat64(i * 8, data[i]! + 0, true)
      hash.update(bytes)
    } else {
      for (const s of data) text(s)
    }
  }
  return "0x" + bytesToHex(hash.digest())
}

export const summarize = (dataset: Dataset): DatasetSummary => ({
  name: dataset.name,
  rowCount: dataset.rowCount,
  contentHash: dataset.contentHash,
  columns: dataset.columns
})

export const FilterOp = Schema.Literals(["<", "<=", ">", ">=", "==", "!="])
export type FilterOp = typeof FilterOp.Type

/** A row predicate `column op value`, e.g. `{ column: "age", op: ">=", value: 50 }`; decodable from task params. */
export const Filter = Schema.Struct({
  column: Schema.String,
  op: FilterOp,
  value: Schema.Union([Schema.Number, Schema.String])
})
export type Filter = typeof Filter.Type

const compare = <T extends number | string>(op: FilterOp, a: T, b: T): boolean => {
  switch (op) {
    case "<":
      return a < b
    case "<=":
      return a <= b
    case ">":
      return a > b
    case ">=":
      return a >= b
    case "==":
      return a === b
    case "!=":
      return a !== b
  }
}

/**
 * Row mask (1 = selected) of the rows matching every filter; no filters selects all rows. Numeric columns
 * compare with a number, string columns with a string (ordering by UTF-16 code units). Throws DatasetError:
 * UnknownColumn, or WrongType when the value's type does not match the column's.
 */
export const whereSync = (dataset: Dataset, filters: Filter | ReadonlyArray<Filter>): Uint8Array => {
  const mask = new Uint8Array(dataset.rowCount).fill(1)
  for (const filter of Array.isArray(filters) ? (filters as ReadonlyArray<Filter>) : [filters as Filter]) {
    const type = dataset.typeOf(filter.column)
    if (type === undefined) dataset.numeric(filter.column) // throws UnknownColumn with the declared list
    if (type === "string") {
      if (typeof filter.value !== "string") {
        throw new DatasetError({ reason: "WrongType", file: dataset.spec.file, column: filter.column, detail: `string column compared with the number ${filter.value}` })
      }
      const values = dataset.strings(filter.column)
      for (let i = 0; i < mask.length; i++) if (mask[i] && !compare(filter.op, values[i]!, filter.value)) mask[i] = 0
    } else {
      if (typeof filter.value !== "number") {
        throw new DatasetError({ reason: "WrongType", file: dataset.spec.file, column: filter.column, detail: `numeric column compared with the string "${filter.value}"` })
      }
      const values = dataset.numeric(filter.column)
      for (let i = 0; i < mask.length; i++) if (mask[i] && !compare(filter.op, values[i]!, filter.value)) mask[i] = 0
    }
  }
  return mask
}

/** Effect form of `whereSync`. */
export const where = (dataset: Dataset, filters: Filter | ReadonlyArray<Filter>): Effect.Effect<Uint8Array, DatasetError> =>
  Effect.try({
    try: () => whereSync(dataset, filters),
    catch: (cause) =>
      cause instanceof DatasetError ? cause : new DatasetError({ reason: "UnknownColumn", file: dataset.spec.file, detail: String(cause) })
  })
