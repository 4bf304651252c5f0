/**
 * Worker-thread host of one party of the OT-based PSI (core's joint-query/ot-psi): booted by WorkerThread.spawn,
 * it receives one end of a MessageChannel whose other end is the peer's thread, holds its set, and runs the engine
 * when asked over this thread's backends (`@jointly/backends/node`, built once from the spawner's choice in
 * `workerData.backends`: OpenSSL's AES by default). Only bytes and plain records cross the thread boundary.
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { Effect, Schema } from "effect"
import { parentPort, threadId, workerData } from "node:worker_threads"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as Engine from "@jointly/core/internal/protocols/joint-query/ot-psi/Engine"
import * as Link from "@jointly/core/internal/protocols/joint-query/ot-psi/Link"

/** Synthetic ids `${prefix}${from + i}` (benchmarks), or the ids themselves. */
export type Elements = ReadonlyArray<string> | { readonly prefix: string; readonly from: number; readonly count: number }

export type RunOptions = Omit<Engine.Options, "random" | "onProgress">

export interface PartyResult {
  readonly indices: Uint32Array
  readonly stats: Engine.Stats
  /** Wall time of the engine in this thread, ms. */
  readonly ms: number
}

export interface OtPsiPartyApi {
  readonly threadId: () => number
  /** Takes this party's end of the channel to the peer (transferred). */
  readonly connect: (port: MessagePort) => void
  /** Builds and keeps this party's set, outside any measurement. */
  readonly load: (elements: Elements) => number
  /** Runs one session as `role`; the peer's thread must run the other role at the same time. */
  readonly run: (role: "receiver" | "sender", options: RunOptions) => Promise<PartyResult>
}

const choice = Schema.decodeUnknownSync(Backends.Choice)((workerData as { readonly backends?: unknown } | undefined)?.backends ?? {})
// Built once and kept for the thread's life.
const backends = await Backends.build(NodeBackends.layer(choice))

let link: Link.Link | undefined
let set: ReadonlyArray<string> = []

const api: OtPsiPartyApi = {
  threadId: () => threadId,
  connect: (port) => {
    link = Link.messagePort(port as unknown as Link.PortLike)
  },
  load: (elements) => {
    set = "prefix" in elements ? Array.from({ length: elements.count }, (_, i) => `${elements.prefix}${elements.from + i}`) : elements
    return set.length
  },
  run: async (role, options) => {
    if (link === undefined) throw new Error("ot-psi party: connect() first")
    const start = performance.now()
    const program = role === "receiver" ? Engine.receiver(link, set, options) : Engine.sender(link, set, options)
    const output = await Effect.runPromise(Effect.provide(program, backends.layer))
    return Comlink.transfer({ ...output, ms: performance.now() - start }, [output.indices.buffer as ArrayBuffer])
  }
}

Comlink.expose(api, nodeEndpoint(parentPort!))
