/**
 * The API (core/src/api/Api.ts) served on the node:http (or https) server the coordinator already runs — socket.io
 * shares it, so the server object is given, never created here. The declaration's handlers, middlewares and the
 * coordinator's parts as Effect services become one web handler (`HttpRouter.toWebHandler`); a thin adapter
 * hands it each node request as a web `Request` with the peer's address, and writes the web `Response` back,
 * streaming (Server-Sent Events included). Effect's own Node server lives in @effect/platform-node, which needs
 * Node 22; this adapter is what it would do for us on Node 20.
 *
 * Before a request reaches Effect the adapter enforces what only the transport can: the body cap (413 with the
 * API's typed body, before the body is read) and, through node:http, header and request timeouts against slow
 * clients (408, counted).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { Readable } from "node:stream"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, OpenApi } from "effect/http-api"
import { Api, type Guard } from "@jointly/core/internal/api/Api"
import { PayloadTooLarge, Unavailable, UnknownRoute, UnsupportedMediaType } from "@jointly/core/internal/api/Errors"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import type { ChainIndex } from "../governance/ChainIndex.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import type { SchedulerShape } from "../scheduler/Scheduler.ts"
import type { TaskStoreShape } from "../store/TaskStore.ts"
import * as RateLimiter from "../limits/RateLimiter.ts"
import * as Governance from "./handlers/Governance.ts"
import * as Meta from "./handlers/Meta.ts"
import * as Models from "./handlers/Models.ts"
import * as Tasks from "./handlers/Tasks.ts"
import * as ClientCertificates from "../auth/ClientCertificates.ts"
import { guardLayer, limitsLayer, Peer, validationLayer } from "./Middleware.ts"
import * as Services from "./Services.ts"

export interface Limits {
  /** Requests per client address: burst and sustained rate (default 600, 200/s). */
  readonly perIp?: RateLimiter.BucketOptions
  /** Requests per signed-in account (default 300, 100/s). */
  readonly perAccount?: RateLimiter.BucketOptions
  /** Largest request body accepted (default 1 MiB). */
  readonly maxBodyBytes?: number
  /** node:http `headersTimeout` (default 10 s): a client must send its headers within it. */
  readonly headersTimeoutMs?: number
  /** node:http `requestTimeout` (default 30 s): a client must send its whole request within it. */
  readonly requestTimeoutMs?: number
  /**
   * node:http `keepAliveTimeout` (default 65 s; node's own is 5 s): how long an idle kept-alive connection stays
   * open. A client closes its idle sockets on a timer of its own, shortly before the server's; a client whose event
   * loop lags past the server's close reuses a socket the server has just closed, and a POST on it fails ("other
   * side closed" — 6 of 300 submissions in the load bench at N 1000, its process's loop delayed by up to 6 s).
   */
  readonly keepAliveTimeoutMs?: number
  /** Tasks an initiator may have open at once (default 16). */
  readonly maxOpenTasks?: number
  /** Bytes of artifacts one member may store (default 64 MiB). */
  readonly artifactQuotaBytes?: number
}

export const defaults = {
  perIp: { capacity: 600, perSecond: 200 },
  perAccount: { capacity: 300, perSecond: 100 },
  maxBodyBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  maxOpenTasks: 16,
  artifactQuotaBytes: 64 * 1024 * 1024
} as const

export interface Options {
  readonly server: Server
  readonly store: TaskStoreShape
  readonly scheduler: SchedulerShape
  readonly models?: ModelStore
  readonly artifacts?: ArtifactStore
  readonly index?: ChainIndex
  readonly parts: Omit<Services.PartsShape, "limits" | "openApi">
  readonly limits?: Limits
  /** The client address of a request (behind a trusted reverse proxy, from its forwarding header). */
  readonly clientAddress?: (req: IncomingMessage) => string
  /**
   * The guard's implementation; default: bearer tokens, roles from the chain and the endpoints' rules
   * (Middleware.ts). Only the API benchmark replaces it, to measure what authorisation costs.
   */
  readonly guard?: Layer.Layer<Guard>
}

const document = (() => {
  let cached: Record<string, unknown> | undefined
  return () => (cached ??= OpenApi.fromApi(Api) as unknown as Record<string, unknown>)
})()

/** The OpenAPI 3.1 document of the API (served at `GET /api/openapi.json`). */
export const openApi = document

const encodeTooLarge = Schema.encodeSync(Schema.toCodecJson(PayloadTooLarge))
const encodeUnsupported = Schema.encodeSync(Schema.toCodecJson(UnsupportedMediaType))
const encodeUnknownRoute = Schema.encodeSync(Schema.toCodecJson(UnknownRoute))
const encodeUnavailable = Schema.encodeSync(Schema.toCodecJson(Unavailable))

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })

/**
 * The router's own answers, typed as the API's errors (clients branch on `_tag`): a body in a media type no route
 * declares gets a bare text 415 from the HTTP API builder, and a path no API route matches an empty 404.
 */
const typedFallback = (response: Response, request: { readonly method: string; readonly path: string; readonly contentType: string }): Response => {
  if (response.headers.get("content-type")?.startsWith("application/json") === true) return response
  if (response.status === 415) {
    return json(415, encodeUnsupported(new UnsupportedMediaType({ contentType: request.contentType, message: `this route takes application/json, not ${request.contentType}` })))
  }
  if (response.status === 404 && request.path.startsWith("/api/")) {
    return json(404, encodeUnknownRoute(new UnknownRoute({ method: request.method, path: request.path.slice(0, 200), message: `no API route answers ${request.method} ${request.path.slice(0, 200)}` })))
  }
  return response
}

export const attach = (options: Options) => {
  const limits = { ...defaults, ...options.limits }
  const { parts } = options
  const handlers = Layer.mergeAll(Meta.meta, Meta.auth, Tasks.tasks, Governance.governance, Models.models, Models.artifacts)
  const services = Layer.mergeAll(
    Services.Tasks.layer(options.store, options.scheduler),
    Services.Models.layer(options.models),
    Services.Artifacts.layer(options.artifacts),
    Services.Index.layer(options.index),
    Layer.succeed(Services.Parts, { ...parts, limits: { maxOpenTasks: limits.maxOpenTasks, artifactQuotaBytes: limits.artifactQuotaBytes }, openApi: document })
  )
  const middlewares = Layer.mergeAll(
    limitsLayer(RateLimiter.make(limits.perIp), parts.rejections),
    validationLayer,
    options.guard ?? guardLayer({ sessions: parts.sessions, roles: parts.roles, policy: parts.policy, perAccount: RateLimiter.make(limits.perAccount), rejections: parts.rejections })
  )
  const api = HttpApiBuilder.layer(Api).pipe(Layer.provide(handlers), Layer.provide(middlewares), Layer.provide(services))
  // The dashboard's static files: public, and holding no data (everything it shows comes through the API).
  const staticFile = (request: { readonly url: string }) => {
    const path = new URL(request.url, "http://coordinator").pathname
    return Effect.suspend(() => parts.dashboard.file(path)).pipe(
      Effect.map((file) =>
        file === undefined
          ? HttpServerResponse.empty({ status: 404 })
          : HttpServerResponse.raw(file.body, { status: 200, contentType: file.type, headers: { "cache-control": "no-cache" } })
      ),
      // A file shipped with the coordinator that cannot be read now (too many open files, a disk error, a broken
      // install): the API's typed Unavailable naming it by its URL (the error names a path of this host), not a defect.
      Effect.catchTag("DashboardReadFailed", () =>
        Effect.succeed(HttpServerResponse.jsonUnsafe(encodeUnavailable(new Unavailable({ message: `the dashboard file ${path} could not be read; try again later` })), { status: 503 })))
    )
  }
  const dashboard = Layer.mergeAll(
    HttpRouter.add("GET", "/", staticFile),
    HttpRouter.add("GET", "/index.html", staticFile),
    HttpRouter.add("GET", "/dashboard/*", staticFile)
  )
  const { handler, dispose } = HttpRouter.toWebHandler(Layer.mergeAll(api, dashboard).pipe(Layer.provide(HttpServer.layerServices)), { disableLogger: true })

  const { server } = options
  server.headersTimeout = limits.headersTimeoutMs
  server.requestTimeout = limits.requestTimeoutMs
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  // Node checks both timeouts on this period (read when the server starts listening, so attach before `listen`);
  // a shorter one answers a slow client closer to its deadline.
  ;(server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(1_000, limits.headersTimeoutMs)

  const tooLarge = (res: ServerResponse) => {
    parts.rejections.count("http.body")
    const body = JSON.stringify(encodeTooLarge(new PayloadTooLarge({ limitBytes: limits.maxBodyBytes, message: `the request body exceeds ${limits.maxBodyBytes} bytes` })))
    res.writeHead(413, { "content-type": "application/json", connection: "close" })
    res.end(body)
  }

  /** The request body, at most `maxBodyBytes`; undefined once the cap was passed (and answered). */
  const readBody = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<Buffer | undefined>((resolve, reject) => {
      if (Number(req.headers["content-length"] ?? 0) > limits.maxBodyBytes) {
        tooLarge(res)
        req.resume()
        return resolve(undefined)
      }
      const chunks: Array<Buffer> = []
      let size = 0
      req.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > limits.maxBodyBytes) {
          req.removeAllListeners("data")
          req.resume()
          tooLarge(res)
          resolve(undefined)
        } else chunks.push(chunk)
      })
      req.on("end", () => resolve(Buffer.concat(chunks)))
      req.on("error", reject)
    })

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // socket.io answers its own path on the same server.
    if (req.url?.startsWith("/socket.io")) return
    void (async () => {
      const method = req.method ?? "GET"
      const hasBody = method !== "GET" && method !== "HEAD"
      const body = hasBody ? await readBody(req, res) : undefined
      if (hasBody && body === undefined) return
      const abort = new AbortController()
      res.on("close", () => {
        if (!res.writableFinished) abort.abort()
      })
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined) continue
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
      }
      const request = new Request(new URL(req.url ?? "/", `http://${req.headers.host ?? "coordinator"}`), {
        method,
        headers,
        ...(body === undefined ? {} : { body: new Uint8Array(body) }),
        signal: abort.signal
      })
      const peer = options.clientAddress?.(req) ?? req.socket.remoteAddress ?? "unknown"
      const clientKey = ClientCertificates.spkiOfSocket(req.socket)
      const response = typedFallback(await handler(request, Context.make(Peer, { address: peer, ...(clientKey === undefined ? {} : { clientKey }) }) as Context.Context<never>), {
        method,
        path: new URL(request.url).pathname,
        contentType: req.headers["content-type"] ?? ""
      })
      const out: Record<string, string | Array<string>> = {}
      response.headers.forEach((value, name) => {
        if (name !== "set-cookie") out[name] = value
      })
      const cookies = response.headers.getSetCookie()
      if (cookies.length > 0) out["set-cookie"] = cookies
      res.writeHead(response.status, out)
      if (response.body === null || method === "HEAD") return void res.end()
      const stream = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream)
      stream.on("error", () => res.destroy())
      stream.pipe(res)
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" })
      res.end()
    })
  }
  server.on("request", listener)

  // A client too slow with its headers or its request: answered 408 and counted (Node's own answer otherwise).
  const clientError = (error: Error & { code?: string }, socket: import("node:stream").Duplex) => {
    const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT"
    if (timedOut) parts.rejections.count("http.timeout")
    if (socket.writable) socket.end(timedOut ? "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" : "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    socket.destroy()
  }
  server.on("clientError", clientError)

  return {
    close: async () => {
      server.off("request", listener)
      server.off("clientError", clientError)
      await dispose()
    }
  }
}
