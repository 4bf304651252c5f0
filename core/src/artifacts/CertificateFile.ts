/**
 * The document of an e-data certificate on IPFS (issue 16 item 1, "certificates' files"; PROTOCOLS.md §7).
 *
 * A certificate (`Certificates.sol`) notarizes SHA-256(salt ‖ document), the submitter's signature and a metadata
 * hash. The certificate itself is public by nature — its hashes, signature, block and endorsements are what anyone
 * checks — but the document it notarizes is not: §7's documents are agreements, contracts, orders and e-mails,
 * and the salt exists so that nobody can guess a low-entropy one from its hash. So the document goes to IPFS
 * **sealed to its readers** (`Envelope`: the submitter's own encryption key, and the members it names), under the
 * label `certificate/<docHash>`; a public IPFS network sees only ciphertext and its size.
 *
 * The block's CID goes on chain through the metadata: `metaHash = keccak256(meta)` with `meta` the canonical JSON
 * `{ name, bytes, cid }`, signed by the submitter with the document hash, so the chain binds the CID without a
 * contract change or a second transaction; the certificate file keeps `meta` so a verifier can re-hash it.
 *
 * `fetchDocument` is what verifying does: re-hash `meta` against the chain's metaHash, take the CID from it, fetch
 * the block by CID (checked against the CID by `ArtifactBlocks.get`), open it as a reader, and check the salted
 * hash against the chain's docHash. Each failure is typed: `BlockNotFound`/`BlockTampered`/`InvalidCid` from the
 * node, `EnvelopeError` (`NotAReader`, `LabelMismatch`, …) from opening, `CertificateMismatch` for a hash that
 * does not match the chain.
 */
import { Effect, Schema } from "effect"
import { sha256 } from "@noble/hashes/sha2.js"
import { concatBytes } from "@noble/hashes/utils.js"
import { hexlify, keccak256, toUtf8Bytes } from "ethers"
import type { ArtifactBlocksShape, BlockError, BlockStoreFailed } from "./Blocks.ts"
import * as Envelope from "./Envelope.ts"
import { canonicalJson } from "../wire/Canonical.ts"

/** What the metadata hash on chain covers when the document is on IPFS. */
export const CertificateMeta = Schema.Struct({ name: Schema.String, bytes: Schema.Int, cid: Schema.String, note: Schema.optional(Schema.String) })
export type CertificateMeta = typeof CertificateMeta.Type

/** A check of a certificate's document against the chain failed. */
export class CertificateMismatch extends Schema.TaggedError<CertificateMismatch>()("CertificateMismatch", {
  /** `meta` (the metadata does not hash to the chain's metaHash, or is not `{ name, bytes, cid }`), `cid`, `document`. */
  check: Schema.Literals(["meta", "cid", "document"]),
  detail: Schema.String
}) {
  override get message() {
    return `certificate ${this.check} mismatch: ${this.detail}`
  }
}

export const labelOf = (docHash: string) => `certificate/${docHash.toLowerCase()}`

/** docHash = SHA-256(salt ‖ document): the salt defeats brute force of a low-entropy document (§7). */
export const docHashOf = (salt: Uint8Array, document: Uint8Array) => hexlify(sha256(concatBytes(salt, document)))

/** Envelope throws only EnvelopeError; anything else is reported as a malformed envelope, typed all the same. */
const envelope = <A>(f: () => A) =>
  Effect.try({
    try: f,
    catch: (e) => e instanceof Envelope.EnvelopeError ? e : new Envelope.EnvelopeError({ reason: "Malformed", detail: e instanceof Error ? e.message : String(e) })
  })

export const metaHashOf = (meta: string) => keccak256(toUtf8Bytes(meta))

/**
 * Seals the document to `readers` (secp256k1 encryption public keys; the submitter's own first) and puts it on
 * `blocks`, which pins it there: the owner's node keeps what it certified. Returns the CID and the `meta` whose
 * hash the submitter signs.
 */
export const put = (o: {
  readonly blocks: ArtifactBlocksShape
  readonly document: Uint8Array
  readonly docHash: string
  readonly name: string
  /** The submitter's own words on the document (`jointly certify --meta`), notarized with it. */
  readonly note?: string
  readonly readers: ReadonlyArray<Uint8Array>
}): Effect.Effect<{ readonly cid: string; readonly meta: string }, BlockStoreFailed | Envelope.EnvelopeError> =>
  Effect.gen(function*() {
    const sealed = yield* envelope(() => Envelope.seal(o.document, o.readers, labelOf(o.docHash)))
    const cid = yield* o.blocks.put(sealed)
    const meta: CertificateMeta = { name: o.name, bytes: o.document.length, cid, ...(o.note === undefined ? {} : { note: o.note }) }
    return { cid, meta: canonicalJson(meta) }
  })

/** The CID the chain's metaHash binds: `meta` re-hashed and decoded, or a `CertificateMismatch`. */
export const notarizedCid = (meta: string, onChainMetaHash: string): Effect.Effect<CertificateMeta, CertificateMismatch> =>
  Effect.gen(function*() {
    const hash = metaHashOf(meta)
    if (hash !== onChainMetaHash.toLowerCase()) {
      return yield* new CertificateMismatch({ check: "meta", detail: `the certificate's metadata hashes to ${hash}, the chain says ${onChainMetaHash}` })
    }
    return yield* Effect.try({ try: () => JSON.parse(meta) as unknown, catch: () => new CertificateMismatch({ check: "meta", detail: "the metadata is not JSON" }) }).pipe(
      Effect.flatMap((value) => Schema.decodeUnknownEffect(CertificateMeta)(value)),
      Effect.mapError((e) => e._tag === "CertificateMismatch" ? e : new CertificateMismatch({ check: "meta", detail: `the metadata names no document on IPFS: ${e.message}` }))
    )
  })

/**
 * Fetches a certificate's document by the CID its notarized metadata names and checks it against the chain:
 * the metadata against `onChain.metaHash`, the certificate file's `cid` against the metadata's, the block against
 * its CID, and the opened document's salted hash against `onChain.docHash`. Returns the document, or `undefined`
 * when no reader key is given (then the sealed block is checked against the notarized CID only).
 */
export const fetchDocument = (o: {
  readonly blocks: ArtifactBlocksShape
  /** From the certificate file. */
  readonly cid: string
  readonly meta: string
  readonly salt: Uint8Array
  /** From the chain. */
  readonly onChain: { readonly docHash: string; readonly metaHash: string }
  /** A reader's encryption secret key. */
  readonly readerKey?: Uint8Array
  readonly timeoutMs?: number
}): Effect.Effect<Uint8Array | undefined, BlockError | Envelope.EnvelopeError | CertificateMismatch> =>
  Effect.gen(function*() {
    const meta = yield* notarizedCid(o.meta, o.onChain.metaHash)
    if (meta.cid !== o.cid) return yield* new CertificateMismatch({ check: "cid", detail: `the certificate file names ${o.cid}, its notarized metadata ${meta.cid}` })
    const sealed = yield* o.blocks.get(meta.cid, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs })
    if (o.readerKey === undefined) return undefined
    const readerKey = o.readerKey
    const document = yield* envelope(() => Envelope.open(sealed, readerKey, labelOf(o.onChain.docHash)))
    const docHash = docHashOf(o.salt, document)
    if (docHash !== o.onChain.docHash.toLowerCase()) {
      return yield* new CertificateMismatch({ check: "document", detail: `the document fetched by ${meta.cid} hashes to ${docHash}, the chain says ${o.onChain.docHash}` })
    }
    return document
  })
