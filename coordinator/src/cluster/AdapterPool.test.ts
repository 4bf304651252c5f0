/**
 * The socket.io Postgres adapter's insides, held in one place: a release AdapterPool.ts does not know is refused
 * before anything is touched, naming it; and, against a real PostgreSQL, what the module relies on of the installed
 * release holds — its LISTEN is heard at start and after each time its connection is terminated, the pool keeps
 * serving after more terminations than it has connections (EndedClients.ts takes each dead client back), and the
 * listener really hears the other instance afterwards.
 */
import pg from "pg"
import { Server } from "socket.io"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Postgres from "../testing/Postgres.ts"
import * as AdapterPool from "./AdapterPool.ts"
import * as EndedClients from "./EndedClients.ts"

describe("the adapter release check", () => {
  it("accepts 0.5.x, the installed release among them, and refuses any other, naming it and what is supported", () => {
    for (const version of ["0.5.0", "0.5.12", "0.5.1-rc.1", AdapterPool.installedVersion()]) expect(() => AdapterPool.check(version)).not.toThrow()
    for (const version of ["0.6.0", "0.4.0", "1.5.0", "5", "latest"]) {
      expect(() => AdapterPool.check(version)).toThrow(AdapterPool.UnsupportedAdapterVersion)
      expect(() => AdapterPool.check(version)).toThrow(`@socket.io/postgres-adapter ${version} is installed`)
    }
    expect(() => AdapterPool.check("0.6.0")).toThrow(/relies on the insides of 0\.5\.x/)
  })

  it("refuses to build the adapter over an unknown release before the pool is touched", async () => {
    const pool = new pg.Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none", max: 1 })
    const listening = () => {}
    await expect(AdapterPool.make(pool, { channelPrefix: "x", namespace: "/participants", errorHandler: () => {}, listening }, "0.6.0")).rejects.toThrow(AdapterPool.UnsupportedAdapterVersion)
    expect(pool.totalCount).toBe(0)
    await pool.end()
  })
})

const available = Postgres.binaries() !== undefined

describe.skipIf(!available)("the installed adapter over a real PostgreSQL", () => {
  let server: Awaited<ReturnType<typeof Postgres.start>>
  let admin: pg.Pool
  const pools: Array<pg.Pool> = []
  const servers: Array<Server> = []

  beforeAll(async () => {
    server = await Postgres.start()
    admin = new pg.Pool({ connectionString: server.url, max: 1 })
  }, 60_000)

  afterAll(async () => {
    // Not attached to an HTTP server: its close rejects once its adapters are closed, which is all there is to close.
    for (const io of servers) await io.close().catch(() => {})
    for (const pool of [...pools, admin]) await pool.end().catch(() => {})
    await server?.stop()
  })

  /** An instance's socket.io server on the adapter, its pool of `max` connections named `name`. */
  const instance = async (name: string, max: number, listening: () => void) => {
    const pool = EndedClients.releasedOnEnd(new pg.Pool({ connectionString: server.url, max, application_name: name }))
    pool.on("error", () => {})
    pool.on("connect", (client) => client.on("error", () => {}))
    pools.push(pool)
    const adapter = await AdapterPool.make(pool, { channelPrefix: "test", namespace: "/participants", errorHandler: () => {}, listening })
    const io = new Server({ adapter })
    servers.push(io)
    return { pool, nsp: io.of("/participants") }
  }

  const until = async (what: string, done: () => boolean, ms = 15_000) => {
    for (const started = Date.now(); !done(); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() - started > ms) throw new Error(`still waiting for ${what}`)
    }
  }

  it("hears its LISTEN at start and after every terminated connection, keeps its pool serving, and hears the other instance after", async () => {
    let listens = 0
    const heard: Array<number> = []
    const a = await instance("adapter-test-a", 2, () => void listens++)
    a.nsp.on("probe", (n: number) => void heard.push(n))
    const b = await instance("adapter-test-b", 2, () => {})
    await until("the first LISTEN", () => listens === 1)

    // Three cuts: one more than the pool's connections, each dead LISTEN client left checked out by the adapter.
    for (let cut = 1; cut <= 3; cut++) {
      const { rows } = await admin.query<{ killed: boolean }>(
        `select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1 and starts_with(query, 'LISTEN ')`,
        ["adapter-test-a"]
      )
      expect(rows.map((r) => r.killed)).toEqual([true])
      await until(`the LISTEN after cut ${cut}`, () => listens === 1 + cut)
    }
    // The pool still has a connection to publish with, and the listener on the new one hears the other instance.
    expect((await a.pool.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }])
    for (let n = 1; heard.length === 0; n++) {
      b.nsp.serverSideEmit("probe", n)
      await until("the other instance's message", () => heard.length > 0, 1_000).catch(() => {})
      if (n > 10) throw new Error("the other instance's messages were never heard")
    }
    expect(heard[0]).toBeGreaterThan(0)
  }, 60_000)
})
