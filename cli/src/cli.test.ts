/**
 * The CLI's task commands and `run --local` as a script sees them: one JSON document on stdout with --json,
 * nothing on a non-terminal stderr (no status lines, no progress bars), exit codes that say whether the task
 * succeeded; and the typed client against a real coordinator, whose responses it decodes with the Schemas the
 * OpenAPI document is generated from.
 */
import { catchUpProbability } from "@jointly/core/internal/ledger/CatchUp"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Client from "@jointly/coordinator/internal/client/Client"
import * as LocalCluster from "./local/LocalCluster.ts"
import * as ProgressBar from "@jointly/coordinator/internal/cli/ProgressBar"

const repo = fileURLToPath(new URL("../../", import.meta.url))
const demo = (name: string) => join(repo, "examples", "demo", name)
const names = ["north", "south", "east"] as const

/** Runs the CLI with piped (non-terminal) stdio. */
const jointly = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [LocalCluster.cliPath(), ...args], { env: { ...process.env, JOINTLY_LOG: "error", ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

const expectQuiet = (stderr: string) => {
  expect(stderr).not.toContain("»")
  expect(stderr).not.toContain("\r")
  expect(stderr).not.toContain("\x1b[")
}

/** Rows with glucose > 0 over the three demo files: the count the statistics task must report. */
const expectedCount = async () => {
  let count = 0
  for (const n of names) {
    const [head, ...rows] = (await readFile(demo(`pima-${n}.csv`), "utf8")).trim().split("\n")
    const glucose = head!.split(",").indexOf("glucose")
    count += rows.filter((r) => Number(r.split(",")[glucose]) > 0).length
  }
  return count
}

describe("progress renderer", () => {
  const sink = (isTTY: boolean) => {
    const writes: Array<string> = []
    return { writes, sink: { isTTY, columns: 100, write: (t: string) => writes.push(t) } }
  }
  it("draws bars only on a terminal and is silent elsewhere unless asked for status lines", () => {
    const pipe = sink(false)
    const quiet = ProgressBar.make(pipe.sink)
    quiet.progress({ stage: "fl.round", done: 1, total: 4 })
    quiet.line("task Running")
    quiet.done()
    expect(pipe.writes).toEqual([])

    const lines = sink(false)
    ProgressBar.make(lines.sink, { lines: true }).line("task Running")
    expect(lines.writes).toEqual(["» task Running\n"])

    const tty = sink(true)
    const bars = ProgressBar.make(tty.sink)
    bars.progress({ stage: "psi.blind", done: 1, total: 4 })
    bars.progress({ stage: "psi.blind", done: 4, total: 4 })
    bars.progress({ stage: "psi.relay", done: 1, total: 2, detail: "chunk" })
    bars.done()
    const text = tty.writes.join("")
    expect(text).toContain("psi.blind")
    expect(text).toContain(`${"█".repeat(24)} 4/4`)
    expect(text).toContain(`${"█".repeat(12)}${"░".repeat(12)} 1/2  chunk`)
    expect(text.endsWith("\n")).toBe(true)
  })
})

/** Stops a party's process by SIGTERM (one already stopped stays so): its exit code. */
const stopParty = async (party: LocalCluster.Party): Promise<number | null> => {
  if (party.process.exitCode !== null || party.process.signalCode !== null) return party.process.exitCode
  const exited = new Promise<number | null>((r) => party.process.once("exit", r))
  party.process.kill("SIGTERM")
  return exited
}

describe("CLI and client against a local cluster", () => {
  let dir: string
  let cluster: LocalCluster.LocalCluster
  const starter = LocalCluster.starter()
  let client: Client.Client
  let specFile: string
  const env = () => ({ JOINTLY_ANALYST_KEY: cluster.keys.analyst.privateKey })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-cli-"))
    const columns = [
      { name: "pregnant", type: "integer" }, { name: "glucose", type: "number" }, { name: "pressure", type: "number" },
      { name: "mass", type: "number" }, { name: "age", type: "integer" }, { name: "label", type: "integer" }
    ] as const
    cluster = await starter.start({
      dataDir: join(dir, "cluster"),
      parties: names.map((n) => ({ name: n, datasets: [{ name: "pima", file: demo(`pima-${n}.csv`), columns: columns as never }] }))
    })
    client = Client.make({ url: cluster.coordinatorUrl, initiator: cluster.keys.analyst })
    const task = JSON.parse(await readFile(demo("stats-task.json"), "utf8"))
    specFile = join(dir, "spec.json")
    await writeFile(specFile, JSON.stringify({
      kind: task.kind,
      name: "cli test",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })),
      params: task.params
    }))
  }, 180_000)

  afterAll(async () => {
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  it("task submit --watch --json prints one JSON summary with the true count, and nothing on stderr", async () => {
    const run = await jointly(["task", "submit", specFile, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--watch", "--json"], env())
    expect(run.code, run.stderr).toBe(0)
    expectQuiet(run.stderr)
    const out = JSON.parse(run.stdout)
    expect(out.status).toBe("Succeeded")
    expect(out.result.count).toBe(await expectedCount())
    expect(out.chain.length).toBeGreaterThan(0)
    expect(out.chain.every((c: { status: string }) => c.status === "confirmed")).toBe(true)

    // The same task through the typed client: every response decodes with its documented Schema.
    const detail = await client.get(out.taskId)
    expect(detail.resultDigest).toBe(out.resultDigest)
    expect(detail.events.some((e) => e.type === "Progress")).toBe(true)
    expect((await client.list({ status: "Succeeded" })).map((t) => t.id)).toContain(out.taskId)
    const health = await client.health()
    expect(health.ok).toBe(true)
    // The finality the dashboard shows beside the confirmations setting: Nakamoto's catch-up risk at that depth.
    expect(health.chain.confirmations).toBeGreaterThanOrEqual(1)
    expect(health.chain.catchUpRisk).toEqual([0.1, 0.3].map((q) => ({ q, probability: catchUpProbability(q, health.chain.confirmations!) })))
    expect((await client.nonce()).nonce).toMatch(/^0x[0-9a-f]{64}$/)
    expect(Object.keys((await client.openapi()).paths as object)).toContain("/api/tasks/{id}")
    await expect(client.get(`0x${"00".repeat(32)}`)).rejects.toMatchObject({ status: 404, code: "UnknownTask" })

    // The same result as tables (the default) and as the main table in CSV: one row per column, its mean the result's.
    const table = await jointly(["task", "get", out.taskId, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY"], env())
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toMatch(/^columns$/m)
    const csv = await jointly(["task", "get", out.taskId, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--format", "csv"], env())
    expect(csv.code, csv.stderr).toBe(0)
    const [header, ...rows] = csv.stdout.trim().split("\r\n").map((line) => line.split(","))
    expect(header![0]).toBe("name")
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(out.result.columns).sort())
    const mean = header!.indexOf("mean")
    for (const r of rows) expect(Math.abs(Number(r[mean]) - out.result.columns[r[0]!].mean)).toBeLessThanOrEqual(1e-5 * Math.abs(out.result.columns[r[0]!].mean))
    const wrong = await jointly(["task", "get", out.taskId, "--coordinator", cluster.coordinatorUrl, "--format", "xml", "--json"], env())
    expect(wrong.code).toBe(2)
    expect(JSON.parse(wrong.stdout).error.code).toBe("Usage")

    const listed = await jointly(["task", "list", "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--json"], env())
    expect(JSON.parse(listed.stdout).tasks.map((t: { id: string }) => t.id)).toContain(out.taskId)
    // Without a key the CLI cannot sign in, and says so.
    const anonymous = await jointly(["task", "list", "--coordinator", cluster.coordinatorUrl, "--json"])
    expect(anonymous.code).toBe(1)
    expect(JSON.parse(anonymous.stdout).error.code).toBe("NoSigner")
  }, 180_000)

  it("the client's watch follows the event stream and reports the secure-aggregation stages as progress, in order", async () => {
    const stages: Array<string> = []
    const { taskId } = await client.submit(JSON.parse(await readFile(specFile, "utf8")))
    // No quiet-period re-read within the test's time: the task is read only when the event stream says it
    // changed, so without the stream the watch would never end.
    const detail = await client.watch(taskId, { onProgress: (p) => stages.push(`${p.stage} ${p.done}/${p.total}`), intervalMs: 600_000, timeoutMs: 110_000 })
    expect(detail.status).toBe("Succeeded")
    expect(stages.length).toBeGreaterThan(1)
    expect(stages).toEqual(detail.events.filter((e) => e.type === "Progress").map((e) => {
      const p = e.data as Client.Progress
      return `${p.stage} ${p.done}/${p.total}`
    }))
  }, 120_000)

  // East stays stopped for the next test, which wants it absent: one restart rather than two.
  it("a participant stopped by SIGTERM leaves no DuckDB directory, and one starting removes those of dead processes only", async () => {
    const east = cluster.parties.find((p) => p.name === "east")!
    const tmp = await mkdtemp(join(dir, "tmp-"))
    // A pid no longer alive: a child that has exited (and been reaped).
    const child = spawn(process.execPath, ["-e", ""])
    await new Promise((r) => child.once("exit", r))
    const dead = join(tmp, `jointly-duckdb-${child.pid}-left`)
    const live = join(tmp, `jointly-duckdb-${process.pid}-live`)
    await mkdir(dead)
    await mkdir(live)
    const own = async (pid: number | undefined) => (await readdir(tmp)).filter((name) => name.startsWith(`jointly-duckdb-${pid}-`))
    await stopParty(east)
    await cluster.launch(east, { TMPDIR: tmp })
    const pid = east.process.pid
    // Its engine opened (the datasets are CSV) in this TMPDIR, named by its pid, and cleared the dead one only.
    expect(await own(pid)).toHaveLength(1)
    expect(existsSync(dead)).toBe(false)
    expect(existsSync(live)).toBe(true)
    expect(await stopParty(east)).toBe(0)
    expect(await own(pid)).toEqual([])
  }, 120_000)

  it("a participant signalled while it starts releases its DuckDB directory and exits 143, never ready", async () => {
    const east = cluster.parties.find((p) => p.name === "east")!
    await stopParty(east)
    const tmp = await mkdtemp(join(dir, "tmp-"))
    // Its coordinator does not answer: it opens its engine, then waits to be admitted, not ready.
    const configFile = join(east.dataDir, "participant-unanswered.json")
    await writeFile(configFile, JSON.stringify({ ...JSON.parse(await readFile(join(east.dataDir, "participant.json"), "utf8")), coordinatorUrl: "http://127.0.0.1:9" }))
    const child = spawn(process.execPath, [LocalCluster.cliPath(), "participant", "--config", configFile, ...(east.unsafeTestKeySizes ? ["--unsafe-test-key-sizes"] : [])], {
      env: { ...process.env, TMPDIR: tmp, JOINTLY_KEY_PASSPHRASE: (await readFile(join(east.dataDir, "passphrase"), "utf8")).trim() },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })))
    const spills = async () => (await readdir(tmp)).filter((name) => name.startsWith("jointly-duckdb-"))
    await expect.poll(async () => (await spills()).filter((name) => name.startsWith(`jointly-duckdb-${child.pid}-`)).length, { timeout: 60_000, interval: 100 }).toBe(1)
    child.kill("SIGTERM")
    expect(await exited, stderr).toEqual({ code: 143, signal: null })
    expect(stdout).toBe("")
    expect(await spills()).toEqual([])
    expect(stderr).toContain(`"type":"stopped","signal":"SIGTERM","ready":false`)
  }, 120_000)

  it("task cancel --json cancels a task waiting for an absent party; watch --json then exits 1 with Cancelled", async () => {
    await stopParty(cluster.parties.find((p) => p.name === "east")!)
    const submitted = await jointly(["task", "submit", specFile, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--json"], env())
    expect(submitted.code, submitted.stderr).toBe(0)
    const { taskId } = JSON.parse(submitted.stdout)
    const cancelled = await jointly(["task", "cancel", taskId, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--reason", "test", "--json"], env())
    expect(JSON.parse(cancelled.stdout)).toEqual({ taskId, status: "Cancelled" })
    const watched = await jointly(["task", "watch", taskId, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--json"], env())
    expect(watched.code).toBe(1)
    expectQuiet(watched.stderr)
    expect(JSON.parse(watched.stdout)).toMatchObject({ taskId, status: "Cancelled", reason: "test" })
    const missing = await jointly(["task", "cancel", `0x${"00".repeat(32)}`, "--coordinator", cluster.coordinatorUrl, "--key-env", "JOINTLY_ANALYST_KEY", "--json"], env())
    expect(missing.code).toBe(1)
    expect(JSON.parse(missing.stdout)).toEqual({ error: { code: "UnknownTask", message: expect.stringContaining("no task") } })
  }, 240_000)
})

describe("run --local --json", () => {
  it("prints one JSON document with the statistics and the chain transactions, and stays quiet on stderr", async () => {
    const run = await jointly(["run", "--local", "--task", demo("stats-task.json"), ...names.flatMap((n) => ["--party", `${n}=${demo(`pima-${n}.csv`)}`]), "--json"])
    expect(run.code, run.stderr).toBe(0)
    expectQuiet(run.stderr)
    const out = JSON.parse(run.stdout)
    expect(out.status).toBe("Succeeded")
    expect(out.result.count).toBe(await expectedCount())
    expect(Object.keys(out.parties)).toEqual([...names])
    expect(out.chain.transactions.length).toBeGreaterThan(0)
  }, 240_000)
})


describe("run --local with a task the declarations refuse", () => {
  it("fails at once, before any chain or process starts, naming the misspelled kind and the known ones", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jointly-cli-kind-"))
    try {
      const task = JSON.parse(await readFile(demo("stats-task.json"), "utf8")) as { kind: string }
      const file = join(dir, "task.json")
      await writeFile(file, JSON.stringify({ ...task, kind: "statistics.horizontl" }))
      const started = Date.now()
      const out = await jointly(["run", "--local", "--json", "--task", file, ...names.flatMap((n) => ["--party", `${n}=${demo(`pima-${n}.csv`)}`]), "--data-dir", join(dir, "data")])
      expect(out.code).toBe(1)
      const { error } = JSON.parse(out.stdout) as { error: { code: string; message: string } }
      expect(error.code).toBe("UnknownTaskKind")
      expect(error.message).toContain('"statistics.horizontl"')
      expect(error.message).toContain("statistics.horizontal")
      expect(error.message).toContain("query.psi")
      // Nothing was started: no data directory, and far sooner than a chain and four processes would take.
      await expect(readFile(join(dir, "data", "operator", "keys.json"))).rejects.toThrow()
      expect(Date.now() - started).toBeLessThan(30_000)

      // Bad params of a known kind are refused the same way, naming the field.
      await writeFile(file, JSON.stringify({ ...task, params: { ...(task as unknown as { params: object }).params, statistics: ["median"] } }))
      const bad = await jointly(["run", "--local", "--json", "--task", file, ...names.flatMap((n) => ["--party", `${n}=${demo(`pima-${n}.csv`)}`])])
      expect(bad.code).toBe(1)
      const refused = JSON.parse(bad.stdout) as { error: { code: string; message: string } }
      expect(refused.error.code).toBe("InvalidTaskParams")
      expect(refused.error.message).toContain("statistics")
    } finally {
      await removeDir(dir)
    }
  }, 60_000)
})
