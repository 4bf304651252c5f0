import * as Ed25519 from "@jointly/core/internal/crypto/Ed25519"
import * as Advertisements from "@jointly/core/internal/protocols/secure-aggregation/Advertisements"
import { prepare } from "@jointly/core/internal/protocols/joint-statistics/spec"
import * as SecAgg from "@jointly/core/internal/protocols/secure-aggregation/spec"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import { type TaskSpec, taskId as taskIdOf } from "@jointly/core/internal/task/TaskSpec"
import type { StageOutcome, StageRequest } from "@jointly/core/internal/wire/Messages"
import * as Wire from "@jointly/core/internal/wire/Messages"
import { Schema } from "effect"
import { Wallet } from "ethers"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { threadId } from "node:worker_threads"
import { Server, type Socket as ServerSocket } from "socket.io"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import * as Agent from "../Agent.ts"
import type { AgentEvent } from "../AgentSession.ts"
import * as CsvDataset from "../datasets/CsvDataset.ts"
import { type CsvSpec, DatasetError } from "../datasets/Dataset.ts"
import * as ProtocolWorker from "./ProtocolWorker.ts"
import * as TestProtocols from "./test-protocols.ts"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const pimaSource = datasetFile("pima.csv")
const testProtocols = new URL("./test-protocols.ts", import.meta.url)

let dir: string
let pimaSpec: CsvSpec
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "jointly-protocol-worker-"))
  const file = join(dir, "pima.csv")
  copyFileSync(pimaSource, file)
  pimaSpec = {
    name: "pima",
    file,
    columns: [
      { name: "glucose", type: "number" },
      { name: "mass", type: "number" },
      { name: "age", type: "integer" }
    ]
  }
})
afterAll(() => removeDir(dir))

const wallet = Wallet.createRandom()
const peers = [Wallet.createRandom().address, Wallet.createRandom().address]
const participants = [wallet.address, ...peers]

const task = (kind: string, params: unknown) => {
  const spec: TaskSpec = {
    kind,
    initiator: peers[0]!,
    nonce: crypto.randomUUID(),
    parties: [
      { participant: wallet.address, dataset: "pima" },
      { participant: peers[0]!, dataset: "pima" },
      { participant: peers[1]!, dataset: "pima" }
    ],
    params
  }
  return { taskId: taskIdOf(spec), task: Protocols.decodeTaskOrThrow(spec, [...TestProtocols.protocols, ...Protocols.all]) }
}

const statsParams = { columns: ["glucose", "mass", "age"], statistics: ["count", "mean"], where: { column: "glucose", op: ">", value: 0 } }

let requests = 0
const request = (taskId: string, stage: string, payload: unknown): StageRequest => ({
  requestId: `r${++requests}`,
  taskId,
  attempt: 0,
  stage,
  participants,
  payload
})

const okPayload = (outcome: StageOutcome) => {
  if (!outcome.ok) throw new Error(`stage failed: ${outcome.code}: ${outcome.detail}`)
  return outcome.payload
}

describe("ProtocolWorker", () => {
  it("loads the CSV and runs joint-statistics stages in its own thread, keeping stage memory there", async () => {
    const worker = await ProtocolWorker.start({ wallet, datasets: [pimaSpec] })
    try {
      // The worker opened the file itself (DuckDB in its thread): its summary and content hash match a load on
      // this thread by the JavaScript reader, rows excepted.
      const local = await CsvDataset.loadPromise(pimaSpec)
      expect(worker.datasets).toEqual([{ name: "pima", kind: "csv", rowCount: 768, columns: pimaSpec.columns }])
      expect(await worker.contentHash("pima")).toBe(local.contentHash)
      const workerThread = await worker.threadId()
      expect(workerThread).toBeGreaterThan(0)
      expect(workerThread).not.toBe(threadId)

      const stats = task("statistics.horizontal", statsParams)
      expect(await worker.accept(stats.taskId, stats.task.spec)).toEqual({ ok: true })
      const ready = await worker.stage(request(stats.taskId, prepare.name, Schema.encodeSync(prepare.request)({})))
      expect(okPayload(ready)).toEqual({ ready: true })

      // A task reading a column the dataset lacks fails its prepare stage in the worker, naming the column.
      const missing = task("statistics.horizontal", { ...statsParams, columns: ["glucose", "cholesterol"] })
      expect(await worker.accept(missing.taskId, missing.task.spec)).toEqual({ ok: true })
      const refused = await worker.stage(request(missing.taskId, prepare.name, {}))
      expect(refused).toMatchObject({ ok: false, code: "MissingColumn", detail: expect.stringContaining("cholesterol") })

      // Secure aggregation's first stage signs with the chain key and keeps its key pairs in the worker's memory:
      // asked twice, it answers with the same keys, signed by this participant.
      const parameters: SecAgg.Parameters = { version: SecAgg.VERSION, aggregationId: "agg-1", cohort: participants, threshold: 2, vectorLength: 4, bits: 128 }
      const advertise = () =>
        worker.stage(request(stats.taskId, SecAgg.advertiseKeys.name, Schema.encodeSync(SecAgg.advertiseKeys.request)({ parameters })))
      const first = Schema.decodeUnknownSync(SecAgg.advertiseKeys.reply)(okPayload(await advertise()))
      const again = Schema.decodeUnknownSync(SecAgg.advertiseKeys.reply)(okPayload(await advertise()))
      expect(again).toEqual(first)
      const context = { taskId: stats.taskId, attempt: 0 }
      const ed25519 = Ed25519.make(Ed25519.noble)
      expect(Advertisements.verify(ed25519, context, parameters, { participant: wallet.address, ...first }, new Set())).toBe(true)
      expect(Advertisements.verify(ed25519, context, parameters, { participant: peers[0]!, ...first }, new Set())).toBe(false)

      // Forgetting drops the task with its secrets.
      await worker.forget(stats.taskId)
      expect(await advertise()).toMatchObject({ ok: false, code: "UnknownTask" })
    } finally {
      await worker.close()
    }
  })

  it("fails to start with the DatasetError of a bad CSV, naming file, line and column", async () => {
    const file = join(dir, "bad.csv")
    writeFileSync(file, "glucose,mass,age\n148,33.6,50\nhigh,26.6,31\n")
    const error = await ProtocolWorker.start({ wallet, datasets: [{ ...pimaSpec, file }] }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(DatasetError)
    expect(error).toMatchObject({ reason: "NotNumeric", source: file, line: 3, column: "glucose" })
    expect((error as DatasetError).message).toContain(`${file}, line 3, column "glucose"`)
  })

  it("answers the stages a crash interrupts with WorkerCrashed, restarts the thread and keeps serving", async () => {
    const crashes: Array<ProtocolWorker.Crash> = []
    let crashed!: () => void
    const crashSeen = new Promise<void>((resolve) => (crashed = resolve))
    const worker = await ProtocolWorker.start({
      wallet,
      datasets: [pimaSpec],
      modules: [testProtocols],
      onCrash: (crash) => {
        crashes.push(crash)
        crashed()
      }
    })
    try {
      const stats = task("statistics.horizontal", statsParams)
      const doomed = task("test.crash", {})
      expect(await worker.accept(stats.taskId, stats.task.spec)).toEqual({ ok: true })
      expect(await worker.accept(doomed.taskId, doomed.task.spec)).toEqual({ ok: true })
      const before = await worker.threadId()

      const waiting = worker.stage(request(doomed.taskId, TestProtocols.wait.name, {}))
      const crashing = worker.stage(request(doomed.taskId, TestProtocols.crash.name, {}))
      for (const outcome of await Promise.all([waiting, crashing])) {
        expect(outcome).toMatchObject({ ok: false, code: "WorkerCrashed" })
        const detail = (outcome as { detail: string }).detail
        expect(detail).toContain("deliberate crash")
        expect(detail).toContain(stats.taskId)
        expect(detail).toContain(doomed.taskId)
      }
      await crashSeen
      expect(crashes).toHaveLength(1)
      expect([...crashes[0]!.lostTasks].sort()).toEqual([stats.taskId, doomed.taskId].sort())

      // A new thread serves; the task accepted before the crash is reported lost, not unknown.
      const after = await worker.threadId()
      expect(after).not.toBe(before)
      const prepareRequest = () => request(stats.taskId, prepare.name, {})
      expect(await worker.stage(prepareRequest())).toMatchObject({ ok: false, code: "WorkerCrashed", detail: expect.stringContaining("lost") })
      expect(await worker.accept(stats.taskId, stats.task.spec)).toEqual({ ok: true })
      expect(okPayload(await worker.stage(prepareRequest()))).toEqual({ ready: true })
    } finally {
      await worker.close()
    }
  })

  it("closes within its bound when the thread never reads the close (a stage stuck in a synchronous loop): the thread is terminated, the stage answered WorkerCrashed", async () => {
    const worker = await ProtocolWorker.start({ wallet, datasets: [pimaSpec], modules: [testProtocols], closeTimeout: "200 millis" })
    const stuck = task("test.crash", {})
    expect(await worker.accept(stuck.taskId, stuck.task.spec)).toEqual({ ok: true })
    const started = join(dir, "block-started")
    const blocked = worker.stage(request(stuck.taskId, TestProtocols.block.name, { started }))
    // Once the stage runs the thread reads no message: close would wait for it forever without its bound.
    await vi.waitFor(() => expect(existsSync(started)).toBe(true), { timeout: 30_000 })
    await worker.close()
    expect(await blocked).toMatchObject({ ok: false, code: "WorkerCrashed" })
    expect(await worker.stage(request(stuck.taskId, TestProtocols.ping.name, {}))).toMatchObject({ ok: false, code: "WorkerCrashed", detail: expect.stringContaining("closed") })
  })
})

/**
 * A real Agent (its socket.io client, its protocol worker thread) against a socket.io server this test runs as the
 * coordinator: the nonce route and the participants' namespace, nothing else.
 */
const fakeCoordinator = async () => {
  const http = createServer((req, res) => {
    if (req.url?.startsWith("/api/auth/nonce")) {
      res.writeHead(200, { "content-type": "application/json" })
      const address = Wallet.createRandom().address
      res.end(JSON.stringify({ nonce: crypto.randomUUID(), expiresAt: Date.now() + 60_000, coordinator: address, chainId: "31337", ledger: address }))
    } else res.writeHead(404).end()
  })
  const io = new Server(http, { transports: ["websocket"] })
  const sockets: Array<ServerSocket> = []
  io.of("/participants").on("connection", (socket) => void sockets.push(socket))
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    socket: () => sockets.at(-1)!,
    close: () => new Promise<void>((resolve) => io.close(() => resolve()))
  }
}

describe("Agent over a crashed protocol worker", () => {
  it("takes a task lost with its crashed worker up again on a rejoin offer, on the fresh worker", async () => {
    const coordinator = await fakeCoordinator()
    const agent = await Agent.start({
      coordinatorUrl: coordinator.url,
      wallet,
      datasets: [pimaSpec],
      policy: () => ({ decision: "approve", reason: "test" }),
      testProtocolModules: [testProtocols]
    })
    const events: Array<AgentEvent> = []
    agent.on((event) => void events.push(event))
    const seen = <T extends AgentEvent["type"]>(type: T, taskId?: string) =>
      vi.waitFor(() => {
        const event = events.find((e): e is Extract<AgentEvent, { type: T }> => e.type === type && (taskId === undefined || ("taskId" in e && e.taskId === taskId)))
        if (event === undefined) throw new Error(`no ${type} event yet`)
        return event
      }, { timeout: 15_000 })
    try {
      await agent.connected
      const socket = coordinator.socket()
      const doomed = task("test.crash", {})
      const offer = { taskId: doomed.taskId, specHash: doomed.taskId, spec: doomed.task.spec }
      const stage = (name: string) =>
        new Promise<StageOutcome>((resolve) => {
          const sent = request(doomed.taskId, name, {})
          const reply = (raw: { requestId: string; outcome: StageOutcome }) => {
            if (raw.requestId !== sent.requestId) return
            socket.off(Wire.events.reply, reply)
            resolve(raw.outcome)
          }
          socket.on(Wire.events.reply, reply)
          socket.emit(Wire.events.request, sent)
        })

      socket.emit(Wire.events.offer, offer)
      expect(await seen("consent", doomed.taskId)).toMatchObject({ approve: true })
      expect(await stage(TestProtocols.ping.name)).toMatchObject({ ok: true })

      expect(await stage(TestProtocols.crash.name)).toMatchObject({ ok: false, code: "WorkerCrashed" })
      expect((await seen("worker-crashed")).lostTasks).toEqual([doomed.taskId])
      expect(await stage(TestProtocols.ping.name)).toMatchObject({ ok: false, code: "WorkerCrashed", detail: expect.stringContaining("lost") })

      // The coordinator offers the running task again: the agent checks it and accepts it on the fresh thread.
      socket.emit(Wire.events.offer, { ...offer, rejoin: true })
      expect(await seen("rejoin", doomed.taskId)).toMatchObject({ accepted: true })
      expect(await stage(TestProtocols.ping.name)).toMatchObject({ ok: true })
    } finally {
      await agent.close()
      await coordinator.close()
    }
  })
})
