/**
 * A task's checkpoint chain over two embedded Helia nodes on loopback: the coordinator's node puts each sealed
 * checkpoint and its link, releases superseded bodies once a later checkpoint is saved, and a verifier's node
 * walks the links by CID from the one hash the chain anchors. A dropped, swapped or re-rooted checkpoint, and an
 * anchor of another head, are refused.
 */
import { Clock, Effect, Exit, Scope } from "effect"
import { hexlify } from "ethers"
import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sha256 } from "multiformats/hashes/sha2"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ArtifactBlocksShape, BlockStoreFailed } from "@jointly/core/internal/artifacts/Blocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as CertificateFile from "@jointly/core/internal/artifacts/CertificateFile"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as CheckpointChain from "./CheckpointChain.ts"
import * as dagJson from "@ipld/dag-json"
import * as SealedArtifacts from "./SealedArtifacts.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const taskId = "0x" + "ab".repeat(32)

describe("CheckpointChain: every checkpoint anchored by one hash, superseded ones released", () => {
  let scope: Scope.Closeable
  let coordinator: ArtifactBlocksShape
  let verifier: ArtifactBlocksShape
  let party: ArtifactBlocksShape
  const reader = Ecies.generateKeyPair()
  const events: Array<CheckpointChain.Sealed> = []
  let chain: CheckpointChain.CheckpointChain

  // The coordinator's node keeps its store on disk, as a deployed one does (its garbage collection takes the store lock).
  const directory = mkdtempSync(join(tmpdir(), "jointly-checkpoints-"))

  beforeAll(async () => {
    scope = await run(Scope.make())
    const started = await run(Scope.provide(HeliaBlocks.make({ directory }), scope))
    coordinator = started.blocks
    verifier = (await run(Scope.provide(HeliaBlocks.make({ peers: [started.node.addresses[0]!], defaultTimeoutMs: 10_000 }), scope))).blocks
    party = (await run(Scope.provide(HeliaBlocks.make({ peers: [started.node.addresses[0]!], defaultTimeoutMs: 10_000 }), scope))).blocks
    // Collections at every release here; the interval has its own case below.
    chain = CheckpointChain.make({ blocks: coordinator, keep: 2, gcMinIntervalMs: 0 })
    // Five rounds, the last two in a second attempt: each saved as the scheduler does, then superseded ones released.
    for (let round = 1; round <= 5; round++) {
      const sealed = Envelope.seal(new TextEncoder().encode(JSON.stringify({ round, weights: [round, round * 2] })), [reader.publicKey], `task/${taskId}/checkpoint`)
      const cid = await run(coordinator.put(sealed))
      const root = hexlify((await sha256.digest(sealed)).digest)
      const attempt = round <= 3 ? 0 : 1
      const link = await run(chain.link(taskId, events, { key: "fl", attempt, cid, root }))
      events.push({ key: "fl", attempt, cid, root, link: link.cid })
      await run(chain.release(events))
    }
  }, 60_000)

  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
    await removeDir(directory)
  })

  /** The verifier's node as a block source: a block it cannot fetch is missing. */
  const get = (cid: string) => Effect.map(Effect.result(verifier.get(cid)), (got) => (got._tag === "Success" ? got.success : undefined))

  it("a verifier walks every checkpoint's CID and hash from the anchor of the last link", async () => {
    const anchor = await run(chain.anchorOf(events.at(-1)!.link!))
    const checks = await run(CheckpointChain.verify({ taskId, events, anchor, get }))
    expect(checks.every((c) => c.ok), JSON.stringify(checks, null, 2)).toBe(true)
    expect(checks.map((c) => c.name.replace(/^checkpoint chain \S+: /, ""))).toEqual(["the chain holds its hash", "links every checkpoint"])
    expect(checks.at(-1)!.detail).toMatch(/^5 checkpoint\(s\)/)
  }, 60_000)

  it("the coordinator's node keeps the newest two bodies and every link, and released the rest", async () => {
    const pinned = await Promise.all(events.map((e) => run(coordinator.pinned(e.cid))))
    expect(pinned).toEqual([false, false, false, true, true])
    for (const e of events) expect(await run(coordinator.pinned(e.link!))).toBe(true)
  })

  it("a party that pins the head link (TaskEnded's checkpoint-chain) keeps every link, and no superseded body", async () => {
    await run(party.pin(events.at(-1)!.link!))
    for (const e of events) expect(await run(party.has(e.link!))).toBe(true)
    for (const e of events) expect(await run(party.has(e.cid))).toBe(false)
  }, 60_000)

  it("refuses a dropped checkpoint, a swapped body, a changed hash and the anchor of another head", async () => {
    const anchor = await run(chain.anchorOf(events.at(-1)!.link!))
    const failed = async (list: ReadonlyArray<CheckpointChain.Sealed>, on: string | undefined = anchor) =>
      (await run(CheckpointChain.verify({ taskId, events: list, anchor: on, get }))).filter((c) => !c.ok).map((c) => c.detail)
    // The store loses the second checkpoint's event: the chain reaches a link the task does not name.
    expect(await failed([events[0]!, ...events.slice(2)])).toHaveLength(1)
    // The store names another block (and hash) for checkpoint 2 under its genuine link.
    expect((await failed(events.map((e, i) => (i === 2 ? { ...e, cid: events[1]!.cid, root: events[1]!.root } : e))))[0]).toMatch(/names checkpoint 2/)
    expect((await failed(events.map((e, i) => (i === 4 ? { ...e, root: "0x" + "00".repeat(32) } : e))))[0]).toMatch(/names checkpoint 4/)
    // The chain anchored an earlier head: a checkpoint added after the commitment does not verify.
    const earlier = await run(chain.anchorOf(events[3]!.link!))
    expect((await failed(events, earlier))[0]).toMatch(/^anchor /)
    // A task with no anchor on chain.
    const unanchored = await run(CheckpointChain.verify({ taskId, events, anchor: undefined, get }))
    expect(unanchored.filter((c) => !c.ok).map((c) => c.detail)).toEqual(["no ipfs:checkpoint commitment on chain"])
  }, 60_000)

  it("a tampered or re-linked middle link stops the walk there, named with its place (typed CheckpointLinkBroken); the checks report it", async () => {
    const middle = events[2]!
    const walkWith = (list: ReadonlyArray<CheckpointChain.Sealed>, serve: (cid: string) => Effect.Effect<Uint8Array | undefined>) =>
      run(Effect.flip(CheckpointChain.walk({ taskId, events: list, get: serve })))
    // A node serves other bytes for the middle link: the same fields with another ciphertext hash.
    const original = dagJson.decode<Record<string, unknown>>((await run(get(middle.link!)))!)
    const forged = dagJson.encode({ ...original, root: "0x" + "00".repeat(32) })
    const tampered = await walkWith(events, (cid) => (cid === middle.link ? Effect.succeed(forged) : get(cid)))
    expect(tampered).toMatchObject({ _tag: "CheckpointLinkBroken", index: 2, link: middle.link, reason: "Tampered" })
    // The store re-links checkpoint 2 to another body (a well-formed new link on the node, its event rewritten): the
    // later link still names the genuine one, so the walk stops at checkpoint 2.
    const other = { key: middle.key, attempt: middle.attempt, cid: events[0]!.cid, root: events[0]!.root }
    const relinked = await run(chain.link(taskId, events.slice(0, 2), other))
    const rewritten = events.map((e, i) => (i === 2 ? { ...other, link: relinked.cid } : e))
    expect(await walkWith(rewritten, get)).toMatchObject({ index: 2, link: middle.link, reason: "Unlinked", detail: expect.stringContaining(relinked.cid) })
    // verify's checks: one failure, naming link 2.
    const anchor = await run(chain.anchorOf(events.at(-1)!.link!))
    const failed = (await run(CheckpointChain.verify({ taskId, events, anchor, get: (cid) => (cid === middle.link ? Effect.succeed(forged) : get(cid)) }))).filter((c) => !c.ok)
    expect(failed.map((c) => [c.name.replace(/^checkpoint chain \S+: /, ""), c.detail.split(":")[0]])).toEqual([["link 2", "Tampered"]])
    // Untouched, the whole chain walks: every link, first to last.
    expect((await run(CheckpointChain.walk({ taskId, events, get }))).links.map((l) => l.seq)).toEqual([0, 1, 2, 3, 4])
  }, 60_000)

  it("garbage collection deletes the released bodies from the store; kept bodies, links, a model and a certificate stay and verify", async () => {
    // What else the coordinator's node keeps: a task's model sealed to its parties, an operator's certified document.
    const model = { layers: [[0.25, -1.5]], round: 5 }
    const sealedModel = await Effect.runPromise(SealedArtifacts.make({ blocks: coordinator, keyOf: async () => hexlify(reader.publicKey) }).publish(taskId, "model", new TextEncoder().encode(JSON.stringify(model)), ["0x" + "11".repeat(20)]))
    const document = new TextEncoder().encode("purchase order 42: 1,000 units")
    const salt = randomBytes(32)
    const docHash = CertificateFile.docHashOf(salt, document)
    const certificate = await run(CertificateFile.put({ blocks: coordinator, document, docHash, name: "order.txt", readers: [reader.publicKey] }))
    const released = events.slice(0, 3)
    for (const e of released) expect(await run(coordinator.has(e.cid))).toBe(true)

    const deleted = await run(chain.collect())
    expect(deleted).toBeGreaterThanOrEqual(released.length)
    for (const e of released) expect(await run(coordinator.has(e.cid))).toBe(false)
    for (const e of events.slice(3)) expect(await run(coordinator.has(e.cid))).toBe(true)
    for (const e of events) expect(await run(coordinator.has(e.link!))).toBe(true)

    // Fetched by another node and checked: the chain walks, the kept checkpoint, the model and the document open.
    const anchor = await run(chain.anchorOf(events.at(-1)!.link!))
    expect((await run(CheckpointChain.verify({ taskId, events, anchor, get }))).every((c) => c.ok)).toBe(true)
    const last = JSON.parse(new TextDecoder().decode(Envelope.open(await run(verifier.get(events.at(-1)!.cid)), reader.secretKey, `task/${taskId}/checkpoint`)))
    expect(last).toEqual({ round: 5, weights: [5, 10] })
    expect(JSON.parse(new TextDecoder().decode(Envelope.open(await run(verifier.get(sealedModel.published!.cid)), reader.secretKey, SealedArtifacts.labelOf(taskId, "model"))))).toEqual(model)
    const fetched = await run(CertificateFile.fetchDocument({ blocks: verifier, cid: certificate.cid, meta: certificate.meta, salt, onChain: { docHash, metaHash: CertificateFile.metaHashOf(certificate.meta) }, readerKey: reader.secretKey }))
    expect(new TextDecoder().decode(fetched!)).toBe("purchase order 42: 1,000 units")
    // A second collection finds nothing more to delete.
    expect(await run(chain.collect())).toBe(0)
  }, 60_000)

  it("collections are spaced by the minimum interval: a release within it leaves one owed, run once the interval has passed", async () => {
    // The node's clock as the chain reads it (Effect's Clock), moved by hand: no waiting, no race with a loaded machine.
    let now = 1_000_000
    const live = Effect.runSync(Clock.clockWith(Effect.succeed))
    const clock: Clock.Clock = { ...live, currentTimeMillisUnsafe: () => now, currentTimeMillis: Effect.sync(() => now) }
    const at = <A, E>(effect: Effect.Effect<A, E>) => run(Effect.provideService(effect, Clock.Clock, clock))
    const spaced = CheckpointChain.make({ blocks: coordinator, keep: 1, gcMinIntervalMs: 60_000 })
    const other = "0x" + "cd".repeat(32)
    const saved: Array<CheckpointChain.Sealed> = []
    const save = async (round: number) => {
      const sealed = Envelope.seal(new TextEncoder().encode(JSON.stringify({ round })), [reader.publicKey], `task/${other}/checkpoint`)
      const cid = await run(coordinator.put(sealed))
      const root = hexlify((await sha256.digest(sealed)).digest)
      saved.push({ key: "fl", attempt: 0, cid, root, link: (await run(spaced.link(other, saved, { key: "fl", attempt: 0, cid, root }))).cid })
      return (await run(spaced.release(saved))).released
    }
    await save(1)
    expect(await save(2)).toEqual([saved[0]!.cid])
    // The first collection runs at once (none before it) and deletes the released body.
    expect(await at(spaced.collect())).toBeGreaterThanOrEqual(1)
    expect(await run(coordinator.has(saved[0]!.cid))).toBe(false)
    // A second release a second later: unpinned, not collected, and owed.
    now += 1_000
    expect(await save(3)).toEqual([saved[1]!.cid])
    expect(await at(spaced.collect())).toBe(0)
    expect(spaced.isOwed()).toBe(true)
    expect(await run(coordinator.has(saved[1]!.cid))).toBe(true)
    // Half the interval on, the owed collection still waits.
    now += 29_000
    expect(await at(spaced.collectOwed())).toBe(0)
    expect(await run(coordinator.has(saved[1]!.cid))).toBe(true)
    // The interval has passed: the owed collection runs, once.
    now += 30_000
    expect(await at(spaced.collectOwed())).toBeGreaterThanOrEqual(1)
    expect(await run(coordinator.has(saved[1]!.cid))).toBe(false)
    expect(spaced.isOwed()).toBe(false)
    expect(await at(spaced.collectOwed())).toBe(0)
    // The kept body and every link stayed.
    expect(await run(coordinator.has(saved[2]!.cid))).toBe(true)
    for (const e of saved) expect(await run(coordinator.has(e.link!))).toBe(true)
  }, 60_000)

  it("a body whose unpin fails is reported and the others are released all the same", async () => {
    const other = "0x" + "ef".repeat(32)
    const saved: Array<CheckpointChain.Sealed> = []
    for (let round = 1; round <= 4; round++) {
      const sealed = Envelope.seal(new TextEncoder().encode(JSON.stringify({ round })), [reader.publicKey], `task/${other}/checkpoint`)
      saved.push({ key: "fl", attempt: 0, cid: await run(coordinator.put(sealed)), root: hexlify((await sha256.digest(sealed)).digest) })
    }
    // The first body's store refuses its unpin (as a store a crash left inconsistent would).
    const broken = saved[0]!.cid
    const blocks: ArtifactBlocksShape = { ...coordinator, unpin: (cid) => cid === broken ? Effect.fail(new BlockStoreFailed({ operation: "unpin", message: "refused" })) : coordinator.unpin(cid) }
    const { released, failures } = await run(CheckpointChain.make({ blocks, keep: 1, gcMinIntervalMs: 0 }).release(saved))
    expect(failures.map((f) => [f.cid, f.error._tag])).toEqual([[broken, "BlockStoreFailed"]])
    expect(released).toEqual([saved[1]!.cid, saved[2]!.cid])
    expect(await run(coordinator.pinned(saved[3]!.cid))).toBe(true)
  }, 60_000)
})
