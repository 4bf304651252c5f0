/**
 * What every contract view shares: one key on one chain client, writes through the client's `send` (its nonce
 * manager, fees and receipt wait), reads mapped to ChainError, and the input checks and decoders the views
 * apply at their edge. `EthersLedger.ts` (registry and task ledger) and `GovernanceLedger.ts` (the governance
 * suite) are thin views built on this.
 */
import {
  decodeBytes32String,
  encodeBytes32String,
  getAddress,
  hexlify,
  isHexString,
  type ContractTransaction,
  type TransactionReceipt
} from "ethers"
import * as Chain from "./Chain.ts"
import { chainError, invalid, toChainError } from "./ChainError.ts"
import type { Hex, TxReceipt } from "./Ledger.ts"

/** How a view reaches the chain: a shared client, or its own connection to `rpcUrl`. */
export type Connection = Chain.ChainConfig & {
  /** A chain client to share (one provider, one nonce manager per key); the view does not close it. */
  readonly chain?: Chain.ChainClient
}

export interface View {
  readonly chain: Chain.ChainClient
  readonly signer: Chain.Signer
  /** Sends a populated contract call (or any request) from this view's key; resolves once mined. */
  readonly write: (operation: string, populate: () => Promise<ContractTransaction | Chain.TxRequest>) => Promise<TransactionReceipt>
  /** A read, its failures mapped to ChainError. */
  readonly guarded: <A>(operation: string, f: () => Promise<A>) => Promise<A>
  /** Closes the connection when the view opened it. */
  readonly close: () => Promise<void>
}

export const open = async (connection: Connection, privateKey: string): Promise<View> => {
  const chain = connection.chain ?? (await Chain.make(connection))
  const owned = connection.chain === undefined
  let signer: Chain.Signer
  try {
    signer = chain.signer(privateKey)
  } catch (e) {
    if (owned) await chain.close()
    throw e
  }
  const guarded = async <A>(operation: string, f: () => Promise<A>): Promise<A> => {
    try {
      return await f()
    } catch (e) {
      throw toChainError(operation, e)
    }
  }
  return {
    chain,
    signer,
    guarded,
    write: async (operation, populate) => {
      const request = await guarded(operation, populate)
      return chain.send(
        signer,
        {
          ...(request.to === undefined || request.to === null ? {} : { to: String(request.to) }),
          ...(request.data === undefined ? {} : { data: request.data }),
          ...(request.value === undefined || request.value === null ? {} : { value: BigInt(request.value) })
        },
        operation
      )
    },
    close: async () => {
      if (owned) await chain.close()
    }
  }
}

// ---------------------------------------------------------------- input checks (the views' edge)

export const asBytes32 = (operation: string, what: string, v: string): Hex =>
  isHexString(v, 32) ? v.toLowerCase() : invalid(operation, `${what} (expected 32-byte hex)`, v)

export const asAddress = (operation: string, what: string, v: string): string => {
  try {
    return getAddress(v)
  } catch {
    return invalid(operation, `${what} (expected an address)`, v)
  }
}

export const asEncPubKey = (operation: string, key: Uint8Array | Hex): Hex => {
  const hex = typeof key === "string" ? key : hexlify(key)
  return isHexString(hex, 33) ? hex.toLowerCase() : invalid(operation, "encPubKey (expected 33-byte compressed secp256k1)", hex)
}

/** A phase label of at most 31 UTF-8 bytes (stored as a bytes32 string), or a raw bytes32. */
export const asPhase = (operation: string, phase: string): Hex => {
  if (isHexString(phase, 32)) return phase.toLowerCase()
  try {
    return encodeBytes32String(phase)
  } catch {
    return invalid(operation, "phase (a label of at most 31 UTF-8 bytes or a bytes32)", phase)
  }
}

/** The label a bytes32 phase holds, or the raw hex when it is not a string. */
export const phaseLabel = (phase: string): string => {
  try {
    return decodeBytes32String(phase)
  } catch {
    return phase
  }
}

export const enumName = <T extends string>(names: ReadonlyArray<T>, value: bigint): T => {
  const name = names[Number(value)]
  if (name === undefined) throw chainError("decode", { _tag: "InvalidInput" }, `enum value ${value} out of range`)
  return name
}

export const isZero = (h: string) => /^0x0*$/.test(h)

export const toReceipt = (r: TransactionReceipt): TxReceipt => ({ txHash: r.hash, blockNumber: BigInt(r.blockNumber), gasUsed: r.gasUsed })
