/**
 * DuckDB as the engine of CSV and Parquet sources (`@duckdb/node-api`; its native library ships inside the
 * npm package, nothing is downloaded at install). One in-memory instance per protocol thread, with a memory
 * limit and a spill directory of its own, so an aggregation or a sort over ten million rows stays within the
 * limit and spills to disk rather than grow. The SQL comes from `@jointly/core/internal/data/SqlSource`; the browser
 * runs the same SQL on duckdb-wasm.
 */
import { DuckDBInstance, type DuckDBValue } from "@duckdb/node-api"
import { Effect, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { Dialect, Row, SqlEngine } from "@jointly/core/internal/data/SqlSource"

export interface Options {
  /** Worker threads of the engine (default 2). */
  readonly threads?: number
  /** Memory the engine may use before spilling to disk (default 256MB): a DuckDB size string. */
  readonly memoryLimit?: string
}

const whitespace = "chr(32) || chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || chr(160) || chr(65279)"

export const dialect: Dialect = {
  name: "duckdb",
  wide: "HUGEINT",
  double: "DOUBLE",
  text: "VARCHAR",
  collate: (expr) => expr,
  sha256Hex: (expr) => `sha256(${expr})`,
  matches: (expr, regex) => `regexp_full_match(${expr}, '${regex}')`,
  isFinite: (expr) => `isfinite(${expr})`,
  trim: (expr) => `trim(${expr}, ${whitespace})`
}

export interface DuckDb {
  readonly instance: DuckDBInstance
  /** An engine whose failures become DatasetErrors by `onError`. */
  readonly engine: (onError: (cause: unknown) => Effect.Effect<DatasetError>) => SqlEngine
  readonly close: () => void
}

export const open = async (options: Options = {}): Promise<DuckDb> => {
  const spill = mkdtempSync(join(tmpdir(), "jointly-duckdb-"))
  const instance = await DuckDBInstance.create(":memory:", {
    threads: String(options.threads ?? 2),
    memory_limit: options.memoryLimit ?? "256MB",
    temp_directory: spill,
    // Row numbers and id streams follow the file's order.
    preserve_insertion_order: "true"
  })
  const run = async <A>(body: (connection: Awaited<ReturnType<DuckDBInstance["connect"]>>) => Promise<A>): Promise<A> => {
    const connection = await instance.connect()
    try {
      return await body(connection)
    } finally {
      connection.closeSync()
    }
  }
  const engine = (onError: (cause: unknown) => Effect.Effect<DatasetError>): SqlEngine => ({
    dialect,
    query: (sql, params) =>
      Effect.tryPromise({
        try: () => run(async (connection) => (await connection.runAndReadAll(sql, params as Array<DuckDBValue>)).getRows() as ReadonlyArray<Row>),
        catch: (cause) => cause
      }).pipe(Effect.catch((cause) => Effect.flatMap(onError(cause), Effect.fail))),
    stream: (sql, params) =>
      Stream.fromAsyncIterable(
        {
          async *[Symbol.asyncIterator]() {
            const connection = await instance.connect()
            try {
              const result = await connection.stream(sql, params as Array<DuckDBValue>)
              for (;;) {
                const chunk = await result.fetchChunk()
                if (chunk === null || chunk.rowCount === 0) return
                yield chunk.getRows() as ReadonlyArray<Row>
              }
            } finally {
              connection.closeSync()
            }
          }
        },
        (cause) => cause
      ).pipe(Stream.catch((cause) => Stream.fromEffect(Effect.flatMap(onError(cause), Effect.fail))))
  })
  return {
    instance,
    engine,
    close: () => {
      instance.closeSync()
      rmSync(spill, { recursive: true, force: true })
    }
  }
}
