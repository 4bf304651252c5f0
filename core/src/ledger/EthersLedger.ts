/**
 * The registry and task-ledger view of the chain (DESIGN.md §5): any Ethereum JSON-RPC endpoint, the embedded
 * anvil or a consortium network, through the one chain client (`Chain.ts`: nonces, fees, receipts, finality).
 * Reverts come back as `ChainError` with the contract's custom-error name. Browser-safe: only `fetch` and ethers.
 */
import { Effect, Layer } from "effect"
import { getAddress, isHexString } from "ethers"
import * as Chain from "./Chain.ts"
import { chainError, invalid, toChainError, type ChainError } from "./ChainError.ts"
import * as Eip712 from "./Eip712.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as TaskLedger from "./generated/TaskLedger.ts"
import { deployUpgradeable, implementationOf } from "./Upgradeable.ts"
import {
  CompanyState,
  Ledger,
  TaskStatus,
  ZERO_HASH,
  companyIdOf,
  fromClient,
  normalizeCompanyName,
  type Addresses,
  type Company,
  type Hex,
  type LedgerClient,
  type NotarizedWrite,
  type TaskHistoryEntry,
  type TaskRecord
} from "./Ledger.ts"
import * as View from "./View.ts"
import { asAddress, asBytes32, asEncPubKey, asPhase, enumName, isZero, phaseLabel, toReceipt } from "./View.ts"

export interface EthersLedgerConfig extends View.Connection {
  /** The account's secp256k1 key (0x hex). */
  readonly privateKey: string
  /** An existing deployment; leave out to `deploy` one. */
  readonly addresses?: Addresses
}

/** Connects (or joins `config.chain`) and returns the Promise client of the registry and task ledger. */
export const makeEthersLedger = async (config: EthersLedgerConfig): Promise<LedgerClient> => {
  const view = await View.open(config, config.privateKey)
  const { chain, signer, write, guarded } = view
  const chainId = chain.chainId
  const provider = chain.provider
  const fail = (operation: string, reason: ChainError["reason"], shortMessage: string, details = ""): never => {
    throw chainError(operation, reason, shortMessage, details)
  }

  let bound: Addresses | undefined
  try {
    bound = config.addresses === undefined
      ? undefined
      : {
        ...config.addresses,
        registry: asAddress("connect", "registry address", config.addresses.registry),
        ledger: asAddress("connect", "ledger address", config.addresses.ledger)
      }
  } catch (e) {
    await view.close()
    throw e
  }

  let connected: { readonly addresses: NonNullable<typeof bound>; readonly registry: ReturnType<typeof Registry.connect>; readonly ledger: ReturnType<typeof TaskLedger.connect> } | undefined
  const contracts = (operation: string) => {
    if (bound === undefined) {
      return fail(operation, { _tag: "NotDeployed" }, `${operation}: no contracts configured`, "pass addresses or call deploy() first")
    }
    // Bound once per deployment: binding parses the contract's whole ABI, which every call used to pay.
    if (connected?.addresses !== bound) {
      connected = { addresses: bound, registry: Registry.connect(bound.registry, provider), ledger: TaskLedger.connect(bound.ledger, provider) }
    }
    return connected
  }

  type Populated = ReturnType<typeof Registry.connect>["register"]["populateTransaction"] extends (...a: any) => infer P ? P : never

  /** A TaskLedger write: applied unless the receipt lacks our eventId (indexed as topic 2 of every task event). */
  const notarize = async (
    operation: string,
    eventId: Hex,
    populate: (c: ReturnType<typeof contracts>) => Populated
  ): Promise<NotarizedWrite> => {
    const c = contracts(operation)
    const receipt = await write(operation, () => populate(c))
    const applied = receipt.logs.some(
      (log) => getAddress(log.address) === c.addresses.ledger && log.topics[2]?.toLowerCase() === eventId
    )
    return { ...toReceipt(receipt), applied }
  }

  const historyTopics = ["TaskCreated", "ConsentRecorded", "TaskTransitioned", "PhaseCommitted", "ResultRecorded"].map(
    (name) => TaskLedger.contractInterface.getEvent(name)!.topicHash
  )

  const client: LedgerClient = {
    account: signer.address,
    chainId,
    confirmations: chain.confirmations,
    chain,

    addresses: async () => contracts("addresses").addresses,

    domain: async () => Eip712.domain(chainId, contracts("domain").addresses.ledger),

    onChainDomain: async () => {
      const op = "onChainDomain"
      const { ledger, addresses } = contracts(op)
      const [d, implementation] = await guarded(op, () => Promise.all([ledger.eip712Domain(), implementationOf(chain, addresses.ledger)]))
      return { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: getAddress(d.verifyingContract), implementation }
    },

    deploy: async (options) => {
      const op = "deploy"
      const supervisor = asAddress(op, "supervisor", options?.supervisor ?? signer.address)
      // This account is the bootstrap admin until deploySuite hands the contracts over to the timelock.
      const admin = signer.address
      const registry = await guarded(op, () =>
        deployUpgradeable(chain, signer, Registry.deployData({}), Registry.contractInterface.encodeFunctionData("initialize", [admin, supervisor]), op)
      )
      const ledger = await guarded(op, () =>
        deployUpgradeable(chain, signer, TaskLedger.deployData({}), TaskLedger.contractInterface.encodeFunctionData("initialize", [registry.proxy, admin, supervisor]), op)
      )
      bound = { registry: registry.proxy, ledger: ledger.proxy, deployBlock: registry.blockNumber }
      return { ...bound, deployBlock: registry.blockNumber, chainId, supervisor, registryTx: registry.txHash, ledgerTx: ledger.txHash }
    },

    // ------------------------------------------------------------ registry

    register: async (p) => {
      const op = "register"
      const { registry } = contracts(op)
      const name = normalizeCompanyName(p.name)
      if (name === "") invalid(op, "name", p.name)
      const registrationNumber = p.registrationNumber.trim()
      const key = asEncPubKey(op, p.encPubKey)
      const dossierHash = asBytes32(op, "dossierHash", p.dossierHash)
      const receipt = await write(op, () => registry.register.populateTransaction(name, registrationNumber, key, dossierHash))
      return { ...toReceipt(receipt), companyId: companyIdOf(name, registrationNumber) }
    },

    requestJoin: async (companyId) => {
      const { registry } = contracts("requestJoin")
      const id = asBytes32("requestJoin", "companyId", companyId)
      return toReceipt(await write("requestJoin", () => registry.requestJoin.populateTransaction(id)))
    },

    endorseJoin: async (companyId, account) => {
      const op = "endorseJoin"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const who = asAddress(op, "account", account)
      return toReceipt(await write(op, () => registry.endorseJoin.populateTransaction(id, who)))
    },

    approveJoin: async (companyId, account) => {
      const op = "approveJoin"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const who = asAddress(op, "account", account)
      return toReceipt(await write(op, () => registry.approveJoin.populateTransaction(id, who)))
    },

    removeAddress: async (companyId, account) => {
      const op = "removeAddress"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const who = asAddress(op, "account", account)
      return toReceipt(await write(op, () => registry.removeAddress.populateTransaction(id, who)))
    },

    setState: async (companyId, state, reason = ZERO_HASH) => {
      const op = "setState"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const index = CompanyState.indexOf(state)
      if (index <= 0) invalid(op, "state", state)
      const r = asBytes32(op, "reasonHash", reason)
      return toReceipt(await write(op, () => registry.setState.populateTransaction(id, index, r)))
    },

    setEncryptionKey: async (encPubKey) => {
      const op = "setEncryptionKey"
      const { registry } = contracts(op)
      const key = asEncPubKey(op, encPubKey)
      return toReceipt(await write(op, () => registry.setEncryptionKey.populateTransaction(key)))
    },

    getCompany: async (companyId) => {
      const op = "getCompany"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const c = await guarded(op, () => registry.getCompany(id))
      if (c.state === 0n) return undefined
      const company: Company = {
        companyId: c.companyId,
        name: c.name,
        registrationNumber: c.registrationNumber,
        encPubKey: c.encPubKey,
        dossierHash: c.dossierHash,
        state: enumName(CompanyState, c.state),
        registeredAt: c.registeredAt,
        addresses: [...c.addresses].map((a) => getAddress(a))
      }
      return company
    },

    companyOf: async (account) => {
      const op = "companyOf"
      const { registry } = contracts(op)
      const who = asAddress(op, "account", account)
      const [[companyId, state], [pending, endorsedBy]] = await guarded(op, () =>
        Promise.all([registry.companyOf(who), registry.pendingJoinOf(who)])
      )
      const stateName = enumName(CompanyState, state)
      return {
        companyId: isZero(companyId) ? undefined : companyId,
        state: stateName,
        pendingJoin: isZero(pending) ? undefined : pending,
        joinEndorsedBy: isZero(endorsedBy) ? undefined : getAddress(endorsedBy),
        active: !isZero(companyId) && stateName === "Audited"
      }
    },

    isActive: async (account) => {
      const { registry } = contracts("isActive")
      const who = asAddress("isActive", "account", account)
      return guarded("isActive", () => registry.isActive(who))
    },

    // ------------------------------------------------------------ task ledger

    setCoordinator: async (coordinator, enabled = true) => {
      const op = "setCoordinator"
      const { ledger } = contracts(op)
      const who = asAddress(op, "coordinator", coordinator)
      return toReceipt(await write(op, () => ledger.setCoordinator.populateTransaction(who, enabled)))
    },

    createTask: async (p) => {
      const op = "createTask"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const specHash = asBytes32(op, "specHash", p.specHash)
      const initiator = asAddress(op, "initiator", p.initiator)
      const participants = p.participants.map((a) => asAddress(op, "participant", a))
      return notarize(op, eventId, ({ ledger }) => ledger.createTask.populateTransaction(eventId, taskId, specHash, p.kind, initiator, participants))
    },

    signConsent: async (consent) => {
      const d = Eip712.domain(chainId, contracts("signConsent").addresses.ledger)
      return guarded("signConsent", () => Eip712.signConsent(signer.wallet, d, consent))
    },

    recordConsent: async (p) => {
      const op = "recordConsent"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const participant = asAddress(op, "participant", p.participant)
      const reason = asBytes32(op, "reasonHash", p.reasonHash)
      if (!isHexString(p.signature)) invalid(op, "signature", p.signature)
      return notarize(op, eventId, ({ ledger }) =>
        ledger.recordConsent.populateTransaction(eventId, taskId, participant, p.approve, reason, p.signature)
      )
    },

    transition: async (p) => {
      const op = "transition"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const reason = asBytes32(op, "reasonHash", p.reasonHash ?? ZERO_HASH)
      const to = TaskStatus.indexOf(p.to)
      if (to < 0) invalid(op, "status", p.to)
      return notarize(op, eventId, ({ ledger }) => ledger.transition.populateTransaction(eventId, taskId, to, reason))
    },

    commitPhase: async (p) => {
      const op = "commitPhase"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const phase = asPhase(op, p.phase)
      const root = asBytes32(op, "root", p.root)
      return notarize(op, eventId, ({ ledger }) => ledger.commitPhase.populateTransaction(eventId, taskId, phase, root))
    },

    recordResult: async (p) => {
      const op = "recordResult"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const digest = asBytes32(op, "resultDigest", p.resultDigest)
      return notarize(op, eventId, ({ ledger }) => ledger.recordResult.populateTransaction(eventId, taskId, digest))
    },

    isRecorded: async (eventId) => {
      const { ledger } = contracts("isRecorded")
      const id = asBytes32("isRecorded", "eventId", eventId)
      return guarded("isRecorded", () => ledger.isRecorded(id))
    },

    getTask: async (taskId) => {
      const op = "getTask"
      const { ledger } = contracts(op)
      const id = asBytes32(op, "taskId", taskId)
      const t = await guarded(op, () => ledger.getTask(id))
      if (isZero(t.initiator)) return undefined
      const task: TaskRecord = {
        taskId: id,
        specHash: t.specHash,
        kind: t.kind,
        initiator: getAddress(t.initiator),
        coordinator: getAddress(t.coordinator),
        status: enumName(TaskStatus, t.status),
        createdAt: t.createdAt,
        approvals: Number(t.approvals),
        rejections: Number(t.rejections),
        resultDigest: isZero(t.resultDigest) ? undefined : t.resultDigest,
        participants: [...t.participants].map((a) => getAddress(a))
      }
      return task
    },

    taskHistory: async (taskId) => {
      const op = "taskHistory"
      const { addresses } = contracts(op)
      const id = asBytes32(op, "taskId", taskId)
      const logs = await guarded(op, () =>
        provider.getLogs({
          address: addresses.ledger,
          topics: [historyTopics, id],
          fromBlock: addresses.deployBlock ?? 0n,
          toBlock: "latest"
        })
      )
      const ordered = [...logs].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index)
      return ordered.flatMap((log): Array<TaskHistoryEntry> => {
        const event = TaskLedger.decodeLog(log)
        if (event === null) return []
        const base = { txHash: log.transactionHash, blockNumber: BigInt(log.blockNumber), logIndex: log.index }
        switch (event.name) {
          case "TaskCreated":
            return [{
              _tag: "TaskCreated",
              ...base,
              eventId: event.args.eventId,
              specHash: event.args.specHash,
              kind: event.args.kind,
              initiator: getAddress(event.args.initiator),
              coordinator: getAddress(event.args.coordinator),
              participants: event.args.participants.map((a) => getAddress(a))
            }]
          case "ConsentRecorded":
            return [{
              _tag: "ConsentRecorded",
              ...base,
              eventId: event.args.eventId,
              participant: getAddress(event.args.participant),
              approve: event.args.approve,
              reasonHash: event.args.reasonHash,
              signature: event.args.signature
            }]
          case "TaskTransitioned":
            return [{
              _tag: "TaskTransitioned",
              ...base,
              eventId: event.args.eventId,
              from: enumName(TaskStatus, event.args.from),
              to: enumName(TaskStatus, event.args.to),
              reasonHash: event.args.reasonHash
            }]
          case "PhaseCommitted":
            return [{ _tag: "PhaseCommitted", ...base, eventId: event.args.eventId, phase: phaseLabel(event.args.phase), root: event.args.root }]
          case "ResultRecorded":
            return [{ _tag: "ResultRecorded", ...base, eventId: event.args.eventId, resultDigest: event.args.resultDigest }]
          default:
            return []
        }
      })
    },

    waitForReceipt: async (txHash, options) => {
      const op = "waitForReceipt"
      const hash = asBytes32(op, "txHash", txHash)
      return toReceipt(await chain.waitForReceipt(hash, options))
    },

    inclusion: async (txHash) => chain.inclusion(asBytes32("inclusion", "txHash", txHash)),

    resync: () => chain.resync(signer.address),

    close: view.close
  }
  return client
}

/** The Ledger service over ethers; the connection is released with the layer's scope. */
export const layer = (config: EthersLedgerConfig): Layer.Layer<Ledger, ChainError> =>
  Layer.effect(
    Ledger,
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => makeEthersLedger(config), catch: (e) => toChainError("connect", e) }),
      // Closing must not fail the scope: a provider that does not close cleanly is reported.
      (client) => Effect.tryPromise(() => client.close()).pipe(Effect.catch((error) => Effect.logWarning("the ledger client did not close cleanly", error.cause)))
    ).pipe(Effect.map(fromClient))
  )
