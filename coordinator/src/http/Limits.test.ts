/**
 * The HTTP abuse limits, each tripped on a real node:http port while other clients — other source addresses on
 * the loopback range, other accounts — are still served: per-address and per-account rate limits (429, typed body,
 * Retry-After), the body cap (413 before the body is read), header and request timeouts against a slow-loris
 * client (408), and the cap on open tasks per initiator. Every refusal is counted and served at `GET /api/limits`.
 * The server runs the API with its real middlewares, sessions and roles over stub task parts (the scheduler is
 * the only thing that would start tasks).
 */
import { Effect } from "effect"
import { request as httpRequest, createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { connect } from "node:net"
import { getBytes, Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiClient from "@jointly/core/internal/api/Client"
import { taskId as taskIdOf, type TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import * as Rejections from "../limits/Rejections.ts"
import * as Roles from "./Roles.ts"
import * as Server from "./Server.ts"
import * as Sessions from "./Sessions.ts"

const server = createServer()
let port: number
let url: string
let attached: { close: () => Promise<void> }
const rejections = Rejections.make()
/** Tasks open per initiator, as the stub scheduler has accepted them. */
const open = new Map<string, number>()
const accounts = { a: Wallet.createRandom(), b: Wallet.createRandom(), c: Wallet.createRandom(), d: Wallet.createRandom() }
const tokens: Record<string, string> = {}

const limits = {
  perIp: { capacity: 8, perSecond: 0.5 },
  perAccount: { capacity: 4, perSecond: 0.5 },
  maxBodyBytes: 4096,
  headersTimeoutMs: 600,
  requestTimeoutMs: 1200,
  maxOpenTasks: 2
}

/** One HTTP request from a chosen loopback source address (a distinct client to the per-address limit). */
const send = (from: string, method: string, path: string, options: { token?: string; body?: string; headers?: Record<string, string> } = {}) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port,
      localAddress: from,
      method,
      path,
      headers: { "content-type": "application/json", ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers }
    }, (res) => {
      let text = ""
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }))
    })
    req.on("error", reject)
    req.end(options.body)
  })

beforeAll(async () => {
  // Attached before listening, as the coordinator does: Node arms its timeout checks when the server starts listening.
  attached = Server.attach({
    server,
    limits,
    store: {
      get: (id: string) => Effect.succeed({ id, status: "AwaitingConsent", spec: {} }),
      openCount: (initiator: string) => Effect.sync(() => open.get(initiator.toLowerCase()) ?? 0)
    } as never,
    scheduler: {
      submit: (spec: TaskSpec) =>
        Effect.sync(() => {
          const key = spec.initiator.toLowerCase()
          open.set(key, (open.get(key) ?? 0) + 1)
          return taskIdOf(spec)
        })
    } as never,
    parts: {
      chain: { chainId: "31337", coordinator: accounts.a.address, registry: accounts.a.address, ledger: accounts.a.address },
      socketNonce: () => ({ nonce: "0x00", expiresAt: 0 }),
      sessions: Sessions.make({ expected: () => ({ domain: new URL(url).host, uri: url, chainId: 31337 }) }),
      roles: Roles.make({ orgOf: () => Effect.succeed({ state: "Audited", name: "ACME" }), isSupervisor: () => Effect.succeed(false), isOperator: () => Effect.succeed(false) }),
      policy: { authorize: () => Effect.succeed(undefined), modelGrant: () => Effect.undefined, countUse: () => Effect.void, predictions: () => Effect.succeed([]) },
      dashboard: { file: async () => undefined } as never,
      humans: { list: () => [] } as never,
      relaySignIn: async () => undefined,
      bus: { publish: () => {}, subscribe: () => () => {} },
      rejections
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as AddressInfo).port
  url = `http://127.0.0.1:${port}`
  // Sign-ins from their own addresses, so they spend no other test's budget.
  for (const [name, wallet] of Object.entries(accounts)) {
    const client = ApiClient.make({ url, signer: wallet })
    await client.signIn()
    tokens[name] = client.token()!
  }
})

afterAll(async () => {
  await attached.close()
  await new Promise((r) => server.close(r))
})

describe("HTTP abuse limits", () => {
  it("limits requests per client address: 429 with a typed body and Retry-After, while another address is served", async () => {
    const statuses: Array<number> = []
    let refused: Awaited<ReturnType<typeof send>> | undefined
    for (let i = 0; i < limits.perIp.capacity + 3; i++) {
      const r = await send("127.0.0.2", "GET", "/api/health")
      statuses.push(r.status)
      if (r.status === 429) refused ??= r
    }
    expect(statuses.slice(0, limits.perIp.capacity).every((s) => s === 200)).toBe(true)
    expect(statuses.slice(limits.perIp.capacity)).toEqual([429, 429, 429])
    expect(refused!.body).toMatchObject({ _tag: "RateLimited", scope: "ip" })
    expect(Number(refused!.headers["retry-after"])).toBe(refused!.body.retryAfterSeconds)
    expect(refused!.body.retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect((await send("127.0.0.3", "GET", "/api/health")).status).toBe(200)
    expect(rejections.snapshot().counts["http.rate.ip"]).toBe(3)
  })

  it("limits requests per account, whatever address they come from, while another account is served", async () => {
    const statuses: Array<number> = []
    for (let i = 0; i < limits.perAccount.capacity + 2; i++) statuses.push((await send(`127.0.0.${10 + i}`, "GET", "/api/auth/me", { token: tokens.a })).status)
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429])
    const refused = await send("127.0.0.20", "GET", "/api/auth/me", { token: tokens.a })
    expect(refused.body).toMatchObject({ _tag: "RateLimited", scope: "account" })
    expect(refused.headers["retry-after"]).toBeDefined()
    const other = await send("127.0.0.20", "GET", "/api/auth/me", { token: tokens.b })
    expect(other.status).toBe(200)
    expect(other.body.address).toBe(accounts.b.address)
  })

  it("refuses a body over the cap before reading it (declared or chunked), and keeps serving", async () => {
    const big = JSON.stringify({ codec: "raw", base64: "A".repeat(limits.maxBodyBytes * 2) })
    const declared = await send("127.0.0.30", "POST", "/api/artifacts", { token: tokens.c, body: big })
    expect(declared.status).toBe(413)
    expect(declared.body).toMatchObject({ _tag: "PayloadTooLarge", limitBytes: limits.maxBodyBytes })
    const chunked = await send("127.0.0.31", "POST", "/api/artifacts", { token: tokens.c, body: big, headers: { "transfer-encoding": "chunked" } })
    expect(chunked.status).toBe(413)
    expect((await send("127.0.0.32", "GET", "/api/health")).status).toBe(200)
    expect(rejections.snapshot().counts["http.body"]).toBe(2)
  })

  it("answers a slow-loris client 408 and closes it, while serving others meanwhile", async () => {
    const socket = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.40" })
    await new Promise((r) => socket.once("connect", r))
    let answer = ""
    socket.on("data", (d) => (answer += d))
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())))
    const started = Date.now()
    // Headers dribbled out a few bytes at a time, never finished.
    const drip = setInterval(() => socket.writable && socket.write("X-Slow: a\r\n".slice(0, 3)), 100)
    socket.write("GET /api/health HTTP/1.1\r\nHost: x\r\n")
    // Others are served while the slow client hangs on.
    for (let i = 0; i < 3; i++) expect((await send(`127.0.0.${41 + i}`, "GET", "/api/health")).status).toBe(200)
    const at = await closed
    clearInterval(drip)
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    // Node checks the deadlines once a second (connectionsCheckingInterval): cut within the header timeout + one check.
    expect(at - started).toBeLessThan(limits.headersTimeoutMs + 2_500)
    expect(rejections.snapshot().counts["http.timeout"]).toBeGreaterThanOrEqual(1)
    expect((await send("127.0.0.44", "GET", "/api/health")).status).toBe(200)
  })

  it("caps the tasks an initiator may have open, and still takes another initiator's", async () => {
    const submit = async (name: "c" | "d", nonce: string) => {
      const wallet = accounts[name]
      const spec = { kind: "statistics.horizontal", initiator: wallet.address, nonce, parties: [{ participant: accounts.b.address, dataset: "x" }], params: {} } as unknown as TaskSpec
      return send(`127.0.0.${name === "c" ? 50 : 51}`, "POST", "/api/tasks", { token: tokens[name], body: JSON.stringify({ spec, signature: await wallet.signMessage(getBytes(taskIdOf(spec))) }) })
    }
    expect((await submit("c", "1")).status).toBe(201)
    expect((await submit("c", "2")).status).toBe(201)
    const third = await submit("c", "3")
    expect(third.status).toBe(429)
    expect(third.body).toMatchObject({ _tag: "TooManyTasks", limit: 2, open: 2 })
    expect((await submit("d", "1")).status).toBe(201)
    expect(rejections.snapshot().counts["http.tasks"]).toBe(1)
  })

  it("serves the counts of every refusal to members", async () => {
    const served = await send("127.0.0.60", "GET", "/api/limits", { token: tokens.d })
    expect(served.status).toBe(200)
    expect(served.body.counts).toEqual(rejections.snapshot().counts)
    expect(Object.keys(served.body.counts).sort()).toEqual(["http.body", "http.rate.account", "http.rate.ip", "http.tasks", "http.timeout"])
  })
})
