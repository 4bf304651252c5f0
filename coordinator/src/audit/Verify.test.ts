/**
 * `Verify.verify` over its sources as services: a source that answers (bytes, nothing, withheld) gives checks that
 * pass or fail on what it answered; a source that cannot be read — the coordinator, the DID registry, an IPFS
 * node's store — fails the audit with SourceUnavailable naming it, instead of passing for a failed check. The
 * chain's history is built here as the ledger would report it, with real EIP-712 consent signatures. The Live
 * layers over the coordinator's API and its stores answer a refusal (missing, tampered, withheld) as an answer and
 * anything else as SourceUnavailable.
 */
import { Effect, Layer } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import { RequestFailed } from "@jointly/core/internal/api/RequestFailed"
import { Tampered, UnknownArtifact } from "@jointly/core/internal/api/Errors"
import { type ArtifactBlocksShape, BlockStoreFailed } from "@jointly/core/internal/artifacts/Blocks"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import { digest } from "@jointly/core/internal/wire/Canonical"
import { ArtifactStoreFailed, cidOf, jsonBytes } from "../artifacts/ArtifactStore.ts"
import * as ConsentKeys from "./ConsentKeys.ts"
import * as Verify from "./Verify.ts"
import * as VerifySources from "./VerifySources.ts"

const taskId = `0x${"ab".repeat(32)}` as const
const domain = Eip712.domain(31337n, "0x0000000000000000000000000000000000000001")
const base = { eventId: `0x${"01".repeat(32)}`, txHash: `0x${"02".repeat(32)}`, blockNumber: 7n, logIndex: 0 }
const result = { count: 3, mean: 1.5 }
const resultDigest = digest(result) as `0x${string}`
const unavailable = new Verify.SourceUnavailable({ source: "coordinator", message: "coordinator unreachable: ECONNREFUSED" })

/** What a test sets of the sources: the coordinator's reads, the chain's consent keys, an IPFS source. */
interface Sources extends Partial<Verify.CoordinatorSource["Service"]> {
  readonly consentSigners?: Verify.ConsentSigners
  readonly ipfs?: Verify.IpfsSource["Service"]
}

const taskOf = async (): Promise<Verify.Task> => {
  const cid = await cidOf(jsonBytes(result), "json")
  return {
    history: [{ _tag: "ResultRecorded", resultDigest, ...base } as TaskHistoryEntry],
    task: { id: taskId, spec: {}, status: "Succeeded", result, resultDigest, events: [{ type: "ArtifactStored", data: { role: "result", cid, digest: resultDigest } }], consents: [] }
  }
}

/** `verify` of `task` (default: the honest one) over sources as layers. */
const verifyWith = async (o: Sources = {}, task?: Partial<Verify.Task>) =>
  Verify.verify({ ...(await taskOf()), ...task }).pipe(
    Effect.provide(Layer.mergeAll(
      Layer.succeed(Verify.CoordinatorSource, { artifact: o.artifact ?? (() => Effect.succeed(jsonBytes(result))), model: o.model ?? (() => Effect.undefined) }),
      Layer.succeed(Verify.ChainSource, { domain, ...(o.consentSigners === undefined ? {} : { consentSigners: o.consentSigners }) }),
      o.ipfs === undefined ? Layer.empty : Layer.succeed(Verify.IpfsSource, o.ipfs)
    ))
  )
const artifactChecks = (checks: ReadonlyArray<Verify.Check>) => checks.filter((c) => c.name.startsWith("artifact")).map((c) => [c.ok, c.detail])

describe("Verify.verify over Effect sources", () => {
  it("checks the bytes an artifact source answers, reports a missing one as a failed check, and fails with SourceUnavailable when the source cannot be read", async () => {
    const honest = await Effect.runPromise(await verifyWith())
    expect(artifactChecks(honest)).toEqual([[true, "sha2-256 multihash matches"], [true, expect.stringContaining(resultDigest)]])
    const forged = await Effect.runPromise(await verifyWith({ artifact: () => Effect.succeed(jsonBytes({ ...result, count: 4 })) }))
    expect(artifactChecks(forged)[0]).toEqual([false, "the stored bytes no longer hash to their CID"])
    const missing = await Effect.runPromise(await verifyWith({ artifact: () => Effect.undefined }))
    expect(artifactChecks(missing)).toEqual([[false, "missing from the artifact store"]])
    const withheld = await Effect.runPromise(await verifyWith({ artifact: () => Effect.succeed(Verify.withheld) }))
    expect(artifactChecks(withheld)).toEqual([[true, expect.stringContaining("withheld")]])
    const failure = await Effect.runPromise(Effect.flip(await verifyWith({ artifact: () => Effect.fail(unavailable) })))
    expect(failure).toBe(unavailable)
  })

  it("fails with SourceUnavailable when the model store, an IPFS node's store or the DID registry cannot be read", async () => {
    const honest = await taskOf()
    const withModel = { ...honest.task, result: { ...result, modelId: `0x${"cd".repeat(32)}` } }
    expect(await Effect.runPromise(Effect.flip(await verifyWith({ model: () => Effect.fail(unavailable) }, { task: withModel })))).toBe(unavailable)

    const brokenNode = { get: () => Effect.fail(new BlockStoreFailed({ operation: "get", message: "the blockstore is closed" })) } as unknown as ArtifactBlocksShape
    const task = { ...honest.task, events: [{ type: "ArtifactStored", data: { ...honest.task.events[0]!.data, sealedCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" } }] }
    const ipfs = await Effect.runPromise(Effect.flip(await verifyWith({ ipfs: { get: Verify.fromBlocks(brokenNode) } }, { task })))
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
    const consenting = { history, task: { ...task, status: "Submitted", result: null, resultDigest: null, events: [], consents: [{ participant: participant.address, approve: true, signature }] } }
    const signatureCheck = (checks: ReadonlyArray<Verify.Check>) => checks.find((c) => c.name === `consent of ${participant.address}: signature`)
    const named = await Effect.runPromise(await verifyWith({ consentSigners: () => Effect.succeed(new Set([delegate.address])) }, consenting))
    expect(signatureCheck(named)).toMatchObject({ ok: true, detail: expect.stringContaining(`by ${delegate.address}, a consent key`) })
    const registryDown = ConsentKeys.ofResolver({ resolveAt: () => Promise.reject(new Error("could not reach the RPC node")) } as never)
    const failure = await Effect.runPromise(Effect.flip(await verifyWith({ consentSigners: registryDown }, consenting)))
    expect(failure).toMatchObject({ _tag: "SourceUnavailable", source: "DID registry", message: expect.stringContaining("could not reach the RPC node") })
  })

  it("the Live coordinator layers: over the API a named refusal is an answer and anything else SourceUnavailable; over the stores the same", async () => {
    const artifactOver = (layer: Layer.Layer<Verify.CoordinatorSource>) => (cid: string) => Effect.runPromise(Effect.result(Effect.flatMap(Effect.service(Verify.CoordinatorSource), (s) => s.artifact(cid)).pipe(Effect.provide(layer))))
    const api = (failure: RequestFailed) => artifactOver(VerifySources.coordinatorOverApi({ getArtifact: () => Promise.reject(failure), weights: () => Promise.reject(failure) }))("cid")
    expect(await api(new RequestFailed(404, "UnknownArtifact", "no artifact"))).toMatchObject({ _tag: "Success", success: undefined })
    expect(await api(new RequestFailed(403, "Forbidden", "not a reader"))).toMatchObject({ _tag: "Success", success: Verify.withheld })
    expect(await api(new RequestFailed(0, "Unreachable", "connect ECONNREFUSED"))).toMatchObject({ _tag: "Failure", failure: { _tag: "SourceUnavailable", source: "coordinator", message: "connect ECONNREFUSED" } })
    const stores = (failure: UnknownArtifact | Tampered | ArtifactStoreFailed) => artifactOver(VerifySources.coordinatorStores({ artifacts: { get: () => Effect.fail(failure) } }))("cid")
    expect(await stores(new UnknownArtifact({ message: "no artifact" }))).toMatchObject({ _tag: "Success", success: undefined })
    const tampered = await stores(new Tampered({ message: "no longer hashes" }))
    expect(tampered._tag === "Success" && new TextDecoder().decode(tampered.success as Uint8Array)).toBe("tampered")
    expect(await stores(new ArtifactStoreFailed({ operation: "get", detail: "connection terminated" })))
      .toMatchObject({ _tag: "Failure", failure: { _tag: "SourceUnavailable", source: "coordinator", message: "the artifact store failed (get): connection terminated" } })
  })
})
