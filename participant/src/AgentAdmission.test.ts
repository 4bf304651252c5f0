/**
 * A participant agent admitted by the coordinator's hub on a loopback port (real socket, real EIP-712 Login over a
 * nonce from the hub's HTTP nonce route): a refusal that is the coordinator's passing trouble — its chain read
 * Unavailable once, its nonce store failing once mid-spend (NonceUnsettled) — is a `refused` event but leaves
 * `connected` pending, and the agent is admitted on a later try (after NonceUnsettled only with a fresh nonce: the
 * unsettled one is spent). A verdict on the org (OrgSuspended) rejects `connected` with that code, and the agent
 * keeps asking on the same schedule, so an org restored (or dropped, then restored) is admitted again. An
 * address out of its connection budget (RateLimited, refilling with time) is a passing refusal too.
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import { OrgUnreadable } from "@jointly/coordinator/internal/auth/Auth"
import * as LoopbackHub from "@jointly/coordinator/internal/testing/LoopbackHub"
import * as LossySpent from "@jointly/coordinator/internal/testing/LossySpent"
import * as SocketLimits from "@jointly/coordinator/internal/transport/SocketLimits"
import * as AgentSession from "./AgentSession.ts"
import type { Runner } from "./host/Runner.ts"

/** What the hub's chain says of each org: its state, or "unreadable once" (the next read fails, then Audited). */
const orgs = new Map<string, "Audited" | "Suspended" | "UnreadableOnce">()
const nonceStore = LossySpent.make()
let hub: LoopbackHub.LoopbackHub
const agents: Array<AgentSession.Agent> = []

beforeAll(async () => {
  hub = await LoopbackHub.start({
    registry: {
      orgOf: (address) => {
        const state = orgs.get(address) ?? "Audited"
        if (state !== "UnreadableOnce") return Effect.succeed({ state, name: "an org" })
        orgs.set(address, "Audited")
        return Effect.fail(new OrgUnreadable({ address, detail: "connect ECONNREFUSED (test: the chain is down)" }))
      }
    },
    spent: nonceStore.spent
  })
})

afterAll(async () => {
  for (const agent of agents) await agent.close()
  await hub?.close()
})

/** A runner with no datasets: admission is all these tests exercise (a test helper, no task reaches it). */
const idleRunner: Runner = {
  datasets: [],
  contentHash: () => Promise.reject(new Error("no datasets")),
  read: () => Promise.resolve({ ok: false, problem: "no tasks in this test" }),
  accept: () => Promise.resolve({ ok: false, problem: "no tasks in this test" }),
  stage: (request) => Promise.resolve({ ok: false, code: "UnknownTask", detail: request.taskId }),
  forget: () => Promise.resolve(),
  close: () => Promise.resolve()
}

/** An agent of a fresh org connecting to `to` (this file's hub unless told), and the admission refusals it reported. */
const start = (state: "Audited" | "Suspended" | "UnreadableOnce", to: LoopbackHub.LoopbackHub = hub) => {
  const wallet = new Wallet(Wallet.createRandom().privateKey)
  orgs.set(wallet.address, state)
  const refused: Array<string> = []
  const agent = AgentSession.connect(
    { wallet, policy: () => ({ decision: "reject", reason: "no tasks in this test" }) },
    {
      endpoint: Endpoint.make(to.url),
      runner: idleRunner,
      listeners: new Set([(event) => void (event.type === "refused" && refused.push(event.code))])
    }
  )
  agents.push(agent)
  return { agent, refused, address: wallet.address }
}

/** The agent's next event of `type`. */
const next = (agent: AgentSession.Agent, type: AgentSession.AgentEvent["type"]) =>
  new Promise<void>((resolve) => {
    const off = agent.on((event) => {
      if (event.type !== type) return
      off()
      resolve()
    })
  })

describe("admission refused for the coordinator's passing trouble", () => {
  it("a chain read Unavailable once: `connected` resolves on a later try, the refusal reported", async () => {
    const { agent, refused } = start("UnreadableOnce")
    await agent.connected
    expect(agent.isConnected()).toBe(true)
    expect(refused).toEqual(["Unavailable"])
  })

  it("a nonce store failing once mid-spend (NonceUnsettled): admitted with a fresh nonce on a later try", async () => {
    nonceStore.failNextSpend()
    const { agent, refused } = start("Audited")
    await agent.connected
    expect(agent.isConnected()).toBe(true)
    // The same nonce again would be UnknownNonce, a final refusal: the later try signed a new one.
    expect(refused).toEqual(["NonceUnsettled"])
  })
})

describe("admission refused for the address's connection budget", () => {
  // Three connections a minute: an admission takes two (the engine connection, then the namespace's), so a second
  // participant behind the same address is let in at the engine and refused RateLimited at the namespace.
  let limited: LoopbackHub.LoopbackHub | undefined
  afterAll(() => limited?.close())

  it("RateLimited is a passing refusal: reported, `connected` left pending while the budget refills", async () => {
    limited = await LoopbackHub.start({ limits: { ...SocketLimits.defaults, connectionsPerAddress: { limit: 3, windowMs: 60_000 } } })
    await start("Audited", limited).agent.connected
    const { agent, refused } = start("Audited", limited)
    await next(agent, "refused")
    expect(refused).toEqual(["RateLimited"])
    // A verdict on the org would have rejected `connected` in the same turn as the refusal.
    const outcome = await Promise.race([
      agent.connected.then(() => "admitted", (e: unknown) => `rejected: ${String(e)}`),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 200))
    ])
    expect(outcome).toBe("pending")
  })
})

describe("admission refused for the org", () => {
  it("a suspended org: `connected` rejects with AdmissionRefused OrgSuspended", async () => {
    const { agent, refused } = start("Suspended")
    const error = await agent.connected.then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(AgentSession.AdmissionRefused)
    expect(error).toMatchObject({ code: "OrgSuspended" })
    expect(refused).toEqual(["OrgSuspended"])
  })

  it("a suspended org restored: admitted again without a restart, by the same retries as a passing refusal", async () => {
    const { agent, refused } = start("Suspended")
    await agent.connected.catch(() => {})
    // The session keeps asking: each try is refused again while the org stays suspended.
    await next(agent, "refused")
    expect(refused).toEqual(["OrgSuspended", "OrgSuspended"])
    const back = next(agent, "connected")
    orgs.set(agent.address, "Audited")
    await back
    expect(agent.isConnected()).toBe(true)
  })

  it("an admitted org the coordinator drops (suspended meanwhile): refused while suspended, admitted once restored", async () => {
    const { agent, refused, address } = start("Audited")
    await agent.connected
    orgs.set(address, "Suspended")
    const dropped = next(agent, "disconnected")
    const refusedAgain = next(agent, "refused")
    hub.hub.kick(address, "the org was suspended (test)")
    await dropped
    await refusedAgain
    expect(refused).toEqual(["OrgSuspended"])
    const back = next(agent, "connected")
    orgs.set(address, "Audited")
    await back
    expect(agent.isConnected()).toBe(true)
  })
})
