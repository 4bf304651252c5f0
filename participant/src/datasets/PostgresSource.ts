/**
 * A PostgreSQL table, view or registered query as a `DataSource`: every push-down runs in the server as one
 * parameterised statement (the `pg` driver), streams read through a server-side cursor (`pg-cursor`) a bounded
 * number of rows at a time. The connection string (a secret) stays in this participant; errors and messages
 * name the server, the database and the table — never the user or the password.
 *
 * Columns are typed by the server and checked against the declared types: a declared numeric column may be an
 * integer, float or numeric column (real and numeric values read through their text, as a CSV export prints
 * them, so the same rows give the same doubles) or text holding decimal numbers; a declared text column any
 * text, integer or uuid column. NULL where a number is needed is an error naming the row (and its id).
 */
import { Effect, Schedule, Stream } from "effect"
import pg from "pg"
import Cursor from "pg-cursor"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import * as SqlSource from "@jointly/core/internal/data/SqlSource"
import type { ColumnSpec, DataSource } from "@jointly/core/internal/data/Tabular"
import { isNumericType } from "@jointly/core/internal/data/Tabular"
import type { PostgresSpec } from "./Dataset.ts"

const whitespace = "chr(32) || chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || chr(160) || chr(65279)"

export const dialect: SqlSource.Dialect = {
  name: "postgres",
  wide: "NUMERIC",
  double: "float8",
  text: "text",
  collate: (expr) => `(${expr}) COLLATE "C"`,
  sha256Hex: (expr) => `encode(sha256(convert_to(${expr}, 'UTF8')), 'hex')`,
  matches: (expr, regex) => `(${expr} ~ '^(${regex})$')`,
  isFinite: (expr) => `(${expr} NOT IN ('Infinity'::float8, '-Infinity'::float8, 'NaN'::float8))`,
  trim: (expr) => `btrim(${expr}, ${whitespace})`
}

/** Rows a cursor reads per round trip. */
const CURSOR_ROWS = 4_096

/** `postgres host:port/database`, without credentials. */
export const serverOf = (connection: string): string => {
  try {
    const url = new URL(connection)
    return `postgres ${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`
  } catch {
    return "postgres"
  }
}

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!

/** A driver or server failure as a DatasetError (SQLSTATE and socket codes decide the reason). */
export const errorOf = (origin: string, cause: unknown): DatasetError => {
  if (cause instanceof DatasetError) return cause
  const code = (cause as { code?: string } | undefined)?.code
  const text = message(cause)
  const reason: DatasetError["reason"] =
    code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "ETIMEDOUT" || code === "ECONNRESET" ||
      code === "3D000" || code?.startsWith("08") || code === "57P01" || /timeout|terminated|Connection terminated/i.test(text)
      ? "Unreachable"
      : code === "28P01" || code === "28000"
      ? "AuthFailed"
      : code === "42P01"
      ? "MissingTable"
      : code === "42703"
      ? "MissingColumn"
      : "QueryFailed"
  return new DatasetError({ reason, source: origin, detail: code === undefined ? text : `${text} (${code})` })
}

/** A connection that drops is tried again a few times (exponential back-off), anything else fails at once. */
const retry = Schedule.exponential("100 millis")

const OID = { int2: 21, int4: 23, int8: 20, float4: 700, float8: 701, numeric: 1700, text: 25, varchar: 1043, bpchar: 1042, name: 19, uuid: 2950 } as const
const INTEGER: ReadonlySet<number> = new Set([OID.int2, OID.int4, OID.int8])
const TEXT: ReadonlySet<number> = new Set([OID.text, OID.varchar, OID.bpchar, OID.name])

export interface Opened {
  readonly source: DataSource
  readonly close: () => Promise<void>
}

export const open = async (spec: PostgresSpec): Promise<Opened> => {
  const { postgres } = spec
  const server = serverOf(postgres.connection)
  if ((postgres.table === undefined) === (postgres.query === undefined)) {
    throw new DatasetError({ reason: "QueryFailed", source: server, detail: `dataset ${spec.name} must name either a table or a query` })
  }
  const relation = postgres.table !== undefined
    ? `${postgres.schema === undefined ? "" : `${SqlSource.quote(postgres.schema)}.`}${SqlSource.quote(postgres.table)}`
    : `(${postgres.query!.trim().replace(/;+\s*$/, "")})`
  const origin = `${server} ${postgres.table !== undefined ? `table ${postgres.schema === undefined ? "" : `${postgres.schema}.`}${postgres.table}` : `query of dataset ${spec.name}`}`
  const from = `${relation} AS src`
  // A few connections per dataset: tasks run concurrently, each query holds one at a time.
  const pool = new pg.Pool({ connectionString: postgres.connection, max: 4, connectionTimeoutMillis: 10_000 })
  pool.on("error", () => {}) // an idle client's failure surfaces on the next query instead of crashing the thread
  const fail = (cause: unknown) => errorOf(origin, cause)

  const engine: SqlSource.SqlEngine = {
    dialect,
    query: (sql, params) =>
      Effect.tryPromise({
        try: async () => (await pool.query({ text: sql, values: params as Array<unknown>, rowMode: "array" })).rows as ReadonlyArray<SqlSource.Row>,
        catch: fail
      }).pipe(Effect.retry({ schedule: retry, times: 3, while: (error) => error.reason === "Unreachable" })),
    stream: (sql, params) =>
      Stream.fromAsyncIterable(
        {
          async *[Symbol.asyncIterator]() {
            const client = await pool.connect()
            const cursor = client.query(new Cursor(sql, params as Array<unknown>, { rowMode: "array" }))
            try {
              for (;;) {
                const rows = await cursor.read(CURSOR_ROWS)
                if (rows.length === 0) return
                yield rows as ReadonlyArray<SqlSource.Row>
              }
            } finally {
              await cursor.close().catch(() => {})
              client.release()
            }
          }
        },
        fail
      )
  }

  try {
    // The relation's own columns and their types: a missing table, a wrong password, a server that is down
    // all fail here, before any task.
    const probe = await pool.query({ text: `SELECT * FROM ${from} LIMIT 0`, rowMode: "array" }).catch((cause) => {
      throw fail(cause)
    })
    const types = new Map(probe.fields.map((f) => [f.name, f.dataTypeID] as const))
    const accesses = new Map<string, SqlSource.ColumnAccess>()
    for (const column of spec.columns) {
      const oid = types.get(column.name)
      if (oid === undefined) {
        throw new DatasetError({ reason: "MissingColumn", source: origin, column: column.name, detail: `the ${postgres.table !== undefined ? "table" : "query"} has no such column (found: ${[...types.keys()].join(", ")})` })
      }
      accesses.set(column.name, access(origin, column, oid))
    }
    const source = SqlSource.make(engine, { name: spec.name, origin, columns: spec.columns, id: spec.id, from, access: (column) => accesses.get(column.name)! })
    return { source, close: () => pool.end() }
  } catch (error) {
    await pool.end().catch(() => {})
    throw error
  }
}

const access = (origin: string, column: ColumnSpec, oid: number): SqlSource.ColumnAccess => {
  const raw = SqlSource.quote(column.name)
  const unsupported = () => new DatasetError({ reason: "UnsupportedType", source: origin, column: column.name, detail: `a column of PostgreSQL type ${oid} cannot be read as ${column.type}` })
  if (isNumericType(column.type)) {
    if (TEXT.has(oid)) {
      const { problem, value } = SqlSource.textNumber(dialect, raw, column, {
        nullable: true,
        tryCast: (text) => `(CASE WHEN ${dialect.matches(text, SqlSource.DECIMAL)} THEN CAST(${text} AS float8) END)`
      })
      return { spec: column, value, problem, raw }
    }
    const value = oid === OID.float8 ? raw : INTEGER.has(oid) ? `CAST(${raw} AS float8)` : oid === OID.float4 || oid === OID.numeric ? `CAST(CAST(${raw} AS text) AS float8)` : undefined
    if (value === undefined) throw unsupported()
    return { spec: column, value, problem: SqlSource.typedNumberProblem(dialect, value, column), raw }
  }
  if (!TEXT.has(oid) && !INTEGER.has(oid) && oid !== OID.uuid) throw unsupported()
  return { spec: column, value: `COALESCE(CAST(${raw} AS text), '')`, problem: "NULL", raw }
}
