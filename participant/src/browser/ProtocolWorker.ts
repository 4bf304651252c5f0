/**
 * The browser participant's protocol worker (the page's counterpart of Node's ProtocolWorkerHost.ts): a dedicated
 * Web Worker that opens the page's datasets (the File/Blob or table crosses by structured clone, so the rows are
 * read here, never on the page's thread) and runs every accepted task's stages with BrowserRunner — decoding
 * payloads, fixed-point encoding, secure-aggregation masks, PSI set operations, sealing. The page keeps the
 * socket, the consent policy and the key: a stage's signature is asked of the page (`sign`, a comlink callback),
 * so the account key never enters this worker. Batch jobs go on to the job pool, whose Web Workers this worker
 * starts itself.
 *
 * Bundled on its own as `jointly-protocol-worker.js` (scripts/bundle-browser.mjs), started by ProtocolThread.ts.
 */
import * as Comlink from "comlink"
import { Result, Schema } from "effect"
import { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { StageRequest, type StageOutcome } from "@jointly/core/internal/wire/Messages"
import { DatasetError } from "../datasets/Dataset.ts"
import type { AcceptOutcome, OfferReading } from "../host/Runner.ts"
import { ContentHashReply, encode, InitReply } from "../worker/ProtocolWorkerReplies.ts"
import { transferable } from "../worker/Thread.ts"
import * as BrowserRunner from "./BrowserRunner.ts"
import { KeepModelReply, ModelNotKept } from "./KeptModel.ts"
import type { TableInput } from "./TableInput.ts"

/** What the protocol worker is told at start: plain, structured-cloneable data. */
export interface ProtocolWorkerSetup {
  readonly self: string
  readonly datasets: ReadonlyArray<TableInput>
  /** The job pool: URL of `jointly-job-worker.js`, base URL of the WASM binaries, workers (default: the core count). */
  readonly jobs: { readonly workerUrl: string; readonly assets: string; readonly size?: number }
  readonly maxRows?: number
  readonly unsafeTestKeySizes?: boolean
  /** Name prefix of the IndexedDB database of sealed models. */
  readonly storage?: string
  /** Whether the page takes what tasks leave this participant (then `init`'s `onOutput` receives it). */
  readonly takesOutputs: boolean
}

export interface ProtocolWorkerApi {
  /** Opens the datasets and builds the services; an encoded InitReply (a bad dataset's DatasetError). */
  readonly init: (setup: ProtocolWorkerSetup, sign: (message: Uint8Array) => Promise<string>, onOutput: (output: BrowserRunner.Output) => void) => Promise<Uint8Array>
  /** An offered spec as sent, read by its kind's declaration (the page holds none). */
  readonly read: (spec: unknown) => Promise<OfferReading>
  /** A task the page's policy approved: its spec as sent, decoded again on this side. */
  readonly accept: (taskId: string, spec: unknown) => Promise<AcceptOutcome>
  /** One stage request, decoded again on this side of the boundary. */
  readonly stage: (request: unknown) => Promise<StageOutcome>
  readonly forget: (taskId: string) => Promise<void>
  /** An encoded ContentHashReply. */
  readonly contentHash: (name: string) => Promise<Uint8Array>
  /** A `linear` artifact the page owns, checked and sealed in IndexedDB: an encoded KeepModelReply. */
  readonly keepModel: (artifact: unknown) => Promise<Uint8Array>
  readonly close: () => Promise<void>
}

let runner: BrowserRunner.BrowserRunner | undefined

const ready = (): BrowserRunner.BrowserRunner => {
  if (runner === undefined) throw new Error("the protocol worker was not initialised")
  return runner
}

const decodeSpec = Schema.decodeUnknownResult(TaskSpec)
const decodeRequest = Schema.decodeUnknownResult(StageRequest)

const api: ProtocolWorkerApi = {
  init: async (setup, sign, onOutput) => {
    try {
      runner = await BrowserRunner.start({
        self: setup.self,
        sign: (message) => sign(message),
        datasets: setup.datasets,
        workers: setup.jobs,
        ...(setup.takesOutputs ? { onOutput: (output: BrowserRunner.Output) => void onOutput(output) } : {}),
        ...(setup.maxRows === undefined ? {} : { maxRows: setup.maxRows }),
        ...(setup.unsafeTestKeySizes === undefined ? {} : { unsafeTestKeySizes: setup.unsafeTestKeySizes }),
        ...(setup.storage === undefined ? {} : { storage: setup.storage })
      })
      return transferable(encode(InitReply, { ok: true, datasets: runner.datasets }))
    } catch (error) {
      if (error instanceof DatasetError) return transferable(encode(InitReply, { ok: false, error }))
      throw error
    }
  },
  read: async (raw) => {
    const spec = decodeSpec(raw)
    return Result.isFailure(spec) ? { ok: false, problem: `the spec does not decode: ${spec.failure.message}` } : ready().read(spec.success)
  },
  accept: async (taskId, raw) => {
    const spec = decodeSpec(raw)
    return Result.isFailure(spec) ? { ok: false, problem: `the spec does not decode: ${spec.failure.message}` } : ready().accept(taskId, spec.success)
  },
  stage: async (raw) => {
    const request = decodeRequest(raw)
    if (Result.isFailure(request)) return { ok: false, code: "Malformed", detail: `the stage request does not decode: ${request.failure.message}` }
    return ready().stage(request.success)
  },
  forget: async (taskId) => ready().forget(taskId),
  contentHash: async (name) => {
    try {
      return transferable(encode(ContentHashReply, { ok: true, contentHash: await ready().contentHash(name) }))
    } catch (error) {
      if (error instanceof DatasetError) return transferable(encode(ContentHashReply, { ok: false, error }))
      throw error
    }
  },
  keepModel: async (artifact) => {
    try {
      return transferable(encode(KeepModelReply, { ok: true, ...(await ready().keepModel(artifact)) }))
    } catch (error) {
      if (error instanceof ModelNotKept) return transferable(encode(KeepModelReply, { ok: false, error }))
      throw error
    }
  },
  close: async () => {
    await runner?.close()
    runner = undefined
  }
}

Comlink.expose(api)
