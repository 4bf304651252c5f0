/**
 * CSV files on Node, streamed line by line through the portable record splitter and typed parse (CsvText.ts,
 * re-exported here): the records of a file, its header, and the first problem of a file an engine rejected.
 */
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import { createInterface } from "node:readline"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { ColumnSpec } from "@jointly/core/internal/data/Tabular"
import { checkLength, columnIndexes, type CsvRecord, parseNumber, recordsOf } from "./CsvText.ts"

export { checkLength, checkSchema, columnIndexes, type CsvRecord, parseNumber, readColumns, RecordSplitter } from "./CsvText.ts"

/** Fails unless `file` is a regular file: FileNotFound or Unreadable. */
export const checkFile = async (file: string): Promise<void> => {
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new DatasetError({ reason: "Unreadable", source: file, detail: "not a regular file" })
  } catch (cause) {
    if (cause instanceof DatasetError) throw cause
    const code = (cause as NodeJS.ErrnoException).code
    throw new DatasetError({ reason: code === "ENOENT" ? "FileNotFound" : "Unreadable", source: file, detail: String((cause as Error).message ?? cause) })
  }
}

/**
 * The records of a CSV file, streamed line by line: the header first, blank lines skipped, a quoted field that
 * never closes reported as RowLength on the line it opened.
 */
export async function* records(file: string, signal?: AbortSignal): AsyncGenerator<CsvRecord> {
  await checkFile(file)
  const stream = createReadStream(file, { encoding: "utf8" })
  // crlfDelay: a "\r\n" split across two chunks still counts as one line break.
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  try {
    yield* recordsOf(file, lines, signal)
  } finally {
    lines.close()
    stream.destroy()
  }
}

/** The header record of a file (Empty when it has none). */
export const readHeader = async (file: string): Promise<CsvRecord> => {
  for await (const record of records(file)) return record
  throw new DatasetError({ reason: "Empty", source: file, line: 1, detail: "the file has no header row" })
}

/**
 * The first problem of the file in the given columns (all declared ones by default) — a ragged row, a value
 * that is not of its column's type — as the DatasetError that names its line; undefined when there is none.
 * Streams the file and keeps nothing: this is how a problem an engine counted gets its line number.
 */
export const firstProblem = async (file: string, columns: ReadonlyArray<ColumnSpec>): Promise<DatasetError | undefined> => {
  let header: CsvRecord | undefined
  let indexes: Array<number> = []
  try {
    for await (const record of records(file)) {
      if (header === undefined) {
        header = record
        indexes = columnIndexes(file, header, columns)
        continue
      }
      checkLength(file, header, record)
      columns.forEach((column, i) => {
        if (column.type !== "string") parseNumber(file, record.line, column, record.fields[indexes[i]!]!)
      })
    }
  } catch (error) {
    if (error instanceof DatasetError) return error
    throw error
  }
  return undefined
}
