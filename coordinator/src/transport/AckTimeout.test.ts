/**
 * The acknowledgement wait scaled by a request's size: the computed wait for given sizes and settings, the
 * settings refused when wrong (in the config file too), and, over real sockets, a large request on a slow link
 * (a throttling proxy, testing/TcpProxy.ts) is sent once when it is merely slow, while one that is lost is still
 * sent again: the coordinator's hub on a loopback port, the round engine over it, two socket.io clients that log
 * in with real EIP-712 signatures, each through its own slowed link.
 */
import { Effect, Schema } from "effect"
import type { Wallet } from "ethers"
import type { Socket } from "socket.io-client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stage } from "@jointly/core/internal/protocols/Protocol"
import * as RoundEngine from "@jointly/core/internal/runtime/RoundEngine"
import * as InMemoryChannel from "@jointly/core/internal/testing/InMemoryChannel"
import { events, maxMessageBytes, type StageReceipt, StageRequest, type StageReply } from "@jointly/core/internal/wire/Messages"
import * as CoordinatorConfig from "../cli/CoordinatorConfig.ts"
import * as LoopbackHub from "../testing/LoopbackHub.ts"
import * as TcpProxy from "../testing/TcpProxy.ts"
import * as AckTimeout from "./AckTimeout.ts"
import * as SocketChannel from "./SocketChannel.ts"

describe("the acknowledgement wait", () => {
  it("is the base for an empty message, grows with the size at the assumed throughput, and stops at the cap", () => {
    const s: AckTimeout.Settings = { baseMs: 1_000, minBytesPerSecond: 100_000, maxMs: 20_000 }
    expect(AckTimeout.forBytes(s, 0)).toBe(1_000)
    // 500 kB at 100 kB/s: 5 s on top of the base.
    expect(AckTimeout.forBytes(s, 500_000)).toBe(6_000)
    expect(AckTimeout.forBytes(s, 500_001)).toBe(6_001)
    expect(AckTimeout.forBytes(s, 1_000_000)).toBeGreaterThan(AckTimeout.forBytes(s, 500_000))
    expect(AckTimeout.forBytes(s, 10_000_000)).toBe(20_000)
    expect(AckTimeout.forBytes(s, Number.MAX_SAFE_INTEGER)).toBe(20_000)
  })

  it("by default covers the largest frame the transport takes at 256 KiB/s without reaching the cap", () => {
    const d = AckTimeout.defaults
    const largest = AckTimeout.forBytes(d, maxMessageBytes)
    expect(largest).toBeLessThan(d.maxMs)
    expect(largest).toBeGreaterThanOrEqual(d.baseMs + (maxMessageBytes / d.minBytesPerSecond) * 1_000)
    expect(AckTimeout.forBytes(d, 100)).toBe(d.baseMs + 1)
  })

  it("estimates a message's JSON size without encoding it: exact for ASCII text, never below it for numbers, within a third above", () => {
    const text = { requestId: "r-1", payload: { blob: "QUJD".repeat(10_000), flags: [true, false, null], nested: { id: "x" } } }
    expect(AckTimeout.estimatedBytes(text)).toBe(JSON.stringify(text).length)
    for (const numbers of [Array.from({ length: 1_000 }, (_, i) => Math.sin(i) * 1e-300), Array.from({ length: 1_000 }, () => Math.random())]) {
      const json = JSON.stringify({ weights: numbers }).length
      const estimated = AckTimeout.estimatedBytes({ weights: numbers })
      expect(estimated).toBeGreaterThanOrEqual(json)
      expect(estimated).toBeLessThan(1.4 * json)
    }
  })

  it("counts a binary part (an OT relay's sealed box) by its bytes, not as an object of numbered keys", () => {
    const box = new Uint8Array(1 << 20)
    const estimated = AckTimeout.estimatedBytes({ requestId: "r-1", payload: { inbound: [box, box.subarray(0, 1000)], from: 3 } })
    expect(estimated).toBeGreaterThanOrEqual((1 << 20) + 1000)
    expect(estimated).toBeLessThan((1 << 20) + 1000 + 200)
  })

  it("keeps defaults for absent fields and refuses a bad value or a cap below the base, naming it", () => {
    expect(AckTimeout.resolve(undefined)).toEqual(AckTimeout.defaults)
    expect(AckTimeout.resolve({ baseMs: 2_000 })).toEqual({ ...AckTimeout.defaults, baseMs: 2_000 })
    expect(() => AckTimeout.resolve({ baseMs: 10_000, maxMs: 5_000 })).toThrow(/maxMs 5000 is below baseMs 10000/)
    expect(() => AckTimeout.resolve({ minBytesPerSecond: 0 })).toThrow(AckTimeout.AckTimeoutInvalid)
    expect(() => AckTimeout.resolve({ baseMs: "5s" })).toThrow(/baseMs/)
  })

  it("is read from the coordinator's config file, and a wrong one is refused there", () => {
    const base = { store: "db", chain: { rpcUrl: "http://127.0.0.1:8545", deployment: "deployment.json" }, keystore: "key.json" }
    expect(CoordinatorConfig.decode("/srv/c.json", { ...base, ackTimeout: { minBytesPerSecond: 65_536 } }, {}).ackTimeout).toEqual({ minBytesPerSecond: 65_536 })
    expect(() => CoordinatorConfig.decode("/srv/c.json", { ...base, ackTimeout: { baseMs: -1 } }, {})).toThrow(/ackTimeout/)
    expect(() => CoordinatorConfig.decode("/srv/c.json", { ...base, ackTimeout: { baseMs: 9_000, maxMs: 1_000 } }, {})).toThrow(/below baseMs/)
  })
})

// ---- over slowed links --------------------------------------------------------------------------------

const Blob = Schema.Struct({ blob: Schema.String })
const Length = Schema.Struct({ length: Schema.Int })
const echo = stage("slow.length", Blob, Length)
const taskId = "0x" + "cd".repeat(32)
// 512 KiB through links of 256 KiB/s: two seconds on the way, against a base wait of 300 ms.
const payloadBytes = 512 * 1024
const linkBytesPerSecond = 256 * 1024
// The assumed least throughput is half the links' own: the wait (300 ms + 4 s) covers the transfer with room.
const settings: AckTimeout.Settings = { baseMs: 300, minBytesPerSecond: 128 * 1024, maxMs: 30_000 }

let loopback: LoopbackHub.LoopbackHub
const proxies: Array<TcpProxy.TcpProxy> = []
const sockets: Array<Socket> = []

beforeAll(async () => {
  loopback = await LoopbackHub.start({ ackTimeout: settings })
})

afterAll(async () => {
  for (const socket of sockets) socket.disconnect()
  for (const proxy of proxies) await proxy.close()
  await loopback.close()
})

/** A participant connected through a link of its own, slowed to `linkBytesPerSecond` towards it. */
const connect = async (wallet: Wallet): Promise<Socket> => {
  const proxy = await TcpProxy.start({ host: "127.0.0.1", port: loopback.port }, { bytesPerSecond: linkBytesPerSecond })
  proxies.push(proxy)
  const socket = await loopback.connect(wallet, proxy.url)
  sockets.push(socket)
  return socket
}

describe("a large stage request over a slow link", () => {
  it("is sent once when it is merely slow to arrive, and sent again when it was lost", async () => {
    const slow = InMemoryChannel.randomWallet()
    const lossy = InMemoryChannel.randomWallet()
    const [slowSocket, lossySocket] = await Promise.all([connect(slow), connect(lossy)])
    const hub = loopback.hub
    while (!hub.isOnline(slow.address) || !hub.isOnline(lossy.address)) await new Promise((r) => setTimeout(r, 5))

    // What the hub was asked to send, per participant (the engine's first sending and every one again).
    const sent = new Map<string, number>()
    const channel = SocketChannel.make({
      request: (account, request, delivered) => {
        sent.set(account, (sent.get(account) ?? 0) + 1)
        return hub.request(account, request, delivered)
      },
      remind: hub.remind
    })
    loopback.route(channel)
    const engine = Effect.runSync(Effect.provide(RoundEngine.make, channel.layer))
    Effect.runSync(engine.taskStarted(taskId))

    // Each participant acknowledges and answers what it receives; the lossy one's first copy is lost on its way
    // (never acknowledged, never answered: to the hub, nothing came).
    const received = new Map<string, number>()
    const answer = (socket: Socket, who: string, loseFirst: boolean) =>
      socket.on(events.request, (raw: unknown, ack?: (receipt: StageReceipt) => void) => {
        const request = Schema.decodeUnknownSync(StageRequest)(raw)
        const copies = (received.get(who) ?? 0) + 1
        received.set(who, copies)
        if (loseFirst && copies === 1) return
        ack?.({ requestId: request.requestId, known: true })
        const { blob } = Schema.decodeUnknownSync(Blob)(request.payload)
        socket.emit(events.reply, { requestId: request.requestId, taskId, stage: request.stage, outcome: { ok: true, payload: { length: blob.length } } } satisfies StageReply)
      })
    answer(slowSocket, slow.address, false)
    answer(lossySocket, lossy.address, true)

    const session = engine.session({
      taskId,
      attempt: 1,
      participants: [slow.address, lossy.address],
      progress: () => Effect.void,
      commit: () => Effect.void,
      checkpoint: { save: () => Effect.void, load: () => Effect.void }
    })
    const blob = "a".repeat(payloadBytes)
    const replies = await Effect.runPromise(session.round(echo, new Map([[slow.address, { blob }], [lossy.address, { blob }]]), { minReplies: 2, timeoutMs: 30_000 }))

    expect(replies.get(slow.address)).toEqual({ length: payloadBytes })
    expect(replies.get(lossy.address)).toEqual({ length: payloadBytes })
    // Merely slow: acknowledged within the wait its size earns, so never sent again.
    expect(sent.get(slow.address)).toBe(1)
    expect(received.get(slow.address)).toBe(1)
    // Lost: no acknowledgement within that wait, so sent again, and answered from the second copy.
    expect(sent.get(lossy.address)).toBe(2)
    expect(received.get(lossy.address)).toBe(2)
  }, 40_000)
})
