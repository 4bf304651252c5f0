/**
 * `Verify.verify` over its sources as Effects: a source that answers (bytes, nothing, withheld) gives checks that
 * pass or fail on what it answered; a source that cannot be read — the coordinator, the DID registry, an IPFS
 * node's store — fails the audit with SourceUnavailable naming it, instead of passing for a failed check. The
 * chain's history is built here as the ledger would report it, with real EIP-712 consent signatures.
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import { type ArtifactBlocksShape, BlockStoreFailed } from "@jointly/core/internal/artifacts/Blocks"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import { digest } from "@jointly/core/internal/wire/Canonical"
import { cidOf, jsonBytes } from "../artifacts/ArtifactStore.ts"
import * as ConsentKeys from "./ConsentKeys.ts"
import * as Verify from "./Verify.ts"

const taskId = `0x${"ab".repeat(32)}` as const
const domain = Eip712.domain(31337n, "0x0000000000000000000000000000000000000001")
const base = { eventId: `0x${"01".repeat(32)}`, txHash: `0x${"02".repeat(32)}`, blockNumber: 7n, logIndex: 0 }
const result = { count: 3, mean: 1.5 }
const resultDigest = digest(result) as `0x${string}`
const unavailable = new Verify.SourceUnavailable({ source: "coordinator", message: "coordinator unreachable: ECONNREFUSED" })

const sources = async (o: Partial<Verify.Sources> & { readonly history?: ReadonlyArray<TaskHistoryEntry> } = {}): Promise<Verify.Sources> => {
  const cid = await cidOf(jsonBytes(result), "json")
  return {
    domain,
    history: [{ _tag: "ResultRecorded", resultDigest, ...base } as TaskHistoryEntry],
    task: { id: taskId, spec: {}, status: "Succeeded", result, resultDigest, events: [{ type: "ArtifactStored", data: { role: "result", cid, digest: resultDigest } }], consents: [] },
    artifact: () => Effect.succeed(jsonBytes(result)),
    model: () => Effect.undefined,
    ...o
  }
}
const artifactChecks = (checks: ReadonlyArray<Verify.Check>) => checks.filter((c) => c.name.startsWith("artifact")).map((c) => [c.ok, c.detail])

describe("Verify.verify over Effect sources", () => {
  it("checks the bytes an artifact source answers, reports a missing one as a failed check, and fails with SourceUnavailable when the source cannot be read", async () => {
    const honest = await Effect.runPromise(Verify.verify(await sources()))
    expect(artifactChecks(honest)).toEqual([[true, "sha2-256 multihash matches"], [true, expect.stringContaining(resultDigest)]])
    const forged = await Effect.runPromise(Verify.verify(await sources({ artifact: () => Effect.succeed(jsonBytes({ ...result, count: 4 })) })))
    expect(artifactChecks(forged)[0]).toEqual([false, "the stored bytes no longer hash to their CID"])
    const missing = await Effect.runPromise(Verify.verify(await sources({ artifact: () => Effect.undefined })))
    expect(artifactChecks(missing)).toEqual([[false, "missing from the artifact store"]])
    const withheld = await Effect.runPromise(Verify.verify(await sources({ artifact: () => Effect.succeed(Verify.withheld) })))
    expect(artifactChecks(withheld)).toEqual([[true, expect.stringContaining("withheld")]])
    const failure = await Effect.runPromise(Effect.flip(Verify.verify(await sources({ artifact: () => Effect.fail(unavailable) }))))
    expect(failure).toBe(unavailable)
  })

  it("fails with SourceUnavailable when the model store, an IPFS node's store or the DID registry cannot be read", async () => {
    const withModel = { ...(await sources()).task, result: { ...result, modelId: `0x${"cd".repeat(32)}` } }
    expect(await Effect.runPromise(Effect.flip(Verify.verify(await sources({ task: withModel, model: () => Effect.fail(unavailable) }))))).toBe(unavailable)

    const brokenNode = { get: () => Effect.fail(new BlockStoreFailed({ operation: "get", message: "the blockstore is closed" })) } as unknown as ArtifactBlocksShape
    const task = { ...(await sources()).task, events: [{ type: "ArtifactStored", data: { ...(await sources()).task.events[0]!.data, sealedCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" } }] }
    const ipfs = await Effect.runPromise(Effect.flip(Verify.verify(await sources({ task, ipfs: { get: Verify.fromBlocks(brokenNode) } }))))
    expect(ipfs).toMatchObject({ _tag: "SourceUnavailable", source: "ipfs", message: "the blockstore is closed" })

    // A consent signed by another key than the participant's: only the DID registry can say whether it counts.
    const participant = Wallet.createRandom()
    const delegate = Wallet.createRandom()
    const consent = { taskId, specHash: taskId, approve: true, reasonHash: `0x${"00".repeat(32)}` as const }
    const signature = (await Eip712.signConsent(delegate, domain, consent)) as `0x${string}`
    const history: ReadonlyArray<TaskHistoryEntry> = [
      { _tag: "TaskCreated", specHash: taskId, kind: "statistics.horizontal", initiator: participant.address, coordinator: participant.address, participants: [participant.address], ...base },
      { _tag: "ConsentRecorded", participant: participant.address, approve: true, reasonHash: consent.reasonHash, signature, ...base }
    ]
    const consenting = await sources({ history, task: { ...task, status: "Submitted", result: null, resultDigest: null, events: [], consents: [{ participant: participant.address, approve: true, signature }] } })
    const signatureCheck = (checks: ReadonlyArray<Verify.Check>) => checks.find((c) => c.name === `consent of ${participant.address}: signature`)
    const named = await Effect.runPromise(Verify.verify({ ...consenting, consentSigners: () => Effect.succeed(new Set([delegate.address])) }))
    expect(signatureCheck(named)).toMatchObject({ ok: true, detail: expect.stringContaining(`by ${delegate.address}, a consent key`) })
    const registryDown = ConsentKeys.ofResolver({ resolveAt: () => Promise.reject(new Error("could not reach the RPC node")) } as never)
    const failure = await Effect.runPromise(Effect.flip(Verify.verify({ ...consenting, consentSigners: registryDown })))
    expect(failure).toMatchObject({ _tag: "SourceUnavailable", source: "DID registry", message: expect.stringContaining("could not reach the RPC node") })
  })
})
