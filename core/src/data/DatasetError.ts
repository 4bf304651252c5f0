/**
 * The one error of reading a dataset, whatever its source: it names the source (a file path, or a PostgreSQL
 * dataset by host, database and table, never its password), and where they apply the CSV line, the data row
 * (1-based, in the source's order), the row's id and the column. Schema-backed so it crosses worker threads
 * and comes back as itself.
 */
import { Schema } from "effect"

export const DatasetErrorReason = Schema.Literals([
  // the source itself
  "FileNotFound",
  "Unreadable",
  "Unreachable",
  "AuthFailed",
  "MissingTable",
  "QueryFailed",
  "Empty",
  "TooLarge",
  "UnsupportedCodec",
  // the schema
  "MissingColumn",
  "DuplicateColumn",
  "UnknownColumn",
  "WrongType",
  "UnsupportedType",
  "RowLength",
  // a value
  "NullValue",
  "NotNumeric",
  "NotFinite",
  "NotInteger",
  "OutOfRange"
])
export type DatasetErrorReason = typeof DatasetErrorReason.Type

/** Any failure to open or read a dataset. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  reason: DatasetErrorReason,
  /** A file path, or e.g. `postgres 127.0.0.1:5432/bank table public.customers`. */
  source: Schema.String,
  /** Physical line of a CSV file (1 = the header). */
  line: Schema.optional(Schema.Number),
  /** Data row, 1-based, in the source's order (sources other than CSV, whose line says more). */
  row: Schema.optional(Schema.Number),
  /** The row's value of the dataset's id column, when it declares one. */
  key: Schema.optional(Schema.String),
  column: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    const where = [
      this.source,
      this.line === undefined ? undefined : `line ${this.line}`,
      this.row === undefined ? undefined : `row ${this.row}${this.key === undefined ? "" : ` (id ${this.key})`}`,
      this.column === undefined ? undefined : `column "${this.column}"`
    ]
      .filter((part) => part !== undefined)
      .join(", ")
    return `${where}: ${this.reason}: ${this.detail}`
  }
}
