/**
 * Opens a participant's registered datasets as `DataSource`s: CSV and Parquet through one DuckDB instance
 * (started on the first file source), PostgreSQL through a pool per dataset. Opening checks everything it can
 * before a task arrives — the file or the server, the schema, every value of every declared column against its
 * type — and fails with the DatasetError naming the source, the line or row and the column.
 */
import { Effect } from "effect"
import type { DataSource } from "@jointly/core/internal/data/Tabular"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import { type DatasetSpec, type DatasetSummary, fileOf, kindOf } from "./Dataset.ts"
import * as DuckDb from "./DuckDb.ts"
import * as FileSource from "./FileSource.ts"
import * as PostgresSource from "./PostgresSource.ts"

export interface Opened {
  readonly source: DataSource
  readonly summary: DatasetSummary
}

export interface Sources {
  readonly open: (spec: DatasetSpec) => Promise<Opened>
  /** Closes every connection and the engine (its spill files go with it). */
  readonly close: () => Promise<void>
}

export interface Options {
  readonly duckdb?: DuckDb.Options
}

export const make = (options: Options = {}): Sources => {
  let duck: Promise<DuckDb.DuckDb> | undefined
  const closers: Array<() => Promise<void>> = []
  const engine = () => (duck ??= DuckDb.open(options.duckdb))

  const openSource = async (spec: DatasetSpec): Promise<DataSource> => {
    if ("postgres" in spec) {
      const opened = await PostgresSource.open(spec)
      closers.push(opened.close)
      return opened.source
    }
    return spec.format === "parquet" ? FileSource.openParquet(await engine(), spec) : FileSource.openCsv(await engine(), spec)
  }

  return {
    open: async (spec) => {
      const source = await openSource(spec)
      const { rows } = await Effect.runPromise(source.check())
      if (rows === 0 && kindOf(spec) !== "postgres") {
        throw new DatasetError({ reason: "Empty", source: source.origin, ...(kindOf(spec) === "csv" ? { line: 2 } : {}), detail: `the ${kindOf(spec) === "csv" ? "file has a header but" : "file has"} no data rows` })
      }
      return { source, summary: { name: spec.name, kind: kindOf(spec), rowCount: rows, columns: spec.columns } }
    },
    close: async () => {
      for (const close of closers.splice(0)) await close().catch(() => {})
      const opened = duck
      duck = undefined
      if (opened !== undefined) (await opened).close()
    }
  }
}

/** The path a spec reads, for messages before a source exists. */
export const describe = (spec: DatasetSpec): string => fileOf(spec) ?? ("postgres" in spec ? PostgresSource.serverOf(spec.postgres.connection) : spec.name)
