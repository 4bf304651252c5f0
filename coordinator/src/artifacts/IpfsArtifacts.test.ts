/**
 * The coordinator's artifact store mirrored to an embedded IPFS node, and `jointly verify`'s IPFS source: an
 * auditor's own node, connected only to the coordinator's over loopback, fetches each artifact by the CID the task
 * names and the verifier checks it against the CID and the digest the chain holds.
 */
import { Effect, Exit, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import { digest } from "@jointly/core/internal/wire/Canonical"
import * as Verify from "../audit/Verify.ts"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as ArtifactStore from "./ArtifactStore.ts"

const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0")
const taskId = hash(0xabc)

describe("artifacts on IPFS", () => {
  const dir = mkdtempSync(join(tmpdir(), "jointly-ipfs-artifacts-"))
  let scope: Scope.Closeable
  let sql: Sql.Sql
  let store: ArtifactStore.ArtifactStore
  let auditor: HeliaBlocks.HeliaNode & { blocks: Awaited<ReturnType<typeof start>>["blocks"] }
  const start = (options: HeliaBlocks.HeliaOptions) => Effect.runPromise(Scope.provide(HeliaBlocks.make(options), scope))

  beforeAll(async () => {
    scope = await Effect.runPromise(Scope.make())
    sql = await Sql.openPglite(join(dir, "store"))
    // The store's migrations make the artifacts table.
    await Effect.runPromise(TaskStore.make(sql))
    const coordinatorNode = await start({ directory: join(dir, "coordinator-ipfs") })
    store = ArtifactStore.make(sql, coordinatorNode.blocks)
    const auditorNode = await start({ peers: [coordinatorNode.node.addresses[0]!] })
    auditor = { ...auditorNode.node, blocks: auditorNode.blocks }
  }, 60_000)

  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await sql?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const verifyArtifacts = async (result: unknown, chainDigest: string, cids: ReadonlyArray<string>) => {
    const history = [{ _tag: "ResultRecorded", resultDigest: chainDigest, eventId: hash(1), txHash: hash(2), blockNumber: 1n, logIndex: 0 }] as unknown as ReadonlyArray<TaskHistoryEntry>
    const checks = await Verify.verify({
      domain: Eip712.domain(31337n, "0x0000000000000000000000000000000000000001"),
      history,
      task: {
        id: taskId,
        spec: {},
        status: "Succeeded",
        result,
        resultDigest: chainDigest,
        events: cids.map((cid) => ({ type: "ArtifactStored", data: { role: "result", cid, digest: chainDigest } })),
        consents: []
      },
      artifact: Verify.fromBlocks(auditor.blocks, { timeoutMs: 5_000 }),
      model: async () => undefined
    })
    return checks.filter((c) => c.name.startsWith("artifact"))
  }

  it("a stored result is pinned on the coordinator's node and verified by CID from the auditor's", async () => {
    const result = { count: 768, mean: { glucose: 120.894 } }
    const cid = await store.putJson(result, taskId)
    const checks = await verifyArtifacts(result, digest(result), [cid])
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      [`artifact result ${cid}: bytes match the CID`, true],
      ["artifact result: matches the chain digest", true]
    ])
    // The auditor now holds the block itself.
    expect(await Effect.runPromise(auditor.blocks.has(cid))).toBe(true)
  }, 30_000)

  it("fails the check when the chain's digest is not the artifact's, and when no node has the CID", async () => {
    const result = { count: 3 }
    const cid = await store.putJson(result, taskId)
    const wrongDigest = digest({ count: 4 })
    const absent = await ArtifactStore.cidOf(ArtifactStore.jsonBytes({ never: "stored" }), "json")
    const checks = await verifyArtifacts({ count: 4 }, wrongDigest, [cid, absent])
    expect(checks.find((c) => c.name === "artifact result: matches the chain digest")?.ok).toBe(false)
    expect(checks.find((c) => c.name.includes(absent))).toMatchObject({ ok: false, detail: "missing from the artifact store" })
  }, 30_000)

  it("a member's upload is sealed before it leaves the member: the IPFS copy opens only for its reader", async () => {
    const owner = Ecies.generateKeyPair()
    const payload = new TextEncoder().encode(JSON.stringify({ template: "statistics", columns: ["mitoses"] }))
    const sealed = Envelope.seal(payload, [owner.publicKey], "model-request/0x01")
    const cid = await store.putOwned(sealed, "raw", "0x00000000000000000000000000000000000000aa", 1 << 20)
    const fetched = await Effect.runPromise(auditor.blocks.get(cid, { timeoutMs: 5_000 }))
    expect(() => Envelope.open(fetched, Ecies.generateKeyPair().secretKey)).toThrow(/NotAReader/)
    expect(new TextDecoder().decode(Envelope.open(fetched, owner.secretKey, "model-request/0x01"))).toContain("mitoses")
  }, 30_000)
})
