/**
 * A CSV file read whole into memory by JavaScript (`Csv.records`), declared columns only: the reference the
 * engines are held to, and the in-memory form tools use for small files. Participants serve CSV through
 * DuckDB (`FileSource.ts`), which reads the same files the same way without holding them.
 * Any bad value fails the whole load with a DatasetError naming the file, the 1-based line and the column.
 */
import { Effect } from "effect"
import { readColumns, records } from "./Csv.ts"
import { Dataset, DatasetError, type CsvSpec } from "./Dataset.ts"

const readCsv = async (spec: CsvSpec, signal?: AbortSignal): Promise<Dataset> => {
  const { rowCount, columns } = await readColumns(spec.file, spec, records(spec.file, signal))
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
