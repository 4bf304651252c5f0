/**
 * A CSV file read whole into memory by JavaScript (`Csv.records`), declared columns only: the reference the
 * engines are held to, and the in-memory form tools use for small files. Participants serve CSV through
 * DuckDB (`FileSource.ts`), which reads the same files the same way without holding them.
 * Any bad value fails the whole load with a DatasetError naming the file, the 1-based line and the column.
 */
import { Effect } from "effect"
import { checkLength, checkSchema, columnIndexes, type CsvRecord, parseNumber, records } from "./Csv.ts"
import { type Column, Dataset, DatasetError, type CsvSpec } from "./Dataset.ts"

/** Growable Float64Array: doubles its capacity, trimmed once the file is read. */
class NumberColumn {
  data = new Float64Array(1024)
  length = 0
  push(x: number) {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = x
  }
  finish(): Float64Array {
    return this.data.slice(0, this.length)
  }
}

const readCsv = async (spec: CsvSpec, signal?: AbortSignal): Promise<Dataset> => {
  const { file } = spec
  checkSchema(file, spec.name, spec.columns, spec.id)
  let header: CsvRecord | undefined
  let indexes: Array<number> = []
  const targets = spec.columns.map((column) => (column.type === "string" ? new Array<string>() : new NumberColumn()))
  let rowCount = 0
  for await (const record of records(file, signal)) {
    if (header === undefined) {
      header = record
      indexes = columnIndexes(file, header, spec.columns)
      continue
    }
    checkLength(file, header, record)
    spec.columns.forEach((column, i) => {
      const raw = record.fields[indexes[i]!]!
      const target = targets[i]!
      if (target instanceof NumberColumn) target.push(parseNumber(file, record.line, column, raw))
      else target.push(raw)
    })
    rowCount++
  }
  if (header === undefined) throw new DatasetError({ reason: "Empty", source: file, line: 1, detail: "the file has no header row" })
  if (rowCount === 0) throw new DatasetError({ reason: "Empty", source: file, line: 2, detail: "the file has a header but no data rows" })
  const columns = new Map<string, Column>(spec.columns.map((c, i) => {
    const target = targets[i]!
    return [c.name, target instanceof NumberColumn ? target.finish() : target] as const
  }))
  return new Dataset(spec, rowCount, columns)
}

/** Loads a CSV dataset; fails with DatasetError and yields nothing partial. Interrupting stops the read. */
export const load = (spec: CsvSpec): Effect.Effect<Dataset, DatasetError> =>
  Effect.tryPromise({
    try: (signal) => readCsv(spec, signal),
    catch: (cause) => (cause instanceof DatasetError ? cause : new DatasetError({ reason: "Unreadable", source: spec.file, detail: String(cause) }))
  })

/** Promise facade of `load`: rejects with DatasetError. */
export const loadPromise = (spec: CsvSpec): Promise<Dataset> => readCsv(spec)
