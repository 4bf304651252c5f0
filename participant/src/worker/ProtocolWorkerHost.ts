/**
 * The protocol worker's thread (DESIGN.md §6): opens the agent's datasets itself (files, DuckDB, PostgreSQL
 * connections live here), so rows never cross threads,
 * and runs accepted tasks with the same `ProtocolHost.inline` Runner the agent uses in "inline" mode. Stateful:
 * a task's stages keep per-attempt secrets in `session.memory` between requests. Started by WorkerThread.ts.
 *
 * `workerData.modules` lists extra protocol modules (ProtocolModules.ts), so tests can run protocols that
 * misbehave on purpose.
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { StageOutcome, StageRequest } from "@jointly/core/internal/wire/Messages"
import { Wallet } from "ethers"
import { parentPort, threadId, workerData } from "node:worker_threads"
import { DatasetError } from "../datasets/Dataset.ts"
import * as ProtocolHost from "../host/ProtocolHost.ts"
import * as ProtocolModules from "./ProtocolModules.ts"
import { AcceptReply, AcceptRequest, ContentHashReply, ContentHashRequest, decode, encode, ForgetRequest, InitReply, InitRequest, type ProtocolWorkerApi } from "./ProtocolWorkerApi.ts"
import { transferable } from "./WorkerThread.ts"

const protocols = await ProtocolModules.load((workerData as { modules?: ReadonlyArray<string> } | undefined)?.modules ?? [])
let runner: ProtocolHost.Runner | undefined

const ready = (): ProtocolHost.Runner => {
  if (runner === undefined) throw new Error("the protocol worker was not initialised")
  return runner
}

const api: ProtocolWorkerApi = {
  init: async (message) => {
    if (runner !== undefined) throw new Error("the protocol worker is already initialised")
    const { datasets, privateKey, dataDir, backends, unsafeTestKeySizes } = decode(InitRequest, message)
    try {
      runner = await ProtocolHost.inline({ wallet: new Wallet(privateKey), datasets, dataDir, backends, unsafeTestKeySizes, protocols })
      return transferable(encode(InitReply, { ok: true, datasets: runner.datasets }))
    } catch (error) {
      if (error instanceof DatasetError) return transferable(encode(InitReply, { ok: false, error }))
      throw error
    }
  },
  accept: async (message) => {
    const { taskId, spec } = decode(AcceptRequest, message)
    const reply = await ready().accept(taskId, spec)
    return transferable(encode(AcceptReply, reply))
  },
  stage: async (message) => transferable(encode(StageOutcome, await ready().stage(decode(StageRequest, message)))),
  forget: async (message) => ready().forget(decode(ForgetRequest, message).taskId),
  contentHash: async (message) => {
    try {
      const contentHash = await ready().contentHash(decode(ContentHashRequest, message).name)
      return transferable(encode(ContentHashReply, { ok: true, contentHash }))
    } catch (error) {
      if (error instanceof DatasetError) return transferable(encode(ContentHashReply, { ok: false, error }))
      throw error
    }
  },
  close: async () => {
    const closing = runner
    runner = undefined
    await closing?.close()
  },
  threadId: () => threadId
}

if (parentPort === null) throw new Error("ProtocolWorkerHost.ts must run in a worker thread")
Comlink.expose(api, nodeEndpoint(parentPort))
