/**
 * DuckDB as the engine of CSV and Parquet sources (`@duckdb/node-api`; its native library ships inside the
 * npm package, nothing is downloaded at install). One in-memory instance per protocol thread, with a memory
 * limit and a spill directory of its own, so an aggregation or a sort over ten million rows stays within the
 * limit and spills to disk rather than grow. The SQL comes from `@jointly/core/internal/data/SqlSource`; the browser
 * runs the same SQL on duckdb-wasm.
 *
 * The spill directory is `<tmpdir>/jointly-duckdb-<pid>-XXXXXX`, removed by `close` (a signal stop closes the agent,
 * so it too). One a killed process left is removed when a later process opens its engine: the pid in its name is no
 * longer alive (a directory of a live process, another participant's, is kept).
 */
import { DuckDBInstance, type DuckDBValue } from "@duckdb/node-api"
import { Effect, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { DatasetError } from "@jointly/core/internal/data/DatasetError"
import type { Dialect, Row, SqlEngine } from "@jointly/core/internal/data/SqlSource"
import { removeStale } from "../host/SpillFiles.ts"

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

const PREFIX = "jointly-duckdb-"

/** The pid a spill directory's name carries; undefined for a name not of this form (left alone). */
export const pidOf = (name: string): number | undefined => {
  const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
  return match === null ? undefined : Number(match[1])
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, another user's.
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Removes the spill directories under `root` of processes no longer alive. */
export const clearStale = (root: string = tmpdir()): Promise<void> =>
  removeStale(root, (name) => {
    const pid = pidOf(name)
    return pid !== undefined && pid !== process.pid && !isAlive(pid)
  })

export const open = async (options: Options = {}): Promise<DuckDb> => {
  // Clearing is cleanup of others' leftovers: a failure of it must not stop this engine from opening.
  await clearStale().catch(() => {})
  const spill = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`))
  const instance = await DuckDBInstance.create(":memory:", {
    threads: String(options.threads ?? 2),
    memory_limit: options.memoryLimit ?? "256MB",
    temp_directory: spill,
    // Row numbers and id streams follow the file's order.
    preserve_insertion_order: "true"
  }).catch((error: unknown) => {
    rmSync(spill, { recursive: true, force: true })
    throw error
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
      try {
        instance.closeSync()
      } finally {
        rmSync(spill, { recursive: true, force: true })
      }
    }
  }
}
