/**
 * The embedders' SDK for governance (PROTOCOLS.md §7 "The TypeScript SDK wraps it plus the contract ABIs"):
 * catalogue search and the supervisor's view over the coordinator's HTTP API, content-addressed artifacts, and
 * the initiator's half of a model-to-data request (sign, encrypt to the owner's registered key, upload, request
 * on chain). Promise functions over the API's typed client (core/src/api/Client.ts),
 * signed in as `signer`; browser-safe (fetch, ethers, @noble).
 */
import { Cause, Effect, Exit } from "effect"
import { decodeBase64, encodeBase64, hexlify, type Signer } from "ethers"
import * as ApiClient from "../api/Client.ts"
import { fromFailure, RequestFailed } from "../api/RequestFailed.ts"
import * as ModelToData from "./ModelToData.ts"
import { datasetIdOf, modelRequestIdOf, type GovernanceLedger } from "../ledger/GovernanceLedger.ts"

export interface CatalogEntry {
  readonly datasetId: string
  readonly owner: string
  readonly domain: string
  readonly name: string
  /** JSON of the columns (name and type). */
  readonly attrs: string
  readonly size: string
  readonly contentHash: string
  readonly location: string
  readonly policy: "Open" | "GrantRequired"
  readonly version: number
  readonly state: "Active" | "Retired"
}

/** `signer` signs in (Sign-In with Ethereum): every route here is for members. */
export const make = (coordinatorUrl: string, signer?: ApiClient.AccountSigner) => {
  const client = ApiClient.make({ url: coordinatorUrl, signer })
  const run = async <A>(f: (api: ApiClient.Client["api"]) => Effect.Effect<A, unknown, any>): Promise<A> => {
    const exit = await Effect.runPromiseExit(client.call(f))
    if (Exit.isSuccess(exit)) return exit.value
    throw fromFailure(Cause.squash(exit.cause))
  }

  const artifacts = {
    put: async (bytes: Uint8Array, codec: "raw" | "json" = "raw"): Promise<string> =>
      (await run((api) => api.artifacts.put({ payload: { codec, base64: encodeBase64(bytes) } }))).cid,
    /** The coordinator re-hashes on read; a tampered artifact fails as RequestFailed "Tampered". */
    get: async (cid: string): Promise<Uint8Array> => decodeBase64((await run((api) => api.artifacts.get({ params: { cid: cid.replace(/^cid:/, "") } }))).base64)
  }

  return {
    catalog: {
      /** Keyword search (name, domain, attributes, location, owner); retired entries only with `includeRetired`. */
      search: async (q: string, options: { readonly includeRetired?: boolean } = {}): Promise<ReadonlyArray<CatalogEntry>> =>
        (await run((api) => api.governance.catalog({ query: { q, all: options.includeRetired ? "1" : undefined } }))).datasets as unknown as ReadonlyArray<CatalogEntry>,
      get: async (datasetId: string): Promise<CatalogEntry> => (await run((api) => api.governance.catalogEntry({ params: { datasetId } }))) as unknown as CatalogEntry
    },
    supervision: () => run((api) => api.governance.supervision()),
    grants: () => run((api) => api.governance.grants()),
    artifacts,

    /**
     * Sends a model-to-data request (§2.3) as `chain`'s account, signed by `signer` (the same account), and
     * resolves with the request id once it is on chain. The owner's answer is indexed by the coordinator
     * (`governance.modelRequests`) and opened with `ModelToData.openResult`.
     */
    requestModel: async (p: {
      readonly chain: GovernanceLedger
      readonly signer: Pick<Signer, "signMessage">
      readonly owner: string
      readonly dataset: string
      readonly analysis: ModelToData.Analysis
      readonly ttlSeconds?: number
    }) => {
      const datasetId = datasetIdOf(p.owner, p.dataset)
      const nonce = hexlify(crypto.getRandomValues(new Uint8Array(32)))
      const reqId = modelRequestIdOf(p.chain.account, p.owner, datasetId, nonce)
      const payload: ModelToData.RequestPayload = { version: 1, reqId, datasetId, dataset: p.dataset, from: p.chain.account, to: p.owner, nonce, analysis: p.analysis }
      const ownerKey = await p.chain.encryptionKeyOf(p.owner)
      if (ownerKey === undefined) throw new RequestFailed(404, "NoEncryptionKey", `${p.owner} has no registered encryption key`)
      const { ciphertext, payloadHash } = ModelToData.seal(ownerKey, payload, await ModelToData.sign(p.signer, payload))
      const cid = await artifacts.put(ciphertext)
      const latest = await p.chain.provider.getBlock("latest")
      await p.chain.requestModel({ datasetId, to: p.owner, payloadHash, payloadURI: `cid:${cid}`, expiry: BigInt(latest!.timestamp + (p.ttlSeconds ?? 600)), nonce })
      return reqId
    }
  }
}

export type GovernanceClient = ReturnType<typeof make>
