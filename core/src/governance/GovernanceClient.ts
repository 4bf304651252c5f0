/**
 * The embedders' SDK for governance (PROTOCOLS.md §7 "The TypeScript SDK wraps it plus the contract ABIs"):
 * catalogue search and the supervisor's view over the coordinator's HTTP API, content-addressed artifacts, and
 * the initiator's half of a model-to-data request (sign, encrypt to the owner's registered key, upload, request
 * on chain, await and decrypt the answer). Promise functions over the API's typed client (core/src/api/Client.ts),
 * signed in as `signer`; browser-safe (fetch, ethers, @noble).
 */
import { Cause, Effect, Exit } from "effect"
import { decodeBase64, encodeBase64, getBytes, hexlify, type Signer } from "ethers"
import * as ApiClient from "../api/Client.ts"
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

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** `signer` signs in (Sign-In with Ethereum): every route here is for members. */
export const make = (coordinatorUrl: string, signer?: ApiClient.AccountSigner) => {
  const client = ApiClient.make({ url: coordinatorUrl, signer })
  const run = async <A>(f: (api: ApiClient.Client["api"]) => Effect.Effect<A, unknown, any>): Promise<A> => {
    const exit = await Effect.runPromiseExit(client.call(f))
    if (Exit.isSuccess(exit)) return exit.value
    const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
    throw new ApiError(0, error?._tag ?? "Failed", error?.message ?? String(error))
  }

  const artifacts = {
    put: async (bytes: Uint8Array, codec: "raw" | "json" = "raw"): Promise<string> =>
      (await run((api) => api.artifacts.put({ payload: { codec, base64: encodeBase64(bytes) } }))).cid,
    /** The coordinator re-hashes on read; a tampered artifact is an ApiError("Tampered"). */
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
     * resolves once it is on chain. `await` then waits for the owner's answer and decrypts it.
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
      if (ownerKey === undefined) throw new ApiError(404, "NoEncryptionKey", `${p.owner} has no registered encryption key`)
      const { ciphertext, payloadHash } = ModelToData.seal(ownerKey, payload, await ModelToData.sign(p.signer, payload))
      const cid = await artifacts.put(ciphertext)
      const latest = await p.chain.provider.getBlock("latest")
      await p.chain.requestModel({ datasetId, to: p.owner, payloadHash, payloadURI: `cid:${cid}`, expiry: BigInt(latest!.timestamp + (p.ttlSeconds ?? 600)), nonce })
      return reqId
    },

    /** Waits for the owner's answer; resolves with the decrypted result, rejects with the refusal. */
    awaitModelResult: async (chain: GovernanceLedger, reqId: string, encryptionSecretKey: Uint8Array, options: { readonly timeoutMs?: number } = {}) => {
      const deadline = Date.now() + (options.timeoutMs ?? 60_000)
      for (;;) {
        const request = await chain.getModelRequest(reqId)
        if (request?.state === "Refused") throw new ApiError(403, "Refused", `request ${reqId} was refused by its owner`)
        if (request?.state === "Answered") {
          const { requests } = await run((api) => api.governance.modelRequests({ query: { to: request.to } }))
          const indexed = requests.find((r) => r.reqId === reqId.toLowerCase()) as { resultURI?: string } | undefined
          if (indexed?.resultURI) return ModelToData.openResult(encryptionSecretKey, reqId, await artifacts.get(indexed.resultURI), request.resultHash!)
        }
        if (Date.now() > deadline) throw new ApiError(504, "Timeout", `no answer to ${reqId}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }
}

export type GovernanceClient = ReturnType<typeof make>

/** Bytes of a 0x-hex secret key, for `awaitModelResult`. */
export const secretKeyBytes = (hex: string): Uint8Array => getBytes(hex)
