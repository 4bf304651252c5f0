/**
 * The chain as Jointly's roles see it (DESIGN.md §5): the consortium registry (PROTOCOLS.md §2.1) and the task
 * ledger (PROTOCOLS.md §3, DESIGN.md §3). One interface, two faces:
 *
 * - `LedgerClient`: Promise functions that reject with `ChainError`, for embedders without Effect;
 * - `Ledger`: the Effect service with the same operations, each an `Effect<A, ChainError>`.
 *
 * Implemented by `EthersLedger.ts`, a view over the one chain client (`Chain.ts`).
 */
import { Context, Effect } from "effect"
import { AbiCoder, hexlify, keccak256, toUtf8Bytes } from "ethers"
import type { ChainClient, Inclusion } from "./Chain.ts"
import { ChainError } from "./ChainError.ts"
import type { Consent, Domain } from "./Eip712.ts"
import { CompanyState } from "./generated/ConsortiumRegistry.ts"
import { Status } from "./generated/TaskLedger.ts"

/** Value (names in enum order) and type (their union), generated from the contracts' enums. */
export { CompanyState, Status as TaskStatus }

// ---------------------------------------------------------------- errors

/** Every operation fails with the chain layer's one error (`ChainError.ts`). */
export { ChainError, ChainErrorReason } from "./ChainError.ts"

// ---------------------------------------------------------------- data

/** 0x-prefixed hex. bytes32 values are 66 characters. */
export type Hex = string

export interface Addresses {
  readonly registry: string
  readonly ledger: string
  /** The block the contracts were deployed in; log queries start there. */
  readonly deployBlock?: bigint
}

/** The governance contracts of a deployment (GovernanceLedger.ts), saved next to registry and ledger. */
export interface SuiteAddresses {
  /** The consortium's TimelockController: admin and upgrader of the upgradeable contracts, the treasury. */
  readonly timelock: string
  readonly catalog: string
  readonly grants: string
  readonly modelRequests: string
  readonly settlement: string
  readonly governance: string
  readonly certificates: string
  /**
   * The ERC-1056 registry of the members' did:ethr documents (`contracts/DidRegistry.sol`, identity/DidIdentity.ts).
   * Absent in deployments saved before it existed: DID keys are then not available (only the account itself signs).
   */
  readonly didRegistry?: string
  /**
   * Encrypted files on IPFS with upload and download fees in points (`contracts/FileExchange.sol`,
   * FileExchangeLedger.ts). Absent in deployments saved before it existed.
   */
  readonly files?: string
}

export interface Deployment extends Addresses {
  /**
   * The governance contracts (GovernanceLedger.ts): catalogue, grants, model requests, settlement, votes,
   * certificates. Absent in deployments saved before they existed; `ensureDeployment` extends those.
   */
  readonly suite?: SuiteAddresses
  readonly chainId: bigint
  readonly deployBlock: bigint
  readonly supervisor: string
  readonly registryTx: Hex
  readonly ledgerTx: Hex
}

export interface TxReceipt {
  readonly txHash: Hex
  readonly blockNumber: bigint
  readonly gasUsed: bigint
}

/** A TaskLedger write. `applied` is false when its eventId was already recorded (an idempotent replay). */
export interface NotarizedWrite extends TxReceipt {
  readonly applied: boolean
}

export interface Company {
  readonly companyId: Hex
  readonly name: string
  readonly registrationNumber: string
  /** Compressed secp256k1 point, 33 bytes. */
  readonly encPubKey: Hex
  readonly dossierHash: Hex
  readonly state: CompanyState
  readonly registeredAt: bigint
  readonly addresses: ReadonlyArray<string>
}

export interface Membership {
  /** The company the account is bound to, if any, and that company's state (None when unbound). */
  readonly companyId: Hex | undefined
  readonly state: CompanyState
  /** A join request still waiting for approval. */
  readonly pendingJoin: Hex | undefined
  /** The company address that endorsed the pending join (the supervisor approves only endorsed joins). */
  readonly joinEndorsedBy: string | undefined
  /** Bound and Audited. */
  readonly active: boolean
}

export interface TaskRecord {
  readonly taskId: Hex
  readonly specHash: Hex
  readonly kind: string
  readonly initiator: string
  readonly coordinator: string
  readonly status: Status
  readonly createdAt: bigint
  readonly approvals: number
  readonly rejections: number
  readonly resultDigest: Hex | undefined
  readonly participants: ReadonlyArray<string>
}

export interface CreateTask {
  readonly eventId: Hex
  readonly taskId: Hex
  readonly specHash: Hex
  /** The task kind's route, e.g. `statistics.horizontal`. */
  readonly kind: string
  readonly initiator: string
  readonly participants: ReadonlyArray<string>
}

export interface RecordConsent extends Omit<Consent, "specHash"> {
  /**
   * Not sent: the contract checks the signature against the spec hash recorded by `createTask`, so the
   * participant must have signed exactly that one.
   */
  readonly specHash?: Hex
  readonly eventId: Hex
  readonly participant: string
  /** The participant's EIP-712 signature of the Consent (`Eip712.signConsent`). */
  readonly signature: Hex
}

export interface Transition {
  readonly eventId: Hex
  readonly taskId: Hex
  readonly to: Status
  /** keccak256 of the reason text (zero hash when none). */
  readonly reasonHash?: Hex
}

export interface CommitPhase {
  readonly eventId: Hex
  readonly taskId: Hex
  /** A label of at most 31 UTF-8 bytes (stored as a bytes32 string), or a raw bytes32. */
  readonly phase: string
  /** Merkle root (or hash) of the phase's round results. */
  readonly root: Hex
}

export interface RecordResult {
  readonly eventId: Hex
  readonly taskId: Hex
  readonly resultDigest: Hex
}

interface HistoryBase {
  readonly eventId: Hex
  readonly txHash: Hex
  readonly blockNumber: bigint
  readonly logIndex: number
}

/** One notarized step of a task, read back from the chain's logs alone. */
export type TaskHistoryEntry =
  | (HistoryBase & {
    readonly _tag: "TaskCreated"
    readonly specHash: Hex
    readonly kind: string
    readonly initiator: string
    readonly coordinator: string
    readonly participants: ReadonlyArray<string>
  })
  | (HistoryBase & {
    readonly _tag: "ConsentRecorded"
    readonly participant: string
    readonly approve: boolean
    readonly reasonHash: Hex
    readonly signature: Hex
  })
  | (HistoryBase & { readonly _tag: "TaskTransitioned"; readonly from: Status; readonly to: Status; readonly reasonHash: Hex })
  | (HistoryBase & { readonly _tag: "PhaseCommitted"; readonly phase: string; readonly root: Hex })
  | (HistoryBase & { readonly _tag: "ResultRecorded"; readonly resultDigest: Hex })

export interface Register {
  /** Normalized by `normalizeCompanyName` before hashing and storing. */
  readonly name: string
  readonly registrationNumber: string
  /** Compressed secp256k1 public key (33 bytes) for ECIES to this company. */
  readonly encPubKey: Uint8Array | Hex
  /** Salted hash of the dossier the supervisor vets off chain (PROTOCOLS.md §2.1 (b)). */
  readonly dossierHash: Hex
}

// ---------------------------------------------------------------- the interface

export interface LedgerClient {
  /** The account this client signs with. */
  readonly account: string
  readonly chainId: bigint
  /** Blocks (a record's own included) after which a record is final on this chain. */
  readonly confirmations: number
  /** The chain client underneath, to share with other views (one provider, one nonce manager per key). */
  readonly chain: ChainClient
  /** The contracts this client talks to; NotDeployed before `deploy` when none were configured. */
  readonly addresses: () => Promise<Addresses>
  /** The EIP-712 domain of this deployment (Consent, Login). */
  readonly domain: () => Promise<Domain>
  /**
   * The domain the task ledger announces itself (ERC-5267), and the implementation its proxy runs now: an
   * upgrade that changed the domain would change what every consent signature means.
   */
  readonly onChainDomain: () => Promise<{ readonly name: string; readonly version: string; readonly chainId: bigint; readonly verifyingContract: string; readonly implementation: string }>

  /**
   * Deploys registry + ledger (each an implementation behind a UUPS proxy) with `supervisor` (default: this
   * account) and binds this client to them. This account is their bootstrap admin until `deploySuite` hands them
   * to the consortium's timelock.
   */
  readonly deploy: (options?: { readonly supervisor?: string }) => Promise<Deployment>

  // registry
  readonly register: (p: Register) => Promise<TxReceipt & { readonly companyId: Hex }>
  /** The joining address's own request (its consent); the company must be Audited. */
  readonly requestJoin: (companyId: Hex) => Promise<TxReceipt>
  /** An address of the (Audited) company endorses a pending join. */
  readonly endorseJoin: (companyId: Hex, account: string) => Promise<TxReceipt>
  /** Supervisor only: binds an endorsed join (PROTOCOLS.md §2.1 (a)). */
  readonly approveJoin: (companyId: Hex, account: string) => Promise<TxReceipt>
  readonly removeAddress: (companyId: Hex, account: string) => Promise<TxReceipt>
  /** Supervisor only. */
  readonly setState: (companyId: Hex, state: CompanyState, reasonHash?: Hex) => Promise<TxReceipt>
  readonly setEncryptionKey: (encPubKey: Uint8Array | Hex) => Promise<TxReceipt>
  readonly getCompany: (companyId: Hex) => Promise<Company | undefined>
  readonly companyOf: (account: string) => Promise<Membership>
  readonly isActive: (account: string) => Promise<boolean>

  // task ledger
  /** Supervisor only. */
  readonly setCoordinator: (coordinator: string, enabled?: boolean) => Promise<TxReceipt>
  readonly createTask: (p: CreateTask) => Promise<NotarizedWrite>
  /** Sign a Consent with this client's account (a participant's side of `recordConsent`). */
  readonly signConsent: (consent: Consent) => Promise<Hex>
  readonly recordConsent: (p: RecordConsent) => Promise<NotarizedWrite>
  readonly transition: (p: Transition) => Promise<NotarizedWrite>
  readonly commitPhase: (p: CommitPhase) => Promise<NotarizedWrite>
  readonly recordResult: (p: RecordResult) => Promise<NotarizedWrite>
  readonly isRecorded: (eventId: Hex) => Promise<boolean>
  readonly getTask: (taskId: Hex) => Promise<TaskRecord | undefined>
  /** Every notarized step of the task, in chain order, from logs alone. */
  readonly taskHistory: (taskId: Hex) => Promise<ReadonlyArray<TaskHistoryEntry>>
  /** Waits for a sent transaction (e.g. one an outbox saved before a crash); Reverted if it failed. */
  readonly waitForReceipt: (txHash: Hex, options?: { readonly timeoutMs?: number }) => Promise<TxReceipt>
  /** Whether a transaction is in a canonical block, how deep, and whether that is final; Missing when reorganised away. */
  readonly inclusion: (txHash: Hex) => Promise<Inclusion>
  /** Forgets this key's local nonce, so the next write starts from the node's pending count (after a reorg). */
  readonly resync: () => Promise<void>
  /** Releases the connection. */
  readonly close: () => Promise<void>
}

/** A Promise view's Effect face: each operation an `Effect<A, ChainError>`, plain values unchanged. */
export type Effectful<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Effect.Effect<R, ChainError>
    : T[K]
}

/**
 * Lifts every Promise operation of a view into an Effect (a rejection that is not a ChainError is a defect);
 * `omit` drops members the Effect face must not offer (closing is the layer's scope's job).
 */
export const effectify = <T extends object, K extends keyof T = never>(client: T, omit: ReadonlyArray<K> = []): Effectful<Omit<T, K>> =>
  Object.fromEntries(
    Object.entries(client)
      .filter(([key]) => !(omit as ReadonlyArray<string>).includes(key))
      .map(([key, value]) => [
        key,
        typeof value === "function"
          ? (...args: Array<unknown>) =>
            Effect.tryPromise({ try: () => value(...args) as Promise<unknown>, catch: (e) => e }).pipe(
              Effect.catch((e) => (e instanceof ChainError ? Effect.fail(e) : Effect.die(e)))
            )
          : value
      ])
  ) as Effectful<Omit<T, K>>

export type LedgerShape = Effectful<Omit<LedgerClient, "close" | "chain">>

export class Ledger extends Context.Service<Ledger, LedgerShape>()("jointly/Ledger") {}

/** The Effect face of a Promise ledger client. */
export const fromClient = (client: LedgerClient): LedgerShape => effectify(client, ["close", "chain"])

// ---------------------------------------------------------------- pure helpers

export const ZERO_HASH: Hex = `0x${"00".repeat(32)}`

/**
 * The SDK's canonical company name (PROTOCOLS.md §2.1 (b)): Unicode NFKC, trimmed, inner whitespace collapsed,
 * upper case, so "Acme  Gmbh" and "ACME GmbH" are one company and cannot be registered twice.
 */
export const normalizeCompanyName = (name: string): string =>
  name.normalize("NFKC").trim().replace(/\s+/gu, " ").toUpperCase()

/** companyId = keccak256(abi.encode(normalizedName, registrationNumber)), as the registry computes it. */
export const companyIdOf = (name: string, registrationNumber: string): Hex =>
  keccak256(AbiCoder.defaultAbiCoder().encode(["string", "string"], [normalizeCompanyName(name), registrationNumber.trim()]))

/** keccak256 of a UTF-8 reason; the zero hash for none (reasons stay off chain, PROTOCOLS.md §0). */
export const reasonHash = (reason?: string): Hex => (reason === undefined || reason === "" ? ZERO_HASH : keccak256(toUtf8Bytes(reason)))

/** A fresh random eventId for an outbox entry (CSPRNG). */
export const newEventId = (): Hex => hexlify(crypto.getRandomValues(new Uint8Array(32)))
