/**
 * `Ledger` over ethers 6 and any Ethereum JSON-RPC endpoint: the embedded anvil or a consortium network
 * (DESIGN.md §5, "the same code path"). Browser-safe: only `fetch` and ethers.
 *
 * Writes from one client are serialized (estimate, sign, send one at a time) so nonces never collide; receipts
 * are awaited concurrently. Reverts come back as `LedgerError` with the contract's custom-error name.
 */
import { Effect, Layer } from "effect"
import {
  decodeBytes32String,
  encodeBytes32String,
  getAddress,
  hexlify,
  isError,
  isHexString,
  JsonRpcProvider,
  Network,
  Wallet,
  type ContractTransactionResponse,
  type TransactionReceipt
} from "ethers"
import * as Eip712 from "./Eip712.ts"
import * as AccessGrantsBinding from "./generated/AccessGrants.ts"
import * as CertificatesBinding from "./generated/Certificates.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as DataCatalogBinding from "./generated/DataCatalog.ts"
import * as GovernanceBinding from "./generated/Governance.ts"
import * as ModelRequestsBinding from "./generated/ModelRequests.ts"
import * as SettlementBinding from "./generated/Settlement.ts"
import * as TaskLedger from "./generated/TaskLedger.ts"
import {
  CompanyState,
  Ledger,
  LedgerError,
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
  type TaskRecord,
  type TxReceipt
} from "./Ledger.ts"

export interface EthersLedgerConfig {
  readonly rpcUrl: string
  /** The account's secp256k1 key (0x hex). */
  readonly privateKey: string
  /** An existing deployment; leave out to `deploy` one. */
  readonly addresses?: Addresses
  /** How long to wait for a receipt before failing with Unreachable (default 60 s). */
  readonly receiptTimeoutMs?: number
  /** Upper bound of the receipt polling interval (default 500 ms; polling starts at 20 ms). */
  readonly pollIntervalMs?: number
  /** How long to wait for the endpoint's first answer (default 10 s). */
  readonly connectTimeoutMs?: number
}

// ---------------------------------------------------------------- errors

const fail = (operation: string, reason: LedgerError["reason"], shortMessage: string, details = ""): never => {
  throw new LedgerError({ reason, operation, shortMessage, details })
}

const invalid = (operation: string, what: string, value: unknown): never =>
  fail(operation, { _tag: "InvalidInput" }, `${operation}: invalid ${what}`, `got ${String(value)}`)

const stringifyArgs = (args: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(args).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(",") : String(v)]))

const revertData = (e: unknown): string | undefined => {
  for (let cur: any = e, depth = 0; cur !== undefined && cur !== null && depth < 6; cur = cur.error ?? cur.info?.error ?? cur.cause, depth++) {
    if (typeof cur.data === "string" && isHexString(cur.data)) return cur.data
    if (typeof cur.data?.data === "string" && isHexString(cur.data.data)) return cur.data.data
  }
  return undefined
}

/** Every contract's custom errors, tried in turn (selectors of distinct errors do not collide in practice). */
const errorDecoders = [
  Registry.decodeError,
  TaskLedger.decodeError,
  DataCatalogBinding.decodeError,
  AccessGrantsBinding.decodeError,
  ModelRequestsBinding.decodeError,
  SettlementBinding.decodeError,
  GovernanceBinding.decodeError,
  CertificatesBinding.decodeError
] as ReadonlyArray<(data: string) => { readonly name: string; readonly args: Record<string, unknown> } | null>

const decodeAnyError = (data: string) => {
  for (const decode of errorDecoders) {
    const decoded = decode(data)
    if (decoded !== null) return decoded
  }
  return null
}

/** Maps anything ethers or the node threw to a LedgerError (viem-style short message + details). */
export const toLedgerError = (operation: string, e: unknown): LedgerError => {
  if (e instanceof LedgerError) return e
  const details = e instanceof Error ? ((e as { shortMessage?: string }).shortMessage ?? e.message) : String(e)
  if (isError(e, "CALL_EXCEPTION") || revertData(e) !== undefined) {
    const data = revertData(e)
    const decoded = data === undefined ? null : decodeAnyError(data)
    if (decoded !== null) {
      const args = stringifyArgs(decoded.args)
      const shown = Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ")
      return new LedgerError({
        reason: { _tag: "Reverted", errorName: decoded.name, args },
        operation,
        shortMessage: `${operation} reverted with ${decoded.name}(${shown})`,
        details
      })
    }
    return new LedgerError({
      reason: { _tag: "Reverted", errorName: "Unknown", args: {} },
      operation,
      shortMessage: `${operation} reverted`,
      details
    })
  }
  if (isError(e, "INVALID_ARGUMENT") || isError(e, "NUMERIC_FAULT") || isError(e, "BUFFER_OVERRUN")) {
    return new LedgerError({ reason: { _tag: "InvalidInput" }, operation, shortMessage: `${operation}: invalid input`, details })
  }
  return new LedgerError({
    reason: { _tag: "Unreachable" },
    operation,
    shortMessage: `${operation}: the chain node did not answer or refused the request`,
    details
  })
}

// ---------------------------------------------------------------- input checks

const asBytes32 = (operation: string, what: string, v: string): Hex =>
  isHexString(v, 32) ? v.toLowerCase() : invalid(operation, `${what} (expected 32-byte hex)`, v)

const asAddress = (operation: string, what: string, v: string): string => {
  try {
    return getAddress(v)
  } catch {
    return invalid(operation, `${what} (expected an address)`, v)
  }
}

const asEncPubKey = (operation: string, key: Uint8Array | Hex): Hex => {
  const hex = typeof key === "string" ? key : hexlify(key)
  return isHexString(hex, 33) ? hex.toLowerCase() : invalid(operation, "encPubKey (expected 33-byte compressed secp256k1)", hex)
}

const asPhase = (operation: string, phase: string): Hex => {
  if (isHexString(phase, 32)) return phase.toLowerCase()
  try {
    return encodeBytes32String(phase)
  } catch {
    return invalid(operation, "phase (a label of at most 31 UTF-8 bytes or a bytes32)", phase)
  }
}

const phaseLabel = (phase: string): string => {
  try {
    return decodeBytes32String(phase)
  } catch {
    return phase
  }
}

const enumName = <T extends string>(names: ReadonlyArray<T>, value: bigint): T => {
  const name = names[Number(value)]
  if (name === undefined) throw new Error(`enum value ${value} out of range`)
  return name
}

const isZero = (h: string) => /^0x0*$/.test(h)

// ---------------------------------------------------------------- the client

/** One raw JSON-RPC call over fetch (browser-safe); rejects with the node's error message. */
export const jsonRpc = async <T>(rpcUrl: string, method: string, params: ReadonlyArray<unknown>, timeoutMs = 5_000): Promise<T> => {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs)
  })
  const body = (await response.json()) as { result?: T; error?: { message?: string } }
  if (body.error !== undefined || !("result" in body)) {
    throw new Error(`${method}: ${body.error?.message ?? `HTTP ${response.status}`}`)
  }
  return body.result as T
}

/** Connects to `rpcUrl` (failing with Unreachable when it does not answer) and returns the Promise client. */
export const makeEthersLedger = async (config: EthersLedgerConfig): Promise<LedgerClient> => {
  let chainId: bigint
  try {
    chainId = BigInt(await jsonRpc<string>(config.rpcUrl, "eth_chainId", [], config.connectTimeoutMs ?? 10_000))
  } catch (e) {
    throw new LedgerError({
      reason: { _tag: "Unreachable" },
      operation: "connect",
      shortMessage: `no Ethereum JSON-RPC node answers at ${config.rpcUrl}`,
      details: e instanceof Error ? e.message : String(e)
    })
  }
  // A static network: ethers neither re-detects the chain on every call nor retries forever when the node is gone.
  // No response cache: a cached eth_getTransactionCount would hand two consecutive writes the same nonce.
  const provider = new JsonRpcProvider(config.rpcUrl, Network.from(chainId), {
    staticNetwork: true,
    pollingInterval: 500,
    cacheTimeout: -1
  })
  let wallet: Wallet
  try {
    wallet = new Wallet(config.privateKey, provider)
  } catch {
    provider.destroy()
    return invalid("connect", "privateKey", "<redacted>")
  }
  const receiptTimeoutMs = config.receiptTimeoutMs ?? 60_000
  const maxPollMs = config.pollIntervalMs ?? 500

  let bound: Addresses | undefined = config.addresses === undefined
    ? undefined
    : {
      ...config.addresses,
      registry: asAddress("connect", "registry address", config.addresses.registry),
      ledger: asAddress("connect", "ledger address", config.addresses.ledger)
    }

  const contracts = (operation: string) => {
    if (bound === undefined) {
      return fail(operation, { _tag: "NotDeployed" }, `${operation}: no contracts configured`, "pass addresses or call deploy() first")
    }
    return {
      addresses: bound,
      registry: Registry.connect(bound.registry, wallet),
      ledger: TaskLedger.connect(bound.ledger, wallet)
    }
  }

  // One write at a time from this account: each waits until the previous one is in the node's pool.
  let sendQueue: Promise<unknown> = Promise.resolve()
  const serialized = <A>(f: () => Promise<A>): Promise<A> => {
    const next = sendQueue.then(f, f)
    sendQueue = next.catch(() => undefined)
    return next
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  const awaitReceipt = async (operation: string, txHash: Hex, timeoutMs = receiptTimeoutMs): Promise<TransactionReceipt> => {
    const deadline = Date.now() + timeoutMs
    for (let delay = 20; ; delay = Math.min(delay * 2, maxPollMs)) {
      const receipt = await provider.getTransactionReceipt(txHash)
      if (receipt !== null) {
        if (receipt.status !== 1) {
          fail(operation, { _tag: "Reverted", errorName: "Unknown", args: {} }, `${operation}: transaction ${txHash} reverted on chain`)
        }
        return receipt
      }
      if (Date.now() > deadline) {
        fail(operation, { _tag: "Unreachable" }, `${operation}: no receipt for ${txHash} after ${timeoutMs} ms`, "the transaction may still be pending; wait for it again with waitForReceipt")
      }
      await sleep(delay)
    }
  }

  const toReceipt = (r: TransactionReceipt): TxReceipt => ({
    txHash: r.hash,
    blockNumber: BigInt(r.blockNumber),
    gasUsed: r.gasUsed
  })

  /** Runs `operation`, mapping every failure to a LedgerError. */
  const guarded = async <A>(operation: string, f: () => Promise<A>): Promise<A> => {
    try {
      return await f()
    } catch (e) {
      throw toLedgerError(operation, e)
    }
  }

  const write = (operation: string, send: () => Promise<ContractTransactionResponse>): Promise<TransactionReceipt> =>
    guarded(operation, async () => {
      const tx = await serialized(send)
      return awaitReceipt(operation, tx.hash)
    })

  /** A TaskLedger write: applied unless the receipt lacks our eventId (indexed as topic 2 of every task event). */
  const notarize = async (
    operation: string,
    eventId: Hex,
    send: (c: ReturnType<typeof contracts>) => Promise<ContractTransactionResponse>
  ): Promise<NotarizedWrite> => {
    const c = contracts(operation)
    const receipt = await write(operation, () => send(c))
    const applied = receipt.logs.some(
      (log) => getAddress(log.address) === c.addresses.ledger && log.topics[2]?.toLowerCase() === eventId
    )
    return { ...toReceipt(receipt), applied }
  }

  const historyTopics = ["TaskCreated", "ConsentRecorded", "TaskTransitioned", "PhaseCommitted", "ResultRecorded"].map(
    (name) => TaskLedger.contractInterface.getEvent(name)!.topicHash
  )

  const client: LedgerClient = {
    account: wallet.address,
    chainId,

    addresses: async () => contracts("addresses").addresses,

    domain: async () => Eip712.domain(chainId, contracts("domain").addresses.ledger),

    deploy: (options) =>
      guarded("deploy", async () => {
        const supervisor = asAddress("deploy", "supervisor", options?.supervisor ?? wallet.address)
        const registry = await serialized(() => Registry.deploy(wallet, { supervisor_: supervisor }))
        const ledger = await serialized(() =>
          TaskLedger.deploy(wallet, { registry_: registry.address, supervisor_: supervisor })
        )
        const receipt = await awaitReceipt("deploy", registry.txHash)
        bound = { registry: registry.address, ledger: ledger.address, deployBlock: BigInt(receipt.blockNumber) }
        return {
          ...bound,
          deployBlock: BigInt(receipt.blockNumber),
          chainId,
          supervisor,
          registryTx: registry.txHash,
          ledgerTx: ledger.txHash
        }
      }),

    // ------------------------------------------------------------ registry

    register: async (p) => {
      const op = "register"
      const { registry } = contracts(op)
      const name = normalizeCompanyName(p.name)
      if (name === "") invalid(op, "name", p.name)
      const registrationNumber = p.registrationNumber.trim()
      const key = asEncPubKey(op, p.encPubKey)
      const dossierHash = asBytes32(op, "dossierHash", p.dossierHash)
      const receipt = await write(op, () => registry.register(name, registrationNumber, key, dossierHash))
      return { ...toReceipt(receipt), companyId: companyIdOf(name, registrationNumber) }
    },

    requestJoin: async (companyId) => {
      const { registry } = contracts("requestJoin")
      const id = asBytes32("requestJoin", "companyId", companyId)
      return toReceipt(await write("requestJoin", () => registry.requestJoin(id)))
    },

    approveJoin: async (companyId, account) => {
      const op = "approveJoin"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const who = asAddress(op, "account", account)
      return toReceipt(await write(op, () => registry.approveJoin(id, who)))
    },

    removeAddress: async (companyId, account) => {
      const op = "removeAddress"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const who = asAddress(op, "account", account)
      return toReceipt(await write(op, () => registry.removeAddress(id, who)))
    },

    setState: async (companyId, state, reason = ZERO_HASH) => {
      const op = "setState"
      const { registry } = contracts(op)
      const id = asBytes32(op, "companyId", companyId)
      const index = CompanyState.indexOf(state)
      if (index <= 0) invalid(op, "state", state)
      const r = asBytes32(op, "reasonHash", reason)
      return toReceipt(await write(op, () => registry.setState(id, index, r)))
    },

    setEncryptionKey: async (encPubKey) => {
      const op = "setEncryptionKey"
      const { registry } = contracts(op)
      const key = asEncPubKey(op, encPubKey)
      return toReceipt(await write(op, () => registry.setEncryptionKey(key)))
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
      const [[companyId, state], pending] = await guarded(op, () =>
        Promise.all([registry.companyOf(who), registry.pendingJoinOf(who)])
      )
      const stateName = enumName(CompanyState, state)
      return {
        companyId: isZero(companyId) ? undefined : companyId,
        state: stateName,
        pendingJoin: isZero(pending) ? undefined : pending,
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
      return toReceipt(await write(op, () => ledger.setCoordinator(who, enabled)))
    },

    createTask: async (p) => {
      const op = "createTask"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const specHash = asBytes32(op, "specHash", p.specHash)
      const initiator = asAddress(op, "initiator", p.initiator)
      const participants = p.participants.map((a) => asAddress(op, "participant", a))
      return notarize(op, eventId, ({ ledger }) => ledger.createTask(eventId, taskId, specHash, p.kind, initiator, participants))
    },

    signConsent: async (consent) => {
      const d = Eip712.domain(chainId, contracts("signConsent").addresses.ledger)
      return guarded("signConsent", () => Eip712.signConsent(wallet, d, consent))
    },

    recordConsent: async (p) => {
      const op = "recordConsent"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const participant = asAddress(op, "participant", p.participant)
      const reason = asBytes32(op, "reasonHash", p.reasonHash)
      if (!isHexString(p.signature)) invalid(op, "signature", p.signature)
      return notarize(op, eventId, ({ ledger }) =>
        ledger.recordConsent(eventId, taskId, participant, p.approve, reason, p.signature)
      )
    },

    transition: async (p) => {
      const op = "transition"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const reason = asBytes32(op, "reasonHash", p.reasonHash ?? ZERO_HASH)
      const to = TaskStatus.indexOf(p.to)
      if (to < 0) invalid(op, "status", p.to)
      return notarize(op, eventId, ({ ledger }) => ledger.transition(eventId, taskId, to, reason))
    },

    commitPhase: async (p) => {
      const op = "commitPhase"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const phase = asPhase(op, p.phase)
      const root = asBytes32(op, "root", p.root)
      return notarize(op, eventId, ({ ledger }) => ledger.commitPhase(eventId, taskId, phase, root))
    },

    recordResult: async (p) => {
      const op = "recordResult"
      const eventId = asBytes32(op, "eventId", p.eventId)
      const taskId = asBytes32(op, "taskId", p.taskId)
      const digest = asBytes32(op, "resultDigest", p.resultDigest)
      return notarize(op, eventId, ({ ledger }) => ledger.recordResult(eventId, taskId, digest))
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
      return toReceipt(await guarded(op, () => awaitReceipt(op, hash, options?.timeoutMs)))
    },

    close: async () => {
      provider.destroy()
    }
  }
  return client
}

/** The Ledger service over ethers; the connection is released with the layer's scope. */
export const layer = (config: EthersLedgerConfig): Layer.Layer<Ledger, LedgerError> =>
  Layer.effect(
    Ledger,
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => makeEthersLedger(config), catch: (e) => toLedgerError("connect", e) }),
      (client) => Effect.promise(() => client.close())
    ).pipe(Effect.map(fromClient))
  )
