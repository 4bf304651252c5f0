/**
 * CSV and Parquet files as `DataSource`s computed by DuckDB.
 *
 * CSV: DuckDB reads every field as text with our dialect spelled out (comma, double quotes doubled inside
 * quoted fields, fields spanning lines, a BOM, blank lines skipped, a ragged row an error), and each declared
 * numeric column is parsed in SQL after the same checks the JavaScript reader makes (`Csv.parseNumber`). When a
 * query counts a bad value or DuckDB refuses a row, the file is scanned once in JavaScript for the first
 * problem, so the error names its line as before.
 *
 * Parquet: columns are typed by the file. A declared numeric column may be any integer, floating or decimal
 * column (FLOAT and DECIMAL values read through their text, as a CSV export would print them, so the same rows
 * give the same doubles); a declared text column any text or integer column. NULL where a number is needed is
 * an error naming the row; NULL text reads as "".
 */
import { Effect } from "effect"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import * as SqlSource from "@jointly/core/internal/data/SqlSource"
import type { ColumnSpec, DataSource } from "@jointly/core/internal/data/Tabular"
import { isNumericType } from "@jointly/core/internal/data/Tabular"
import * as Csv from "./Csv.ts"
import type { CsvSpec, ParquetSpec } from "./Dataset.ts"
import { dialect, type DuckDb } from "./DuckDb.ts"

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!

/** A DuckDB failure over `file`: a missing file, else what DuckDB said. */
const fileError = (file: string, cause: unknown): DatasetError => {
  if (cause instanceof DatasetError) return cause
  const text = message(cause)
  if (/No files found|does not exist|cannot open file/i.test(text)) return new DatasetError({ reason: "FileNotFound", source: file, detail: text })
  return new DatasetError({ reason: "Unreadable", source: file, detail: text })
}

export const openCsv = async (duck: DuckDb, spec: CsvSpec): Promise<DataSource> => {
  const { file } = spec
  Csv.checkSchema(file, spec.name, spec.columns, spec.id)
  const header = await Csv.readHeader(file)
  const indexes = Csv.columnIndexes(file, header, spec.columns)
  // Every header column gets a name of ours (c0, c1, …): header names never reach the SQL text.
  const names = header.fields.map((_, i) => `c${i}`)
  const read =
    `read_csv(${SqlSource.literal(file)}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', ` +
    `strict_mode = true, null_padding = false, columns = {${names.map((n) => `'${n}': 'VARCHAR'`).join(", ")}}, ` +
    `force_not_null = [${names.map((n) => `'${n}'`).join(", ")}])`
  const rawOf = new Map(spec.columns.map((c, i) => [c.name, names[indexes[i]!]!] as const))
  // Each numeric column is parsed once per row, in nested subqueries every query reads from (DuckDB drops the
  // ones a query does not use): t = the field when it has decimal syntax (trimmed only when it must be), else
  // NULL; d = t as a double. An operation then refers to t and d instead of repeating the regular expression
  // and the trim in every expression that needs the value — the parse dominated every query's time.
  const numeric = spec.columns.filter((c) => isNumericType(c.type)).map((c) => rawOf.get(c.name)!)
  const syntax = (text: string) => dialect.matches(text, SqlSource.DECIMAL)
  const texts = numeric.map((raw) => `CASE WHEN ${syntax(raw)} THEN ${raw} WHEN ${syntax(dialect.trim(raw))} THEN ${dialect.trim(raw)} END AS t_${raw}`)
  const doubles = numeric.map((raw) => `TRY_CAST(t_${raw} AS DOUBLE) AS d_${raw}`)
  const from = `(SELECT *${doubles.map((d) => `, ${d}`).join("")} FROM (SELECT *${texts.map((t) => `, ${t}`).join("")} FROM ${read})) AS src`
  const access = (column: ColumnSpec): SqlSource.ColumnAccess => {
    const raw = rawOf.get(column.name)!
    if (!isNumericType(column.type)) return { spec: column, value: raw, problem: "NULL", raw }
    const [text, value] = [`t_${raw}`, `d_${raw}`]
    const problem = `CASE WHEN ${text} IS NULL THEN 'NotNumeric' WHEN ${value} IS NULL THEN 'NotFinite' ELSE ${SqlSource.typedNumberProblem(dialect, value, column)} END`
    return { spec: column, value, problem, raw }
  }
  // The JavaScript scan names the line of what DuckDB counted or refused.
  const scanned = (columns: ReadonlyArray<ColumnSpec>, otherwise: DatasetError) =>
    Effect.promise(() => Csv.firstProblem(file, columns).then((found) => found ?? otherwise, () => otherwise))
  const engine = duck.engine((cause) => {
    const error = fileError(file, cause)
    return error.reason === "Unreadable" && /CSV Error/i.test(error.detail) ? scanned(spec.columns, error) : Effect.succeed(error)
  })
  return SqlSource.make(engine, {
    name: spec.name,
    origin: file,
    columns: spec.columns,
    id: spec.id,
    from,
    access,
    locate: (problem) => {
      const column = spec.columns.find((c) => c.name === problem.column)!
      return scanned([column], new DatasetError({ reason: problem.reason, source: file, row: problem.row, column: problem.column, detail: problem.raw }))
    }
  })
}

/** DuckDB's type names of the columns a declared type may read. */
const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/
const TEXTUAL = /^(FLOAT|REAL|DECIMAL\(\d+,\d+\))$/

export const openParquet = async (duck: DuckDb, spec: ParquetSpec): Promise<DataSource> => {
  const { file } = spec
  Csv.checkSchema(file, spec.name, spec.columns, spec.id)
  if (!/[*?[]/.test(file)) await Csv.checkFile(file)
  const from = `read_parquet(${SqlSource.literal(file)}) AS src`
  const engine = duck.engine((cause) => Effect.succeed(fileError(file, cause)))
  const described = await Effect.runPromise(engine.query(`DESCRIBE SELECT * FROM ${from}`, []))
  const types = new Map(described.map((row) => [String(row[0]), String(row[1])] as const))
  const accesses = new Map<string, SqlSource.ColumnAccess>()
  for (const column of spec.columns) {
    const type = types.get(column.name)
    if (type === undefined) {
      throw new DatasetError({ reason: "MissingColumn", source: file, column: column.name, detail: `the file has no such column (found: ${[...types.keys()].join(", ")})` })
    }
    const raw = SqlSource.quote(column.name)
    const unsupported = () =>
      new DatasetError({ reason: "UnsupportedType", source: file, column: column.name, detail: `a ${type} column cannot be read as ${column.type}` })
    if (isNumericType(column.type)) {
      if (type === "VARCHAR") {
        const { problem, value } = SqlSource.textNumber(dialect, raw, column, { nullable: true, tryCast: (text) => `TRY_CAST(${text} AS DOUBLE)` })
        accesses.set(column.name, { spec: column, value, problem, raw })
        continue
      }
      const value = type === "DOUBLE" ? raw : INTEGER.test(type) ? `CAST(${raw} AS DOUBLE)` : TEXTUAL.test(type) ? `CAST(CAST(${raw} AS VARCHAR) AS DOUBLE)` : undefined
      if (value === undefined) throw unsupported()
      accesses.set(column.name, { spec: column, value, problem: SqlSource.typedNumberProblem(dialect, value, column), raw })
    } else {
      if (type !== "VARCHAR" && !INTEGER.test(type)) throw unsupported()
      accesses.set(column.name, { spec: column, value: `COALESCE(CAST(${raw} AS VARCHAR), '')`, problem: "NULL", raw })
    }
  }
  return SqlSource.make(engine, { name: spec.name, origin: file, columns: spec.columns, id: spec.id, from, access: (column) => accesses.get(column.name)! })
}
