/**
 * A typed client for the coordinator's HTTP API (`@jointly/coordinator/client`), used by the CLI, the notebooks
 * and embedders. Every response is decoded with the response Schema of its endpoint in `http/OpenApi.ts`, the
 * table the OpenAPI document is generated from, so the client and the document cannot drift apart unnoticed.
 */
import { randomBytes } from "node:crypto"
import { Schema } from "effect"
import { getBytes } from "ethers"
import { isFinal, type Status } from "@jointly/core/task/Lifecycle.ts"
import * as Protocols from "@jointly/core/protocols/Protocols.ts"
import { taskId as taskIdOf, type TaskSpec, TaskSpec as TaskSpecSchema } from "@jointly/core/task/TaskSpec.ts"
import * as OpenApi from "../http/OpenApi.ts"

/** What signs a submission: an ethers `Wallet` or any `Signer` (EIP-191 over the task id's bytes). */
export interface Initiator {
  readonly getAddress: () => Promise<string>
  readonly signMessage: (message: Uint8Array) => Promise<string>
}

export interface ClientOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:8545` (no trailing `/api`). */
  readonly url: string
  /** Signs `submit`; needed for nothing else. */
  readonly initiator?: Initiator
  readonly fetch?: typeof globalThis.fetch
}

/** A refusal by the coordinator (`code` from its `{ error: { code, message } }`) or a response that is not what the API says. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = "ApiError"
  }
}

/** A task without `initiator` (the client's signer) and optionally without `nonce` (random). */
export type TaskDraft = Omit<TaskSpec, "initiator" | "nonce"> & { readonly nonce?: string }
export type TaskDetail = OpenApi.ResponseOf<"getTask">
export type TaskRow = OpenApi.ResponseOf<"listTasks">["tasks"][number]
export type Progress = typeof OpenApi.Progress.Type

export interface WatchOptions {
  /** Each `Progress` event once, in order (PSI chunks, training rounds, secure-aggregation stages). */
  readonly onProgress?: (progress: Progress) => void
  readonly onStatus?: (status: Status) => void
  readonly intervalMs?: number
  /** Default 10 minutes. */
  readonly timeoutMs?: number
  /** Also wait until every chain record of the task is confirmed (default true). */
  readonly untilNotarized?: boolean
  readonly signal?: AbortSignal
}

const decoders = new Map<OpenApi.EndpointName, (u: unknown) => unknown>()
const decoderOf = (name: OpenApi.EndpointName) => {
  let decode = decoders.get(name)
  if (!decode) {
    decode = Schema.decodeUnknownSync(Schema.toCodecJson(OpenApi.endpoints[name].response as Schema.Codec<unknown, unknown>))
    decoders.set(name, decode)
  }
  return decode
}

export const make = (options: ClientOptions) => {
  const base = options.url.replace(/\/+$/, "")
  const fetchImpl = options.fetch ?? globalThis.fetch

  const call = async <N extends OpenApi.EndpointName>(
    name: N,
    request: { params?: Record<string, string>; query?: Record<string, string | number | undefined>; body?: unknown } = {}
  ): Promise<OpenApi.ResponseOf<N>> => {
    const endpoint = OpenApi.endpoints[name]
    const path = endpoint.path.replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(request.params?.[p] ?? ""))
    const query = Object.entries(request.query ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    const response = await fetchImpl(`${base}${path}${query.length ? `?${query.join("&")}` : ""}`, {
      method: endpoint.method,
      headers: { "content-type": "application/json" },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) })
    })
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new ApiError(response.status, "NotJson", `${endpoint.method} ${path}: HTTP ${response.status}, not JSON`)
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string } }).error
      throw new ApiError(response.status, error?.code ?? "Http", error?.message ?? `${endpoint.method} ${path}: HTTP ${response.status}`)
    }
    try {
      return decoderOf(name)(body) as OpenApi.ResponseOf<N>
    } catch (cause) {
      throw new ApiError(response.status, "BadResponse", `${endpoint.method} ${path}: the response does not match the API: ${String(cause)}`)
    }
  }

  const get = (id: string) => call("getTask", { params: { id } })

  /** Signs `draft` as `initiator` and submits it; resolves with the task id (the digest of the signed spec). */
  const submit = async (draft: TaskDraft, initiator: Initiator | undefined = options.initiator) => {
    if (!initiator) throw new ApiError(0, "NoInitiator", "submit needs an initiator (a wallet) to sign the task")
    const spec = { ...draft, initiator: await initiator.getAddress(), nonce: draft.nonce ?? randomBytes(8).toString("hex") } as TaskSpec
    // Refused here, by the kind's declaration, before anything is signed or sent: UnknownTaskKind or InvalidTaskParams.
    Protocols.decodeTaskOrThrow(Schema.decodeUnknownSync(TaskSpecSchema)(spec))
    const id = taskIdOf(spec)
    const signature = await initiator.signMessage(getBytes(id))
    const submitted = await call("submitTask", { body: { spec, signature } })
    return { taskId: submitted.taskId, spec }
  }

  /** Polls the task until it ends (and, by default, until the chain holds every record of it). */
  const watch = async (id: string, opts: WatchOptions = {}): Promise<TaskDetail> => {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000)
    let lastStatus: Status | undefined
    let seen = 0
    for (;;) {
      opts.signal?.throwIfAborted()
      const detail = await get(id)
      for (const event of detail.events.filter((e) => e.id > seen)) {
        seen = event.id
        if (event.type === "Progress" && Schema.is(OpenApi.Progress)(event.data)) opts.onProgress?.(event.data)
      }
      if (detail.status !== lastStatus) {
        lastStatus = detail.status
        opts.onStatus?.(detail.status)
      }
      if (isFinal(detail.status) && (opts.untilNotarized === false || detail.chain.every((c) => c.status === "confirmed" || c.status === "failed"))) return detail
      if (Date.now() > deadline) throw new ApiError(0, "Timeout", `task ${id} did not end within ${opts.timeoutMs ?? 600_000} ms (status ${lastStatus})`)
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250))
    }
  }

  return {
    url: base,
    health: () => call("health"),
    nonce: () => call("nonce"),
    openapi: () => call("openapi"),
    submit,
    list: (filter: { status?: Status; limit?: number } = {}) => call("listTasks", { query: filter }).then((r) => r.tasks),
    get,
    watch,
    /** The task's store record checked against its chain trail (the dashboard's verification). */
    verify: (id: string) => call("verifyTask", { params: { id } }),
    cancel: (id: string, reason?: string) => call("cancelTask", { params: { id }, body: reason === undefined ? {} : { reason } }),
    models: () => call("models").then((r) => r.models),
    model: (modelId: string) => call("model", { params: { modelId } }),
    predict: (modelId: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>) =>
      call("predict", { params: { modelId }, body: { rows } }).then((r) => r.predictions),
    catalog: (q = "", opts: { includeRetired?: boolean } = {}) => call("catalog", { query: { q, all: opts.includeRetired ? "1" : undefined } }).then((r) => r.datasets),
    catalogEntry: (datasetId: string) => call("catalogEntry", { params: { datasetId } }),
    grants: () => call("grants"),
    modelRequests: (to?: string) => call("modelRequests", { query: { to } }).then((r) => r.requests),
    supervision: () => call("supervision"),
    putArtifact: (bytes: Uint8Array, codec: "raw" | "json" = "raw") =>
      call("putArtifact", { body: { codec, base64: Buffer.from(bytes).toString("base64") } }).then((r) => r.cid),
    getArtifact: (cid: string) => call("getArtifact", { params: { cid } }).then((r) => ({ ...r, bytes: new Uint8Array(Buffer.from(r.base64, "base64")) }))
  }
}

export type Client = ReturnType<typeof make>
