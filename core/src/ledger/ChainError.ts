/**
 * The one error of the chain layer (STYLE.md, after viem's BaseError): a `reason` a program can switch on, a
 * one-line `shortMessage` a person can read, `details` in the node's or library's own words, and the original
 * `cause`. The chain client and every contract view (registry, task ledger, governance suite) fail with it.
 */
import { Schema } from "effect"
import { isError, isHexString } from "ethers"
import * as AccessGrants from "./generated/AccessGrants.ts"
import * as Certificates from "./generated/Certificates.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as DataCatalog from "./generated/DataCatalog.ts"
import * as DidRegistry from "./generated/DidRegistry.ts"
import * as FileExchange from "./generated/FileExchange.ts"
import * as Governance from "./generated/Governance.ts"
import * as ModelRequests from "./generated/ModelRequests.ts"
import * as Settlement from "./generated/Settlement.ts"
import * as TaskLedger from "./generated/TaskLedger.ts"
import * as Timelock from "./generated/TimelockController.ts"

/**
 * Why a chain operation failed. Amounts of wei are decimal strings (they exceed a JSON number).
 *
 * - `Reverted`: the contract refused; `errorName` is its custom error (e.g. `NotSupervisor`), `Unknown` when the
 *   revert carried none. Deterministic: sending again will not help.
 * - `Unreachable`: the node did not answer or refused the request for a reason of its own.
 * - `NotDeployed`: the view has no contract addresses (neither configured nor deployed).
 * - `InvalidInput`: an argument was refused before anything was sent.
 * - `FeeCeilingExceeded`: the network's base fee is above the configured ceiling; nothing was sent.
 * - `InsufficientFunds`: the account cannot pay for gas (fund it from the operator's account).
 * - `NonceConflict`: the node kept refusing the account's next nonce (another writer on the same key).
 * - `ReceiptTimeout`: the transaction was sent but not mined in time; it may still land (wait for `txHash`).
 * - `Dropped`: the node lost the transaction and would not take it again.
 */
export const ChainErrorReason = Schema.Union([
  Schema.TaggedStruct("Reverted", {
    errorName: Schema.String,
    /** The custom error's arguments, stringified (bigints in decimal), keyed by parameter name. */
    args: Schema.Record(Schema.String, Schema.String)
  }),
  Schema.TaggedStruct("Unreachable", {}),
  Schema.TaggedStruct("NotDeployed", {}),
  Schema.TaggedStruct("InvalidInput", {}),
  Schema.TaggedStruct("FeeCeilingExceeded", { networkFeeWei: Schema.String, ceilingWei: Schema.String }),
  Schema.TaggedStruct("InsufficientFunds", { account: Schema.String }),
  Schema.TaggedStruct("NonceConflict", { account: Schema.String, nonce: Schema.String }),
  Schema.TaggedStruct("ReceiptTimeout", { txHash: Schema.String }),
  Schema.TaggedStruct("Dropped", { txHash: Schema.String })
])
export type ChainErrorReason = typeof ChainErrorReason.Type

export class ChainError extends Schema.TaggedError<ChainError>()("ChainError", {
  reason: ChainErrorReason,
  operation: Schema.String,
  shortMessage: Schema.String,
  details: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return this.details === "" ? this.shortMessage : `${this.shortMessage}\n\nDetails: ${this.details}`
  }

  /** The custom error's name when the contract reverted, else undefined. */
  get revertName(): string | undefined {
    return this.reason._tag === "Reverted" ? this.reason.errorName : undefined
  }

  /** True when trying again later may succeed (the node, the fee market or the key's nonce were in the way). */
  get transient(): boolean {
    return !["Reverted", "InvalidInput", "NotDeployed"].includes(this.reason._tag)
  }
}

export const chainError = (operation: string, reason: ChainErrorReason, shortMessage: string, details = "", cause?: unknown) =>
  new ChainError({ reason, operation, shortMessage, details, ...(cause === undefined ? {} : { cause }) })

/** Throws an InvalidInput ChainError naming what was refused (input checks of the Promise views). */
export const invalid = (operation: string, what: string, value: unknown): never => {
  throw chainError(operation, { _tag: "InvalidInput" }, `${operation}: invalid ${what}`, `got ${String(value)}`)
}

// ---------------------------------------------------------------- mapping what ethers or a node threw

const stringifyArgs = (args: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(args).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(",") : String(v)]))

const revertData = (e: unknown): string | undefined => {
  for (let cur: any = e, depth = 0; cur !== undefined && cur !== null && depth < 6; cur = cur.error ?? cur.info?.error ?? cur.cause, depth++) {
    if (typeof cur.data === "string" && isHexString(cur.data) && cur.data.length >= 10) return cur.data
    if (typeof cur.data?.data === "string" && isHexString(cur.data.data) && cur.data.data.length >= 10) return cur.data.data
  }
  return undefined
}

/** Every contract's custom errors, tried in turn (selectors of distinct errors do not collide in practice). */
const errorDecoders = [
  Registry.decodeError,
  TaskLedger.decodeError,
  DataCatalog.decodeError,
  AccessGrants.decodeError,
  ModelRequests.decodeError,
  Settlement.decodeError,
  Governance.decodeError,
  Timelock.decodeError,
  Certificates.decodeError,
  FileExchange.decodeError,
  DidRegistry.decodeError
] as ReadonlyArray<(data: string) => { readonly name: string; readonly args: Record<string, unknown> } | null>

const decodeAnyError = (data: string) => {
  for (const decode of errorDecoders) {
    const decoded = decode(data)
    if (decoded !== null) return decoded
  }
  return null
}

/** The node's own words, however deep ethers wrapped them. */
export const nodeMessage = (e: unknown): string => {
  const parts: Array<string> = []
  for (let cur: any = e, depth = 0; cur !== undefined && cur !== null && depth < 6; cur = cur.error ?? cur.info?.error ?? cur.cause, depth++) {
    if (typeof cur === "string") parts.push(cur)
    else if (typeof cur.message === "string") parts.push(cur.message)
  }
  return parts.join(" | ")
}

/** What a node's refusal of a transaction means, across anvil, Hardhat, geth and Besu wordings. */
export type SendRefusal = "NonceTooLow" | "NonceTooHigh" | "Underpriced" | "AlreadyKnown" | "InsufficientFunds" | undefined

export const sendRefusal = (e: unknown): SendRefusal => {
  const m = nodeMessage(e).toLowerCase().replaceAll("_", " ")
  if (m.includes("already known") || m.includes("known transaction") || m.includes("already imported")) return "AlreadyKnown"
  if (isError(e, "NONCE_EXPIRED")) return "NonceTooLow"
  if (isError(e, "REPLACEMENT_UNDERPRICED")) return "Underpriced"
  if (isError(e, "INSUFFICIENT_FUNDS")) return "InsufficientFunds"
  if (m.includes("nonce too low") || m.includes("nonce has already been used")) return "NonceTooLow"
  if (m.includes("nonce too high") || m.includes("nonce gap")) return "NonceTooHigh"
  if (m.includes("replacement") && m.includes("underpriced")) return "Underpriced"
  if (m.includes("insufficient funds") || m.includes("doesn't have enough funds") || m.includes("upfront cost exceeds balance")) return "InsufficientFunds"
  return undefined
}

/** Maps anything ethers or the node threw to a ChainError (viem-style short message + details + cause). */
export const toChainError = (operation: string, e: unknown): ChainError => {
  if (e instanceof ChainError) return e
  const details = e instanceof Error ? ((e as { shortMessage?: string }).shortMessage ?? e.message) : String(e)
  if (isError(e, "CALL_EXCEPTION") || revertData(e) !== undefined) {
    const data = revertData(e)
    const decoded = data === undefined ? null : decodeAnyError(data)
    if (decoded !== null) {
      const args = stringifyArgs(decoded.args)
      const shown = Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ")
      return chainError(operation, { _tag: "Reverted", errorName: decoded.name, args }, `${operation} reverted with ${decoded.name}(${shown})`, details, e)
    }
    return chainError(operation, { _tag: "Reverted", errorName: "Unknown", args: {} }, `${operation} reverted`, details, e)
  }
  if (isError(e, "INVALID_ARGUMENT") || isError(e, "NUMERIC_FAULT") || isError(e, "BUFFER_OVERRUN")) {
    return chainError(operation, { _tag: "InvalidInput" }, `${operation}: invalid input`, details, e)
  }
  if (isError(e, "INSUFFICIENT_FUNDS") || sendRefusal(e) === "InsufficientFunds") {
    return chainError(operation, { _tag: "InsufficientFunds", account: "" }, `${operation}: the account cannot pay for gas`, details, e)
  }
  // Reverts some nodes (Hardhat) report as a plain RPC error message during estimation.
  const m = nodeMessage(e)
  if (/reverted|revert/i.test(m) && !/nonce/i.test(m)) {
    return chainError(operation, { _tag: "Reverted", errorName: "Unknown", args: {} }, `${operation} reverted`, m, e)
  }
  return chainError(operation, { _tag: "Unreachable" }, `${operation}: the chain node did not answer or refused the request`, details, e)
}
