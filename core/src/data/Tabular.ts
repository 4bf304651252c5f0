/**
 * What a protocol may read of a participant's local data: one interface, `DataSource`, whatever holds the rows
 * — a CSV or Parquet file read by an embedded engine, a PostgreSQL table or query, a table in memory. The
 * participant's adapters implement it (`participant/src/datasets/`); protocols depend only on this module, so
 * `core` never reads a file or opens a connection itself and stays free of Node APIs (a browser participant's
 * duckdb-wasm source implements the same interface).
 *
 * A source offers two kinds of access:
 *   - **push-down operations**, computed where the data lives, whose memory does not grow with rows:
 *     `summarize` (counts, exact fixed-point sums and sums of squares, min/max, histograms under a `where`
 *     filter), `ids` and `distinctIds` (an id column as a chunked stream) and `batches` (rows in bounded
 *     batches, for protocols that need them one by one);
 *   - **`materialize`**, the whole table in memory as `TabularData`, for protocols that take whole columns —
 *     capped by rows, so it serves small data and fails with `TooLarge` past the cap.
 *
 * Every engine computes the same thing bit for bit: `Summary` sums are exact integers of per-value fixed-point
 * conversions (`round(v·2^scaleBits)` with `Math.round`'s ties-up rule), so the secure aggregation sees the
 * same vector from a PostgreSQL table, a Parquet file or a CSV file holding the same rows.
 */
import { Context, Effect, Schema, type Stream } from "effect"
import type { ParticipantFailure } from "../protocols/Protocol.ts"
import { DatasetError } from "./DatasetError.ts"

export const ColumnType = Schema.Literals(["number", "integer", "string"])
export type ColumnType = typeof ColumnType.Type

/** A declared column: values are checked against its type wherever they are read. */
export const ColumnSpec = Schema.Struct({ name: Schema.String, type: ColumnType })
export type ColumnSpec = typeof ColumnSpec.Type

export const isNumericType = (type: ColumnType | undefined): boolean => type === "number" || type === "integer"

/** A whole table in memory: the convenience view of small data (`DataSource.materialize`). */
export interface TabularData {
  readonly name: string
  readonly rowCount: number
  readonly columnNames: ReadonlyArray<string>
  /** Values of a numeric column (declared `number` or `integer`); throws for an unknown or non-numeric column. */
  readonly numeric: (column: string) => Float64Array
  /** Values of any column as text; throws for an unknown column. */
  readonly strings: (column: string) => ReadonlyArray<string>
  readonly isNumeric: (column: string) => boolean
}

export const Where = Schema.Struct({
  column: Schema.String,
  op: Schema.Literals(["<", "<=", ">", ">=", "==", "!="]),
  value: Schema.Union([Schema.Finite, Schema.String])
})
export type Where = typeof Where.Type

// ------------------------------------------------------------------------------------------- push-down

export interface SummaryColumn {
  readonly name: string
  /** Histogram bin edges, strictly increasing: bins [e_i, e_i+1), the last one closed. */
  readonly edges?: ReadonlyArray<number>
}

export interface SummaryRequest {
  readonly columns: ReadonlyArray<SummaryColumn>
  /** Fixed-point scale of the sums: each value v counts as round(v·2^scaleBits). */
  readonly scaleBits: number
  readonly where?: Where
}

export interface ColumnSummary {
  /** Σ round(v·2^scaleBits) over the matching rows, exact. */
  readonly sum: bigint
  /** Σ round(v·2^scaleBits)², exact. */
  readonly squares: bigint
  /** Smallest and largest value among the matching rows; undefined when no row matches. */
  readonly min: number | undefined
  readonly max: number | undefined
  /** Matching rows per bin, when the request gave edges. */
  readonly bins?: ReadonlyArray<number>
}

export interface Summary {
  /** Rows matching the filter. */
  readonly rows: number
  readonly columns: Readonly<Record<string, ColumnSummary>>
}

/** Ids as text (numbers as JavaScript prints them, NULL as ""), with each one's 0-based row in source order. */
export interface IdChunk {
  readonly ids: ReadonlyArray<string>
  readonly rows: ReadonlyArray<number>
}

export interface IdCounts {
  /** Rows matching the filter. */
  readonly rows: number
  /** Of those, rows whose id is empty (or NULL). */
  readonly empty: number
}

/** Consecutive matching rows, column by column: Float64Array for numeric columns, text otherwise. */
export interface Batch {
  /** Index of the batch's first row among the matching rows. */
  readonly offset: number
  readonly length: number
  readonly columns: Readonly<Record<string, Float64Array | ReadonlyArray<string>>>
}

export interface DataSource {
  readonly name: string
  /** The declared columns; values are checked against these types. */
  readonly columns: ReadonlyArray<ColumnSpec>
  /** The id column the dataset declares, if any. */
  readonly id?: string | undefined
  /** Where the rows live, for messages: a path, or a database and table — never a secret. */
  readonly origin: string
  /** Counts the rows and checks every declared column's values against its type (one pass over the data). */
  readonly check: () => Effect.Effect<{ readonly rows: number }, DatasetError>
  /** Counts, exact fixed-point sums and sums of squares, min/max and histograms of the rows matching `where`. */
  readonly summarize: (request: SummaryRequest) => Effect.Effect<Summary, DatasetError>
  /** Every matching row's id, in source order, in chunks of at most `chunkSize`. */
  readonly ids: (options: { readonly column: string; readonly chunkSize: number; readonly where?: Where }) => Stream.Stream<IdChunk, DatasetError>
  /**
   * Distinct non-empty ids of the matching rows (the first row of each wins), in the order of
   * SHA-256(key ‖ id) — a permutation no one can predict without `key` (hex) — in chunks of at most `chunkSize`.
   * The id column must be declared `string` or `integer`. Deduplication and ordering run in the engine,
   * which spills to disk rather than hold the column in memory.
   */
  readonly distinctIds: (options: {
    readonly column: string
    readonly chunkSize: number
    readonly key: string
    readonly where?: Where
  }) => Stream.Stream<IdChunk, DatasetError>
  readonly idCounts: (options: { readonly column: string; readonly where?: Where }) => Effect.Effect<IdCounts, DatasetError>
  /** The matching rows in batches of at most `size` rows. */
  readonly batches: (options: {
    readonly columns: ReadonlyArray<string>
    readonly size: number
    readonly where?: Where
  }) => Stream.Stream<Batch, DatasetError>
  /** The whole table in memory; fails with `TooLarge` when it holds more than `maxRows` rows. */
  readonly materialize: (options?: { readonly maxRows?: number }) => Effect.Effect<TabularData, DatasetError>
}

/** Default cap of `materialize`: one million rows (a few hundred MB of columns at most). */
export const defaultMaxRows = 1_000_000

// ------------------------------------------------------------------------------------------- the service

/**
 * The participant's datasets, as the protocols see them. `source` serves any size; `dataset` is the
 * materialised table (capped by the host). A host that serves real datasets provides `source`; a layer that
 * hands over in-memory tables may omit it, and `source(name)` below then runs the in-memory engine over
 * them (`MemorySource.ts`) — the same engine a browser page's in-memory table uses.
 */
export class LocalData extends Context.Service<LocalData, {
  readonly dataset: (name: string) => Effect.Effect<TabularData, ParticipantFailure>
  readonly source?: (name: string) => Effect.Effect<DataSource, ParticipantFailure>
  /** Rows a protocol may hold in memory (`materialize`, `Local.columns`); default `defaultMaxRows`. */
  readonly maxRows?: number
}>()("jointly/LocalData") {}

/**
 * A `TabularData` over typed columns (Float64Array for numeric columns, text otherwise); `strings` also serves
 * numeric columns, as JavaScript prints the numbers.
 */
export const columnTable = (
  name: string,
  columns: ReadonlyArray<ColumnSpec>,
  rowCount: number,
  values: ReadonlyMap<string, Float64Array | ReadonlyArray<string>>,
  origin: string
): TabularData => {
  const get = (column: string) => {
    const data = values.get(column)
    if (data === undefined) {
      throw new DatasetError({ reason: "UnknownColumn", source: origin, column, detail: `dataset ${name} declares no such column (declared: ${columns.map((c) => c.name).join(", ")})` })
    }
    return data
  }
  return {
    name,
    rowCount,
    columnNames: columns.map((c) => c.name),
    isNumeric: (column) => isNumericType(columns.find((c) => c.name === column)?.type),
    numeric: (column) => {
      const data = get(column)
      if (!(data instanceof Float64Array)) throw new DatasetError({ reason: "WrongType", source: origin, column, detail: `the column is declared as text, not numeric, in dataset ${name}` })
      return data
    },
    strings: (column) => {
      const data = get(column)
      return data instanceof Float64Array ? Array.from(data, String) : data
    }
  }
}

/** Consecutive batches of `columns` (as `DataSource.batches` gives them), joined into one table in memory. */
export const fromBatches = (name: string, columns: ReadonlyArray<ColumnSpec>, parts: ReadonlyArray<Batch>, origin: string): TabularData => {
  const rowCount = parts.reduce((n, b) => n + b.length, 0)
  const values = new Map<string, Float64Array | ReadonlyArray<string>>()
  for (const column of columns) {
    if (isNumericType(column.type)) {
      const out = new Float64Array(rowCount)
      let at = 0
      for (const part of parts) {
        out.set(part.columns[column.name] as Float64Array, at)
        at += part.length
      }
      values.set(column.name, out)
    } else {
      values.set(column.name, parts.flatMap((part) => part.columns[column.name] as ReadonlyArray<string>))
    }
  }
  return columnTable(name, columns, rowCount, values, origin)
}
