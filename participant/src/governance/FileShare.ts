/**
 * Files shared through IPFS for a fee (PROTOCOLS.md §2.6, §11 item 39), the participant's half of
 * `contracts/FileExchange.sol`:
 *
 * - **share**: the file and its description (name, size, SHA-256) are encrypted under a fresh data key (DEK,
 *   AES-256-GCM) before anything leaves the participant; the ciphertext goes to IPFS (pinned on this member's
 *   node), its CID and keccak256 and the description's hash go on chain with the upload fee. The CID on chain,
 *   and the block anyone may fetch by it, reveal nothing but the size. The DEK stays here, wrapped (ECIES) to
 *   this member's own encryption key, in `<dir>/<cidHash>.key`.
 * - **serve**: for each paid download request of this member's files, the DEK encrypted to the requester's
 *   current encryption key (its DID's newest keyAgreement key, else the registry's), bound to the request id,
 *   is posted on chain (`KeyDelivered`) — no server in between, and once per request.
 * - **download**: fetch the block by CID from any peer and check its hash against the chain, then pay the fee
 *   (held in the exchange's escrow until the dispute window after delivery passes), wait for the key (retries
 *   through `Schedule`), decrypt, and check the description against the hash on chain. A request whose key never
 *   comes, or whose file does not match, is disputed; an upheld dispute refunds the fee (`claimRefund`).
 *
 * Encrypted file, version 1: Ecies.seal(DEK, u32 n ‖ canonical JSON description (n bytes) ‖ file, "jointly.file.v1").
 * A key delivery: Ecies.encrypt(requester key, DEK, requestId ‖ cidHash).
 */
import { createHash, randomBytes } from "node:crypto"
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Duration, Effect, Schedule, Schema } from "effect"
import { concatBytes } from "@noble/hashes/utils.js"
import { getBytes, hexlify, keccak256 } from "ethers"
import type { ArtifactBlocksShape, BlockError } from "@jointly/core/internal/artifacts/Blocks"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import { cidHashOf, type FileExchangeLedger } from "@jointly/core/internal/ledger/FileExchangeLedger"
import type { ChainError } from "@jointly/core/internal/ledger/ChainError"
import { effectify, type Hex } from "@jointly/core/internal/ledger/Ledger"
import { canonicalJson } from "@jointly/core/internal/wire/Canonical"

const FILE_AD = new TextEncoder().encode("jointly.file.v1")
/**
 * A shared file travels as one IPFS block, and IPFS nodes do not exchange blocks over 2 MiB (Kubo's bitswap
 * limit; a Kubo node may be the uploader's or the reader's), so the ciphertext stays under it. Larger files would
 * need a chunked (UnixFS) DAG.
 */
export const MAX_FILE_BYTES = 2 * 1024 * 1024 - 64 * 1024

export class FileShareError extends Schema.TaggedError<FileShareError>()("FileShareError", {
  reason: Schema.Literals(["TooLarge", "KeyNotKept", "UnknownFile", "NotUploader", "WrongUploader", "Withdrawn", "NoEncryptionKey", "KeyNotDelivered", "CiphertextMismatch", "DescriptionMismatch", "Malformed"]),
  detail: Schema.String,
  /** Set when the fee was paid (the request to dispute: `FileExchangeLedger.dispute`). */
  requestId: Schema.optional(Schema.String)
}) {
  override get message() {
    return `file share ${this.reason}: ${this.detail}${this.requestId === undefined ? "" : ` (paid under request ${this.requestId}, which may be disputed)`}`
  }
}

/** What the uploader says of a file (name, size, hex SHA-256); encrypted with it, its hash on chain. */
const FileDescriptionSchema = Schema.Struct({ name: Schema.String, bytes: Schema.Number, sha256: Schema.String })
export type FileDescription = typeof FileDescriptionSchema.Type

export interface Options {
  /** This member's view of the FileExchange (its account uploads, pays and delivers). */
  readonly ledger: FileExchangeLedger
  /** This member's IPFS node (embedded Helia or Kubo). */
  readonly blocks: ArtifactBlocksShape
  /** This member's encryption key pair (the one its DID publishes for key agreement). */
  readonly key: Ecies.KeyPair
  /** Where the DEKs of this member's files are kept, each wrapped to `key`. */
  readonly dir: string
  /** A member's current encryption key (compressed, 0x-hex): its DID's newest keyAgreement key, else the registry's. */
  readonly encryptionKeyOf: (account: string) => Promise<string | undefined>
}

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const deliveryAd = (requestId: Hex, cidHash: Hex) => concatBytes(getBytes(requestId), getBytes(cidHash))
const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const metaHashOf = (d: FileDescription): Hex => keccak256(new TextEncoder().encode(canonicalJson(d)))

const encode = (description: FileDescription, file: Uint8Array) => {
  const header = new TextEncoder().encode(canonicalJson(description))
  return concatBytes(u32(header.length), header, file)
}
const decode = (plain: Uint8Array): Effect.Effect<{ description: FileDescription; file: Uint8Array }, FileShareError> => {
  if (plain.length < 4) return Effect.fail(new FileShareError({ reason: "Malformed", detail: "shorter than its header length" }))
  const n = new DataView(plain.buffer, plain.byteOffset, 4).getUint32(0)
  if (4 + n > plain.length) return Effect.fail(new FileShareError({ reason: "Malformed", detail: `a ${n}-byte description in ${plain.length} bytes` }))
  // Decoded by Schema: the bytes are authenticated under the uploader's key, but the uploader is not trusted to
  // have written a description of the right shape.
  return Effect.try({
    try: () => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain.subarray(4, 4 + n))) as unknown,
    catch: (cause) => cause
  }).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(FileDescriptionSchema)),
    Effect.mapError((cause) => new FileShareError({ reason: "Malformed", detail: `the file's description does not decode: ${cause instanceof Error ? cause.message : String(cause)}` })),
    Effect.map((description) => ({ description, file: plain.subarray(4 + n) }))
  )
}

/** What a FileShare operation may fail with: its own refusals, the chain's (ChainError), the IPFS node's. */
export type FileShareFailure = FileShareError | ChainError | BlockError

export const make = (o: Options) => {
  const keyPath = (cidHash: Hex) => join(o.dir, `${cidHash.toLowerCase()}.key`)
  // The exchange and the key lookup are Promise views: lifted once, a rejection a ChainError (anything else a defect).
  const ledger = effectify(o.ledger)
  const { encryptionKeyOf } = effectify({ encryptionKeyOf: o.encryptionKeyOf })
  const fail = (reason: FileShareError["reason"], detail: string, requestId?: Hex) =>
    Effect.fail(new FileShareError({ reason, detail, ...(requestId === undefined ? {} : { requestId }) }))

  const dekOf = (cidHash: Hex): Effect.Effect<Uint8Array, FileShareError> =>
    Effect.tryPromise({
      try: () => readFile(keyPath(cidHash), "utf8"),
      catch: () => new FileShareError({ reason: "NotUploader", detail: `no data key for ${cidHash} here` })
    }).pipe(
      Effect.flatMap((wrapped) =>
        Effect.try({
          try: () => Ecies.decrypt(o.key.secretKey, getBytes(wrapped.trim()), getBytes(cidHash)),
          catch: () => new FileShareError({ reason: "NotUploader", detail: `the data key kept for ${cidHash} here does not open with this member's key` })
        }))
    )

  /** Keeps `dek` wrapped to this member's own key, written whole (a temporary file renamed) before anything is announced. */
  const keepDek = (cidHash: Hex, dek: Uint8Array): Effect.Effect<void, FileShareError> =>
    Effect.tryPromise({
      try: async () => {
        await mkdir(o.dir, { recursive: true })
        await writeFile(`${keyPath(cidHash)}.tmp`, hexlify(Ecies.encrypt(o.key.publicKey, dek, getBytes(cidHash))) + "\n", { mode: 0o600 })
        await rename(`${keyPath(cidHash)}.tmp`, keyPath(cidHash))
      },
      catch: (cause) => new FileShareError({ reason: "KeyNotKept", detail: `the data key of ${cidHash} could not be kept in ${o.dir}: ${cause instanceof Error ? cause.message : String(cause)}` })
    })

  /** Encrypts `file`, puts it on IPFS, records it on chain with the upload fee; `downloadFee` is this member's price. */
  const share = (file: Uint8Array, terms: { readonly name: string; readonly downloadFee: bigint }) =>
    Effect.gen(function*() {
      if (file.length > MAX_FILE_BYTES) return yield* fail("TooLarge", `${terms.name} has ${file.length} bytes; one shared file holds at most ${MAX_FILE_BYTES}`)
      const description: FileDescription = { name: terms.name, bytes: file.length, sha256: sha256Hex(file) }
      const dek = new Uint8Array(randomBytes(Ecies.KEY_BYTES))
      const ciphertext = Ecies.seal(dek, encode(description, file), FILE_AD)
      const cid = yield* o.blocks.put(ciphertext)
      const cidHash = cidHashOf(cid)
      // The key is kept before the file is announced: a paid request can always be answered.
      yield* keepDek(cidHash, dek)
      const receipt = yield* ledger.upload(cid, keccak256(ciphertext), metaHashOf(description), terms.downloadFee)
      return { cid, cidHash, description, receipt }
    })

  /**
   * Answers every paid, unanswered download request of this member's files; returns the request ids answered. A
   * request that cannot be answered yet (its requester publishes no encryption key) is reported to `skipped` and
   * stays pending for the next call, without holding up the others.
   */
  // What `serve` has read so far: the next block whose requests it has not seen, and the requests seen but not
  // answered yet (oldest first). Each call then reads only new blocks' logs and one status per waiting request,
  // so a server polling every second costs the same after a year of requests as on its first day.
  let nextBlock: bigint | undefined
  const waiting = new Set<Hex>()

  const serve = (skipped?: (requestId: Hex, error: FileShareError) => void): Effect.Effect<ReadonlyArray<Hex>, FileShareError | ChainError> =>
    Effect.gen(function*() {
      const { requestIds, head } = yield* ledger.requestedSince(o.ledger.account, nextBlock)
      for (const requestId of requestIds) waiting.add(requestId)
      nextBlock = head + 1n
      const answered: Array<Hex> = []
      for (const requestId of [...waiting]) {
        // Answered elsewhere meanwhile (another server of the same member), or its dispute upheld (the fee goes back
        // to the requester, and the contract refuses the key): nothing left to do.
        const request = yield* ledger.request(requestId)
        if (request?.status !== "Paid" || request.escrow !== "Held" || (yield* ledger.disputeOf(requestId)) === "Upheld") {
          waiting.delete(requestId)
          continue
        }
        const key = yield* encryptionKeyOf(request.requester)
        if (key === undefined) {
          skipped?.(requestId, new FileShareError({ reason: "NoEncryptionKey", detail: `${request.requester} publishes no encryption key` }))
          continue
        }
        const wrapped = Ecies.encrypt(getBytes(key), yield* dekOf(request.cidHash), deliveryAd(requestId, request.cidHash))
        yield* ledger.deliverKey(requestId, wrapped)
        waiting.delete(requestId)
        answered.push(requestId)
      }
      return answered
    })

  /**
   * Fetches the block of `cid` from IPFS and checks it against the chain, then pays for it, waits for its key
   * (polling the chain every `pollMs`, at most `waitMs`) and opens it. Nothing is paid for a file that is not on
   * the exchange, not `uploader`'s when one is expected, or whose block is not the ciphertext on chain (the block
   * is public: checking it first costs nothing). Fails with a typed error when the key does not come, or the
   * description does not match its hash.
   */
  const download = (cid: string, wait: { readonly pollMs?: number; readonly waitMs?: number; readonly uploader?: string } = {}) =>
    Effect.gen(function*() {
      const cidHash = cidHashOf(cid)
      const onChain = yield* ledger.file(cidHash)
      if (onChain === undefined) return yield* fail("UnknownFile", `${cid} is not on the exchange`)
      if (wait.uploader !== undefined && onChain.uploader.toLowerCase() !== wait.uploader.toLowerCase()) {
        return yield* fail("WrongUploader", `${cid} was uploaded by ${onChain.uploader}, not by ${wait.uploader}`)
      }
      if (yield* ledger.withdrawn(cidHash)) return yield* fail("Withdrawn", `${cid} was withdrawn from sale by an upheld dispute`)
      const ciphertext = yield* o.blocks.get(cid)
      if (keccak256(ciphertext) !== onChain.ctHash) return yield* fail("CiphertextMismatch", `the block of ${cid} is not the ciphertext recorded on chain`)
      const { requestId, fee } = yield* ledger.requestDownload(cidHash)
      const pollMs = wait.pollMs ?? 500
      const tries = Math.ceil((wait.waitMs ?? 120_000) / pollMs)
      const delivered = yield* ledger.deliveredKey(requestId).pipe(
        Effect.flatMap((k) => k === undefined ? fail("KeyNotDelivered", `no key for request ${requestId} yet`, requestId) : Effect.succeed(k)),
        Effect.retry({ schedule: Schedule.spaced(Duration.millis(pollMs)), times: tries, while: (e) => e._tag === "FileShareError" })
      )
      const { description, file } = yield* Effect.try({
        try: () => Ecies.open(Ecies.decrypt(o.key.secretKey, delivered, deliveryAd(requestId, cidHash)), ciphertext, FILE_AD),
        catch: () => new FileShareError({ reason: "Malformed", detail: `the delivered key does not open ${cid}`, requestId })
      }).pipe(
        Effect.flatMap(decode),
        Effect.mapError((e) => e.requestId === undefined ? new FileShareError({ reason: e.reason, detail: e.detail, requestId }) : e)
      )
      if (metaHashOf(description) !== onChain.metaHash || description.sha256 !== sha256Hex(file) || description.bytes !== file.length) {
        return yield* fail("DescriptionMismatch", `${cid} does not match the description its uploader recorded`, requestId)
      }
      return { file, description, requestId, fee, uploader: onChain.uploader }
    })

  return { share, serve, download }
}

export type FileShare = ReturnType<typeof make>
