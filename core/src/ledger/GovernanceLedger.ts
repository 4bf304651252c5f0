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
import * as DidRegistry from "./generated/DidRegistry.ts"
import * as FileExchange from "./generated/FileExchange.ts"
import * as Governance from "./generated/Governance.ts"
import * as ModelRequests from "./generated/ModelRequests.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as Settlement from "./generated/Settlement.ts"
import * as TaskLedger from "./generated/TaskLedger.ts"
import * as Timelock from "./generated/TimelockController.ts"
import * as Valuation from "../incentives/Valuation.ts"
import { effectify, ZERO_HASH, reasonHash, type Effectful, type Hex, type SuiteAddresses } from "./Ledger.ts"
import { deployImplementation, deployUpgradeable, implementationOf } from "./Upgradeable.ts"
import * as View from "./View.ts"
import { asAddress, asBytes32, enumName, isZero, toReceipt } from "./View.ts"

export { AccessGrants, Certificates, DataCatalog, Governance, ModelRequests, Settlement, Timelock }

// ---------------------------------------------------------------- addresses and deployment

export type { SuiteAddresses }

/** The governance contracts whose logs the indexers read (the DID registry is read by ethr-did-resolver instead). */
export type SuiteKey = Exclude<keyof SuiteAddresses, "didRegistry" | "files">
export const suiteKeys: ReadonlyArray<SuiteKey> = ["timelock", "catalog", "grants", "modelRequests", "settlement", "governance", "certificates"]

export interface SuiteOptions {
  /** The timelock's delay between a passed Upgrade or Call vote and its execution (default 2 days). */
  readonly timelockDelaySeconds?: bigint
  /** How long members may dispute a posted settlement (default 3 days). */
  readonly disputeWindowSeconds?: bigint
  /** Points a member pays the treasury to record a file on the FileExchange (default 1; a governance parameter). */
  readonly uploadFeePoints?: bigint
  /**
   * How long a member who bought a file may dispute it once its key is delivered, before the fee held in escrow can
   * go to the uploader (default 3 days; a governance parameter of the FileExchange).
   */
  readonly fileDisputeWindowSeconds?: bigint
}

const role = (name: string) => keccak256(toUtf8Bytes(name))
export const roles = {
  admin: ZERO_HASH,
  supervisor: role("SUPERVISOR_ROLE"),
  pauser: role("PAUSER_ROLE"),
  upgrader: role("UPGRADER_ROLE"),
  governor: role("GOVERNOR_ROLE"),
  member: role("MEMBER_ROLE"),
  coordinator: role("COORDINATOR_ROLE"),
  proposer: role("PROPOSER_ROLE"),
  executor: role("EXECUTOR_ROLE"),
  canceller: role("CANCELLER_ROLE")
} as const

/**
 * Deploys the governance contracts against an existing registry and task ledger and hands the deployment over to
 * the consortium: a TimelockController whose only proposer and executor is the Governance contract becomes the
 * admin and upgrader of registry, ledger and settlement (and the treasury); Governance becomes the registry's
 * governor; `from` (the bootstrap admin `deploy` left) then holds no role but the ones it was given as supervisor.
 * Rejects with `Reverted` when `from` is no longer the registry's admin (a deployment already handed over).
 */
export const deploySuite = async (
  chain: Chain.ChainClient,
  from: Chain.Signer,
  core: { readonly registry: string; readonly ledger: string },
  supervisor: string,
  options: SuiteOptions = {}
): Promise<SuiteAddresses> => {
  const op = "deploySuite"
  const deploy = async (data: string) => getAddress((await chain.send(from, { data }, op)).contractAddress!)
  const call = (to: string, data: string) => chain.send(from, { to, data }, op)
  const registry = getAddress(core.registry)
  // The bootstrap admin must still hold the registry before anything is deployed: a handed-over deployment
  // cannot take a second governance set.
  const registryView = Registry.connect(registry, chain.provider)
  if (!(await registryView.hasRole(roles.admin, from.address))) {
    throw chainError(op, { _tag: "Reverted", errorName: "AccessControlUnauthorizedAccount", args: { account: from.address, neededRole: roles.admin } }, `${op}: ${from.address} is not the registry's admin (already handed over?)`)
  }
  const timelock = await deploy(Timelock.deployData({ minDelay: options.timelockDelaySeconds ?? 2n * 86_400n, proposers: [], executors: [], admin: from.address }))
  // Independent creations go out together: the chain client gives them consecutive nonces.
  const [catalog, settlement, governance] = await Promise.all([
    deploy(DataCatalog.deployData({ registry_: registry })),
    deployUpgradeable(chain, from, Settlement.deployData({}), Settlement.contractInterface.encodeFunctionData("initialize", [registry, from.address, supervisor, timelock, options.disputeWindowSeconds ?? 3n * 86_400n]), op),
    deploy(Governance.deployData({ registry_: registry, timelock_: timelock }))
  ])
  const [grants, modelRequests, certificates, didRegistry, files] = await Promise.all([
    deploy(AccessGrants.deployData({ registry_: registry, catalog_: catalog })),
    deploy(ModelRequests.deployData({ registry_: registry, catalog_: catalog })),
    deploy(Certificates.deployData({ registry_: registry })),
    // Ownerless: every account controls its own DID; nothing of it is handed over to the timelock.
    deploy(DidRegistry.deployData({})),
    // Fees move in Settlement points to the treasury (the timelock), which also sets the upload fee.
    deploy(FileExchange.deployData({ registry_: registry, points_: settlement.proxy, treasury_: timelock, admin: timelock, uploadFee_: options.uploadFeePoints ?? 1n, disputeWindow_: options.fileDisputeWindowSeconds ?? 3n * 86_400n }))
  ])
  const grant = (target: string, roleId: string, account: string) => call(target, Registry.contractInterface.encodeFunctionData("grantRole", [roleId, account]))
  await Promise.all([
    grant(timelock, roles.proposer, governance),
    grant(timelock, roles.executor, governance),
    grant(timelock, roles.canceller, governance),
    grant(registry, roles.governor, governance)
  ])
  // The ledger accepts consents signed by a member's DID consent keys (identity/DidIdentity.ts); set while `from`
  // still administers it, so after the hand-over only a vote changes it.
  await call(getAddress(core.ledger), TaskLedger.contractInterface.encodeFunctionData("setDidRegistry", [didRegistry]))
  const handOver = Registry.contractInterface.encodeFunctionData("handOver", [timelock])
  await Promise.all([call(registry, handOver), call(getAddress(core.ledger), handOver), call(settlement.proxy, handOver)])
  await call(timelock, Timelock.contractInterface.encodeFunctionData("renounceRole", [roles.admin, from.address]))
  return { timelock, catalog, grants, modelRequests, settlement: settlement.proxy, governance, certificates, didRegistry, files }
}

/** The upgradeable contracts by name, with the creation code of their current implementation. */
export const upgradeableContracts = {
  registry: Registry,
  ledger: TaskLedger,
  settlement: Settlement
} as const
export type UpgradeableName = keyof typeof upgradeableContracts

// ---------------------------------------------------------------- data

export const AccessPolicy = DataCatalog.AccessPolicy
export type AccessPolicy = DataCatalog.AccessPolicy
export type GrantStatus = AccessGrants.GrantStatus
export type Validity = AccessGrants.Validity
export type ProposalKind = Governance.ProposalKind
export type SettlementStatus = Settlement.Status
export type CertStatus = Certificates.CertStatus

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
  readonly status: CertStatus
  /** The revocation's reason, or an open dispute's evidence. */
  readonly reasonHash: Hex | undefined
  readonly challenger: string | undefined
}

export interface SettlementRecord {
  readonly settlementId: Hex
  readonly payer: string
  readonly testSetHash: Hex
  readonly recipeHash: Hex
  readonly committedBlock: bigint
  /** Unix seconds after which the posted valuation pays out (0 before a post). */
  readonly disputeDeadline: bigint
  readonly status: SettlementStatus
  readonly valuationHash: Hex | undefined
  /** Points in escrow. */
  readonly revenue: bigint
  readonly challenger: string | undefined
  readonly evidenceHash: Hex | undefined
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
  readonly addresses: SuiteAddresses & { readonly registry: string; readonly ledger?: string; readonly deployBlock?: bigint }
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
    certificates: Certificates.connect(a.certificates, provider),
    timelock: Timelock.connect(a.timelock, provider)
  }
  const upgradeableAddress = (name: UpgradeableName): string => {
    const address = name === "registry" ? a.registry : name === "settlement" ? a.settlement : a.ledger
    if (address === undefined) throw chainError("upgradeable", { _tag: "InvalidInput" }, `no ${name} address configured`)
    return getAddress(address)
  }
  const settlementDomain = Valuation.settlementDomain(chain.chainId, a.settlement)
  /** The first log `name` that `decode` finds in a receipt. */
  const eventIn = <E extends { name: string; args: unknown }>(r: { hash: string; logs: ReadonlyArray<{ topics: ReadonlyArray<string>; data: string }> }, decode: (l: { topics: ReadonlyArray<string>; data: string }) => E | null, name: E["name"]) => {
    for (const log of r.logs) {
      const e = decode(log)
      if (e?.name === name) return e.args as Record<string, unknown>
    }
    throw chainError(name, { _tag: "InvalidInput" }, `no ${name} event in ${r.hash}`)
  }
  const bytes32 = asBytes32

  const decoders: Record<SuiteKey | "registry", (l: { topics: ReadonlyArray<string>; data: string }) => { name: string; args: unknown } | null> = {
    registry: Registry.decodeLog,
    catalog: DataCatalog.decodeLog,
    grants: AccessGrants.decodeLog,
    modelRequests: ModelRequests.decodeLog,
    settlement: Settlement.decodeLog,
    governance: Governance.decodeLog,
    certificates: Certificates.decodeLog,
    timelock: Timelock.decodeLog
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
    /** A human of the owner's organisation approves or rejects a waiting request (ModelRequests.decide). */
    decideModel: async (reqId: Hex, approve: boolean, reason?: string) =>
      toReceipt(await write("decideModel", () => c.modelRequests.decide.populateTransaction(bytes32("decideModel", "reqId", reqId), approve, reasonHash(reason)))),
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
    transferPoints: async (to: string, amount: bigint) => toReceipt(await write("transferPoints", () => c.settlement.transfer.populateTransaction(asAddress("transferPoints", "to", to), amount))),
    commitTestSet: async (settlementId: Hex, testSetHash: Hex, recipeHash: Hex) =>
      toReceipt(await write("commitTestSet", () => c.settlement.commit.populateTransaction(bytes32("commitTestSet", "settlementId", settlementId), bytes32("commitTestSet", "testSetHash", testSetHash), bytes32("commitTestSet", "recipeHash", recipeHash)))),
    /** The EIP-712 domain the payer signs valuations in. */
    settlementDomain,
    /** This account's signature of a valuation (it must be the commitment's payer for `postValuation` to accept it). */
    signValuation: async (v: Valuation.Valuation): Promise<Hex> => guarded("signValuation", () => Valuation.signValuation(signer.wallet, settlementDomain, v)),
    /** Posts a payer's signed valuation (this account only relays) and escrows its revenue; the dispute window starts. */
    postValuation: async (v: Valuation.Valuation, signature: Hex) => {
      const r = await write("postValuation", () => c.settlement.post.populateTransaction(Valuation.toAbi(v), signature))
      const e = eventIn(r, Settlement.decodeLog, "Posted")
      return { ...toReceipt(r), valuationHash: String(e.valuationHash), revenue: e.revenue as bigint, disputeDeadline: e.disputeDeadline as bigint }
    },
    disputeSettlement: async (settlementId: Hex, evidence: string) =>
      toReceipt(await write("disputeSettlement", () => c.settlement.dispute.populateTransaction(bytes32("disputeSettlement", "settlementId", settlementId), reasonHash(evidence)))),
    /** Reveals a stream's salted score table; the contract recomputes the shares and overturns a valuation that differs. */
    disputeWithScores: async (v: Valuation.Valuation, stream: number, salt: Hex, scores: ReadonlyArray<bigint>) =>
      toReceipt(await write("disputeWithScores", () => c.settlement.disputeWithScores.populateTransaction(Valuation.toAbi(v), stream, bytes32("disputeWithScores", "salt", salt), [...scores]))),
    /** Supervisor only: upheld overturns the valuation and refunds the payer; rejected lets it pay after the window. */
    arbitrate: async (settlementId: Hex, uphold: boolean, reason: string) =>
      toReceipt(await write("arbitrate", () => c.settlement.arbitrate.populateTransaction(bytes32("arbitrate", "settlementId", settlementId), uphold, reasonHash(reason)))),
    finalizeSettlement: async (v: Valuation.Valuation) => {
      const r = await write("finalizeSettlement", () => c.settlement.finalize.populateTransaction(Valuation.toAbi(v)))
      const e = eventIn(r, Settlement.decodeLog, "Settled")
      return { ...toReceipt(r), toTreasury: e.toTreasury as bigint }
    },
    getSettlement: async (settlementId: Hex): Promise<SettlementRecord | undefined> => {
      const id = bytes32("getSettlement", "settlementId", settlementId)
      const x = await guarded("getSettlement", () => c.settlement.getRecord(id))
      if (x.status === 0n) return undefined
      return {
        settlementId: id,
        payer: getAddress(x.payer),
        testSetHash: x.testSetHash,
        recipeHash: x.recipeHash,
        committedBlock: x.committedBlock,
        disputeDeadline: x.disputeDeadline,
        status: enumName(Settlement.Status, x.status),
        valuationHash: isZero(x.valuationHash) ? undefined : x.valuationHash,
        revenue: x.revenue,
        challenger: isZero(x.challenger) ? undefined : getAddress(x.challenger),
        evidenceHash: isZero(x.evidenceHash) ? undefined : x.evidenceHash
      }
    },
    /** The valuation posted last for a settlement, decoded from its Posted event (what `finalizeSettlement` takes). */
    postedValuation: async (settlementId: Hex): Promise<Valuation.Valuation | undefined> => {
      const id = bytes32("postedValuation", "settlementId", settlementId)
      const topic = Settlement.contractInterface.getEvent("Posted")!.topicHash
      const logs = await guarded("postedValuation", () => provider.getLogs({ address: a.settlement, topics: [topic, id], fromBlock: a.deployBlock ?? 0n, toBlock: "latest" }))
      const last = [...logs].sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index).at(-1)
      const event = last === undefined ? null : Settlement.decodeLog(last)
      if (event?.name !== "Posted") return undefined
      const v = event.args.valuation
      return {
        settlementId: v.settlementId,
        period: v.period,
        streams: v.streams.map((s) => ({ ...s, thirdParty: getAddress(s.thirdParty), owners: s.owners.map((o) => getAddress(o)) })),
        miners: { ...v.miners, rule: enumName(Valuation.miningRules, v.miners.rule), accounts: v.miners.accounts.map((x) => getAddress(x)), rounds: Number(v.miners.rounds) },
        testSetHash: v.testSetHash,
        modelHashes: v.modelHashes
      }
    },
    /** The contract's own payout computation for a valuation (entries stream by stream, and the treasury's remainder). */
    settlementPayouts: async (v: Valuation.Valuation) => {
      const [to, amounts, toTreasury] = await guarded("settlementPayouts", () => c.settlement.payouts(Valuation.toAbi(v)))
      return { entries: to.map((t, i) => ({ to: getAddress(t), amount: amounts[i]! })), toTreasury }
    },
    /** Thm. 1/2 exact shares computed by the contract (an eth_call: the scores are not published). */
    simpleModel: async (owners: number, miners: number, scores: ReadonlyArray<bigint>): Promise<Valuation.Shares> => {
      const [ownerShares, miner, thirdParty, denominator, clamped] = await guarded("simpleModel", () => c.settlement.simpleModel(owners, miners, [...scores]))
      return { owners: [...ownerShares], miner, thirdParty, denominator, clamped }
    },
    /** P_k computed by the contract from the miners' evidence. */
    miningShares: async (miners: Valuation.Miners) => {
      const [numerators, denominator] = await guarded("miningShares", () => c.settlement.miningShares(Valuation.toAbi({ settlementId: ZERO_HASH, period: 0n, streams: [], miners, testSetHash: ZERO_HASH, modelHashes: [] }).miners))
      return { numerators: [...numerators], denominator }
    },
    points: async (account: string): Promise<bigint> => guarded("points", () => c.settlement.balanceOf(getAddress(account))),
    /** The treasury's balance of points (the remainders of every payout). */
    treasury: async (): Promise<bigint> => guarded("treasury", async () => c.settlement.balanceOf(await c.settlement.treasury())),
    getCommitment: async (settlementId: Hex) => guarded("getCommitment", () => c.settlement.getRecord(bytes32("getCommitment", "settlementId", settlementId))),

    // ------------------------------------------------------------ governance (§2.5)
    propose: async (p: { readonly kind: ProposalKind; readonly target?: Hex; readonly key?: Hex; readonly value?: bigint; readonly payloadHash?: Hex; readonly deadline: bigint }) => {
      const r = await write("propose", () =>
        c.governance.propose.populateTransaction(Governance.ProposalKind.indexOf(p.kind), p.target ?? ZERO_HASH, p.key ?? ZERO_HASH, p.value ?? 0n, p.payloadHash ?? ZERO_HASH, p.deadline)
      )
      return { ...toReceipt(r), id: eventIn(r, Governance.decodeLog, "Proposed").id as bigint }
    },
    /** Proposes moving an upgradeable contract's proxy to `implementation` (deploy it first: `deployImplementation`). */
    proposeUpgrade: async (p: { readonly contract: UpgradeableName; readonly implementation: string; readonly data?: Hex; readonly deadline: bigint }) => {
      const r = await write("proposeUpgrade", () =>
        c.governance.proposeUpgrade.populateTransaction(upgradeableAddress(p.contract), asAddress("proposeUpgrade", "implementation", p.implementation), p.data ?? "0x", p.deadline)
      )
      return { ...toReceipt(r), id: eventIn(r, Governance.decodeLog, "Proposed").id as bigint }
    },
    /** Proposes any call the timelock makes as the consortium's admin (a role, a parameter, the treasury). */
    proposeCall: async (p: { readonly target: string; readonly data: Hex; readonly deadline: bigint }) => {
      const r = await write("proposeCall", () => c.governance.proposeCall.populateTransaction(asAddress("proposeCall", "target", p.target), p.data, p.deadline))
      return { ...toReceipt(r), id: eventIn(r, Governance.decodeLog, "Proposed").id as bigint }
    },
    vote: async (id: bigint, support: boolean) => toReceipt(await write("vote", () => c.governance.vote.populateTransaction(id, support))),
    /** Closes a vote after its deadline; a passed Upgrade or Call is queued on the timelock (`readyAt`). */
    execute: async (id: bigint) => {
      const r = await write("execute", () => c.governance.execute.populateTransaction(id))
      const queued = r.logs.map((l) => Governance.decodeLog(l)).find((e) => e?.name === "Queued")
      return { ...toReceipt(r), passed: eventIn(r, Governance.decodeLog, "Executed").passed as boolean, readyAt: queued?.name === "Queued" ? queued.args.readyAt : undefined }
    },
    /** Runs a queued Upgrade or Call once the timelock's delay has passed. */
    executeQueued: async (id: bigint) => toReceipt(await write("executeQueued", () => c.governance.executeQueued.populateTransaction(id))),
    /** Deploys the current build's implementation of an upgradeable contract (what `proposeUpgrade` points to). */
    deployImplementation: async (contract: UpgradeableName) => guarded("deployImplementation", () => deployImplementation(chain, signer, upgradeableContracts[contract].deployData({}), "deployImplementation")),
    /** The implementation an upgradeable contract's proxy runs now. */
    implementationOf: async (contract: UpgradeableName) => guarded("implementationOf", () => implementationOf(chain, upgradeableAddress(contract))),
    timelockDelay: async (): Promise<bigint> => guarded("timelockDelay", () => c.timelock.getMinDelay()),
    /** Supervisor (PAUSER_ROLE) only: stops or resumes new activity on an upgradeable contract. */
    setPaused: async (contract: UpgradeableName, paused: boolean) =>
      toReceipt(await write("setPaused", async () => ({ to: upgradeableAddress(contract), data: Registry.contractInterface.encodeFunctionData(paused ? "pause" : "unpause", []) }))),
    hasRole: async (contract: UpgradeableName | "timelock", roleName: keyof typeof roles, account: string): Promise<boolean> =>
      guarded("hasRole", () => Registry.connect(contract === "timelock" ? a.timelock : upgradeableAddress(contract), provider).hasRole(roles[roleName], getAddress(account))),
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
    /** The submitter or the supervisor withdraws a certificate. */
    revokeCert: async (certId: Hex, reason: string) => toReceipt(await write("revokeCert", () => c.certificates.revoke.populateTransaction(bytes32("revokeCert", "certId", certId), reasonHash(reason)))),
    /** Another member contests a valid certificate; the supervisor resolves it. */
    disputeCert: async (certId: Hex, evidence: string) => toReceipt(await write("disputeCert", () => c.certificates.dispute.populateTransaction(bytes32("disputeCert", "certId", certId), reasonHash(evidence)))),
    /** Supervisor only: upheld revokes the certificate, rejected restores it. */
    resolveCert: async (certId: Hex, uphold: boolean, reason: string) =>
      toReceipt(await write("resolveCert", () => c.certificates.resolve.populateTransaction(bytes32("resolveCert", "certId", certId), uphold, reasonHash(reason)))),
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
        endorsements: Number(x.endorsements),
        status: enumName(Certificates.CertStatus, x.status),
        reasonHash: isZero(x.reasonHash) ? undefined : x.reasonHash,
        challenger: isZero(x.challenger) ? undefined : getAddress(x.challenger)
      }
    },

    // ------------------------------------------------------------ logs, for indexers and audits
    /** Every log of the registry and the governance contracts in [fromBlock, toBlock], decoded, in chain order. */
    logs: async (fromBlock: bigint, toBlock: bigint): Promise<ReadonlyArray<SuiteLog>> => {
      const byAddress = new Map<string, SuiteKey | "registry">([
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
      // Closing must not fail the scope: a provider that does not close cleanly is reported.
      (view) => Effect.tryPromise(() => view.close()).pipe(Effect.catch((error) => Effect.logWarning("the governance view did not close cleanly", error.cause)))
    ).pipe(Effect.map((view) => effectify(view, ["close", "chain", "provider", "wallet"])))
  )

/** Hex of bytes, for the SDK's callers that hold Uint8Array hashes. */
export const toHex = (b: Uint8Array): Hex => hexlify(b)
