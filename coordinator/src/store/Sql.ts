/**
 * One SQL dialect, two engines: embedded PGlite (a Postgres data directory on disk, the default) and a real
 * PostgreSQL server by URL for production and multi-instance coordinators (DESIGN.md §7).
 */
import { mkdir } from "node:fs/promises"
import { PGlite } from "@electric-sql/pglite"
import pg from "pg"

export interface Sql {
  readonly query: <T = Record<string, unknown>>(text: string, params?: ReadonlyArray<unknown>) => Promise<Array<T>>
  /** Runs `body` in one transaction; a thrown error rolls it back. */
  readonly transaction: <T>(body: (tx: Sql) => Promise<T>) => Promise<T>
  readonly close: () => Promise<void>
  readonly engine: "pglite" | "postgres"
}

export const openPglite = async (dataDir: string): Promise<Sql> => {
  await mkdir(dataDir, { recursive: true })
  const db = await PGlite.create(dataDir)
  const wrap = (q: Pick<PGlite, "query">): Sql["query"] => async (text, params) =>
    (await q.query(text, params as Array<unknown>)).rows as Array<never>
  const sql: Sql = {
    engine: "pglite",
    query: wrap(db),
    transaction: (body) =>
      db.transaction((tx) => body({ ...sql, query: wrap(tx), transaction: (inner) => inner(sql) })),
    close: () => db.close()
  }
  return sql
}

/**
 * `connections`: the pool's size (8 for the store; a coordinator's lease keeping has one of its own). `name`: the
 * connections' `application_name`, which tells an operator (and a test) in `pg_stat_activity` whose they are.
 */
export const openPostgres = async (url: string, connections = 8, name?: string): Promise<Sql> => {
  const pool = new pg.Pool({ connectionString: url, max: connections, ...(name === undefined ? {} : { application_name: applicationName(name) }) })
  // An idle connection the server dropped (a restart, a failover) is an event on the pool, not a crash of the
  // process: the next query opens a new connection and fails only if the server is still away.
  pool.on("error", () => {})
  // A client checked out of the pool (a transaction's) has no such listener while it is out: a server going away
  // between two of its statements would make its error event stop the process. The statement after it fails
  // instead (the store retries that), and the broken client is released as broken.
  pool.on("connect", (client) => client.on("error", () => {}))
  await pool.query("select 1")
  const sql: Sql = {
    engine: "postgres",
    query: async (text, params) => (await pool.query(text, params as Array<unknown>)).rows,
    transaction: async (body) => {
      const client = await pool.connect()
      try {
        await client.query("begin")
        const txSql: Sql = {
          ...sql,
          query: async (text, params) => (await client.query(text, params as Array<unknown>)).rows,
          transaction: (inner) => inner(txSql)
        }
        const result = await body(txSql)
        await client.query("commit")
        client.release()
        return result
      } catch (error) {
        // A connection that cannot even roll back is broken: it leaves the pool instead of being reused.
        let broken: Error | undefined
        await client.query("rollback").catch((e: Error) => void (broken = e))
        client.release(broken)
        throw error
      }
    },
    close: () => pool.end()
  }
  return sql
}

/** Whether `location` names a PostgreSQL server (else a PGlite directory). */
export const isPostgres = (location: string): boolean => /^postgres(ql)?:\/\//.test(location)

/** `postgres://…` opens a server connection (named `name`); anything else is a PGlite data directory. */
export const open = (location: string, name?: string): Promise<Sql> =>
  isPostgres(location) ? openPostgres(location, 8, name) : openPglite(location)

/** PostgreSQL keeps the first 63 bytes of an `application_name`. */
export const applicationName = (name: string) => name.slice(0, 63)
