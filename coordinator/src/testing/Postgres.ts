/**
 * A throwaway PostgreSQL server for tests: Debian's postgresql binaries (installed by `.ci/run`), a fresh
 * cluster in a temp dir, listening on a free loopback port, stopped and deleted afterwards. PostgreSQL
 * refuses to run as root, so as root the cluster belongs to the `postgres` system user.
 */
import { execFile, spawn } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

export const binaries = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const version = readdirSync(root).sort().pop()
  const bin = version ? join(root, version, "bin") : undefined
  return bin && existsSync(join(bin, "initdb")) ? bin : undefined
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

export const start = async () => {
  const bin = binaries()
  if (!bin) throw new Error("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
  const dir = mkdtempSync(join(tmpdir(), "jointly-pg-"))
  chmodSync(dir, 0o777)
  const data = join(dir, "data")
  const asRoot = process.getuid?.() === 0
  const run = (cmd: string, args: ReadonlyArray<string>) =>
    asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]] as const : [join(bin, cmd), [...args]] as const
  const [initCmd, initArgs] = run("initdb", ["-D", data, "-U", "jointly", "--auth=trust", "-E", "UTF8"])
  // Asynchronously: a synchronous initdb (seconds on a loaded machine) froze the test's event loop, and a start
  // beside it (anvil in the same beforeAll) timed out with its ready line unread.
  await promisify(execFile)(initCmd, initArgs)
  const port = await freePort()
  const [pgCmd, pgArgs] = run("postgres", ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
  const url = `postgres://jointly@127.0.0.1:${port}/postgres`
  const pg = (await import("pg")).default
  /** Starts the server over `data` and resolves once it answers. */
  const launch = async () => {
    const child = spawn(pgCmd, pgArgs, { stdio: "ignore" })
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client({ connectionString: url })
      try {
        await client.connect()
        await client.end()
        return child
      } catch (error) {
        if (attempt > 100) throw error
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  /** Stops the server at once (`immediate`: no shutdown checkpoint, as a crash would leave it). */
  const halt = async () => {
    // runuser does not forward signals to the server: ask pg_ctl, which signals the postmaster itself.
    const exited = new Promise((r) => server.once("exit", r))
    const [stopCmd, stopArgs] = run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    try {
      await promisify(execFile)(stopCmd, stopArgs)
    } catch {
      server.kill("SIGKILL")
    }
    await exited
  }
  let server = await launch()
  return {
    url,
    /** Stops the server at once, as a crash or a failover would; `resume` starts it again. */
    halt,
    /** Starts a halted server again over the same data and port (its crash recovery runs first). */
    resume: async () => {
      server = await launch()
    },
    stop: async () => {
      await halt()
      await removeDir(dir)
    }
  }
}
