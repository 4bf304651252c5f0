/**
 * The authorisation half of `npm run bench -- api` (api.ts; api-tls.ts is the TLS half): what authorisation costs
 * the coordinator's HTTP API.
 *
 * A real coordinator over anvil (roles read from the chain through their cache, tasks from PGlite); over its
 * parts, two servers: one serves the API with its guard (bearer token from a real sign-in, roles, the endpoint's
 * rule), the other the same routes with a guard that checks nothing and names a fixed caller — the baseline. Both
 * are bare node:http servers built the same way, so only the guard differs. Keep-alive clients load both in turn,
 * alternating rounds, and each route reports signed-in throughput and p99 latency against the baseline measured in
 * the same run (ratio ≥ 0.8 is the bar).
 */
import { request as httpRequest, Agent, createServer, type Server as HttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { Caller, Guard } from "@jointly/core/internal/api/Api"
import * as ApiClient from "@jointly/core/internal/api/Client"
import { taskId as taskIdOf, type TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { startAnvil } from "@jointly/coordinator/internal/chain/Anvil"
import * as Coordinator from "@jointly/coordinator/internal/Coordinator"
import * as Policy from "@jointly/coordinator/internal/http/Policy"
import * as Server from "@jointly/coordinator/internal/http/Server"
import * as Sessions from "@jointly/coordinator/internal/http/Sessions"
import * as Rejections from "@jointly/coordinator/internal/limits/Rejections"
import * as Consortium from "@jointly/coordinator/internal/local/Consortium"
import * as Operator from "@jointly/coordinator/internal/local/Operator"
import { emit, progress } from "./Report.ts"

const concurrency = 8
const roundMs = 2_000
/** Pairs of rounds, an even number so each server goes first equally often. */
const rounds = 4
/** No rate limit may throttle the load generator. */
const unlimited = { capacity: 1e9, perSecond: 1e9 }

interface Load {
  readonly requests: number
  readonly latencies: Array<number>
  readonly ms: number
}

/** `concurrency` keep-alive clients calling `path` for `ms`; every answer must be 200. */
const load = async (port: number, path: string, token: string | undefined, ms: number): Promise<Load> => {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const latencies: Array<number> = []
  const deadline = performance.now() + ms
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now()
      const req = httpRequest({ host: "127.0.0.1", port, path, agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        res.resume()
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`${path}: HTTP ${res.statusCode}`))
          latencies.push(performance.now() - started)
          resolve()
        })
      })
      req.on("error", reject)
      req.end()
    })
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) await one()
  }))
  const elapsed = performance.now() - started
  agent.destroy()
  return { requests: latencies.length, latencies, ms: elapsed }
}

const p99 = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!

export const run = async () => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-api-"))
  const anvil = await startAnvil({ dataDir: dir })
  const stops: Array<() => Promise<unknown>> = [() => anvil.stop(), () => rm(dir, { recursive: true, force: true })]
  try {
    progress("api: chain, contracts, the analyst's org, a coordinator")
    const keys = await Operator.load(dir)
    const chain = await Consortium.connect(anvil.rpcUrl, { embedded: true })
    stops.unshift(() => chain.close())
    const { deployment, supervisorLedger } = await Consortium.deploy(dir, chain, keys.supervisor, keys.coordinator, true)
    stops.unshift(() => supervisorLedger.close())
    await Consortium.admit(deployment, keys.supervisor, supervisorLedger, { name: "bench-analyst", wallet: keys.analyst, encryptionPublicKey: keys.analyst.signingKey.compressedPublicKey }, true)
    const ledger = await Consortium.ledgerFor(chain, keys.coordinator, deployment)
    const governance = await Consortium.governanceFor(chain, keys.coordinator, deployment)
    const coordinator = await Coordinator.start({ store: join(dir, "db"), ledger, governance, limits: { perIp: unlimited, perAccount: unlimited } })
    stops.unshift(async () => {
      await coordinator.close()
      await governance?.close()
      await ledger.close()
    })
    // One task the analyst initiated (stored as submitted; nothing runs it).
    const spec = { kind: "statistics.horizontal", initiator: keys.analyst.address, nonce: "bench", parties: [{ participant: keys.analyst.address, dataset: "x" }], params: {} } as unknown as TaskSpec
    const id = taskIdOf(spec)
    await Effect.runPromise(coordinator.store.insert(id, spec, id, [keys.analyst.address], coordinator.instance))
    // Two servers over the coordinator's parts, built alike; only the guard differs.
    const roles = await Effect.runPromise(coordinator.roles.of(keys.analyst.address))
    const serve = async (guard: "enforced" | "open") => {
      const server: HttpServer = createServer()
      const port = { value: 0 }
      const attached = Server.attach({
        server,
        store: coordinator.store,
        scheduler: coordinator.scheduler,
        models: coordinator.models,
        artifacts: coordinator.artifacts,
        index: coordinator.index,
        limits: { perIp: unlimited, perAccount: unlimited },
        ...(guard === "open"
          ? {
            guard: Layer.succeed(Guard, {
              bearer: (httpEffect) => Effect.provideService(httpEffect, Caller, { address: keys.analyst.address, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), roles })
            })
          }
          : {}),
        parts: {
          chain: coordinator.chain,
          socketNonce: () => ({ nonce: "0x00", expiresAt: 0 }),
          sessions: Sessions.make({
            expected: () => ({ domain: `127.0.0.1:${port.value}`, uri: `http://127.0.0.1:${port.value}`, chainId: Number(coordinator.chain.chainId) })
          }),
          roles: coordinator.roles,
          policy: Policy.make({ store: coordinator.store, sql: coordinator.store.sql }),
          dashboard: { file: async () => undefined } as never,
          relaySignIn: async () => undefined,
          humans: { list: () => [] } as never,
          bus: { publish: () => {}, subscribe: () => () => {} },
          rejections: Rejections.make()
        }
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      port.value = (server.address() as AddressInfo).port
      stops.unshift(async () => {
        await attached.close()
        await new Promise((r) => server.close(r))
      })
      return port.value
    }
    const signedPort = await serve("enforced")
    const openPort = await serve("open")
    const client = ApiClient.make({ url: `http://127.0.0.1:${signedPort}`, signer: keys.analyst })
    await client.signIn()
    const token = client.token()!

    for (const [route, path] of [["tasks.get", `/api/tasks/${id}`], ["tasks.list", "/api/tasks?limit=20"]] as const) {
      progress(`api: ${route}, ${rounds} pairs of ${roundMs} ms rounds (ABBA), ${concurrency} clients`)
      // Both servers share one process that keeps warming up (JIT, caches) for seconds: a short warm-up, or the same
      // server always going first, credits the later one with the warming. So both warm up a full round, and the
      // rounds run in ABBA order, each server first in half of the pairs.
      await load(signedPort, path, token, roundMs)
      await load(openPort, path, undefined, roundMs)
      const signed: Array<Load> = []
      const baseline: Array<Load> = []
      for (let r = 0; r < rounds; r++) {
        const first = r % 2 === 0 ? "signed" : "open"
        for (const side of first === "signed" ? ["signed", "open"] : ["open", "signed"]) {
          if (side === "signed") signed.push(await load(signedPort, path, token, roundMs))
          else baseline.push(await load(openPort, path, undefined, roundMs))
        }
      }
      const rps = (ls: ReadonlyArray<Load>) => ls.reduce((n, l) => n + l.requests, 0) / (ls.reduce((t, l) => t + l.ms, 0) / 1000)
      const signedRps = rps(signed)
      const baselineRps = rps(baseline)
      const signedP99 = p99(signed.flatMap((l) => l.latencies))
      const baselineP99 = p99(baseline.flatMap((l) => l.latencies))
      const params = { route, concurrency, requests: signed.reduce((n, l) => n + l.requests, 0) }
      emit({ suite: "api", metric: "signed_in_requests_per_s", params, value: signedRps, baseline: "same routes without authorisation", baseline_value: baselineRps })
      // Lower latency is better: the ratio is baseline / signed-in.
      emit({ suite: "api", metric: "signed_in_p99_ms", params, value: signedP99, baseline: "same routes without authorisation", baseline_value: baselineP99, ratio: baselineP99 / signedP99 })
    }
  } finally {
    for (const stop of stops) await stop().catch(() => {})
  }
}
