/**
 * CSV text as records and typed values, on any platform: RFC 4180 record splitting one physical line at a time
 * (so a file can be streamed line by line), the schema checks, and the typed parse of a field that names its file,
 * line and column on failure. Csv.ts reads files with it on Node; browser/TableInput.ts reads a File or Blob.
 */
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { ColumnSpec } from "@jointly/core/internal/data/Tabular"

/**
 * RFC 4180 record splitting: commas and doubled quotes inside quoted fields, and quoted fields that span lines
 * (rejoined with "\n"). Lenient where the RFC is strict: a quote inside an unquoted field, or text after a
 * closing quote, is kept literally.
 */
export class RecordSplitter {
  #fields: Array<string> = []
  #field = ""
  #inQuotes = false
  #quoted = false

  /** True while a quoted field is open across a line break. */
  get pending(): boolean {
    return this.#inQuotes
  }

  /** 0-based index of the field being read: the open quoted field while `pending`. */
  get fieldIndex(): number {
    return this.#fields.length
  }

  /** Feeds one line (without its line break); returns the record's fields once it is complete. */
  push(line: string): Array<string> | undefined {
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!
      if (this.#inQuotes) {
        if (c !== '"') this.#field += c
        else if (line[i + 1] === '"') {
          this.#field += '"'
          i++
        } else this.#inQuotes = false
      } else if (c === ",") {
        this.#fields.push(this.#field)
        this.#field = ""
        this.#quoted = false
      } else if (c === '"' && this.#field === "" && !this.#quoted) {
        this.#inQuotes = true
        this.#quoted = true
      } else this.#field += c
    }
    if (this.#inQuotes) {
      this.#field += "\n"
      return undefined
    }
    const fields = this.#fields
    fields.push(this.#field)
    this.#fields = []
    this.#field = ""
    this.#quoted = false
    return fields
  }
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const NON_FINITE = /^[+-]?(?:inf|infinity|nan)$/i

/** One record: its fields and the physical line it starts on (1 = the header). */
export interface CsvRecord {
  readonly line: number
  readonly fields: Array<string>
}

/** Checks a schema before touching any file: duplicate column names, an id column that is not declared. */
export const checkSchema = (source: string, name: string, columns: ReadonlyArray<ColumnSpec>, id: string | undefined): void => {
  const seen = new Set<string>()
  for (const column of columns) {
    if (seen.has(column.name)) throw new DatasetError({ reason: "DuplicateColumn", source, column: column.name, detail: `column declared twice in the schema of dataset ${name}` })
    seen.add(column.name)
  }
  if (columns.length === 0) throw new DatasetError({ reason: "Empty", source, detail: `dataset ${name} declares no columns` })
  if (id !== undefined && !seen.has(id)) {
    throw new DatasetError({ reason: "UnknownColumn", source, column: id, detail: `the id column is not among the declared columns of dataset ${name}` })
  }
}

/** Where each declared column sits in the header; MissingColumn or DuplicateColumn otherwise. */
export const columnIndexes = (file: string, header: CsvRecord, columns: ReadonlyArray<ColumnSpec>): Array<number> => {
  const names = header.fields.map((name) => name.trim())
  return columns.map((column) => {
    const index = names.indexOf(column.name)
    if (index < 0) {
      throw new DatasetError({ reason: "MissingColumn", source: file, line: header.line, column: column.name, detail: `the header has no such column (found: ${names.join(", ")})` })
    }
    if (names.indexOf(column.name, index + 1) >= 0) {
      throw new DatasetError({ reason: "DuplicateColumn", source: file, line: header.line, column: column.name, detail: "the header names this column more than once" })
    }
    return index
  })
}

/** A field of a numeric column as a number; NotNumeric, NotFinite or NotInteger naming file, line and column. */
export const parseNumber = (file: string, line: number, column: ColumnSpec, raw: string): number => {
  const text = raw.trim()
  const fail = (reason: "NotNumeric" | "NotFinite" | "NotInteger", detail: string) => new DatasetError({ reason, source: file, line, column: column.name, detail })
  if (DECIMAL.test(text)) {
    const x = Number(text)
    if (!Number.isFinite(x)) throw fail("NotFinite", `"${raw}" overflows a 64-bit float`)
    if (column.type === "integer" && !Number.isSafeInteger(x)) throw fail("NotInteger", `"${raw}" is not a safe integer`)
    return x
  }
  if (NON_FINITE.test(text)) throw fail("NotFinite", `"${raw}" is not a finite number`)
  throw fail("NotNumeric", text === "" ? "empty value in a numeric column" : `"${raw}" is not a number`)
}

/** RowLength when a record's field count differs from the header's, naming the column where it goes wrong. */
export const checkLength = (file: string, header: CsvRecord, record: CsvRecord): void => {
  const width = header.fields.length
  if (record.fields.length === width) return
  const short = record.fields.length < width
  throw new DatasetError({
    reason: "RowLength",
    source: file,
    line: record.line,
    column: short ? header.fields[record.fields.length]!.trim() : header.fields[width - 1]!.trim(),
    detail: short
      ? `${record.fields.length} fields where the header has ${width}: the row ends before this column`
      : `${record.fields.length} fields where the header has ${width}: extra fields after this column`
  })
}

/**
 * The records of CSV text given line by line (without line breaks; a file's, a Blob's): the header first, blank
 * lines skipped, a quoted field that never closes reported as RowLength on the line it opened. `source` names
 * the text in errors.
 */
export async function* recordsOf(source: string, lines: AsyncIterable<string> | Iterable<string>, signal?: AbortSignal): AsyncGenerator<CsvRecord> {
  const splitter = new RecordSplitter()
  let lineNo = 0
  let recordLine = 1
  let header: Array<string> | undefined
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
        header = fields
      } else if (fields.length === 1 && fields[0] === "") continue // blank lines (a trailing newline's) are not rows
      yield { line: recordLine, fields }
    }
  } catch (cause) {
    if (cause instanceof DatasetError || signal?.aborted) throw cause
    throw new DatasetError({ reason: "Unreadable", source, line: lineNo, detail: String((cause as Error).message ?? cause) })
  }
  if (splitter.pending) {
    throw new DatasetError({ reason: "RowLength", source, line: recordLine, column: header?.[splitter.fieldIndex]?.trim() ?? `#${splitter.fieldIndex + 1}`, detail: "a quoted field opened here is never closed" })
  }
}

/** Growable Float64Array: doubles its capacity, trimmed once the text is read. */
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

export interface CsvSchema {
  readonly name: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly id?: string | undefined
}

/**
 * The declared columns of CSV records read whole (Float64Array for numeric columns, text otherwise). Any bad
 * value fails the whole read with a DatasetError naming `source`, the 1-based line and the column.
 */
export const readColumns = async (source: string, schema: CsvSchema, rows: AsyncIterable<CsvRecord>): Promise<{ readonly rowCount: number; readonly columns: Map<string, Float64Array | ReadonlyArray<string>> }> => {
  checkSchema(source, schema.name, schema.columns, schema.id)
  let header: CsvRecord | undefined
  let indexes: Array<number> = []
  const targets = schema.columns.map((column) => (column.type === "string" ? new Array<string>() : new NumberColumn()))
  let rowCount = 0
  for await (const record of rows) {
    if (header === undefined) {
      header = record
      indexes = columnIndexes(source, header, schema.columns)
      continue
    }
    checkLength(source, header, record)
    schema.columns.forEach((column, i) => {
      const raw = record.fields[indexes[i]!]!
      const target = targets[i]!
      if (target instanceof NumberColumn) target.push(parseNumber(source, record.line, column, raw))
      else target.push(raw)
    })
    rowCount++
  }
  if (header === undefined) throw new DatasetError({ reason: "Empty", source, line: 1, detail: "the file has no header row" })
  if (rowCount === 0) throw new DatasetError({ reason: "Empty", source, line: 2, detail: "the file has a header but no data rows" })
  return {
    rowCount,
    columns: new Map(schema.columns.map((c, i) => {
      const target = targets[i]!
      return [c.name, target instanceof NumberColumn ? target.finish() : target] as const
    }))
  }
}
