/**
 * A member's view of `contracts/FileExchange.sol`: encrypted files on IPFS with upload and download fees
 * (PROTOCOLS.md §2.6, §11 item 39), paid in the consortium's points. Like the other views it is one key on one
 * chain client (`View.ts`): writes go through the client's nonce manager and receipt wait, reads map failures to
 * ChainError. What is put on IPFS, and how the key travels, is the participant's (`participant/.../FileShare.ts`).
 */
import { getAddress, hexlify, keccak256, toUtf8Bytes } from "ethers"
import * as FileExchange from "./generated/FileExchange.ts"
import * as Settlement from "./generated/Settlement.ts"
import { chainError } from "./ChainError.ts"
import { reasonHash, type Hex, type TxReceipt } from "./Ledger.ts"
import * as View from "./View.ts"
import { asAddress, asBytes32, enumName, toReceipt } from "./View.ts"

export { FileExchange }

export interface FileExchangeConfig extends View.Connection {
  readonly privateKey: string
  readonly addresses: { readonly files: string; readonly settlement: string; readonly deployBlock?: bigint }
}

export interface SharedFile {
  readonly cidHash: Hex
  readonly uploader: string
  readonly ctHash: Hex
  readonly metaHash: Hex
  readonly downloadFee: bigint
  readonly uploadedAt: bigint
}

export interface DownloadRequest {
  readonly requestId: Hex
  readonly cidHash: Hex
  readonly requester: string
  readonly status: FileExchange.RequestStatus
  /** Where the fee went: still held by the exchange, paid to the uploader, or refunded to the requester. */
  readonly escrow: FileExchange.Escrow
  /** The dispute window the purchase was made under, in seconds. */
  readonly window: bigint
  /** End of the dispute window (delivery time + window, unix seconds); 0 while no key was delivered. */
  readonly deadline: bigint
  /** The fee held in escrow. */
  readonly amount: bigint
}

/**
 * What can happen next to a request's escrowed fee, as of a chain time: `AwaitingKey` (no key delivered: the
 * uploader is not paid; the requester may dispute), `InWindow` (delivered, disputable until the deadline),
 * `Disputed` (the supervisor decides), `Withdrawable` (the uploader may take it), `Refundable` (dispute upheld:
 * the requester may take it back), then `Released` or `Refunded`.
 */
export type EscrowState = "AwaitingKey" | "InWindow" | "Disputed" | "Withdrawable" | "Refundable" | "Released" | "Refunded"

/** The contract's rules (`withdrawPayment`, `claimRefund`, `dispute`) read off a request, for display. */
export const escrowStateOf = (request: DownloadRequest, dispute: FileExchange.DisputeStatus, now: bigint): EscrowState => {
  if (request.escrow !== "Held") return request.escrow
  if (dispute === "Open") return "Disputed"
  if (dispute === "Upheld") return "Refundable"
  if (request.status !== "Delivered") return "AwaitingKey"
  return dispute === "Rejected" || now > request.deadline ? "Withdrawable" : "InWindow"
}

/** FileExchange.cidHashOf: how a CID is named on chain. */
export const cidHashOf = (cid: string): Hex => keccak256(toUtf8Bytes(cid))

export const makeFileExchangeLedger = async (config: FileExchangeConfig) => {
  const view = await View.open(config, config.privateKey)
  const { chain, signer, write, guarded } = view
  const provider = chain.provider
  const address = asAddress("FileExchange", "files", config.addresses.files)
  const files = FileExchange.connect(address, provider)
  const points = Settlement.connect(config.addresses.settlement, provider)
  const fromBlock = config.addresses.deployBlock ?? 0n
  const eventIn = (receipt: { hash: string; logs: ReadonlyArray<{ topics: ReadonlyArray<string>; data: string }> }, name: FileExchange.FileExchangeEventName) => {
    for (const log of receipt.logs) {
      const e = FileExchange.decodeLog(log)
      if (e?.name === name) return e.args as unknown as Record<string, unknown>
    }
    throw chainError(name, { _tag: "InvalidInput" }, `no ${name} event in ${receipt.hash}`)
  }
  /** Lets the exchange take `amount` points (ERC-20 allowance) unless it already may. */
  const allow = async (amount: bigint) => {
    if (amount === 0n) return
    const allowance = await guarded("allowance", () => points.allowance(signer.address, address))
    if (allowance < amount) await write("approve", () => points.approve.populateTransaction(address, amount))
  }
  const decodeLogs = async (
    operation: string,
    name: FileExchange.FileExchangeEventName,
    topics: ReadonlyArray<string | null>,
    blocks: { readonly from: bigint; readonly to: bigint | "latest" } = { from: fromBlock, to: "latest" }
  ) => {
    const topic = FileExchange.contractInterface.getEvent(name)!.topicHash
    const logs = await guarded(operation, () => provider.getLogs({ address, topics: [topic, ...topics], fromBlock: blocks.from, toBlock: blocks.to }))
    return logs.map((l) => FileExchange.decodeLog(l)!.args as unknown as Record<string, unknown>)
  }
  const requestOf = async (requestId: Hex): Promise<DownloadRequest | undefined> => {
    const r = await guarded("getRequest", () => files.getRequest(asBytes32("request", "requestId", requestId)))
    if (r.status === 0n) return undefined
    return {
      requestId: requestId.toLowerCase(),
      cidHash: r.cidHash.toLowerCase(),
      requester: getAddress(r.requester),
      status: enumName(FileExchange.RequestStatus, r.status),
      escrow: enumName(FileExchange.Escrow, r.escrow),
      window: r.window,
      deadline: r.deadline,
      amount: r.amount
    }
  }
  const topicOf = (account: string) => `0x${getAddress(account).slice(2).toLowerCase().padStart(64, "0")}`

  return {
    account: signer.address,
    address,
    /** The chain's id: with `address`, what names this exchange anywhere (Originals' locations). */
    chainId: chain.chainId,
    uploadFee: (): Promise<bigint> => guarded("uploadFee", () => files.uploadFee()),
    /** Records an encrypted file (its CID and ciphertext hash) and pays the upload fee. */
    upload: async (cid: string, ctHash: Hex, metaHash: Hex, downloadFee: bigint): Promise<TxReceipt & { readonly cidHash: Hex }> => {
      await allow(await guarded("uploadFee", () => files.uploadFee()))
      const r = await write("upload", () =>
        files.upload.populateTransaction(cid, asBytes32("upload", "ctHash", ctHash), asBytes32("upload", "metaHash", metaHash), downloadFee))
      return { ...toReceipt(r), cidHash: String(eventIn(r, "FileUploaded").cidHash).toLowerCase() }
    },
    /**
     * Pays the uploader's download fee for a file into the exchange's escrow and asks for its key; resolves with the
     * request id.
     */
    requestDownload: async (cidHash: Hex): Promise<TxReceipt & { readonly requestId: Hex; readonly fee: bigint }> => {
      const file = await guarded("getFile", () => files.getFile(asBytes32("requestDownload", "cidHash", cidHash)))
      await allow(file.downloadFee)
      const r = await write("requestDownload", () => files.requestDownload.populateTransaction(cidHash))
      const e = eventIn(r, "DownloadRequested")
      return { ...toReceipt(r), requestId: String(e.requestId).toLowerCase(), fee: BigInt(e.fee as bigint) }
    },
    /** The uploader hands the file's key over, encrypted to the requester. */
    deliverKey: async (requestId: Hex, wrappedKey: Uint8Array): Promise<TxReceipt> =>
      toReceipt(await write("deliverKey", () => files.deliverKey.populateTransaction(asBytes32("deliverKey", "requestId", requestId), hexlify(wrappedKey)))),
    /**
     * The requester contests its paid request (no key came, or the key or file does not match the chain); the
     * evidence (e.g. the typed error's text) goes on chain as its keccak256.
     */
    dispute: async (requestId: Hex, evidence: string): Promise<TxReceipt> =>
      toReceipt(await write("dispute", () => files.dispute.populateTransaction(asBytes32("dispute", "requestId", requestId), reasonHash(evidence)))),
    /** The supervisor's arbitration: upheld withdraws the file from sale and makes the fee refundable. */
    resolveDispute: async (requestId: Hex, uphold: boolean, reason: string): Promise<TxReceipt> =>
      toReceipt(await write("resolveDispute", () => files.resolveDispute.populateTransaction(asBytes32("resolveDispute", "requestId", requestId), uphold, reasonHash(reason)))),
    disputeOf: async (requestId: Hex): Promise<FileExchange.DisputeStatus> =>
      enumName(FileExchange.DisputeStatus, await guarded("disputeOf", () => files.disputeOf(asBytes32("disputeOf", "requestId", requestId)))),
    /**
     * The uploader takes a request's fee from escrow: after its dispute window passed with no dispute, or once the
     * dispute was rejected. Resolves with the amount paid out.
     */
    withdrawPayment: async (requestId: Hex): Promise<TxReceipt & { readonly amount: bigint }> => {
      const r = await write("withdrawPayment", () => files.withdrawPayment.populateTransaction(asBytes32("withdrawPayment", "requestId", requestId)))
      return { ...toReceipt(r), amount: BigInt(eventIn(r, "PaymentReleased").amount as bigint) }
    },
    /** The requester takes its fee back after its dispute was upheld. Resolves with the amount refunded. */
    claimRefund: async (requestId: Hex): Promise<TxReceipt & { readonly amount: bigint }> => {
      const r = await write("claimRefund", () => files.claimRefund.populateTransaction(asBytes32("claimRefund", "requestId", requestId)))
      return { ...toReceipt(r), amount: BigInt(eventIn(r, "PaymentRefunded").amount as bigint) }
    },
    /** The dispute window of requests paid from now on, in seconds (a governance parameter). */
    disputeWindow: (): Promise<bigint> => guarded("disputeWindow", () => files.disputeWindow()),
    /** The request, its dispute and what may happen to its fee next, as of the head block's time. */
    escrow: async (requestId: Hex): Promise<{ readonly request: DownloadRequest; readonly dispute: FileExchange.DisputeStatus; readonly state: EscrowState; readonly now: bigint } | undefined> => {
      const request = await requestOf(requestId)
      if (request === undefined) return undefined
      const dispute = enumName(FileExchange.DisputeStatus, await guarded("disputeOf", () => files.disputeOf(request.requestId)))
      const head = await guarded("getBlock", () => provider.getBlock("latest"))
      const now = BigInt(head?.timestamp ?? 0)
      return { request, dispute, state: escrowStateOf(request, dispute, now), now }
    },
    /** Whether an upheld dispute took the file off sale. */
    withdrawn: async (cidHash: Hex): Promise<boolean> => guarded("withdrawn", () => files.withdrawn(asBytes32("withdrawn", "cidHash", cidHash))),
    setUploadFee: async (fee: bigint): Promise<TxReceipt> => toReceipt(await write("setUploadFee", () => files.setUploadFee.populateTransaction(fee))),
    file: async (cidHash: Hex): Promise<SharedFile | undefined> => {
      const f = await guarded("getFile", () => files.getFile(asBytes32("file", "cidHash", cidHash)))
      if (/^0x0*$/.test(f.uploader)) return undefined
      return { cidHash: cidHash.toLowerCase(), uploader: getAddress(f.uploader), ctHash: f.ctHash.toLowerCase(), metaHash: f.metaHash.toLowerCase(), downloadFee: f.downloadFee, uploadedAt: f.uploadedAt }
    },
    request: requestOf,
    /**
     * The ids of download requests for `uploader`'s files asked from block `since` (default: the deployment) up to
     * the head, oldest first, and the head's number: a caller that follows new requests passes `head + 1` next
     * time, so it reads each block's logs once however long the uploader's history grows.
     */
    requestedSince: async (uploader: string, since: bigint = fromBlock): Promise<{ readonly requestIds: ReadonlyArray<Hex>; readonly head: bigint }> => {
      const head = BigInt(await guarded("blockNumber", () => provider.getBlockNumber()))
      if (since > head) return { requestIds: [], head }
      const asked = await decodeLogs("requestedSince", "DownloadRequested", [null, null, topicOf(uploader)], { from: since, to: head })
      return { requestIds: asked.map((e) => String(e.requestId).toLowerCase()), head }
    },
    /** The key delivered for a request (encrypted to its requester), or undefined while none is. */
    deliveredKey: async (requestId: Hex): Promise<Uint8Array | undefined> => {
      const [e] = await decodeLogs("deliveredKey", "KeyDelivered", [asBytes32("deliveredKey", "requestId", requestId)])
      return e === undefined ? undefined : new Uint8Array(Buffer.from(String(e.wrappedKey).slice(2), "hex"))
    },
    close: view.close
  }
}

export type FileExchangeLedger = Awaited<ReturnType<typeof makeFileExchangeLedger>>
