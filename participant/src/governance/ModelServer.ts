/**
 * The owner's side of model-to-data requests (PROTOCOLS.md §2.3 steps 3-5): follows the chain for
 * `ModelRequest` events addressed to this org, fetches the encrypted payload by its CID from the coordinator's
 * artifact store, checks digest, signature and bindings (ModelToData.open), reviews it against the consent
 * policy (initiator allowed, dataset and columns shareable, template known), runs it next to the rows and
 * answers on chain with the digest of the result encrypted to the initiator — or refuses, with a reason hash.
 * A policy in "ask" mode serves a request that passes its rules only once a human of this organisation approved it
 * on chain (ModelRequests.decide, from the dashboard with the steward's wallet); a rejection is final, and a request
 * nobody decided before its expiry is refused.
 */
import { Effect, Fiber, Schedule } from "effect"
import { getAddress } from "ethers"
import type * as ApiClient from "@jointly/core/internal/api/Client"
import * as ModelToData from "@jointly/core/internal/governance/ModelToData"
import { datasetIdOf, type GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import type { DatasetSpec } from "../datasets/Dataset.ts"
import * as Sources from "../datasets/Sources.ts"
import type { Policy } from "../policy/ConsentPolicy.ts"

export type ModelServerEvent =
  | { readonly type: "model-request"; readonly reqId: string; readonly from: string }
  | { readonly type: "model-awaiting"; readonly reqId: string; readonly from: string }
  | { readonly type: "model-answered"; readonly reqId: string; readonly resultHash: string }
  | { readonly type: "model-refused"; readonly reqId: string; readonly reason: string; readonly detail: string }

const cidOfUri = (uri: string) => uri.replace(/^cid:/, "")

/**
 * The coordinator lets a request's sides read its payload once its chain index holds the request; this owner
 * follows the chain itself and may see the request first, so a refusal is retried for a few seconds.
 */
const indexLag = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")]).pipe(Schedule.upTo({ duration: "15 seconds" }))

/** An artifact by CID from the coordinator (the owner reads a request's payload as a side of the request). */
export const fetchArtifact = async (api: ApiClient.Client, cid: string): Promise<Uint8Array> => {
  const body = await Effect.runPromise(
    api.call((a) => a.artifacts.get({ params: { cid: cidOfUri(cid) } })).pipe(
      Effect.retry({ schedule: indexLag, while: (error) => error._tag === "Forbidden" && error.reason === "NotAllowed" })
    )
  )
  return new Uint8Array(Buffer.from(body.base64, "base64"))
}

/** Stores bytes at the coordinator as this org (counted against its quota); resolves with their CID. */
export const putArtifact = async (api: ApiClient.Client, bytes: Uint8Array): Promise<string> =>
  (await Effect.runPromise(api.call((a) => a.artifacts.put({ payload: { codec: "raw", base64: Buffer.from(bytes).toString("base64") } })))).cid

/** The policy's review of a decrypted request; the reason names the failed rule. */
export const review = (policy: Policy, payload: ModelToData.RequestPayload): string | undefined => {
  const from = getAddress(payload.from)
  if (!policy.initiators.some((a) => a === "*" || getAddress(a) === from)) return `initiator ${from} not in allowed initiators`
  const rule = Object.hasOwn(policy.datasets, payload.dataset) ? policy.datasets[payload.dataset] : undefined
  if (rule === undefined) return `dataset ${payload.dataset} is not shareable`
  const a = payload.analysis
  const columns = a.template === "statistics" ? a.columns : [...a.model.featureColumns, a.label]
  const denied = rule.columns === undefined ? undefined : columns.find((c) => !rule.columns!.includes(c))
  return denied === undefined ? undefined : `column ${denied} of dataset ${payload.dataset} is not shareable`
}

export const start = (deps: {
  readonly chain: GovernanceLedger
  /** The coordinator's API, signed in as this org (Agent.api). */
  readonly api: ApiClient.Client
  readonly secretKey: Uint8Array
  readonly datasets: ReadonlyArray<DatasetSpec>
  readonly policy: Policy
  readonly deployBlock: bigint
  readonly limits?: ModelToData.Limits
  readonly onEvent?: (event: ModelServerEvent) => void
}) => {
  const { chain } = deps
  const self = getAddress(chain.account)
  const emit = deps.onEvent ?? (() => {})
  let next = deps.deployBlock
  /** Requests that passed the policy's rules and wait for a human's decision on chain ("ask" mode), by id. */
  const waiting = new Map<string, { readonly serve: () => Promise<void> }>()

  const refuse = async (reqId: string, error: unknown) => {
    const reason = error instanceof ModelToData.ModelRequestError ? error.reason : "Internal"
    const detail = error instanceof Error ? error.message.split("\n")[0]! : String(error)
    // The reason's text stays here; its hash goes on chain for the supervisor's audit.
    await chain.refuseModel(reqId, `${reason}: ${detail}`).catch(() => undefined)
    emit({ type: "model-refused", reqId, reason, detail })
  }

  /** Runs an accepted request next to the rows and answers on chain with the result sealed to the requester. */
  const run = async (reqId: string, onChain: NonNullable<Awaited<ReturnType<GovernanceLedger["getModelRequest"]>>>, payload: ModelToData.RequestPayload, spec: DatasetSpec) => {
    // The analysis takes whole columns: the dataset is read into memory (capped), then let go.
    const sources = Sources.make()
    const table = await sources.open(spec).then(({ source }) => Effect.runPromise(source.materialize())).finally(() => sources.close())
    const result = ModelToData.run(payload.analysis, table, deps.limits)
    const key = await chain.encryptionKeyOf(onChain.from)
    if (key === undefined) throw new ModelToData.ModelRequestError({ reason: "Mismatch", detail: `${onChain.from} has no registered encryption key` })
    const sealed = ModelToData.sealResult(key, reqId, result)
    const cid = await putArtifact(deps.api, sealed.ciphertext)
    await chain.respondModel(reqId, sealed.resultHash, `cid:${cid}`)
    emit({ type: "model-answered", reqId, resultHash: sealed.resultHash })
  }

  const answer = async (reqId: string, payloadURI: string) => {
    const onChain = await chain.getModelRequest(reqId)
    if (onChain === undefined || (onChain.state !== "Requested" && onChain.state !== "Approved")) return
    emit({ type: "model-request", reqId, from: onChain.from })
    try {
      const ciphertext = await fetchArtifact(deps.api, payloadURI)
      const payload = ModelToData.open(deps.secretKey, ciphertext, { reqId, datasetId: onChain.datasetId, from: onChain.from, to: onChain.to, payloadHash: onChain.payloadHash })
      if (datasetIdOf(self, payload.dataset) !== onChain.datasetId.toLowerCase()) {
        throw new ModelToData.ModelRequestError({ reason: "Mismatch", detail: `dataset ${payload.dataset} is not catalogue entry ${onChain.datasetId}` })
      }
      const refusal = review(deps.policy, payload)
      if (refusal !== undefined) throw new ModelToData.ModelRequestError({ reason: "NotAllowed", detail: refusal })
      const spec = deps.datasets.find((d) => d.name === payload.dataset)
      if (spec === undefined) throw new ModelToData.ModelRequestError({ reason: "NotAllowed", detail: `no dataset ${payload.dataset} is registered here` })
      const serve = () => run(reqId, onChain, payload, spec).catch((error) => refuse(reqId, error))
      if (deps.policy.mode === "ask" && onChain.state !== "Approved") {
        waiting.set(reqId, { serve })
        emit({ type: "model-awaiting", reqId, from: onChain.from })
        return
      }
      await serve()
    } catch (error) {
      await refuse(reqId, error)
    }
  }

  /** The waiting requests' decisions, read from the chain: approved → served; rejected → dropped; expired → refused. */
  const decided = async () => {
    for (const [reqId, request] of [...waiting]) {
      const onChain = await chain.getModelRequest(reqId)
      if (onChain?.state === "Requested") {
        if (BigInt(Math.floor(Date.now() / 1000)) <= onChain.expiry) continue
        waiting.delete(reqId)
        await refuse(reqId, new ModelToData.ModelRequestError({ reason: "NotAllowed", detail: "no one of the owner's organisation approved it before its expiry" }))
        continue
      }
      waiting.delete(reqId)
      if (onChain?.state === "Approved") await request.serve()
      else if (onChain?.state === "Refused") emit({ type: "model-refused", reqId, reason: "Rejected", detail: "rejected by the owner's organisation" })
    }
  }

  const step = async () => {
    await decided()
    const head = await chain.blockNumber()
    if (head < next) return
    const logs = await chain.logs(next, head)
    next = head + 1n
    for (const log of logs) {
      if (log.contract !== "modelRequests" || log.name !== "ModelRequest" || getAddress(String(log.args.to)) !== self) continue
      await answer(String(log.args.reqId), String(log.args.payloadURI))
    }
  }

  // Every 200 ms after the last step ended: a step that failed (the node away) is tried again at the next one.
  const following = Effect.runFork(
    Effect.tryPromise(step).pipe(Effect.ignore, Effect.repeat(Schedule.spaced("200 millis")))
  )
  return {
    stop: () => void Effect.runFork(Fiber.interrupt(following))
  }
}
