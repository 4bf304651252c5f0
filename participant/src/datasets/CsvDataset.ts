/**
 * CSV adapter: loads a `DatasetSpec` from a CSV file with a header row, streaming it line by line (node:fs +
 * readline) into a columnar `Dataset`. Only declared columns are kept; undeclared ones are skipped unparsed.
 * Any bad value fails the whole load with a DatasetError naming the file, the 1-based line and the column:
 * a dataset is either complete or absent, never partial.
 */
import { Effect } from "effect"
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import { createInterface } from "node:readline"
import { RecordSplitter } from "./Csv.ts"
import { type Column, type ColumnSpec, Dataset, DatasetError, type DatasetSpec } from "./Dataset.ts"

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const NON_FINITE = /^[+-]?(?:inf|infinity|nan)$/i

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

interface Target {
  readonly spec: ColumnSpec
  readonly index: number
  readonly values: NumberColumn | Array<string>
}

/** Checks the spec itself before touching the file: duplicate column names, an id that is not declared. */
const checkSpec = (spec: DatasetSpec): void => {
  const seen = new Set<string>()
  for (const column of spec.columns) {
    if (seen.has(column.name)) {
      throw new DatasetError({ reason: "DuplicateColumn", file: spec.file, column: column.name, detail: `column declared twice in the schema of dataset ${spec.name}` })
    }
    seen.add(column.name)
  }
  if (spec.columns.length === 0) throw new DatasetError({ reason: "Empty", file: spec.file, detail: `dataset ${spec.name} declares no columns` })
  if (spec.id !== undefined && !seen.has(spec.id)) {
    throw new DatasetError({ reason: "UnknownColumn", file: spec.file, column: spec.id, detail: `the id column is not among the declared columns of dataset ${spec.name}` })
  }
}

const parseNumber = (file: string, line: number, column: ColumnSpec, raw: string): number => {
  const text = raw.trim()
  const fail = (reason: "NotNumeric" | "NotFinite" | "NotInteger", detail: string) =>
    new DatasetError({ reason, file, line, column: column.name, detail })
  if (DECIMAL.test(text)) {
    const x = Number(text)
    if (!Number.isFinite(x)) throw fail("NotFinite", `"${raw}" overflows a 64-bit float`)
    if (column.type === "integer" && !Number.isSafeInteger(x)) throw fail("NotInteger", `"${raw}" is not a safe integer`)
    return x
  }
  if (NON_FINITE.test(text)) throw fail("NotFinite", `"${raw}" is not a finite number`)
  throw fail("NotNumeric", text === "" ? "empty value in a numeric column" : `"${raw}" is not a number`)
}

const readCsv = async (spec: DatasetSpec, signal?: AbortSignal): Promise<Dataset> => {
  checkSpec(spec)
  const { file } = spec
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new DatasetError({ reason: "Unreadable", file, detail: "not a regular file" })
  } catch (cause) {
    if (cause instanceof DatasetError) throw cause
    const code = (cause as NodeJS.ErrnoException).code
    throw new DatasetError({ reason: code === "ENOENT" ? "FileNotFound" : "Unreadable", file, detail: String((cause as Error).message ?? cause) })
  }

  const stream = createReadStream(file, { encoding: "utf8" })
  // crlfDelay: a "\r\n" split across two chunks still counts as one line break.
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  const splitter = new RecordSplitter()
  let lineNo = 0
  let recordLine = 1
  let header: Array<string> | undefined
  let targets: Array<Target> = []
  let rowCount = 0
  try {
    for await (let line of lines) {
      signal?.throwIfAborted()
      lineNo++
      if (!splitter.pending) recordLine = lineNo
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1)
      const fields = splitter.push(line)
      if (fields === undefined) continue
      if (header === undefined) {
        if (fields.length === 1 && fields[0]!.trim() === "") continue
        header = fields.map((name) => name.trim())
        targets = spec.columns.map((column) => {
          const index = header!.indexOf(column.name)
          if (index < 0) {
            throw new DatasetError({ reason: "MissingColumn", file, line: recordLine, column: column.name, detail: `the header has no such column (found: ${header!.join(", ")})` })
          }
          if (header!.indexOf(column.name, index + 1) >= 0) {
            throw new DatasetError({ reason: "DuplicateColumn", file, line: recordLine, column: column.name, detail: "the header names this column more than once" })
          }
          return { spec: column, index, values: column.type === "string" ? [] : new NumberColumn() }
        })
        continue
      }
      // Blank lines (including the one a trailing newline may leave) are not rows.
      if (fields.length === 1 && fields[0] === "") continue
      if (fields.length !== header.length) {
        const short = fields.length < header.length
        throw new DatasetError({
          reason: "RowLength",
          file,
          line: recordLine,
          column: short ? header[fields.length]! : header[header.length - 1]!,
          detail: short
            ? `${fields.length} fields where the header has ${header.length}: the row ends before this column`
            : `${fields.length} fields where the header has ${header.length}: extra fields after this column`
        })
      }
      for (const target of targets) {
        const raw = fields[target.index]!
        if (target.values instanceof NumberColumn) target.values.push(parseNumber(file, recordLine, target.spec, raw))
        else target.values.push(raw)
      }
      rowCount++
    }
  } catch (cause) {
    if (cause instanceof DatasetError) throw cause
    if (signal?.aborted) throw cause
    throw new DatasetError({ reason: "Unreadable", file, line: lineNo, detail: String((cause as Error).message ?? cause) })
  } finally {
    lines.close()
    stream.destroy()
  }

  if (splitter.pending) {
    throw new DatasetError({ reason: "RowLength", file, line: recordLine, column: header?.[splitter.fieldIndex] ?? `#${splitter.fieldIndex + 1}`, detail: "a quoted field opened here is never closed" })
  }
  if (header === undefined) throw new DatasetError({ reason: "Empty", file, line: 1, detail: "the file has no header row" })
  if (rowCount === 0) throw new DatasetError({ reason: "Empty", file, line: 2, detail: "the file has a header but no data rows" })
  const columns = new Map<string, Column>(targets.map((t) => [t.spec.name, t.values instanceof NumberColumn ? t.values.finish() : t.values]))
  return new Dataset(spec, rowCount, columns)
}

/** Loads a CSV dataset; fails with DatasetError and yields nothing partial. Interrupting stops the read. */
export const load = (spec: DatasetSpec): Effect.Effect<Dataset, DatasetError> =>
  Effect.tryPromise({
    try: (signal) => readCsv(spec, signal),
    catch: (cause) => (cause instanceof DatasetError ? cause : new DatasetError({ reason: "Unreadable", file: spec.file, detail: String(cause) }))
  })

/** Promise facade of `load`: rejects with DatasetError. */
export const loadPromise = (spec: DatasetSpec): Promise<Dataset> => readCsv(spec)
