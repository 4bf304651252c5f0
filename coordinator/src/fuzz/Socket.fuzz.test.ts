/**
 * Fuzzing over a real socket (issue 17): an admitted member, party to a task that waits for its consent, sends the
 * coordinator random and mutated `task.consent`, `stage.reply`, `human.awaiting` and unknown events (fast-check)
 * over a real socket.io connection. Every message must be answered with a typed wire.error (a message that does
 * not decode: `Malformed`, naming the event), the process must keep serving, and nothing about the task may change
 * — not its status, its consents, its events nor its chain outbox. Real anvil, the coordinator in this process
 * over its PGlite store, two participant processes.
 *
 * The same member, and strangers, then fuzz the HTTP API on the same running server: every route the OpenAPI
 * document declares, with random and hostile path parameters, queries, bodies and credentials. No answer may be a
 * 5xx, every refusal is a typed error (`_tag`), and the task stays as it was.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Wallet } from "ethers"
import fc from "fast-check"
import { io, type Socket } from "socket.io-client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiClient from "@jointly/core/internal/api/Client"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import { events, WireErrorCode } from "@jointly/core/internal/wire/Messages"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Consortium from "../local/Consortium.ts"
import * as F from "../testing/fixtures.ts"
import { promised } from "../testing/Promised.ts"

const demo = fileURLToPath(new URL("../../../examples/demo/", import.meta.url))
const columns: DatasetSpec["columns"] = ["glucose", "mass"].map((name) => ({ name, type: "number" as const }))
/** Below the per-account event budget of the socket limits (1,000 per 10 s), so no refusal is a rate limit. */
const RUNS_PER_EVENT = 200

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let fuzzer: Wallet
let socket: Socket
let taskId: string

const snapshot = async () => {
  const store = promised(cluster.coordinator()!.store)
  const task = await store.get(taskId)
  return {
    status: task?.status,
    attempt: task?.attempt,
    fence: task?.fence,
    consents: (await store.consents(taskId)).map((c) => [c.participant, c.approve]),
    events: (await store.events(taskId)).map((e) => e.type),
    outbox: (await store.outbox(taskId)).map((o) => o.op)
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-socket-fuzz-"))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: ["north", "south"].map((name) => ({ name, datasets: [{ name: "pima", file: join(demo, `pima-${name}.csv`), columns }] }))
  })
  fuzzer = Wallet.createRandom() as unknown as Wallet
  await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: "fuzzer", wallet: fuzzer, encryptionPublicKey: fuzzer.signingKey.compressedPublicKey }, true)
  // North consents at once; the fuzzer never does: the task waits in AwaitingConsent for the whole test.
  taskId = await cluster.submit({
    kind: "statistics.horizontal",
    parties: [{ participant: cluster.parties[0]!.address, dataset: "pima" }, { participant: fuzzer.address, dataset: "pima" }] as never,
    params: { columns: ["glucose"], statistics: ["count", "mean"] }
  })
  await F.eventually(async () => ((await snapshot()).consents.length === 1 ? true : undefined), "north's consent", 60_000)

  const base = cluster.coordinatorUrl
  socket = io(`${base}/participants`, {
    transports: ["websocket"],
    reconnection: false,
    auth: (cb) => {
      void (async () => {
        const challenge = (await (await fetch(`${base}/api/auth/nonce`)).json()) as { nonce: string; chainId: string; ledger: string; coordinator: string }
        const domain = Eip712.domain(BigInt(challenge.chainId), challenge.ledger)
        const issuedAt = Math.floor(Date.now() / 1000)
        const signature = await Eip712.signLogin(fuzzer, domain, { account: fuzzer.address, nonce: challenge.nonce, coordinator: challenge.coordinator, issuedAt: BigInt(issuedAt) })
        cb({ account: fuzzer.address, nonce: challenge.nonce, issuedAt, signature })
      })()
    }
  })
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve())
    socket.once("connect_error", reject)
  })
}, 300_000)

afterAll(async () => {
  socket?.close()
  await starter.stop()
  if (dir) await removeDir(dir)
}, 60_000)

/** Sends one event and waits for the wire.error naming it (or `waitMs` of silence). */
const send = (event: string, payload: unknown, waitMs = 2_000) =>
  new Promise<{ code: string; message: string; ref?: string } | undefined>((resolve) => {
    const timer = setTimeout(() => {
      socket.off(events.error, onError)
      resolve(undefined)
    }, waitMs)
    const onError = (error: { code: string; message: string; ref?: string }) => {
      clearTimeout(timer)
      socket.off(events.error, onError)
      resolve(error)
    }
    socket.on(events.error, onError)
    socket.emit(event, payload)
  })

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => `0x${Buffer.from(b).toString("hex")}`)
const hostile = fc.oneof(fc.anything({ withNullPrototype: true, withSparseArray: true }), fc.jsonValue(), fc.constantFrom(null, "", "0x", NaN, -1, "a".repeat(5_000)))

/** A message shaped like the real one, some field of it (or all of it) replaced by something hostile. */
const mutated = <T extends Record<string, unknown>>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 4, arbitrary: fc.tuple(valid, hostile).chain(([v, bad]) => fc.constantFrom(...Object.keys(v)).map((k) => ({ ...v, [k]: bad }))) },
    { weight: 2, arbitrary: valid.chain((v) => fc.constantFrom(...Object.keys(v)).map((k) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== k)))) },
    { weight: 2, arbitrary: hostile }
  )

const codes = new Set<string>(WireErrorCode.literals as ReadonlyArray<string>)

describe("the coordinator's socket under fuzzing", () => {
  it("answers every random or mutated consent, stage reply and unknown event with a typed wire.error, and changes nothing", async () => {
    const before = await snapshot()
    expect(before.status).toBe("AwaitingConsent")
    const consent = fc.record({ taskId: fc.oneof(fc.constant(taskId), hex(32)), approve: fc.boolean(), reason: fc.string({ maxLength: 40 }), signature: fc.oneof(hex(65), hex(3)) })
    const reply = fc.record({
      requestId: fc.oneof(fc.uuid(), fc.string({ maxLength: 20 })),
      taskId: fc.oneof(fc.constant(taskId), hex(32)),
      stage: fc.constantFrom("stats.sum", "psi.round1", "x"),
      outcome: fc.oneof(fc.record({ ok: fc.constant(true), output: fc.jsonValue() }), fc.record({ ok: fc.constant(false), code: fc.string({ maxLength: 10 }), detail: fc.string({ maxLength: 20 }) }))
    })
    const cases: Array<readonly [string, fc.Arbitrary<unknown>]> = [
      [events.consent, mutated(consent)],
      [events.reply, mutated(reply)],
      ["task.steal", hostile]
    ]
    const seen = new Map<string, number>()
    for (const [event, arbitrary] of cases) {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (payload) => {
          const answer = await send(event, payload)
          // Every one answered, typed, and about this event.
          expect(answer, `${event} ${JSON.stringify(payload)?.slice(0, 200)}`).toBeDefined()
          expect(codes.has(answer!.code), answer!.code).toBe(true)
          seen.set(`${event} ${answer!.code}`, (seen.get(`${event} ${answer!.code}`) ?? 0) + 1)
          expect(answer!.code).not.toBe("RateLimited")
          expect(answer!.code).not.toBe("Internal")
        }),
        { numRuns: RUNS_PER_EVENT, seed: 4242, endOnFailure: true }
      )
      // Pace the events of the next kind into a fresh window of the per-account budget.
      await new Promise((r) => setTimeout(r, 1_000))
    }
    // The fuzz reached past the decoder too: well-formed messages refused by the scheduler and the round engine.
    expect([...seen.keys()].some((k) => k.startsWith(`${events.consent} `) && !k.endsWith(" Malformed"))).toBe(true)
    expect(seen.get(`${events.consent} Malformed`)).toBeGreaterThan(0)
    expect([...seen.keys()].some((k) => k.startsWith(`${events.reply} `) && !k.endsWith(" Malformed"))).toBe(true)
    expect(seen.get("task.steal UnknownStage")).toBe(RUNS_PER_EVENT)

    // Nothing changed, the socket is still admitted and the coordinator still serves.
    expect(await snapshot()).toEqual(before)
    expect(socket.connected).toBe(true)
    expect(cluster.coordinator()!.hub.isOnline(fuzzer.address)).toBe(true)
    expect((await cluster.task(taskId)).status).toBe("AwaitingConsent")
  }, 300_000)

  it("answers random and hostile HTTP requests to every declared route without a 5xx, refusals typed, and changes nothing", async () => {
    const before = await snapshot()
    const base = cluster.coordinatorUrl
    const client = ApiClient.make({ url: base, signer: fuzzer })
    await client.signIn()
    const token = client.token()!
    await client.close()
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).filter((m) => ["get", "post", "put", "patch", "delete"].includes(m)).map((method) => ({ path, method })))
    expect(routes.length).toBeGreaterThan(20)

    const param = fc.oneof(fc.constant(taskId), hex(32), hex(20), fc.string({ maxLength: 30 }), fc.constantFrom("..%2F..%2Fetc", "%00", "a".repeat(400), "0x", "-1", "1e309"))
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.constantFrom("{", "[]", "null", '{"spec":{}}', '{"__proto__":{"admin":true}}', "x".repeat(70_000)),
      fc.string({ maxLength: 200 })
    )
    const request = fc.record({
      route: fc.constantFrom(...routes),
      params: fc.array(param, { minLength: 3, maxLength: 3 }),
      query: fc.dictionary(fc.constantFrom("limit", "status", "q", "includeRetired", "from", "x"), fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("-5", "1e9", "true", "Running"))),
      body: fc.option(body, { nil: undefined }),
      contentType: fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"),
      // Mostly signed in, so most requests get past the guard to the decoder and the handlers.
      auth: fc.oneof({ weight: 5, arbitrary: fc.constant("member") }, { weight: 1, arbitrary: fc.constantFrom("none", "garbage", "forged") })
    })
    const forged = `${token.split(".").slice(0, 2).join(".")}.${"A".repeat(43)}`
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let i = 0
        const path = r.route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(r.params[i++ % 3]!))
        const url = `${base}${path}${Object.keys(r.query).length ? `?${new URLSearchParams(r.query)}` : ""}`
        const headers: Record<string, string> = { "content-type": r.contentType }
        if (r.auth === "member") headers.authorization = `Bearer ${token}`
        if (r.auth === "garbage") headers.authorization = "Bearer v1.%%%.!!"
        if (r.auth === "forged") headers.authorization = `Bearer ${forged}`
        const method = r.route.method.toUpperCase()
        const response = await fetch(url, { method, headers, ...(method === "GET" || r.body === undefined ? {} : { body: r.body }), signal: AbortSignal.timeout(10_000) })
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const what = `${method} ${path} (${r.auth}) → ${response.status}`
        expect(response.status, what).toBeLessThan(500)
        if (response.status >= 400) {
          const error = (await response.json().catch(() => undefined)) as { _tag?: unknown } | undefined
          expect(typeof error?._tag, `${what}: the refusal names its type`).toBe("string")
        } else {
          // A success here is a read (a stream is closed unread); nothing the fuzzer sends may be accepted as a write.
          await response.body?.cancel()
          if (method !== "GET") expect(r.route.path, what).toMatch(/auth|artifacts|sign-in|nonce/)
        }
      }),
      { numRuns: 400, seed: 1717, endOnFailure: true }
    )
    // Every kind of answer was reached: reads that pass, refusals of the rules and of the decoder.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true)
    expect(statuses.get(401)).toBeGreaterThan(0)
    expect((statuses.get(400) ?? 0) + (statuses.get(422) ?? 0)).toBeGreaterThan(0)
    expect([...statuses.keys()].some((s) => s === 403 || s === 404)).toBe(true)

    expect(await snapshot()).toEqual(before)
    expect((await fetch(`${base}/api/health`)).status).toBe(200)
    expect((await cluster.task(taskId)).status).toBe("AwaitingConsent")
  }, 300_000)
})
