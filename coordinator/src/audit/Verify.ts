/**
 * `jointly verify` (DESIGN.md §5): rebuilds a task's history from the chain alone and checks what the
 * coordinator stores against it — the spec against the task id, every consent signature (re-verified off chain
 * against the EIP-712 domain, by the participant or by a consent key its DID named at the consent's block), the lifecycle, every phase commitment, the result digest, and every
 * content-addressed artifact (result, model) against its CID and the digests the chain holds, and — given an IPFS
 * source — each artifact's sealed copy on IPFS against its CID and the ciphertext hash on chain, opened with a
 * reader's key when one is given. Any mismatch is a failed check with a reason a person can act on.
 */
import { Context, Effect, Option, Schema } from "effect"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import { artifactId, ModelArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { taskId as taskIdOf, TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { digest } from "@jointly/core/internal/wire/Canonical"
import { hexlify } from "ethers"
import { sha256 } from "multiformats/hashes/sha2"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import { matches } from "../artifacts/ArtifactStore.ts"
import { labelOf, phaseOf, type Role } from "../artifacts/SealedArtifacts.ts"
import * as CheckpointChain from "../artifacts/CheckpointChain.ts"

/**
 * A source the audit could not read (the coordinator, the IPFS node or the DID registry did not answer): the audit
 * cannot conclude, which is not a failed check. `source` names which one.
 */
export class SourceUnavailable extends Schema.TaggedError<SourceUnavailable>()("SourceUnavailable", {
  source: Schema.String,
  message: Schema.String
}) {}

/** What a source answers for content the caller may not read (the API's access rules): the check is not run. */
export const withheld: unique symbol = Symbol("withheld")

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** What the coordinator says about a task (GET /api/tasks/:id). */
export interface StoredTask {
  readonly id: string
  readonly spec: unknown
  readonly status: string
  readonly result: unknown
  readonly resultDigest: string | null
  readonly events: ReadonlyArray<{ readonly type: string; readonly data: any }>
  readonly consents: ReadonlyArray<{ readonly participant: string; readonly approve: boolean; readonly signature: string }>
}

/** What an artifact source answers for a CID: its raw bytes, nothing (missing), or withheld from this caller. */
export type Fetched = Uint8Array | undefined | typeof withheld

/** The addresses a participant's DID allowed to sign its consents as of a block (ConsentKeys.ts). */
export type ConsentSigners = (participant: string, blockNumber: bigint) => Effect.Effect<ReadonlySet<string>, SourceUnavailable>

/**
 * What `verify` reads a task's content from, as services (their Live layers: VerifySources.ts). Each read fails only
 * with SourceUnavailable (a refusal it can name — missing, tampered, withheld — is an answer, not a failure), and
 * `verify` fails with it.
 *
 * The coordinator's copies: an artifact's raw bytes by CID (unchecked: the verifier re-hashes them) and a model
 * (encoded artifact) by id, undefined when missing — over its API (`jointly verify`) or its own stores (the
 * dashboard's verify view).
 */
export class CoordinatorSource extends Context.Service<CoordinatorSource, {
  readonly artifact: (cid: string) => Effect.Effect<Fetched, SourceUnavailable>
  readonly model: (id: string) => Effect.Effect<unknown, SourceUnavailable>
}>()("jointly/coordinator/audit/CoordinatorSource") {}

/**
 * What the chain says besides the task's history: the EIP-712 domain consents are checked in, the domain the task
 * ledger announces (ERC-5267) with the implementation behind its proxy, and — with a DID registry — the consent
 * keys a participant's DID named at a block (without it a consent must be signed by the participant).
 */
export class ChainSource extends Context.Service<ChainSource, {
  readonly domain: Eip712.Domain
  readonly onChainDomain?: { readonly name: string; readonly version: string; readonly chainId: bigint; readonly verifyingContract: string; readonly implementation: string }
  readonly consentSigners?: ConsentSigners
}>()("jointly/coordinator/audit/ChainSource") {}

/**
 * The sealed copies of the task's artifacts on IPFS (`jointly verify --ipfs …`), optional: raw bytes by CID, checked
 * against the CID and the hash the chain holds; with a reader's encryption secret key also opened and checked
 * against the result digest or the model id.
 */
export class IpfsSource extends Context.Service<IpfsSource, {
  readonly get: (cid: string) => Effect.Effect<Fetched, SourceUnavailable>
  readonly readerKey?: Uint8Array
}>()("jointly/coordinator/audit/IpfsSource") {}

/** The task as the chain and the coordinator hold it: what every check compares. */
export interface Task {
  readonly history: ReadonlyArray<TaskHistoryEntry>
  readonly task: StoredTask
}

/**
 * The artifact source of an IPFS node: bytes fetched by CID from the node or its peers (`jointly verify --ipfs …`),
 * so the audit does not take the coordinator's word for them. A block that does not arrive is "missing"; bytes
 * that do not hash to the CID are handed on as they came, for `verify`'s own re-hash to fail.
 */
export const fromBlocks = (blocks: ArtifactBlocksShape, options: { readonly timeoutMs?: number } = {}): IpfsSource["Service"]["get"] => (cid) =>
  blocks.get(cid, options).pipe(
    Effect.catchTag("BlockTampered", (e) => Effect.succeed(new TextEncoder().encode(`tampered: ${e.message}`))),
    Effect.catchTags({
      BlockNotFound: () => Effect.undefined,
      InvalidCid: () => Effect.undefined,
      BlockStoreFailed: (e) => Effect.fail(new SourceUnavailable({ source: "ipfs", message: e.message }))
    })
  )

const same = (a: string | null | undefined, b: string | null | undefined) => (a ?? "").toLowerCase() === (b ?? "").toLowerCase()

/** Every check of a task against the chain; fails only when a source cannot be read (SourceUnavailable). */
export const verify = (input: Task): Effect.Effect<ReadonlyArray<Check>, SourceUnavailable, ChainSource | CoordinatorSource> => Effect.gen(function*() {
  const checks: Array<Check> = []
  const check = (name: string, ok: boolean, detail: string) => void checks.push({ name, ok, detail })
  const { history, task } = input
  const coordinator = yield* CoordinatorSource
  const s = { ...(yield* ChainSource), artifact: coordinator.artifact, model: coordinator.model, ipfs: Option.getOrUndefined(yield* Effect.serviceOption(IpfsSource)) }
  const id = task.id

  const created = history.filter((e) => e._tag === "TaskCreated")
  check("chain: task created once", created.length === 1, `${created.length} TaskCreated event(s) for ${id}`)
  const createdEntry = created[0]
  const spec = Schema.decodeUnknownExit(TaskSpec)(task.spec)
  const specOk = spec._tag === "Success" && taskIdOf(spec.value) === id
  check("spec hashes to the task id", specOk, specOk ? "the stored spec is the one the id commits to" : "the stored spec does not hash to the task id")
  if (createdEntry?._tag === "TaskCreated") {
    check("chain: spec hash", same(createdEntry.specHash, id), `chain specHash ${createdEntry.specHash}`)
  }

  // The domain the signatures are checked in must be the one the contract verifies in (an upgrade could change it).
  if (s.onChainDomain !== undefined) {
    const d = s.onChainDomain
    const ok = d.name === s.domain.name && d.version === s.domain.version && d.chainId === s.domain.chainId && same(d.verifyingContract, s.domain.verifyingContract)
    check("chain: EIP-712 domain", ok, `${d.name} v${d.version} on chain ${d.chainId} at ${d.verifyingContract}, implementation ${d.implementation}`)
  }

  // Consents: re-verify each signature from the chain's own record, then compare with the store's copy.
  const consents = history.filter((e) => e._tag === "ConsentRecorded")
  const participants = createdEntry?._tag === "TaskCreated" ? createdEntry.participants : []
  for (const c of consents) {
    if (c._tag !== "ConsentRecorded") continue
    const signer = Eip712.consentSigner(s.domain, { taskId: id, specHash: createdEntry?._tag === "TaskCreated" ? createdEntry.specHash : id, approve: c.approve, reasonHash: c.reasonHash }, c.signature)
    if (signer === undefined || same(signer, c.participant)) {
      check(`consent of ${c.participant}: signature`, signer !== undefined, signer !== undefined ? "EIP-712 signature recovers the participant" : "the signature on chain does not parse")
    } else {
      // Signed by another key: valid only if the participant's DID named it a consent key when the consent was recorded.
      const named = s.consentSigners === undefined ? undefined : yield* s.consentSigners(c.participant, c.blockNumber)
      check(`consent of ${c.participant}: signature`, named?.has(signer) === true,
        named === undefined
          ? `the signature recovers ${signer}, not the participant (no DID registry to consult)`
          : named.has(signer)
          ? `EIP-712 signature by ${signer}, a consent key of the participant's DID at block ${c.blockNumber}`
          : `the signature recovers ${signer}, neither the participant nor a consent key its DID named at block ${c.blockNumber}`)
    }
    check(`consent of ${c.participant}: named in the task`, participants.some((p) => same(p, c.participant)), "participant listed at creation")
    const stored = task.consents.find((x) => same(x.participant, c.participant))
    check(`consent of ${c.participant}: store matches chain`, stored !== undefined && same(stored.signature, c.signature) && stored.approve === c.approve,
      stored === undefined ? "the store has no consent of this participant" : same(stored.signature, c.signature) ? "same signature and answer" : "the stored signature differs from the chain's")
  }
  for (const c of task.consents) {
    if (!consents.some((e) => e._tag === "ConsentRecorded" && same(e.participant, c.participant))) {
      check(`consent of ${c.participant}: on chain`, false, "the store holds a consent the chain never recorded")
    }
  }

  // Lifecycle: an unbroken chain of transitions ending where the store says the task is.
  const transitions = history.flatMap((e) => (e._tag === "TaskTransitioned" ? [e] : []))
  let status = "Submitted"
  let continuous = true
  for (const t of transitions) {
    if (t.from !== status) continuous = false
    status = t.to
  }
  check("lifecycle: continuous transitions", continuous, transitions.map((t) => `${t.from}->${t.to}`).join(", "))
  check("lifecycle: final status", status === task.status, `chain says ${status}, store says ${task.status}`)

  // Phase commitments: the latest root per phase, on both sides.
  const chainPhases = new Map<string, string>()
  for (const e of history) if (e._tag === "PhaseCommitted") chainPhases.set(e.phase, e.root.toLowerCase())
  const storePhases = new Map<string, string>()
  for (const e of task.events) if (e.type === "PhaseCommitted") storePhases.set(String(e.data.phase), String(e.data.root).toLowerCase())
  for (const [phase, root] of storePhases) {
    const onChain = chainPhases.get(phase) ?? [...chainPhases.entries()].find(([label]) => same(label, phase))?.[1]
    check(`phase ${phase}: commitment`, onChain === root, onChain === undefined ? "no commitment on chain" : onChain === root ? `root ${root}` : `chain root ${onChain}, store root ${root}`)
  }
  for (const [phase] of chainPhases) {
    if (![...storePhases.keys()].some((p) => p === phase)) check(`phase ${phase}: in the store`, false, "committed on chain, missing from the store")
  }

  // Result digest: chain = digest(stored result) = stored digest.
  const recorded = history.flatMap((e) => (e._tag === "ResultRecorded" ? [e.resultDigest] : []))
  if (task.status === "Succeeded" || recorded.length > 0) {
    check("result: recorded on chain once", recorded.length === 1, `${recorded.length} ResultRecorded event(s)`)
    if (task.result === withheld) {
      // The API serves a result to its recipients alone: anyone else checks the digests, not the content.
      check("result: content", true, "withheld from this account (the result is for its recipients); its digest is checked below")
    } else {
      const computed = task.result === null || task.result === undefined ? undefined : digest(task.result)
      check("result: stored result hashes to the chain digest", computed !== undefined && same(computed, recorded[0]), `chain ${recorded[0]}, stored result hashes to ${computed}`)
    }
    check("result: stored digest equals the chain digest", same(task.resultDigest, recorded[0]), `chain ${recorded[0]}, store ${task.resultDigest}`)
  }

  // The content an artifact must hold: the chain's result digest, or the result's model id.
  const modelIdOfResult = (task.result as { modelId?: string } | null)?.modelId
  const checkContent = (role: string, label: string, content: unknown) => {
    if (role === "result") {
      check(`${label}: matches the chain digest`, same(digest(content), recorded[0]), `artifact hashes to ${digest(content)}`)
    } else if (role === "model") {
      const decoded = Schema.decodeUnknownExit(ModelArtifact)(content)
      const idOk = decoded._tag === "Success" && same(artifactId(decoded.value), modelIdOfResult)
      check(`${label}: is the result's model ${modelIdOfResult}`, idOk, idOk ? "model id = sha256 of the artifact" : "the model artifact does not hash to the result's modelId")
    } else if (role === "checkpoint") {
      // A checkpoint's shape is its protocol's: what a reader checks is that the committed block opens to one.
      const ok = typeof content === "object" && content !== null
      check(`${label}: is a checkpoint`, ok, ok ? "a JSON object, sealed under this task's checkpoint label" : "opens to something that is not a checkpoint")
    }
  }

  // Sealed copies on IPFS: ciphertext against its CID and the hash on chain; plaintext against the digests, for a reader.
  const checkSealed = (role: string, sealedCid: string, bound?: { readonly root: string; readonly by: string }) => Effect.gen(function*() {
    const name = `artifact ${role} sealed ${sealedCid}`
    const bytes = yield* s.ipfs!.get(sealedCid)
    if (bytes === undefined || bytes === withheld) return check(name, false, "not found on IPFS (no connected node holds it)")
    // Hashing bytes in memory cannot reject (sha2-256 over node:crypto); a rejection would be a bug, a defect.
    const intact = yield* Effect.promise(() => matches(sealedCid, bytes))
    check(`${name}: bytes match the CID`, intact, intact ? "sha2-256 multihash matches" : "the block does not hash to its CID")
    // Its hash is on chain as a phase, or bound by an anchored checkpoint chain (checked on its own).
    const onChain = bound?.root ?? chainPhases.get(phaseOf(role as Role))
    const where = bound?.by ?? `phase ${phaseOf(role as Role)}`
    const hash = hexlify((yield* Effect.promise(async () => sha256.digest(bytes))).digest)
    check(`${name}: the chain holds its hash`, onChain === hash, onChain === undefined ? `no ${phaseOf(role as Role)} commitment on chain` : onChain === hash ? `${where} root ${hash}` : `chain ${onChain}, ciphertext ${hash}`)
    if (s.ipfs!.readerKey === undefined) return
    let plain: Uint8Array
    try {
      plain = Envelope.open(bytes, s.ipfs!.readerKey, labelOf(id, role as Role))
    } catch (error) {
      if (error instanceof Envelope.EnvelopeError && error.reason === "NotAReader") return check(`${name}: opened`, true, "this key is not among its readers; the ciphertext is checked above")
      return check(`${name}: opened`, false, error instanceof Error ? error.message : String(error))
    }
    let content: unknown
    try {
      content = JSON.parse(new TextDecoder().decode(plain))
    } catch {
      return check(`${name}: opened`, false, "opens to something that is not JSON")
    }
    checkContent(role, `${name}: opened, it`, content)
  })

  // Artifacts, content-addressed: bytes against CID, content against the digests above.
  for (const e of task.events) {
    if (e.type !== "ArtifactStored") continue
    const { role, cid, sealedCid } = e.data as { role: string; cid: string; digest: string; sealedCid?: string }
    if (s.ipfs !== undefined) {
      if (typeof sealedCid === "string") yield* checkSealed(role, sealedCid)
      else check(`artifact ${role} ${cid}: on IPFS`, false, "the task names no sealed copy of it on IPFS")
    }
    const bytes = yield* s.artifact(cid)
    if (bytes === withheld) {
      check(`artifact ${role} ${cid}`, true, "withheld from this account by the coordinator's access rules; not checked")
      continue
    }
    if (bytes === undefined) {
      check(`artifact ${role} ${cid}`, false, "missing from the artifact store")
      continue
    }
    const intact = yield* Effect.promise(() => matches(cid, bytes)) // hashing in memory: cannot reject (as above)
    check(`artifact ${role} ${cid}: bytes match the CID`, intact, intact ? "sha2-256 multihash matches" : "the stored bytes no longer hash to their CID")
    let content: unknown
    try {
      content = JSON.parse(new TextDecoder().decode(bytes))
    } catch {
      check(`artifact ${role} ${cid}: readable`, false, "not JSON")
      continue
    }
    checkContent(role, `artifact ${role}`, content)
  }
  // The task's checkpoints on IPFS (its CheckpointSealed events), committed on chain once when the task succeeded:
  // the link chain against that anchor and every checkpoint's CID and hash, then the last checkpoint's block;
  // a task sealed before the chain had its last block's hash committed.
  const sealedCheckpoints = task.events.flatMap((e) => (e.type === "CheckpointSealed" ? [e.data as CheckpointChain.Sealed] : []))
  const lastCheckpoint = sealedCheckpoints.at(-1)
  if (s.ipfs !== undefined && task.status === "Succeeded" && lastCheckpoint !== undefined) {
    // The scheduler anchors the chain only when every checkpoint has its link (one that could not be put falls back).
    if (sealedCheckpoints.some((c) => c.link === undefined)) yield* checkSealed("checkpoint", String(lastCheckpoint.cid))
    else {
      const get = s.ipfs.get
      const linked = yield* CheckpointChain.verify({
        taskId: id,
        events: sealedCheckpoints,
        anchor: chainPhases.get(phaseOf("checkpoint")),
        get: (cid) => Effect.map(get(cid), (bytes) => (bytes === withheld ? undefined : bytes))
      })
      checks.push(...linked)
      yield* checkSealed("checkpoint", String(lastCheckpoint.cid), { root: lastCheckpoint.root, by: `checkpoint chain ${lastCheckpoint.link!}, anchored as ${phaseOf("checkpoint")},` })
    }
  }

  const modelId = (task.result as { modelId?: string } | null)?.modelId
  if (typeof modelId === "string") {
    const stored = yield* s.model(modelId)
    if (stored === withheld) return [...checks, { name: `model store: ${modelId}`, ok: true, detail: "withheld from this account (weights are for the parties that trained it); not checked" }]
    const decoded = stored === undefined ? undefined : Schema.decodeUnknownExit(ModelArtifact)(stored)
    const ok = decoded?._tag === "Success" && same(artifactId(decoded.value), modelId)
    check(`model store: ${modelId}`, ok, stored === undefined ? "missing from the model store" : ok ? "content hash matches" : "the stored model no longer hashes to its id")
  }
  return checks
})

export const report = (taskId: string, checks: ReadonlyArray<Check>): string => {
  const failed = checks.filter((c) => !c.ok)
  const lines = checks.map((c) => `${c.ok ? "  ok  " : "  FAIL"} ${c.name}: ${c.detail}`)
  return [`verify ${taskId}: ${failed.length === 0 ? "PASSED" : `FAILED (${failed.length} of ${checks.length} checks)`}`, ...lines].join("\n") + "\n"
}
