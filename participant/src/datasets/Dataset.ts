/**
 * How a participant registers a dataset — a name, where the rows live, the typed columns and optionally an id
 * column — and what the agent may know of one without its rows.
 *
 * Three kinds of source (`DatasetSpec`):
 *   - CSV, the default form: `{ name, file, columns }` (`format: "csv"` optional);
 *   - Parquet: `{ name, file, format: "parquet", columns }` — a file or a glob of files with one schema;
 *   - PostgreSQL: `{ name, postgres: { connection, table | query }, columns }` — a table (optionally with its
 *     `schema`), or a query the org's own engineer wrote (a view in all but name). Tasks name the dataset,
 *     never SQL; the connection string stays in this participant.
 *
 * `Dataset` is a table in memory, as the CSV reader in JavaScript builds it (`CsvDataset.ts`): the reference
 * the engines are tested against and the form of small data a host hands over.
 */
import { Schema } from "effect"
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import { ColumnSpec, ColumnType, columnTable, type TabularData } from "@jointly/core/internal/data/Tabular"

export { ColumnSpec, ColumnType, DatasetError }
export { DatasetErrorReason } from "@jointly/core/internal/data/DatasetError"

const common = {
  name: Schema.String,
  columns: Schema.Array(ColumnSpec),
  /** A row-id column among the declared ones (PSI reads it). */
  id: Schema.optional(Schema.String)
}

export const CsvSpec = Schema.Struct({ ...common, file: Schema.String, format: Schema.optional(Schema.Literal("csv")) })
export type CsvSpec = typeof CsvSpec.Type

export const ParquetSpec = Schema.Struct({ ...common, file: Schema.String, format: Schema.Literal("parquet") })
export type ParquetSpec = typeof ParquetSpec.Type

export const PostgresSource = Schema.Struct({
  /** `postgres://user:password@host:port/database` — a secret: it never leaves this participant. */
  connection: Schema.String,
  /** A table or view, optionally qualified by `schema`. */
  table: Schema.optional(Schema.String),
  schema: Schema.optional(Schema.String),
  /** Or a SELECT the org's engineer wrote; its output columns are the dataset's raw columns. */
  query: Schema.optional(Schema.String)
})
export type PostgresSource = typeof PostgresSource.Type

export const PostgresSpec = Schema.Struct({ ...common, postgres: PostgresSource })
export type PostgresSpec = typeof PostgresSpec.Type

/** How a dataset is registered. */
export const DatasetSpec = Schema.Union([CsvSpec, ParquetSpec, PostgresSpec])
export type DatasetSpec = typeof DatasetSpec.Type

export type SourceKind = "csv" | "parquet" | "postgres"

export const kindOf = (spec: DatasetSpec): SourceKind => ("postgres" in spec ? "postgres" : spec.format === "parquet" ? "parquet" : "csv")

/** The spec's file, for the file kinds. */
export const fileOf = (spec: DatasetSpec): string | undefined => ("file" in spec ? spec.file : undefined)

/** What the agent may know of a dataset without its rows (consent, status); crosses the worker boundary. */
export const DatasetSummary = Schema.Struct({
  name: Schema.String,
  /** "memory": a table a browser page handed over (browser/TableInput.ts). */
  kind: Schema.Literals(["csv", "parquet", "postgres", "memory"]),
  rowCount: Schema.Int,
  columns: Schema.Array(ColumnSpec)
})
export type DatasetSummary = typeof DatasetSummary.Type

export type Column = Float64Array | ReadonlyArray<string>

/** A dataset in memory: declared columns only, column by column (Float64Array for numbers, text otherwise). */
export class Dataset {
  readonly #columns: ReadonlyMap<string, Column>
  /** SHA-256 over the canonical encoding of the declared columns (`ContentHash.ts`), 0x-prefixed. */
  readonly contentHash: string
  readonly table: TabularData

  constructor(
    readonly spec: DatasetSpec,
    readonly rowCount: number,
    columns: ReadonlyMap<string, Column>
  ) {
    this.#columns = columns
    this.contentHash = ContentHash.ofColumns(spec.columns, rowCount, columns)
    this.table = columnTable(spec.name, spec.columns, rowCount, columns, fileOf(spec) ?? spec.name)
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
    return this.table.numeric(column)
  }

  /** A string column; throws DatasetError (UnknownColumn, or WrongType for a numeric column). */
  strings(column: string): ReadonlyArray<string> {
    const values = this.#columns.get(column)
    if (values instanceof Float64Array) {
      throw new DatasetError({ reason: "WrongType", source: fileOf(this.spec) ?? this.name, column, detail: `column is declared as numeric, not string, in dataset ${this.name}` })
    }
    return this.table.strings(column)
  }

  /** Row ids from the `id` column as strings, or undefined when the spec names none. */
  ids(): ReadonlyArray<string> | undefined {
    return this.spec.id === undefined ? undefined : this.table.strings(this.spec.id)
  }
}
