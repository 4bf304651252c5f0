/**
 * The participants' socket under abuse, with real parts only: anvil, the coordinator serving HTTPS/WSS on a real
 * port with a certificate from a CA this test makes, two well-behaved participants (Agent, trusting that CA)
 * and misbehaving clients — raw WebSockets speaking engine.io by hand and an admitted socket.io client — that
 * connect from other loopback addresses (127.0.0.x), as separate hosts would. Each limit is tripped, counted,
 * and the well-behaved participants stay connected and still compute a statistics task exactly.
 */
import { randomBytes } from "node:crypto"
import { mkdir, mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import type { WireError } from "@jointly/core/internal/wire/Messages"
import { maxAttachments, maxMessageBytes } from "@jointly/core/internal/wire/Messages"
import * as Agent from "@jointly/participant/internal/Agent"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import { type Anvil, startAnvil } from "../chain/Anvil.ts"
import * as Client from "../client/Client.ts"
import * as Coordinator from "../Coordinator.ts"
import * as Consortium from "../local/Consortium.ts"
import * as F from "../testing/fixtures.ts"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as SocketLimits from "./SocketLimits.ts"

const limits: SocketLimits.SocketLimits = {
  handshakeTimeoutMs: 1_500,
  connectionsPerAddress: { limit: 6, windowMs: 60_000 },
  // Long windows: a bucket barely refills during the test, so the counts below are exact.
  eventsPerAccount: { limit: 40, windowMs: 600_000 },
  eventsPerAddress: { limit: 60, windowMs: 600_000 },
  disconnectAfter: 50
}
const names = SocketLimits.counterNames
const columns: DatasetSpec["columns"] = [
  { name: "pregnant", type: "integer" }, { name: "glucose", type: "number" }, { name: "pressure", type: "number" }, { name: "triceps", type: "number" },
  { name: "insulin", type: "number" }, { name: "mass", type: "number" }, { name: "pedigree", type: "number" }, { name: "age", type: "integer" },
  { name: "label", type: "integer" }
]

let dir: string
let anvil: Anvil
let ca: TestCa.TestCa
let coordinator: Coordinator.Internals
let closeChain: () => Promise<void>
let honest: Array<Agent.Agent>
const honestDrops: Array<string> = []
let analyst: Wallet
let rogues: Array<Wallet>
let binarySender: Wallet
let full: F.Csv
const wss = () => coordinator.url.replace(/^https/, "wss") + "/socket.io/?EIO=4&transport=websocket"
const freshWallet = () => new Wallet(Wallet.createRandom().privateKey)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-limits-"))
  ca = TestCa.make(dir)
  const server = ca.issue("coordinator", ["localhost", "127.0.0.1"])
  anvil = await startAnvil({})
  const supervisor = freshWallet()
  const account = freshWallet()
  analyst = freshWallet()
  rogues = [freshWallet(), freshWallet()]
  binarySender = freshWallet()
  const chain = await Consortium.connect(anvil.rpcUrl, { embedded: true })
  const { deployment, supervisorLedger } = await Consortium.deploy(dir, chain, supervisor, account, true)
  const members = [analyst, freshWallet(), freshWallet(), ...rogues, binarySender]
  for (const [i, wallet] of members.entries()) {
    await Consortium.admit(deployment, supervisor, supervisorLedger, { name: `org ${i} ${randomBytes(3).toString("hex")}`, wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }, true)
  }
  await supervisorLedger.close()
  const ledger = await Consortium.ledgerFor(chain, account, deployment)
  const governance = await Consortium.governanceFor(chain, account, deployment)
  closeChain = async () => {
    await governance?.close()
    await ledger.close()
    await chain.close()
  }
  coordinator = await Coordinator.start({ store: join(dir, "db"), ledger, governance, tls: server, socketLimits: limits })
  expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)

  full = F.pima()
  await mkdir(join(dir, "csv"))
  const files = await Promise.all(F.splitRoundRobin(full, 2).map((part, i) => F.writeCsv(join(dir, "csv"), `pima-${i}.csv`, part)))
  honest = await Promise.all(members.slice(1, 3).map((wallet, i) =>
    Agent.start({
      coordinatorUrl: coordinator.url,
      trust: { ca: ca.cert },
      wallet,
      datasets: [{ name: "pima", file: files[i]!, columns }],
      policy: () => ({ decision: "approve", reason: "test" })
    })))
  for (const agent of honest) agent.on((event) => void (event.type === "disconnected" && honestDrops.push(`${agent.address}: ${event.reason}`)))
  await Promise.all(honest.map((a) => a.connected))
  // Anvil, five admissions on chain, a TLS coordinator and two agents: under a minute on a quiet machine, and seen
  // to take two (the coordinator's start alone 45 s) on a loaded 2-core one.
}, 300_000)

afterAll(async () => {
  for (const agent of honest ?? []) await agent.close()
  await coordinator?.close()
  await closeChain?.()
  await anvil?.stop()
  if (dir) await removeDir(dir)
})

/** A raw engine.io connection over WSS from `localAddress`: what a hostile client, not our client, would send. */
const raw = (localAddress: string) => {
  const socket = new WebSocket(wss(), { ca: ca.cert, localAddress })
  const received: Array<string> = []
  socket.on("message", (data) => received.push(String(data)))
  const opened = new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve())
    socket.once("error", reject)
  })
  const closed = new Promise<{ code: number; at: number }>((resolve) => socket.once("close", (code) => resolve({ code, at: Date.now() })))
  socket.on("error", () => {})
  return { socket, received, opened, closed }
}

const stillServing = () => {
  expect(honest.every((a) => a.isConnected()), "the well-behaved participants stay connected").toBe(true)
  expect(honestDrops).toEqual([])
}

describe("namespaces", () => {
  it("refuses / and unknown namespaces and closes the connection at once", async () => {
    for (const [packet, nsp] of [["40", "/"], ["40/admin,", "/admin"]] as const) {
      const before = coordinator.rejections.get(names.namespaceRefused)
      const client = raw("127.0.0.2")
      await client.opened
      const sent = Date.now()
      client.socket.send(packet)
      const { at } = await client.closed
      // Closed right after the refusal, well before the handshake deadline would have closed it.
      expect(at - sent).toBeLessThan(limits.handshakeTimeoutMs / 2)
      expect(client.received.some((m) => m.startsWith(`44${nsp === "/" ? "" : `${nsp},`}`) && m.includes("NotAuthorized")), client.received.join("\n")).toBe(true)
      expect(coordinator.rejections.get(names.namespaceRefused)).toBe(before + 1)
    }
    stillServing()
  })
})

describe("handshake deadline", () => {
  it("closes a connection that never authenticates once the deadline passes", async () => {
    const before = coordinator.rejections.get(names.handshakeTimeout)
    const client = raw("127.0.0.7")
    await client.opened
    const opened = Date.now()
    const { at } = await client.closed
    expect(at - opened).toBeGreaterThanOrEqual(limits.handshakeTimeoutMs - 100)
    expect(at - opened).toBeLessThan(limits.handshakeTimeoutMs + 2_000)
    expect(coordinator.rejections.get(names.handshakeTimeout)).toBe(before + 1)
    stillServing()
  })
})

/**
 * Sends a message over a fresh raw connection (never authenticated) and waits for the close the server counts under
 * `counter`. The handshake deadline races the message: on a machine loaded enough that the deadline closes the
 * connection before the server read it (a megabyte over TLS, client and server in this one busy process), that
 * attempt proves nothing and is made again (each attempt's outcome is read from the server's counts, which tell the
 * two closes apart). Every attempt comes from an address of its own, so the tries spend no address's connection
 * budget. The close code of the attempt that counted.
 */
let probes = 0
const refusedAs = async (counter: string, send: (socket: WebSocket) => void): Promise<number> => {
  for (let attempt = 1; ; attempt++) {
    const before = { refused: coordinator.rejections.get(counter), deadline: coordinator.rejections.get(names.handshakeTimeout) }
    const client = raw(`127.0.1.${++probes}`)
    await client.opened
    send(client.socket)
    const { code } = await client.closed
    const outcome = await F.eventually(() => {
      if (coordinator.rejections.get(counter) === before.refused + 1) return "refused"
      if (coordinator.rejections.get(names.handshakeTimeout) > before.deadline) return "deadline"
      return undefined
    }, `the close counted as ${counter}`)
    if (outcome === "refused") return code
    if (attempt === 8) throw new Error("eight attempts closed by the handshake deadline before the message was read")
  }
}

/** A binary stage reply's JSON (engine.io message packet "4", socket.io BINARY_EVENT "5"): `parts` placeholders. */
const binaryReply = (parts: number) =>
  `45${parts}-/participants,${JSON.stringify(["stage.reply", { requestId: "r", taskId: "0x" + "00".repeat(32), stage: "query.ot", outcome: { ok: true, payload: { outbound: Array.from({ length: parts }, (_, num) => ({ _placeholder: true, num })), done: false } } }])}`

describe("frame caps", () => {
  it("closes a connection that sends a frame over the message limit (the transport's limit is the application's)", async () => {
    const code = await refusedAs(names.tooLarge, (socket) => socket.send("4" + "x".repeat(maxMessageBytes)))
    // ws answers 1009 (message too big) and drops the socket; a loaded machine may see the drop before the frame.
    expect([1009, 1005, 1006]).toContain(code)
    stillServing()
  })

  it("closes a connection whose message announces more binary attachments than the wire allows", async () => {
    await refusedAs(names.malformedFrame, (socket) => socket.send(binaryReply(maxAttachments + 1)))
    stillServing()
  })

  it("closes a connection whose attachments together pass the message limit, each frame under it", async () => {
    const half = new Uint8Array(maxMessageBytes / 2 + 1)
    await refusedAs(names.tooLarge, (socket) => {
      socket.send(binaryReply(2))
      socket.send(half)
      socket.send(half)
    })
    stillServing()
  })

  it("hands a message of as many binary attachments as the wire allows to the handlers, as bytes", async () => {
    const sender = await admitted(binarySender, "127.0.0.9")
    const requestId = "binary-reply"
    const boxes = Array.from({ length: maxAttachments }, (_, i) => new Uint8Array(1024).fill(i))
    sender.socket.emit("stage.reply", { requestId, taskId: "0x" + "ab".repeat(32), stage: "query.ot", outcome: { ok: true, payload: { outbound: boxes, done: false } } })
    // Decoded and refused by the round engine (no such task): an answer, not a closed connection.
    const refusal = await F.eventually(() => sender.errors.find((e) => e.ref === requestId), "the reply answered")
    expect(refusal.code).toBe("UnknownTask")
    expect(sender.socket.connected).toBe(true)
    sender.socket.close()
    stillServing()
  })
})

describe("connections per address", () => {
  it("refuses new connections from an address over its rate, and no one else", async () => {
    const before = coordinator.rejections.get(names.connectionRefused)
    const clients = Array.from({ length: limits.connectionsPerAddress.limit + 1 }, () => raw("127.0.0.5"))
    const outcomes = await Promise.all(clients.map((c) => c.opened.then(() => "open", (e: Error) => e.message)))
    expect(outcomes.filter((o) => o === "open")).toHaveLength(limits.connectionsPerAddress.limit)
    expect(outcomes.find((o) => o !== "open")).toMatch(/Unexpected server response: 40\d/)
    expect(coordinator.rejections.get(names.connectionRefused)).toBe(before + 1)
    for (const c of clients) c.socket.terminate()
    // Another address is not affected.
    const other = raw("127.0.0.6")
    await other.opened
    other.socket.terminate()
    stillServing()
  })
})

/** An admitted organisation's own socket.io client from `localAddress`, signed in as a participant would. */
const admitted = async (wallet: Wallet, localAddress: string) => {
  const endpoint = Endpoint.make(coordinator.url, { ca: ca.cert })
  const challenge = (await (await endpoint.fetch(`${endpoint.url}/api/auth/nonce`)).json()) as { nonce: string; coordinator: string; chainId: string; ledger: string }
  const issuedAt = Math.floor(Date.now() / 1000)
  const signature = await Eip712.signLogin(wallet, Eip712.domain(BigInt(challenge.chainId), challenge.ledger), {
    account: wallet.address, nonce: challenge.nonce, coordinator: challenge.coordinator, issuedAt: BigInt(issuedAt)
  })
  await endpoint.close()
  const socket: ClientSocket = ioClient(`${coordinator.url}/participants`, {
    transports: ["websocket"],
    reconnection: false,
    ca: ca.cert,
    ...({ localAddress } as object),
    auth: { account: wallet.address, nonce: challenge.nonce, issuedAt, signature }
  })
  const errors: Array<WireError> = []
  socket.on("wire.error", (e: WireError) => errors.push(e))
  const disconnected = new Promise<string>((resolve) => socket.once("disconnect", (reason) => resolve(reason)))
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve())
    socket.once("connect_error", reject)
  })
  return { socket, errors, disconnected }
}

describe("events per account and per address", () => {
  it("answers a flood with RateLimited, drops the flooding socket, and the others finish a task exactly", async () => {
    const before = { account: coordinator.rejections.get(names.eventAccount), dropped: coordinator.rejections.get(names.dropped) }
    const rogue = await admitted(rogues[0]!, "127.0.0.3")
    const burst = limits.eventsPerAccount.limit + limits.disconnectAfter + 10
    for (let i = 0; i < burst; i++) rogue.socket.emit("task.hijack", { i })
    expect(await rogue.disconnected).toBe("io server disconnect")
    // The first events within budget reach the handlers (an unknown event is answered UnknownStage)...
    expect(rogue.errors.filter((e) => e.code === "UnknownStage").length).toBe(limits.eventsPerAccount.limit)
    // ...the rest are dropped, answered with at most a RateLimited notice a second and a last one on the way out.
    const limited = rogue.errors.filter((e) => e.code === "RateLimited")
    expect(limited.length).toBeGreaterThanOrEqual(2)
    expect(limited.length).toBeLessThanOrEqual(4)
    expect(limited.at(-1)!.message).toContain("disconnected")
    expect(coordinator.rejections.get(names.eventAccount) - before.account).toBe(limits.disconnectAfter)
    expect(coordinator.rejections.get(names.dropped)).toBe(before.dropped + 1)

    // Two accounts behind one address: each within its own budget, together over the address's.
    const beforeAddress = coordinator.rejections.get(names.eventAddress)
    const a = await admitted(rogues[1]!, "127.0.0.4")
    const b = await admitted(analyst, "127.0.0.4")
    for (let i = 0; i < limits.eventsPerAccount.limit; i++) {
      a.socket.emit("task.hijack", { i })
      b.socket.emit("task.hijack", { i })
    }
    await F.eventually(() => [...a.errors, ...b.errors].some((e) => e.code === "RateLimited" && e.message.includes("address")), "an address RateLimited notice")
    expect(coordinator.rejections.get(names.eventAddress) - beforeAddress).toBe(2 * limits.eventsPerAccount.limit - limits.eventsPerAddress.limit)
    a.socket.close()
    b.socket.close()

    stillServing()
    const params: Params = { columns: ["glucose", "age"], statistics: ["count", "mean", "variance"] }
    const client = Client.make({ url: coordinator.url, trust: { ca: ca.cert }, initiator: analyst })
    const { taskId } = await client.submit({ kind: "statistics.horizontal", name: "after the flood", parties: honest.map((h) => ({ participant: h.address, dataset: "pima" })) as never, params })
    const detail = await client.watch(taskId, { timeoutMs: 60_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.result).toEqual(F.exactReference([full], params, (detail.result as Result).contributors))
    expect(coordinator.rejections.snapshot().counts).toMatchObject({ [names.dropped]: 1 })
  })
})
