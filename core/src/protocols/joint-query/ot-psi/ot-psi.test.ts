/**
 * The OT-based PSI engine end to end in one process (memory links, WebCrypto AES): every output checked against
 * the plaintext intersection — random sets with planted intersections of many shapes, the bcw and wdbc id files,
 * partitions, a stash, long and non-ASCII ids, duplicates — then the refusals: tampered, reordered, oversized and
 * mismatched messages each end in a typed error. Node's AES and byte-identical transcripts:
 * backends/src/node/OpenSslAes.test.ts.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { datasetFile } from "../../../testing/Datasets.ts"
import { readFileSync } from "node:fs"
import * as Aes from "./Aes.ts"
import * as Link from "./Link.ts"
import * as Messages from "./Messages.ts"
import * as Spec from "./spec.ts"
import { pick, plainIntersection, run, type RunOptions } from "./TestSupport.ts"

const portable = { receiverLayer: Aes.portableLayer } satisfies RunOptions

/** `size` distinct ids with the given prefix, a few long and non-ASCII ones among them. */
const ids = (prefix: string, size: number) =>
  Array.from({ length: size }, (_, i) => (i % 97 === 5 ? `${prefix}-long-identifier-of-a-customer-${i}-ümlaut-日本` : `${prefix}-${i}`))

/** Receiver and sender sets sharing `shared` ids, shuffled so the shared ones sit anywhere. */
const planted = (receiverSize: number, senderSize: number, shared: number) => {
  const common = ids("both", shared)
  const shuffle = (list: Array<string>) => {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[list[i], list[j]] = [list[j]!, list[i]!]
    }
    return list
  }
  return {
    receiver: shuffle([...common, ...ids("r", receiverSize - shared)]),
    sender: shuffle([...common, ...ids("s", senderSize - shared)])
  }
}

const check = async (receiverIds: ReadonlyArray<string>, senderIds: ReadonlyArray<string>, options: Partial<RunOptions> = {}) => {
  const result = await Effect.runPromise(run(receiverIds, senderIds, { ...portable, revealToSender: true, ...options }))
  const expected = plainIntersection(receiverIds, senderIds)
  const receiverSide = pick(receiverIds, result.receiver.indices)
  const senderSide = pick(senderIds, result.sender.indices)
  expect([...receiverSide].sort()).toEqual(expected)
  // Both parties list the intersection in the same order.
  expect(senderSide).toEqual(receiverSide)
  return result
}

describe("OT-based PSI engine (KKRT), portable AES", () => {
  it.each([
    ["both empty", 0, 0, 0],
    ["empty receiver", 0, 40, 0],
    ["empty sender", 40, 0, 0],
    ["singletons, shared", 1, 1, 1],
    ["singletons, not shared", 1, 1, 0],
    ["all shared", 700, 700, 700],
    ["nothing shared", 600, 500, 0],
    ["receiver much smaller", 30, 4000, 17],
    ["sender much smaller", 4000, 30, 17],
    ["half shared", 3000, 2500, 1200]
  ])("%s (%i × %i, %i shared)", async (_, receiverSize, senderSize, shared) => {
    const sets = planted(receiverSize, senderSize, shared)
    const { receiver, sender } = await check(sets.receiver, sets.sender)
    expect(receiver.stats.peerElements).toBe(senderSize)
    expect(sender.stats.peerElements).toBe(receiverSize)
    expect(receiver.stats.bytesSent).toBe(sender.stats.bytesReceived)
    expect(sender.stats.bytesSent).toBe(receiver.stats.bytesReceived)
  })

  it.each([["bcw", 413], ["wdbc", 342]] as const)("finds the %s ids two vertical parties share (plaintext reference from the CSV files)", async (dataset, sharedByAll) => {
    const column = (name: string) => readFileSync(datasetFile(name), "utf8").trim().split("\n").slice(1).map((line) => line.split(",")[0]!)
    const [a, b, c] = ["a", "b", "c"].map((p) => column(`${dataset}_vertical_party_${p}_psi.csv`))
    for (const [x, y] of [[a!, b!], [b!, c!], [c!, a!]] as const) {
      const { receiver } = await check(x, y)
      expect(receiver.indices.length).toBe(plainIntersection(x, y).length)
      expect(receiver.indices.length).toBeGreaterThanOrEqual(sharedByAll)
    }
    expect(plainIntersection(plainIntersection(a!, b!), c!).length).toBe(sharedByAll)
  })

  it("keeps only the intersection to the receiver unless revealToSender", async () => {
    const sets = planted(300, 200, 50)
    const result = await Effect.runPromise(run(sets.receiver, sets.sender, portable))
    expect(pick(sets.receiver, result.receiver.indices).sort()).toEqual(plainIntersection(sets.receiver, sets.sender))
    expect(result.sender.indices.length).toBe(0)
  })

  it("drops duplicate ids on both sides before announcing a count", async () => {
    const receiverIds = ["a", "b", "a", "c", "b", "d"]
    const senderIds = ["d", "d", "b", "x"]
    const { receiver, sender } = await check(receiverIds, senderIds)
    expect(receiver.stats).toMatchObject({ elements: 4, duplicates: 2, peerElements: 3 })
    expect(sender.stats).toMatchObject({ elements: 3, duplicates: 1, peerElements: 4 })
    expect(pick(receiverIds, receiver.indices).sort()).toEqual(["b", "d"])
  })

  it("runs partition by partition and with stash slots", async () => {
    const sets = planted(5000, 3500, 1500)
    const partitioned = await check(sets.receiver, sets.sender, { partitionElements: 1024 })
    expect(partitioned.receiver.stats.partitions).toBe(5)
    const stashed = await check(sets.receiver, sets.sender, { stash: 3 })
    expect(stashed.sender.stats.bytesSent).toBeGreaterThan(partitioned.sender.stats.bytesSent)
  })

  it("never sends a message over the link's limit, and reports every byte it sent", async () => {
    const sets = planted(6000, 6000, 100)
    const maxMessageBytes = Spec.MIN_MESSAGE_BYTES
    const { receiver, sender, transcripts } = await check(sets.receiver, sets.sender, { maxMessageBytes })
    for (const m of [...transcripts.receiver, ...transcripts.sender]) expect(m.length).toBeLessThanOrEqual(maxMessageBytes)
    expect(receiver.stats.bytesSent).toBe(transcripts.receiver.reduce((sum, m) => sum + m.length, 0))
    expect(sender.stats.bytesSent).toBe(transcripts.sender.reduce((sum, m) => sum + m.length, 0))
    // The receiver's bulk is the OT matrix: 64 bytes per row.
    expect(receiver.stats.bytesSent).toBeGreaterThan(receiver.stats.rows * Spec.CODE_BYTES)
    expect(receiver.stats.bytesSent).toBeLessThan(receiver.stats.rows * Spec.CODE_BYTES + 64 * 1024)
    // The sender's bulk is 3 values of ℓ bytes per element.
    expect(sender.stats.bytesSent).toBeGreaterThan(3 * 6000 * sender.stats.valueBytes)
  })
})

describe("OT-based PSI engine refusals", () => {
  /** Applies `edit` to the n-th message (0-based) the given role sends. */
  const tamper = (role: "receiver" | "sender", n: number, edit: (message: Uint8Array) => Uint8Array): RunOptions["wrap"] => ([r, s]) => {
    const wrap = (link: Link.Link): Link.Link => {
      let count = 0
      return { ...link, send: (message) => link.send(count++ === n ? edit(message) : message) }
    }
    return role === "receiver" ? [wrap(r), s] : [r, wrap(s)]
  }

  const failure = async (options: Partial<RunOptions>, receiverIds = ids("r", 500), senderIds = ids("r", 400)) => {
    const exit = await Effect.runPromise(Effect.result(run(receiverIds, senderIds, { ...portable, ...options })))
    expect(exit._tag).toBe("Failure")
    return (exit as { failure: { _tag: string; reason?: string; message: string } }).failure
  }

  it("refuses a peer announcing more elements than allowed, before any bulk work", async () => {
    const error = await failure({ maxPeerElements: 100 })
    expect(error).toMatchObject({ _tag: "OtPsiError", reason: "PeerTooLarge" })
  })

  it("refuses a peer of another version or with another reveal setting", async () => {
    const version = await failure({ wrap: tamper("receiver", 0, (m) => (m[1] = 9, m)) })
    expect(version).toMatchObject({ reason: "VersionMismatch" })
    const reveal = await failure({ wrap: tamper("sender", 0, (m) => (m[2] = 1, m)) })
    expect(reveal).toMatchObject({ reason: "ParameterMismatch" })
  })

  it("refuses a base-OT point that is not a ristretto255 element", async () => {
    const at = 1 + 4 + 4 + 4 + Messages.SEED_BYTES
    const error = await failure({ wrap: tamper("receiver", 0, (m) => (m.fill(0xff, at, at + 32), m)) })
    expect(error).toMatchObject({ reason: "InvalidPoint" })
  })

  it("refuses truncated, misplaced and unexpected messages with the message named", async () => {
    const truncated = await failure({ wrap: tamper("sender", 0, (m) => m.subarray(0, 100)) })
    expect(truncated).toMatchObject({ reason: "MalformedMessage" })
    expect(truncated.message).toContain("senderHello")
    // The receiver's third message is the first matrix chunk; claim it starts at row 128.
    const misplaced = await failure({ wrap: tamper("receiver", 2, (m) => (new DataView(m.buffer, m.byteOffset).setUint32(8, 128), m)) })
    expect(misplaced).toMatchObject({ reason: "UnexpectedMessage" })
    const wrongType = await failure({ wrap: tamper("receiver", 2, (m) => (m[0] = Messages.Type.values, m)) })
    expect(wrongType).toMatchObject({ reason: "UnexpectedMessage" })
    const sizes = await failure({ wrap: tamper("sender", 1, (m) => (new DataView(m.buffer, m.byteOffset).setUint32(5, 7), m)) })
    expect(sizes).toMatchObject({ reason: "MalformedMessage" })
  })

  it("refuses options it cannot honour", async () => {
    expect(await failure({ partitionElements: 5 })).toMatchObject({ reason: "BadOptions" })
    expect(await failure({ stash: 99 })).toMatchObject({ reason: "BadOptions" })
    expect(await failure({ maxMessageBytes: 4096 })).toMatchObject({ reason: "BadOptions" })
  })
})
