/**
 * The coordinator's HTTP API (JSON). Request bodies are decoded with the same Schemas the server uses
 * everywhere; errors come back as `{ error: { code, message } }` with a status that says whose fault it is.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Schema } from "effect"
import { TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import { Status } from "@jointly/core/task/Lifecycle.ts"
import { HexBytes } from "@jointly/core/wire/Messages.ts"
import type { Auth } from "../auth/Auth.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import { ModelStoreError } from "../models/ModelStore.ts"
import type { Scheduler } from "../scheduler/Scheduler.ts"
import { SubmissionError } from "../scheduler/Scheduler.ts"
import type { TaskStore } from "../store/TaskStore.ts"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import { ArtifactError } from "../artifacts/ArtifactStore.ts"
import type { ChainIndex } from "../governance/ChainIndex.ts"

/** An artifact upload (e.g. an ECIES model-to-data payload): bytes as base64 and the CID codec to file them under. */
export const PutArtifact = Schema.Struct({
  codec: Schema.Literals(["raw", "json"]),
  base64: Schema.String.check(Schema.isMaxLength(700_000))
})
const artifactStatus: Record<ArtifactError["code"], number> = { UnknownArtifact: 404, InvalidCid: 400, Tampered: 500 }

export const SubmitTask = Schema.Struct({ spec: TaskSpec, signature: HexBytes })
export const CancelTask = Schema.Struct({ reason: Schema.optional(Schema.String) })
/** Rows as arrays in the model's feature order, or objects keyed by feature column. */
export const PredictRequest = Schema.Struct({
  rows: Schema.Array(Schema.Union([Schema.Array(Schema.Finite), Schema.Record(Schema.String, Schema.Finite)])).check(Schema.isMaxLength(10_000))
})

const modelStatus: Record<ModelStoreError["code"], number> = { InvalidArtifact: 400, IdMismatch: 400, InvalidRows: 400, UnknownModel: 404 }
const modelCall = async <A>(body: () => Promise<A>): Promise<A> => {
  try {
    return await body()
  } catch (error) {
    if (error instanceof ModelStoreError) throw new HttpError(modelStatus[error.code], error.code, error.message)
    throw error
  }
}

const maxBodyBytes = 1024 * 1024

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export const readJson = (req: IncomingMessage): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        reject(new HttpError(413, "TooLarge", `request body exceeds ${maxBodyBytes} bytes`))
        req.destroy()
      } else chunks.push(chunk)
    })
    req.on("end", () => {
      try {
        resolve(chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8")))
      } catch {
        reject(new HttpError(400, "Malformed", "request body is not JSON"))
      }
    })
    req.on("error", reject)
  })

// The canonical JSON codec is what the OpenAPI document describes (OpenApi.ts), so both accept the same bodies.
export const decode = <A, I>(schema: Schema.Codec<A, I>, body: unknown): A => {
  const decoded = Schema.decodeUnknownExit(Schema.toCodecJson(schema))(body)
  if (decoded._tag === "Failure") throw new HttpError(400, "Malformed", String(decoded.cause))
  return decoded.value
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v))
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
  res.end(text)
}

const submissionStatus: Record<SubmissionError["code"], number> = {
  InvalidSpec: 400,
  InvalidParams: 400,
  UnknownKind: 400,
  NotAuthorized: 403,
  Duplicate: 409
}

export interface ChainInfo {
  readonly chainId: string
  readonly coordinator: string
  readonly registry: string
  readonly ledger: string
  /** Governance contracts (catalogue, grants, …) when deployed. */
  readonly suite?: Record<string, string>
  readonly deployBlock?: string
}

/** A JSON route: method, path pattern, handler returning [status, body]. */
export type Route = [string, RegExp, (req: IncomingMessage, match: RegExpMatchArray, url: URL) => Promise<[number, unknown]>]

export const make = (deps: { store: TaskStore; scheduler: Scheduler; auth: Auth; chain: ChainInfo; models?: ModelStore; artifacts?: ArtifactStore; index?: ChainIndex; routes?: ReadonlyArray<Route> }) => {
  const { store, scheduler, auth, chain } = deps
  const index = () => {
    if (!deps.index) throw new HttpError(404, "NotFound", "this coordinator has no governance contracts (redeploy to add them)")
    return deps.index
  }
  const artifacts = () => {
    if (!deps.artifacts) throw new HttpError(404, "NotFound", "this coordinator has no artifact store")
    return deps.artifacts
  }
  const artifactCall = async <A>(body: () => Promise<A>): Promise<A> => {
    try {
      return await body()
    } catch (error) {
      if (error instanceof ArtifactError) throw new HttpError(artifactStatus[error.code], error.code, error.message)
      throw error
    }
  }
  const models = () => {
    if (!deps.models) throw new HttpError(404, "NotFound", "this coordinator has no model store")
    return deps.models
  }

  const taskDetail = async (id: string) => {
    const task = await store.get(id)
    if (!task) throw new HttpError(404, "UnknownTask", `no task ${id}`)
    const [events, consents, outbox] = await Promise.all([store.events(id), store.consents(id), store.outbox(id)])
    return {
      ...task,
      events,
      consents,
      chain: outbox.map((o) => ({ eventId: o.eventId, op: o.op.op, status: o.status, txHash: o.txHash, blockNumber: o.blockNumber, lastError: o.lastError }))
    }
  }

  const routes: Array<Route> = [
    ["GET", /^\/api\/health$/, async () => [200, { ok: true, chain }]],
    ["GET", /^\/api\/openapi\.json$/, async () => [200, (await import("./OpenApi.ts")).document()]],
    ["GET", /^\/api\/auth\/nonce$/, async () => [200, { ...auth.issueNonce(), coordinator: chain.coordinator, chainId: chain.chainId, ledger: chain.ledger }]],
    ["POST", /^\/api\/tasks$/, async (req) => {
      const body = decode(SubmitTask, await readJson(req))
      try {
        const taskId = await scheduler.submit(body.spec, body.signature)
        return [201, { taskId, status: (await store.get(taskId))?.status }]
      } catch (error) {
        if (error instanceof SubmissionError) throw new HttpError(submissionStatus[error.code], error.code, error.message)
        throw error
      }
    }],
    ["GET", /^\/api\/tasks$/, async (_req, _m, url) => {
      const status = url.searchParams.get("status")
      const filter = status === null ? undefined : decode(Status, status)
      return [200, { tasks: await store.list({ status: filter, limit: Number(url.searchParams.get("limit") ?? 100) }) }]
    }],
    ["GET", /^\/api\/tasks\/(0x[0-9a-fA-F]{64})$/, async (_req, m) => [200, await taskDetail(m[1]!)]],
    ["POST", /^\/api\/tasks\/(0x[0-9a-fA-F]{64})\/cancel$/, async (req, m) => {
      const body = decode(CancelTask, await readJson(req))
      const status = await scheduler.cancel(m[1]!, body.reason ?? "cancelled by the operator")
      if (status === undefined) throw new HttpError(404, "UnknownTask", `no task ${m[1]}`)
      return [200, { taskId: m[1], status }]
    }],
    // PROTOCOLS.md §2.2 (c): keyword search over the index rebuilt from chain events.
    ["GET", /^\/api\/catalog$/, async (_req, _m, url) => [200, { datasets: await index().search(url.searchParams.get("q") ?? "", { includeRetired: url.searchParams.get("all") === "1" }) }]],
    ["GET", /^\/api\/catalog\/(0x[0-9a-fA-F]{64})$/, async (_req, m) => {
      const dataset = await index().dataset(m[1]!)
      if (!dataset) throw new HttpError(404, "UnknownDataset", `no dataset ${m[1]} in the catalogue`)
      return [200, dataset]
    }],
    ["GET", /^\/api\/grants$/, async () => [200, { grants: await index().grants(), uses: await index().grantUses() }]],
    ["GET", /^\/api\/model-requests$/, async (_req, _m, url) => [200, { requests: await index().modelRequests({ to: url.searchParams.get("to") ?? undefined }) }]],
    // The supervisor's view (PROTOCOLS.md §2.1, §11 item 6): members and their states, every task and grant.
    ["GET", /^\/api\/supervision$/, async () => {
      const tasks = await store.list({ limit: 1000 })
      return [200, {
        members: await index().members(),
        tasks: tasks.map((t) => ({ id: t.id, kind: t.kind, status: t.status, initiator: t.initiator, participants: t.spec.parties.map((p) => p.participant), reason: t.reason, createdAt: t.createdAt })),
        grants: await index().grants(),
        grantUses: await index().grantUses(),
        modelRequests: await index().modelRequests()
      }]
    }],
    ["POST", /^\/api\/artifacts$/, async (req) => {
      const body = decode(PutArtifact, await readJson(req))
      return [201, { cid: await artifacts().put(new Uint8Array(Buffer.from(body.base64, "base64")), body.codec) }]
    }],
    ["GET", /^\/api\/artifacts\/([a-z0-9]{20,120})$/, async (_req, m) => {
      const artifact = await artifactCall(() => artifacts().get(m[1]!))
      return [200, { cid: artifact.cid, codec: artifact.codec, base64: Buffer.from(artifact.bytes).toString("base64") }]
    }],
    ["GET", /^\/api\/models$/, async () => [200, { models: await models().list() }]],
    ["GET", /^\/api\/models\/(0x[0-9a-f]{64})$/, async (_req, m) => {
      const model = await models().get(m[1]!)
      if (!model) throw new HttpError(404, "UnknownModel", `no model ${m[1]}`)
      return [200, model]
    }],
    ["POST", /^\/api\/models\/(0x[0-9a-f]{64})\/predict$/, async (req, m) => {
      const body = decode(PredictRequest, await readJson(req))
      return [200, { modelId: m[1], predictions: await modelCall(() => models().predict(m[1]!, body.rows)) }]
    }]
  ]

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? "/", "http://coordinator")
    if (!url.pathname.startsWith("/api/")) return false
    try {
      for (const [method, pattern, handle] of [...routes, ...(deps.routes ?? [])]) {
        const match = url.pathname.match(pattern)
        if (match && req.method === method) {
          const [status, body] = await handle(req, match, url)
          send(res, status, body)
          return true
        }
      }
      throw new HttpError(404, "NotFound", `no route ${req.method} ${url.pathname}`)
    } catch (error) {
      if (error instanceof HttpError) send(res, error.status, { error: { code: error.code, message: error.message } })
      else send(res, 500, { error: { code: "Internal", message: "internal error" } })
      return true
    }
  }
  // The routes answered, for OpenApi.test.ts to hold the document to them.
  return Object.assign(handle, { routes: [...routes, ...(deps.routes ?? [])].map(([method, pattern]) => ({ method, pattern })) })
}
