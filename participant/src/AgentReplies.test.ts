/**
 * A stage reply lost with a link that died unnoticed, over real sockets: a participant agent (AgentSession, its
 * runner a test helper) signed in to the coordinator's hub through a TCP proxy, the round engine over the hub's
 * channel. Two rounds of one task are open at once at the participant — as a contribution task's coalitions,
 * trained concurrently, ask each owner — and the reply to the earlier request goes into a link that stopped passing
 * bytes; the participant gives the link up and connects again while the hub still holds the old connection, so
 * the request stays open and is reminded of. The reply must come again, computed once: a later request of the
 * same task does not make an earlier one's reply unneeded.
 */
import { Effect, Schema } from "effect"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as LoopbackHub from "@jointly/coordinator/internal/testing/LoopbackHub"
import * as TcpProxy from "@jointly/coordinator/internal/testing/TcpProxy"
import * as SocketChannel from "@jointly/coordinator/internal/transport/SocketChannel"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import { stage } from "@jointly/core/internal/protocols/Protocol"
import * as RoundEngine from "@jointly/core/internal/runtime/RoundEngine"
import * as AgentSession from "./AgentSession.ts"
import type { Runner } from "./host/Runner.ts"

const Empty = Schema.Struct({})
const Answer = Schema.Struct({ stage: Schema.String })
/** The earlier request: its answer is held until the test releases it. */
const held = stage("test.held", Empty, Answer)
/** A later request of the same task, answered at once. */
const quick = stage("test.quick", Empty, Answer)
const taskId = `0x${"22".repeat(32)}`

let loopback: LoopbackHub.LoopbackHub
let proxy: TcpProxy.TcpProxy
let agent: AgentSession.Agent | undefined

beforeAll(async () => {
  loopback = await LoopbackHub.start()
  proxy = await TcpProxy.start({ host: "127.0.0.1", port: loopback.port })
})

afterAll(async () => {
  await agent?.close()
  await proxy?.close()
  await loopback?.close()
})

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((r) => setTimeout(r, 5))
}

describe("a stage reply lost with the link, another request of its task open", () => {
  it("is sent again when reminded after the participant reconnects, and computed once", async () => {
    // The runner (a test helper): answers every stage with its name, the held one once released; counts computings.
    const computed = new Map<string, number>()
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    const runner: Runner = {
      datasets: [],
      contentHash: () => Promise.reject(new Error("no datasets")),
      read: () => Promise.resolve({ ok: false, problem: "no offers in this test" }),
      accept: () => Promise.resolve({ ok: false, problem: "no offers in this test" }),
      stage: async (request) => {
        computed.set(request.stage, (computed.get(request.stage) ?? 0) + 1)
        if (request.stage === held.name) await released
        return { ok: true, payload: { stage: request.stage } }
      },
      forget: () => Promise.resolve(),
      close: () => Promise.resolve()
    }
    const wallet = new Wallet(Wallet.createRandom().privateKey)
    const answered: Array<string> = []
    agent = AgentSession.connect(
      { wallet, policy: () => ({ decision: "reject", reason: "no offers in this test" }) },
      { endpoint: Endpoint.make(proxy.url), runner, listeners: new Set([(event) => void (event.type === "stage" && answered.push(event.stage))]) }
    )
    await agent.connected
    await until(() => loopback.hub.isOnline(wallet.address))

    const channel = SocketChannel.make(loopback.hub)
    loopback.route(channel)
    const engine = Effect.runSync(Effect.provide(RoundEngine.make, channel.layer))
    Effect.runSync(engine.taskStarted(taskId))
    const session = engine.session({
      taskId,
      attempt: 1,
      participants: [wallet.address],
      progress: () => Effect.void,
      commit: () => Effect.void,
      checkpoint: { save: () => Effect.void, load: () => Effect.void }
    })
    const only = new Map([[wallet.address, {}]])
    // The bound is liveness only: without the reply sent again the held round would end TooFewReplies.
    const heldRound = Effect.runPromise(session.round(held, only, { minReplies: 1, timeoutMs: 30_000 }))
    await until(() => computed.get(held.name) === 1)
    const quickReplies = await Effect.runPromise(session.round(quick, only, { minReplies: 1, timeoutMs: 30_000 }))
    expect(quickReplies.get(wallet.address)).toEqual({ stage: quick.name })

    // The link stops passing bytes; the held reply is written into it and lost.
    proxy.stall()
    release()
    await until(() => answered.includes(held.name))
    // The participant gives the link up and connects again; the hub still holds the old connection (no departure).
    const reconnected = new Promise<void>((resolve) => {
      const off = agent!.on((event) => {
        if (event.type !== "connected") return
        off()
        resolve()
      })
    })
    proxy.abandon()
    await reconnected

    const replies = await heldRound
    expect(replies.get(wallet.address)).toEqual({ stage: held.name })
    expect(computed.get(held.name)).toBe(1)
  }, 60_000)
})
