/**
 * The governance half of the chain (PROTOCOLS.md §2.2-§2.5, §7, §9; DESIGN.md §5): data catalogue, access grants,
 * model-to-data requests, points and Shapley settlements, consortium votes and e-data certificates. A Promise
 * view over the one chain client (`Chain.ts`) that rejects with `ChainError` (the contract's custom-error name
 * in `revertName`), next to the registry + task-ledger view of `EthersLedger.ts`: the members use this one (a
 * participant needs no task ledger), the coordinator both, sharing one chain client. Browser-safe.
 */
import { Context, Effect, Layer } from "effect"
import { AbiCoder, getAddress, getBytes, hexlify, keccak256, toUtf8Bytes, type Signer as EthersSigner } from "ethers"
import * as Chain from "./Chain.ts"
import { chainError, toChainError, type ChainError } from "./ChainError.ts"
import * as AccessGrants from "./generated/AccessGrants.ts"
import * as Certificates from "./generated/Certificates.ts"
import * as DataCatalog from "./generated/DataCatalog.ts"
import * as Governance from "./generated/Governance.ts"
import * as ModelRequests from "./generated/ModelRequests.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as Settlement from "./generated/Settlement.ts"
import { effectify, ZERO_HASH, reasonHash, type Effectful, type Hex, type SuiteAddresses } from "./Ledger.ts"
import * as View from "./View.ts"
import { asAddress, asBytes32, enumName, isZero, toReceipt } from "./View.ts"

export { AccessGrants, Certificates, DataCatalog, Governance, ModelRequests, Settlement }

// ---------------------------------------------------------------- addresses and deployment

export type { SuiteAddresses }

export const suiteKeys: ReadonlyArray<keyof SuiteAddresses> = ["catalog", "grants", "modelRequests", "settlement", "governance", "certificates"]

/**
 * Deploys the governance contracts against an existing registry and binds Governance as the registry's governor
 * (`from` must be the registry's supervisor). Rejects with `Reverted` when the registry predates `setGovernor`.
 */
export const deploySuite = async (chain: Chain.ChainClient, from: Chain.Signer, registry: string, supervisor: string): Promise<SuiteAddresses> => {
  const deploy = async (data: string) => getAddress((await chain.send(from, { data }, "deploySuite")).contractAddress!)
  const catalog = await deploy(DataCatalog.deployData({ registry_: registry }))
  const grants = await deploy(AccessGrants.deployData({ registry_: registry, catalog_: catalog }))
  const modelRequests = await deploy(ModelRequests.deployData({ registry_: registry, catalog_: catalog }))
  const settlement = await deploy(Settlement.deployData({ registry_: registry, supervisor_: supervisor }))
  const governance = await deploy(Governance.deployData({ registry_: registry }))
  const certificates = await deploy(Certificates.deployData({ registry_: registry }))
  await chain.send(from, { to: registry, data: Registry.contractInterface.encodeFunctionData("setGovernor", [governance]) }, "deploySuite")
  return { catalog, grants, modelRequests, settlement, governance, certificates }
}

// ---------------------------------------------------------------- data

export const AccessPolicy = DataCatalog.AccessPolicy
export type AccessPolicy = DataCatalog.AccessPolicy
export type GrantStatus = AccessGrants.GrantStatus
export type Validity = AccessGrants.Validity
export type ProposalKind = Governance.ProposalKind

export interface DatasetDescription {
  readonly domain: string
  readonly name: string
  /** Schema (column names and types) as JSON text: never values. */
  readonly attrs: string
  readonly size: bigint | number
  readonly contentHash: Hex
  readonly location: string
  readonly policy: AccessPolicy
}

export interface CatalogEntry extends Omit<DatasetDescription, "size"> {
  readonly datasetId: Hex
  readonly owner: string
  readonly size: bigint
  readonly version: number
  readonly createdAt: bigint
  readonly updatedAt: bigint
  readonly state: DataCatalog.EntryState
}

export interface GrantRecord {
  readonly tokenId: Hex
  readonly datasetId: Hex
  readonly requester: string
  readonly owner: string
  /** Comma-separated task kinds, or "*". */
  readonly purpose: string
  readonly scopeHash: Hex
  readonly expiry: bigint
  readonly maxUses: number
  readonly uses: number
  readonly status: GrantStatus
}

export interface ModelRequestRecord {
  readonly reqId: Hex
  readonly datasetId: Hex
  readonly from: string
  readonly to: string
  readonly payloadHash: Hex
  readonly expiry: bigint
  readonly state: ModelRequests.RequestState
  readonly resultHash: Hex | undefined
}

export interface ProposalRecord {
  readonly id: bigint
  readonly kind: ProposalKind
  readonly target: Hex
  readonly key: Hex
  readonly value: bigint
  readonly proposer: string
  readonly deadline: bigint
  readonly yes: number
  readonly no: number
  readonly electorate: number
  readonly state: Governance.ProposalState
}

export interface CertRecord {
  readonly certId: Hex
  readonly docHash: Hex
  readonly metaHash: Hex
  readonly submitter: string
  readonly claimedAt: bigint
  readonly timestamp: bigint
  readonly blockNumber: bigint
  readonly endorsements: number
}

/** A decoded log of one of the governance contracts, with where it sits in the chain. */
export interface SuiteLog {
  readonly contract: keyof SuiteAddresses | "registry"
  readonly name: string
  readonly args: Record<string, unknown>
  readonly blockNumber: bigint
  readonly logIndex: number
  readonly txHash: Hex
}

// ---------------------------------------------------------------- pure helpers

/** DataCatalog.datasetIdOf: keccak256(abi.encode(owner, name)); stable across versions. */
export const datasetIdOf = (owner: string, name: string): Hex =>
  keccak256(AbiCoder.defaultAbiCoder().encode(["address", "string"], [getAddress(owner), name]))

/** ModelRequests.requestIdOf: H(from || to || datasetId || nonce) (PROTOCOLS.md §2.3). */
export const modelRequestIdOf = (from: string, to: string, datasetId: Hex, nonce: Hex): Hex =>
  keccak256(AbiCoder.defaultAbiCoder().encode(["address", "address", "bytes32", "bytes32"], [getAddress(from), getAddress(to), datasetId, nonce]))

/** Certificates.certDigest, what a submitter signs as an EIP-191 message. */
export const certDigest = (docHash: Hex, metaHash: Hex, claimedAt: bigint): Hex =>
  keccak256(AbiCoder.defaultAbiCoder().encode(["string", "bytes32", "bytes32", "uint64"], ["jointly.cert.v1", docHash, metaHash, claimedAt]))

export const signCert = (signer: Pick<EthersSigner, "signMessage">, docHash: Hex, metaHash: Hex, claimedAt: bigint): Promise<Hex> =>
  signer.signMessage(getBytes(certDigest(docHash, metaHash, claimedAt)))

/** A parameter name as the bytes32 key Governance stores it under. */
export const paramKey = (name: string): Hex => keccak256(toUtf8Bytes(name))


// ---------------------------------------------------------------- the client

export interface GovernanceLedgerConfig extends View.Connection {
  readonly privateKey: string
  readonly addresses: SuiteAddresses & { readonly registry: string; readonly deployBlock?: bigint }
}

export const makeGovernanceLedger = async (config: GovernanceLedgerConfig) => {
  const view = await View.open(config, config.privateKey)
  const { chain, signer, write, guarded } = view
  const provider = chain.provider
  const a = config.addresses
  const c = {
    registry: Registry.connect(a.registry, provider),
    catalog: DataCatalog.connect(a.catalog, provider),
    grants: AccessGrants.connect(a.grants, provider),
    modelRequests: ModelRequests.connect(a.modelRequests, provider),
    settlement: Settlement.connect(a.settlement, provider),
    governance: Governance.connect(a.governance, provider),
    certificates: Certificates.connect(a.certificates, provider)
  }
  /** The first log `name` that `decode` finds in a receipt. */
  const eventIn = <E extends { name: string; args: unknown }>(r: { hash: string; logs: ReadonlyArray<{ topics: ReadonlyArray<string>; data: string }> }, decode: (l: { topics: ReadonlyArray<string>; data: string }) => E | null, name: E["name"]) => {
    for (const log of r.logs) {
      const e = decode(log)
      if (e?.name === name) return e.args as Record<string, unknown>
    }
    throw chainError(name, { _tag: "InvalidInput" }, `no ${name} event in ${r.hash}`)
  }
  const bytes32 = asBytes32

  const decoders: Record<keyof SuiteAddresses | "registry", (l: { topics: ReadonlyArray<string>; data: string }) => { name: string; args: unknown } | null> = {
    registry: Registry.decodeLog,
    catalog: DataCatalog.decodeLog,
    grants: AccessGrants.decodeLog,
    modelRequests: ModelRequests.decodeLog,
    settlement: Settlement.decodeLog,
    governance: Governance.decodeLog,
    certificates: Certificates.decodeLog
  }

  return {
    account: signer.address,
    chainId: chain.chainId,
    /** For off-chain signatures with this key (certificates, model requests). */
    wallet: signer.wallet,
    chain,
    provider,
    addresses: a,

    // ------------------------------------------------------------ catalogue (§2.2)
    publishDataset: async (d: DatasetDescription) => {
      const r = await write("publishDataset", () =>
        c.catalog.publish.populateTransaction({ ...d, size: BigInt(d.size), contentHash: bytes32("publishDataset", "contentHash", d.contentHash), policy: AccessPolicy.indexOf(d.policy) })
      )
      const e = eventIn(r, DataCatalog.decodeLog, "DatasetPublished")
      return { ...toReceipt(r), datasetId: String(e.datasetId), version: Number(e.version) }
    },
    retireDataset: async (datasetId: Hex) => toReceipt(await write("retireDataset", () => c.catalog.retire.populateTransaction(bytes32("retireDataset", "datasetId", datasetId)))),
    getDataset: async (datasetId: Hex): Promise<CatalogEntry | undefined> => {
      const e = await guarded("getDataset", () => c.catalog.getDataset(bytes32("getDataset", "datasetId", datasetId)))
      if (e.state === 0n) return undefined
      return {
        datasetId: datasetId.toLowerCase(),
        owner: getAddress(e.owner),
        domain: e.domain,
        name: e.name,
        attrs: e.attrs,
        size: e.size,
        contentHash: e.contentHash,
        location: e.location,
        policy: enumName(AccessPolicy, e.policy),
        version: Number(e.version),
        createdAt: e.createdAt,
        updatedAt: e.updatedAt,
        state: enumName(DataCatalog.EntryState, e.state)
      }
    },

    // ------------------------------------------------------------ grants (§2.4, §2.5)
    requestGrant: async (p: { readonly datasetId: Hex; readonly purpose: string; readonly scopeHash?: Hex; readonly expiry: bigint; readonly maxUses: number }) => {
      const r = await write("requestGrant", () =>
        c.grants.request.populateTransaction(bytes32("requestGrant", "datasetId", p.datasetId), p.purpose, p.scopeHash ?? ZERO_HASH, p.expiry, p.maxUses)
      )
      return { ...toReceipt(r), tokenId: String(eventIn(r, AccessGrants.decodeLog, "GrantRequested").tokenId) }
    },
    decideGrant: async (tokenId: Hex, approve: boolean, reason?: string) =>
      toReceipt(await write("decideGrant", () => c.grants.decide.populateTransaction(bytes32("decideGrant", "tokenId", tokenId), approve, reasonHash(reason)))),
    revokeGrant: async (tokenId: Hex, reason?: string) =>
      toReceipt(await write("revokeGrant", () => c.grants.revoke.populateTransaction(bytes32("revokeGrant", "tokenId", tokenId), reasonHash(reason)))),
    consumeGrant: async (tokenId: Hex, taskId: Hex) =>
      toReceipt(await write("consumeGrant", () => c.grants.consume.populateTransaction(bytes32("consumeGrant", "tokenId", tokenId), bytes32("consumeGrant", "taskId", taskId)))),
    checkGrant: async (tokenId: Hex): Promise<Validity> =>
      enumName(AccessGrants.Validity, await guarded("checkGrant", () => c.grants.check(bytes32("checkGrant", "tokenId", tokenId)))),
    latestGrant: async (datasetId: Hex, requester: string): Promise<Hex | undefined> => {
      const id = await guarded("latestGrant", () => c.grants.latestGrant(bytes32("latestGrant", "datasetId", datasetId), getAddress(requester)))
      return isZero(id) ? undefined : id
    },
    getGrant: async (tokenId: Hex): Promise<GrantRecord | undefined> => {
      const g = await guarded("getGrant", () => c.grants.getGrant(bytes32("getGrant", "tokenId", tokenId)))
      if (g.status === 0n) return undefined
      return {
        tokenId: tokenId.toLowerCase(),
        datasetId: g.datasetId,
        requester: getAddress(g.requester),
        owner: getAddress(g.owner),
        purpose: g.purpose,
        scopeHash: g.scopeHash,
        expiry: g.expiry,
        maxUses: Number(g.maxUses),
        uses: Number(g.uses),
        status: enumName(AccessGrants.GrantStatus, g.status)
      }
    },

    // ------------------------------------------------------------ model to data (§2.3)
    requestModel: async (p: { readonly datasetId: Hex; readonly to: string; readonly payloadHash: Hex; readonly payloadURI: string; readonly expiry: bigint; readonly nonce: Hex }) => {
      const r = await write("requestModel", () =>
        c.modelRequests.request.populateTransaction(bytes32("requestModel", "datasetId", p.datasetId), getAddress(p.to), bytes32("requestModel", "payloadHash", p.payloadHash), p.payloadURI, p.expiry, bytes32("requestModel", "nonce", p.nonce))
      )
      return { ...toReceipt(r), reqId: String(eventIn(r, ModelRequests.decodeLog, "ModelRequest").reqId) }
    },
    respondModel: async (reqId: Hex, resultHash: Hex, resultURI: string) =>
      toReceipt(await write("respondModel", () => c.modelRequests.respond.populateTransaction(bytes32("respondModel", "reqId", reqId), bytes32("respondModel", "resultHash", resultHash), resultURI))),
    refuseModel: async (reqId: Hex, reason: string) =>
      toReceipt(await write("refuseModel", () => c.modelRequests.refuse.populateTransaction(bytes32("refuseModel", "reqId", reqId), reasonHash(reason)))),
    getModelRequest: async (reqId: Hex): Promise<ModelRequestRecord | undefined> => {
      const q = await guarded("getModelRequest", () => c.modelRequests.getRequest(bytes32("getModelRequest", "reqId", reqId)))
      if (q.state === 0n) return undefined
      return {
        reqId: reqId.toLowerCase(),
        datasetId: q.datasetId,
        from: getAddress(q.from),
        to: getAddress(q.to),
        payloadHash: q.payloadHash,
        expiry: q.expiry,
        state: enumName(ModelRequests.RequestState, q.state),
        resultHash: isZero(q.resultHash) ? undefined : q.resultHash
      }
    },

    // ------------------------------------------------------------ points and settlement (§9)
    mintPoints: async (to: string, amount: bigint) => toReceipt(await write("mintPoints", () => c.settlement.mint.populateTransaction(asAddress("mintPoints", "to", to), amount))),
    commitTestSet: async (settlementId: Hex, testSetHash: Hex, recipeHash: Hex) =>
      toReceipt(await write("commitTestSet", () => c.settlement.commit.populateTransaction(bytes32("commitTestSet", "settlementId", settlementId), testSetHash, recipeHash))),
    settle: async (p: { readonly settlementId: Hex; readonly revenue: bigint; readonly payouts: ReadonlyArray<{ readonly to: string; readonly amount: bigint }>; readonly toTreasury: bigint; readonly scoresHash: Hex }) =>
      toReceipt(
        await write("settle", () =>
          c.settlement.settle.populateTransaction(bytes32("settle", "settlementId", p.settlementId), p.revenue, p.payouts.map((x) => getAddress(x.to)), p.payouts.map((x) => x.amount), p.toTreasury, p.scoresHash)
        )
      ),
    points: async (account: string): Promise<bigint> => guarded("points", () => c.settlement.balanceOf(getAddress(account))),
    treasury: async (): Promise<bigint> => guarded("treasury", () => c.settlement.treasury()),
    getCommitment: async (settlementId: Hex) => guarded("getCommitment", () => c.settlement.getCommitment(bytes32("getCommitment", "settlementId", settlementId))),

    // ------------------------------------------------------------ governance (§2.5)
    propose: async (p: { readonly kind: ProposalKind; readonly target?: Hex; readonly key?: Hex; readonly value?: bigint; readonly payloadHash?: Hex; readonly deadline: bigint }) => {
      const r = await write("propose", () =>
        c.governance.propose.populateTransaction(Governance.ProposalKind.indexOf(p.kind), p.target ?? ZERO_HASH, p.key ?? ZERO_HASH, p.value ?? 0n, p.payloadHash ?? ZERO_HASH, p.deadline)
      )
      return { ...toReceipt(r), id: eventIn(r, Governance.decodeLog, "Proposed").id as bigint }
    },
    vote: async (id: bigint, support: boolean) => toReceipt(await write("vote", () => c.governance.vote.populateTransaction(id, support))),
    execute: async (id: bigint) => {
      const r = await write("execute", () => c.governance.execute.populateTransaction(id))
      return { ...toReceipt(r), passed: eventIn(r, Governance.decodeLog, "Executed").passed as boolean }
    },
    getProposal: async (id: bigint): Promise<ProposalRecord | undefined> => {
      const p = await guarded("getProposal", () => c.governance.getProposal(id))
      if (p.state === 0n) return undefined
      return {
        id,
        kind: enumName(Governance.ProposalKind, p.kind),
        target: p.target,
        key: p.key,
        value: p.value,
        proposer: getAddress(p.proposer),
        deadline: p.deadline,
        yes: Number(p.yes),
        no: Number(p.no),
        electorate: Number(p.electorate),
        state: enumName(Governance.ProposalState, p.state)
      }
    },
    param: async (name: string): Promise<bigint> => guarded("param", () => c.governance.params(paramKey(name))),
    memberCount: async (): Promise<bigint> => guarded("memberCount", () => c.registry.memberCount()),
    /** The registered ECIES key (compressed, 0x-hex) of the company `account` is bound to (§2.1 (e)). */
    encryptionKeyOf: async (account: string): Promise<Hex | undefined> => {
      const [companyId] = await guarded("encryptionKeyOf", () => c.registry.companyOf(getAddress(account)))
      if (isZero(companyId)) return undefined
      return (await guarded("encryptionKeyOf", () => c.registry.getCompany(companyId))).encPubKey
    },

    // ------------------------------------------------------------ certificates (§7)
    certify: async (p: { readonly docHash: Hex; readonly metaHash: Hex; readonly claimedAt: bigint; readonly signature: Hex }) => {
      const r = await write("certify", () =>
        c.certificates.certify.populateTransaction(bytes32("certify", "docHash", p.docHash), bytes32("certify", "metaHash", p.metaHash), p.claimedAt, p.signature)
      )
      return { ...toReceipt(r), certId: String(eventIn(r, Certificates.decodeLog, "Certified").certId) }
    },
    endorse: async (certId: Hex) => toReceipt(await write("endorse", () => c.certificates.endorse.populateTransaction(bytes32("endorse", "certId", certId)))),
    getCert: async (certId: Hex): Promise<CertRecord | undefined> => {
      const x = await guarded("getCert", () => c.certificates.getCert(bytes32("getCert", "certId", certId)))
      if (isZero(x.submitter)) return undefined
      return {
        certId: certId.toLowerCase(),
        docHash: x.docHash,
        metaHash: x.metaHash,
        submitter: getAddress(x.submitter),
        claimedAt: x.claimedAt,
        timestamp: x.timestamp,
        blockNumber: x.blockNumber,
        endorsements: Number(x.endorsements)
      }
    },

    // ------------------------------------------------------------ logs, for indexers and audits
    /** Every log of the registry and the governance contracts in [fromBlock, toBlock], decoded, in chain order. */
    logs: async (fromBlock: bigint, toBlock: bigint): Promise<ReadonlyArray<SuiteLog>> => {
      const byAddress = new Map<string, keyof SuiteAddresses | "registry">([
        [getAddress(a.registry), "registry"],
        ...suiteKeys.map((k) => [getAddress(a[k]), k] as const)
      ])
      const raw = await guarded("logs", () => provider.getLogs({ address: [...byAddress.keys()], fromBlock, toBlock }))
      return [...raw]
        .sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index)
        .flatMap((log) => {
          const contract = byAddress.get(getAddress(log.address))!
          const e = decoders[contract](log)
          return e === null ? [] : [{ contract, name: e.name, args: e.args as Record<string, unknown>, blockNumber: BigInt(log.blockNumber), logIndex: log.index, txHash: log.transactionHash }]
        })
    },
    blockNumber: async (): Promise<bigint> => BigInt(await guarded("blockNumber", () => provider.getBlockNumber())),

    close: view.close
  }
}

export type GovernanceLedger = Awaited<ReturnType<typeof makeGovernanceLedger>>

/** The governance view as an Effect service: every operation an `Effect<A, ChainError>`. */
export type GovernanceShape = Effectful<Omit<GovernanceLedger, "close" | "chain" | "provider" | "wallet">>

export class GovernanceChain extends Context.Service<GovernanceChain, GovernanceShape>()("jointly/GovernanceChain") {}

/** The governance view as a scoped layer: connected (or joined to `config.chain`) on build, closed with the scope. */
export const layer = (config: GovernanceLedgerConfig): Layer.Layer<GovernanceChain, ChainError> =>
  Layer.effect(
    GovernanceChain,
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => makeGovernanceLedger(config), catch: (e) => toChainError("connect", e) }),
      (view) => Effect.promise(() => view.close())
    ).pipe(Effect.map((view) => effectify(view, ["close", "chain", "provider", "wallet"])))
  )

/** Hex of bytes, for the SDK's callers that hold Uint8Array hashes. */
export const toHex = (b: Uint8Array): Hex => hexlify(b)
