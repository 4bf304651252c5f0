/**
 * The coordinator's artifacts on an embedded IPFS node, sealed to their readers, and `jointly verify`'s IPFS source:
 * an auditor's own node, connected only to the coordinator's over loopback, fetches each sealed copy by the CID the
 * task names; the verifier checks it against the CID and the ciphertext hash on chain, and a reader's key opens it
 * and checks the plaintext against the result digest.
 */
import { Cause, Effect, Exit, Layer, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hexlify } from "ethers"
import { sha256 } from "multiformats/hashes/sha2"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import { type ArtifactBlocksShape, BlockStoreFailed } from "@jointly/core/internal/artifacts/Blocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import { digest } from "@jointly/core/internal/wire/Canonical"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Verify from "../audit/Verify.ts"
import * as VerifySources from "../audit/VerifySources.ts"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as ArtifactStore from "./ArtifactStore.ts"
import * as SealedArtifacts from "./SealedArtifacts.ts"

const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0")
const taskId = hash(0xabc)

describe("artifacts on IPFS", () => {
  const dir = mkdtempSync(join(tmpdir(), "jointly-ipfs-artifacts-"))
  let scope: Scope.Closeable
  let sql: Sql.Sql
  let store: ArtifactStore.ArtifactStore
  let coordinatorBlocks: ArtifactBlocksShape
  let auditor: HeliaBlocks.HeliaNode & { blocks: Awaited<ReturnType<typeof start>>["blocks"] }
  const start = (options: HeliaBlocks.HeliaOptions) => Effect.runPromise(Scope.provide(HeliaBlocks.make(options), scope))

  beforeAll(async () => {
    scope = await Effect.runPromise(Scope.make())
    sql = await Sql.openPglite(join(dir, "store"))
    // The store's migrations make the artifacts table.
    await Effect.runPromise(TaskStore.make(sql))
    const coordinatorNode = await start({ directory: join(dir, "coordinator-ipfs") })
    coordinatorBlocks = coordinatorNode.blocks
    store = ArtifactStore.make(sql, coordinatorNode.blocks)
    const auditorNode = await start({ peers: [coordinatorNode.node.addresses[0]!] })
    auditor = { ...auditorNode.node, blocks: auditorNode.blocks }
  }, 60_000)

  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await sql?.close()
    await removeDir(dir)
  })

  const reader = Ecies.generateKeyPair()
  const readerAccount = "0x00000000000000000000000000000000000000b1"
  const keyless = "0x00000000000000000000000000000000000000b2"
  const keys = new Map([[readerAccount, hexlify(reader.publicKey)]])
  const sealedOf = () => SealedArtifacts.make({ blocks: coordinatorBlocks, keyOf: async (account) => keys.get(account.toLowerCase()) })

  /** The artifact checks of `verify` over the auditor's node, as the chain and the store would tell them. */
  const verifyArtifacts = async (o: { result: unknown; chainDigest: string; cid: string; sealedCid?: string; chainRoot?: string; readerKey?: Uint8Array }) => {
    const base = { eventId: hash(1), txHash: hash(2), blockNumber: 1n, logIndex: 0 }
    const history = [
      { _tag: "ResultRecorded", resultDigest: o.chainDigest, ...base },
      ...(o.chainRoot === undefined ? [] : [{ _tag: "PhaseCommitted", phase: SealedArtifacts.phaseOf("result"), root: o.chainRoot, ...base }])
    ] as unknown as ReadonlyArray<TaskHistoryEntry>
    const checks = await Effect.runPromise(Verify.verify({
      history,
      task: {
        id: taskId,
        spec: {},
        status: "Succeeded",
        result: o.result,
        resultDigest: o.chainDigest,
        events: [{ type: "ArtifactStored", data: { role: "result", cid: o.cid, digest: o.chainDigest, ...(o.sealedCid === undefined ? {} : { sealedCid: o.sealedCid }) } }],
        consents: []
      },
    }).pipe(
      // The plain row from the store (checked by the store, as the API serves it), the sealed copy from the auditor's own node.
      Effect.provide(Layer.mergeAll(
        VerifySources.coordinatorStores({ artifacts: store }),
        VerifySources.ipfsBlocks(auditor.blocks, { timeoutMs: 5_000, ...(o.readerKey === undefined ? {} : { readerKey: o.readerKey }) }),
        Layer.succeed(Verify.ChainSource, { domain: Eip712.domain(31337n, "0x0000000000000000000000000000000000000001") })
      ))
    ))
    return checks.filter((c) => c.name.startsWith("artifact"))
  }

  it("a result stays plain in the store, goes to IPFS sealed to its readers, and is verified by CID from the auditor's node", async () => {
    const result = { count: 768, mean: { glucose: 120.894 } }
    const cid = await Effect.runPromise(store.putJson(result, taskId))
    // The plain bytes never reach IPFS.
    expect(await Effect.runPromise(coordinatorBlocks.has(cid))).toBe(false)
    const outcome = await Effect.runPromise(sealedOf().publish(taskId, "result", ArtifactStore.jsonBytes(result), [readerAccount, keyless]))
    expect(outcome.missing).toEqual([{ account: keyless, reason: "no encryption key registered or published" }])
    const published = outcome.published!
    expect(published.readers).toEqual([readerAccount])
    // The root committed on chain is the ciphertext's sha2-256, the CID's own digest.
    expect(published.root).toBe(hexlify((await sha256.digest(await Effect.runPromise(coordinatorBlocks.get(published.cid)))).digest))

    const checks = await verifyArtifacts({ result, chainDigest: digest(result), cid, sealedCid: published.cid, chainRoot: published.root, readerKey: reader.secretKey })
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      [`artifact result sealed ${published.cid}: bytes match the CID`, true],
      [`artifact result sealed ${published.cid}: the chain holds its hash`, true],
      [`artifact result sealed ${published.cid}: opened, it: matches the chain digest`, true],
      [`artifact result ${cid}: bytes match the CID`, true],
      ["artifact result: matches the chain digest", true]
    ])
    // The auditor now holds the sealed block; nothing in it is the result in clear, and only the reader opens it.
    const block = await Effect.runPromise(auditor.blocks.get(published.cid))
    expect(Buffer.from(block).includes(Buffer.from("glucose"))).toBe(false)
    expect(() => Envelope.open(block, Ecies.generateKeyPair().secretKey)).toThrow(/NotAReader/)
    // A key that is not a reader's checks the ciphertext only, and says so.
    const outsider = await verifyArtifacts({ result, chainDigest: digest(result), cid, sealedCid: published.cid, chainRoot: published.root, readerKey: Ecies.generateKeyPair().secretKey })
    expect(outsider.find((c) => c.name.endsWith(": opened"))).toMatchObject({ ok: true, detail: expect.stringMatching(/not among its readers/) })
  }, 30_000)

  it("a node that does not take the block is SealedArtifactFailed put, a reader's key that does not parse SealedArtifactFailed seal; a key that does not resolve leaves its reader out", async () => {
    const bytes = ArtifactStore.jsonBytes({ count: 5 })
    const refusing = SealedArtifacts.make({
      blocks: { ...coordinatorBlocks, put: () => Effect.fail(new BlockStoreFailed({ operation: "put", message: "the blockstore's disk is full" })) },
      keyOf: async (account) => keys.get(account.toLowerCase())
    })
    const put = await Effect.runPromiseExit(refusing.publish(taskId, "result", bytes, [readerAccount]))
    expect(Exit.isFailure(put) && Cause.findErrorOption(put.cause)).toMatchObject({ _tag: "Some", value: { _tag: "SealedArtifactFailed", stage: "put", detail: expect.stringContaining("disk is full") } })
    const badKey = SealedArtifacts.make({ blocks: coordinatorBlocks, keyOf: async () => "0x02" + "zz".repeat(32) })
    const seal = await Effect.runPromiseExit(badKey.publish(taskId, "result", bytes, [readerAccount]))
    expect(Exit.isFailure(seal) && Cause.findErrorOption(seal.cause)).toMatchObject({ _tag: "Some", value: { _tag: "SealedArtifactFailed", stage: "seal" } })
    const unresolved = SealedArtifacts.make({ blocks: coordinatorBlocks, keyOf: async (account) => account === keyless ? Promise.reject(new Error("DID resolver timed out")) : keys.get(account) })
    const outcome = await Effect.runPromise(unresolved.publish(taskId, "result", bytes, [readerAccount, keyless]))
    expect(outcome.missing).toEqual([{ account: keyless, reason: "its encryption key did not resolve: DID resolver timed out" }])
    expect(outcome.published?.readers).toEqual([readerAccount])
  })

  it("fails when the chain holds another ciphertext hash, the plaintext another digest, or no node has the sealed CID", async () => {
    const result = { count: 3 }
    const cid = await Effect.runPromise(store.putJson(result, taskId))
    const { published } = await Effect.runPromise(sealedOf().publish(taskId, "result", ArtifactStore.jsonBytes(result), [readerAccount]))
    const otherRoot = hexlify((await sha256.digest(new TextEncoder().encode("another ciphertext"))).digest)
    const wrongRoot = await verifyArtifacts({ result, chainDigest: digest(result), cid, sealedCid: published!.cid, chainRoot: otherRoot, readerKey: reader.secretKey })
    expect(wrongRoot.find((c) => c.name.endsWith("the chain holds its hash"))).toMatchObject({ ok: false })
    const wrongDigest = await verifyArtifacts({ result: { count: 4 }, chainDigest: digest({ count: 4 }), cid, sealedCid: published!.cid, chainRoot: published!.root, readerKey: reader.secretKey })
    expect(wrongDigest.find((c) => c.name.endsWith("opened, it: matches the chain digest"))?.ok).toBe(false)
    const absent = (await ArtifactStore.cidOf(new TextEncoder().encode("never stored"), "raw"))
    const missing = await verifyArtifacts({ result, chainDigest: digest(result), cid, sealedCid: absent, chainRoot: published!.root })
    expect(missing.find((c) => c.name === `artifact result sealed ${absent}`)).toMatchObject({ ok: false, detail: expect.stringMatching(/not found on IPFS/) })
    // A task that names no sealed copy fails the IPFS check too.
    const unnamed = await verifyArtifacts({ result, chainDigest: digest(result), cid })
    expect(unnamed.find((c) => c.name.endsWith("on IPFS"))?.ok).toBe(false)
  }, 30_000)

  it("a member's upload is sealed before it leaves the member: the IPFS copy opens only for its reader", async () => {
    const owner = Ecies.generateKeyPair()
    const payload = new TextEncoder().encode(JSON.stringify({ template: "statistics", columns: ["mitoses"] }))
    const sealed = Envelope.seal(payload, [owner.publicKey], "model-request/0x01")
    const cid = await Effect.runPromise(store.putOwned(sealed, "raw", "0x00000000000000000000000000000000000000aa", 1 << 20))
    const fetched = await Effect.runPromise(auditor.blocks.get(cid, { timeoutMs: 5_000 }))
    expect(() => Envelope.open(fetched, Ecies.generateKeyPair().secretKey)).toThrow(/NotAReader/)
    expect(new TextDecoder().decode(Envelope.open(fetched, owner.secretKey, "model-request/0x01"))).toContain("mitoses")
  }, 30_000)
})
