/**
 * Faults over real processes (issue 17, item 3): anvil, the coordinator as its own process and three participant
 * processes (LocalCluster) holding thirds of pima.csv.
 *  - The chain node stopped mid-task for three of the notary's longest waits between tries (30 s at the default
 *    10 s; the cluster's coordinator waits at most 2 s, so 6 s) and started again over its saved state: the task
 *    finishes while the chain is away, and once it is back every event lands exactly once. A sign-in (its roles read from the chain)
 *    is answered with the typed Unavailable (503) while the chain is away, and normally once it is back.
 *  - A participant killed (SIGKILL) mid federated-learning round and started again: the round settles without it;
 *    the coordinator offers the running task to the restarted process (`rejoin`), which checks it against its
 *    policy again and takes part in the rounds after.
 *  - The link between one participant and the coordinator cut by a TCP proxy (TcpProxy.ts) mid-task and restored
 *    seconds later: the task settles with that participant as a secure-aggregation dropout and the exact statistics
 *    of the others; once the link is back the participant reconnects by itself and serves the next task.
 *  - The store's disk full (the coordinator's PGlite directory on a small tmpfs this file mounts, as root): a
 *    submission is answered with the typed Unavailable (503), the process stays up and the store unchanged; once
 *    space is freed the next submission runs.
 */
import { execFileSync } from "node:child_process"
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import type { Result as FlResult } from "@jointly/core/internal/protocols/federated-learning/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { type Anvil, startAnvil } from "./chain/Anvil.ts"
import { expectNotarizedOnce } from "./testing/ChainOnce.ts"
import * as F from "./testing/fixtures.ts"
import * as TcpProxy from "./testing/TcpProxy.ts"

const names = ["north", "south", "east"] as const
let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let full: F.Csv
/** The chain started again by the outage test (the cluster stops only the one it started). */
let restarted: Anvil | undefined
let proxy: TcpProxy.TcpProxy | undefined
/** The tmpfs holding the coordinator's store, when this process may mount one (root). */
let storeMount: string | undefined

const party = (name: (typeof names)[number]) => cluster.parties.find((p) => p.name === name)!
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/**
 * The coordinator's longest wait between tries to notarize while the chain is away (default 10 s): the outage
 * lasts three of them, as 30 s did at the default, so the notary reaches its longest wait and keeps trying at it.
 */
const chainRetryMaxMs = 2_000
/**
 * How long a wait for something that does happen when all goes well may take (a task to run or end, a participant to
 * answer, see its link drop or reconnect) before the test gives up: what is asserted is what happens, not how fast,
 * so the bound is for a loaded 2-core CI machine (anvil, the coordinator and three participants in their own
 * processes next to other test files), and a passing run takes no longer for it.
 */
const liveness = 180_000
/**
 * The federated-learning task's wait for a round's stragglers: north and south are stopped while east restarts, so
 * east's rejoin must come within it (the round would otherwise settle without all three). Not waited out when all
 * goes well: the round settles once north and south, resumed, answer.
 */
const roundTimeoutMs = 90_000

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-faults-"))
  const pima = await F.pimaParties(dir, names)
  full = pima.full
  // LocalCluster keeps the coordinator's PGlite store in <dataDir>/coordinator/db: a tmpfs there lets the disk-full
  // case fill it without touching the machine's disks.
  const store = join(dir, "cluster", "coordinator", "db")
  mkdirSync(store, { recursive: true })
  if (process.getuid?.() === 0) {
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=192m", "jointly-faults-store", store], { stdio: "ignore" })
      storeMount = store
    } catch {
      storeMount = undefined
    }
  }
  cluster = await starter.start({ dataDir: join(dir, "cluster"), coordinatorProcess: true, chainRetryMaxMs, parties: pima.parties })
}, 300_000)

afterAll(async () => {
  for (const p of cluster?.parties ?? []) if (p.process.exitCode === null) p.process.kill("SIGCONT")
  await starter.stop()
  await restarted?.stop()
  await proxy?.close()
  // The cluster's stop waited for every process's exit; lazily all the same, so that a file still held cannot
  // fail the teardown.
  if (storeMount) execFileSync("umount", ["--lazy", storeMount], { stdio: "ignore" })
  if (dir) await removeDir(dir)
})

/** Stops `name`'s process the instant it has consented, so the task goes Running and then waits on it. */
const freezeOnConsent = (name: (typeof names)[number]) => {
  const p = party(name)
  let frozen = false
  const watch = (chunk: Buffer) => {
    if (!frozen && chunk.toString().includes('"type":"consent"')) frozen = p.process.kill("SIGSTOP")
  }
  p.process.stderr!.on("data", watch)
  return {
    frozen: () => frozen,
    release: () => {
      p.process.stderr!.off("data", watch)
      if (frozen) p.process.kill("SIGCONT")
    }
  }
}

/** Whether `name` logged a line containing every one of `parts` at or after `since` (an ISO time). */
const loggedSince = (name: (typeof names)[number], since: string, ...parts: ReadonlyArray<string>) =>
  party(name).stderr.some((line) => (/"at":"([^"]+)"/.exec(line)?.[1] ?? "") >= since && parts.every((part) => line.includes(part)))

/** Points a party at another coordinator URL (its config file) and restarts its process there. */
const reconnectThrough = async (name: (typeof names)[number], url: string) => {
  const p = party(name)
  const file = join(p.dataDir, "participant.json")
  await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, "utf8")), coordinatorUrl: url }, null, 2))
  const exited = new Promise((resolve) => p.process.once("exit", resolve))
  p.process.kill("SIGTERM")
  await exited
  // Resolves once the coordinator admitted it (its "ready" line).
  await cluster.launch(p)
}

/**
 * A fresh account's sign-in over plain HTTP (the coordinator reads its roles from the chain before answering): the
 * status and the decoded body, bounded so that a coordinator hanging on the chain fails the test rather than holding it.
 */
const signIn = async () => {
  const wallet = Wallet.createRandom()
  const post = (path: string, body: unknown) =>
    fetch(`${cluster.coordinatorUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) })
  const { message } = (await (await post("/api/auth/challenge", { address: wallet.address })).json()) as { message: string }
  const response = await post("/api/auth/sign-in", { message, signature: await wallet.signMessage(message) })
  return { address: wallet.address, status: response.status, body: (await response.json()) as unknown }
}

const statisticsParams: Params = { columns: ["glucose", "mass", "age"], statistics: ["count", "sum", "mean", "variance"] }

describe("faults", () => {
  it.skipIf(process.getuid?.() !== 0)("answers a submission with a typed Unavailable while the store's disk is full, changing nothing, and runs the next once space is freed", async () => {
    expect(storeMount, "the tmpfs for the store (mount needs root)").toBeDefined()
    // First in this file: the store's tables have no page yet, so the first task's row needs the file extended,
    // which the full disk refuses (later, a row may fit in a page already written, and nothing fails).
    const everyone = cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never
    const before = await cluster.client.list({ limit: 100 })
    const filler = join(storeMount!, "filler")
    // Every byte the tmpfs has left, in shrinking chunks until the kernel says ENOSPC.
    const fd = openSync(filler, "w")
    try {
      for (const size of [1 << 20, 1 << 12, 1]) {
        const chunk = Buffer.alloc(size)
        try {
          for (;;) writeSync(fd, chunk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error
        }
      }
    } finally {
      closeSync(fd)
    }
    try {
      const refused = await cluster.submit({ kind: "statistics.horizontal", parties: everyone, params: statisticsParams }).then(() => undefined, (error: unknown) => error)
      expect(refused).toMatchObject({ status: 503, code: "Unavailable" })
      expect(String((refused as Error).message)).toContain("No space left on device")
      // The process is up, answering reads, and holds exactly the tasks it held.
      expect(cluster.coordinatorPids()[0]).toBeDefined()
      expect(await cluster.client.list({ limit: 100 })).toEqual(before)
    } finally {
      await rm(filler, { force: true })
    }
    const detail = await cluster.waitForTask(await cluster.submit({ kind: "statistics.horizontal", parties: everyone, params: statisticsParams }), { timeoutMs: liveness })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    const result = detail.result as Result
    expect(result).toEqual(F.exactReference([full], statisticsParams, result.contributors))
  }, 600_000)

  it("finishes a task while the chain node is stopped for three of the notary's longest retry waits, and notarizes every event exactly once after it is back", async () => {
    const params: Params = { columns: ["glucose", "mass", "age"], statistics: ["count", "sum", "mean", "variance", "histogram"], histogram: { glucose: [0, 100, 150, 200] } }
    const east = freezeOnConsent("east")
    try {
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params })
      await F.eventually(async () => ((await cluster.task(id)).status === "Running" ? true : undefined), "the task to run", liveness)
      expect(east.frozen()).toBe(true)

      // The chain goes away (SIGTERM: anvil saves its state on the way out), then the task runs to its end.
      // This cluster started its own chain (it joins none).
      const anvil = cluster.anvil!
      const { port } = anvil
      const stoppedAt = Date.now()
      await anvil.stop()
      east.release()
      const ended = await F.eventually(async () => {
        const detail = await cluster.task(id)
        return detail.status === "Succeeded" ? detail : undefined
      }, "the task to succeed without the chain", liveness)
      // Results do not wait for the chain: the outbox holds what could not be sent.
      expect(ended.chain.some((c) => c.status !== "confirmed")).toBe(true)
      expect(ended.result).toEqual(F.exactReference([full], params, (ended.result as Result).contributors))

      // A route that reads the chain answers the typed Unavailable (503) while it is away, not a 500 or a hang.
      const away = await signIn()
      expect(away.status).toBe(503)
      expect(away.body).toMatchObject({ _tag: "Unavailable", message: expect.stringContaining(`the roles of ${away.address} could not be read`) })

      await sleep(Math.max(0, 3 * chainRetryMaxMs - (Date.now() - stoppedAt)))
      restarted = await startAnvil({ dataDir: cluster.dataDir, port })
      // And normally once it is back, on the same port: the coordinator's provider reconnects by itself.
      const back = await signIn()
      expect(back).toMatchObject({ status: 200, body: { address: back.address, roles: { member: false } } })
      const detail = await cluster.waitForTask(id, { timeoutMs: liveness })
      expect(detail.status).toBe("Succeeded")
      await expectNotarizedOnce(cluster.supervisorLedger, detail, [
        "Submitted->AwaitingConsent",
        "AwaitingConsent->Scheduled",
        "Scheduled->Running",
        "Running->Succeeded"
      ])
    } finally {
      east.release()
    }
  }, 900_000)

  it("settles a federated-learning round without a participant killed mid-round, and takes it back once it is started again", async () => {
    const features = F.pimaColumns.slice(0, 8).map((c) => c.name)
    const rounds = 8
    const id = await cluster.submit({
      kind: "modeling.horizontal-fl",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never,
      params: {
        model: { class_name: "Sequential", config: { name: "lr", layers: [{ class_name: "Dense", config: { units: 2, activation: "softmax", use_bias: true, batch_input_shape: [null, features.length] } }] } },
        featureColumns: features,
        labelColumn: "label",
        scaling: { mean: [4, 120, 70, 20, 80, 32, 0.5, 33], std: [3, 32, 19, 16, 115, 8, 0.3, 12] },
        optimizer: "sgd",
        learningRate: 0.1,
        localEpochs: 1,
        batchSize: 64,
        rounds,
        validationSplit: 0,
        minUpdatesPerRound: 2,
        seed: 5
      },
      roundTimeoutMs
    })
    await F.eventually(async () => {
      const detail = await cluster.task(id)
      if (detail.status !== "Running" && detail.status !== "Scheduled" && detail.status !== "AwaitingConsent") throw new Error(`the task ended ${detail.status}: ${detail.reason}`)
      return detail.events.filter((e) => e.type === "Progress" && (e.data as { stage?: string }).stage === "fl.round").length >= 2 ? true : undefined
    }, "two rounds", 180_000)
    // Once two rounds are in: north and south paused (the round waits for them, within its timeout) so the rounds
    // cannot run out while east is down; east killed and started again; north and south go on once it is back.
    const others = [party("north"), party("south")]
    for (const p of others) p.process.kill("SIGSTOP")
    const east = party("east")
    try {
      const exited = new Promise((resolve) => east.process.once("exit", resolve))
      east.process.kill("SIGKILL")
      await exited
      await cluster.launch(east)
      await F.eventually(() => (east.stderr.some((line) => line.includes('"type":"rejoin"') && line.includes('"accepted":true')) ? true : undefined), "east to take the task up again", roundTimeoutMs)
    } finally {
      for (const p of others) p.process.kill("SIGCONT")
    }

    const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
    expect(detail.reason).toBeNull()
    expect(detail.status).toBe("Succeeded")
    const result = detail.result as FlResult
    expect(result.rounds).toHaveLength(rounds)
    const contributors = result.rounds.map((r) => r.contributors.length)
    // The round east died in settled without it; the rounds after it served with a fresh process.
    expect(contributors.slice(0, 2)).toEqual([3, 3])
    expect(contributors[2]).toBe(2)
    expect(contributors.slice(3)).toEqual(new Array(rounds - 3).fill(3))
  }, 900_000)

  it("settles a task with a participant whose link is cut mid-task as a dropout, exactly over the others, and serves the next task once the link is back", async () => {
    const url = new URL(cluster.coordinatorUrl)
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) })
    await reconnectThrough("east", proxy.url)
    const parts = F.splitRoundRobin(full, names.length)
    const everyone = cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never

    // North frozen right after its consent: the first round (statistics.prepare) waits on it, east has answered.
    const north = freezeOnConsent("north")
    const since = new Date().toISOString()
    try {
      const id = await cluster.submit({ kind: "statistics.horizontal", parties: everyone, params: statisticsParams })
      await F.eventually(() => (loggedSince("east", since, '"type":"stage"', id, "statistics.prepare", '"ok":true') ? true : undefined), "east to answer the first round", liveness)
      expect(north.frozen()).toBe(true)
      // The reply left east with the line above; a moment for the proxy to pass it on, then the cut.
      await sleep(500)
      const cutAt = new Date().toISOString()
      proxy.cut()
      await F.eventually(() => (loggedSince("east", cutAt, '"type":"disconnected"') ? true : undefined), "east to see the link drop", liveness)
      north.release()

      // Secure aggregation starts without east (not connected): it settles with north and south only.
      const detail = await cluster.waitForTask(id, { timeoutMs: liveness })
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      const result = detail.result as Result
      expect([...result.contributors].sort()).toEqual([party("north").address, party("south").address].sort())
      expect(result).toEqual(F.exactReference([parts[0]!, parts[1]!], statisticsParams, result.contributors))

      // Five seconds of refused reconnections, then the link is restored and east comes back by itself.
      await sleep(Math.max(0, 5_000 - (Date.now() - Date.parse(cutAt))))
      const accepted = proxy.connections()
      const restoredAt = new Date().toISOString()
      proxy.restore()
      await F.eventually(() => (loggedSince("east", restoredAt, '"type":"connected"') ? true : undefined), "east to reconnect", liveness)
      expect(proxy.connections()).toBeGreaterThan(accepted)

      const next = await cluster.waitForTask(await cluster.submit({ kind: "statistics.horizontal", parties: everyone, params: statisticsParams }), { timeoutMs: liveness })
      expect(next.status, String(next.reason)).toBe("Succeeded")
      const all = next.result as Result
      expect(all.contributors).toHaveLength(3)
      expect(all).toEqual(F.exactReference([full], statisticsParams, all.contributors))
    } finally {
      north.release()
      proxy.restore()
    }
  }, 900_000)
})
