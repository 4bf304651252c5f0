/**
 * Artifacts as IPFS blocks (PROTOCOLS.md §2.6, §11 items 7 and 39): models, checkpoints, certificates' files and
 * task artifacts are stored as single content-addressed blocks whose CIDv1 (sha2-256; codec `raw` for opaque or
 * sealed bytes, `json` for canonical JSON, `dag-json` for a block that links others) is what the chain and the
 * task's events carry.
 *
 * One service, `ArtifactBlocks`, and one Layer per kind of node (`@jointly/backends/internal/ipfs/...`): an embedded
 * Helia node (the default; blocks travel over its own libp2p connections by bitswap) or a Kubo node reached by
 * its HTTP RPC URL. Whatever the node, `get` re-hashes what it returns against the CID, so a node that serves
 * other bytes than it was asked for is caught here and not trusted (`BlockTampered`).
 */
import { Context, Effect, Schema } from "effect"
import { CID } from "multiformats/cid"
import * as json from "multiformats/codecs/json"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"

export type Codec = "raw" | "json" | "dag-json"
/** dag-json (0x0129): JSON whose `{ "/": cid }` values are links a node follows when it pins (a checkpoint chain). */
const codecOf = { raw: raw.code, json: json.code, "dag-json": 0x0129 } as const

/** A string that is not a CID, or names a hash this framework does not use. */
export class InvalidCid extends Schema.TaggedError<InvalidCid>()("InvalidCid", { cid: Schema.String, message: Schema.String }) {}
/** No block for the CID within the timeout (not stored locally, and no connected peer had it). */
export class BlockNotFound extends Schema.TaggedError<BlockNotFound>()("BlockNotFound", { cid: Schema.String, message: Schema.String }) {}
/** The bytes a node returned do not hash to the CID asked for. */
export class BlockTampered extends Schema.TaggedError<BlockTampered>()("BlockTampered", { cid: Schema.String, message: Schema.String }) {}
/** The node failed (Kubo unreachable or answering an error, Helia's store failing). */
export class BlockStoreFailed extends Schema.TaggedError<BlockStoreFailed>()("BlockStoreFailed", { operation: Schema.String, message: Schema.String }) {}

export type BlockError = InvalidCid | BlockNotFound | BlockTampered | BlockStoreFailed

export interface GetOptions {
  /** How long to look for the block among connected peers (default 30 s). */
  readonly timeoutMs?: number
}

export interface ArtifactBlocksShape {
  /** Which node serves the blocks ("helia" or "kubo"), for logs and `jointly verify`'s report. */
  readonly node: "helia" | "kubo"
  /** Stores and pins `bytes`; returns their CID. Idempotent. */
  readonly put: (bytes: Uint8Array, codec?: Codec) => Effect.Effect<string, BlockStoreFailed>
  /** The block's bytes, from this node or its peers, checked against the CID. */
  readonly get: (cid: string, options?: GetOptions) => Effect.Effect<Uint8Array, BlockError>
  /** True when this node holds the block itself (no network lookup). */
  readonly has: (cid: string) => Effect.Effect<boolean, InvalidCid | BlockStoreFailed>
  /** Fetches the block if needed and pins it here: what a party of a task keeps of the artifacts it needs. */
  readonly pin: (cid: string, options?: GetOptions) => Effect.Effect<void, BlockError>
  /** Releases a pin (the block may then be garbage-collected by the node). */
  readonly unpin: (cid: string) => Effect.Effect<void, InvalidCid | BlockStoreFailed>
  /** True when this node pins the block (what it keeps through a garbage collection). */
  readonly pinned: (cid: string) => Effect.Effect<boolean, InvalidCid | BlockStoreFailed>
  /**
   * Deletes every block this node holds that no pin keeps (neither pinned nor linked from a pinned block): what
   * `unpin` released is then gone from its store, not only unprotected. Serialised with the node's puts and pins
   * (a block put is pinned before a collection can see it); a collection that outlasts `timeoutMs` stops where it
   * is (what it deleted stays deleted). Returns how many blocks it deleted.
   */
  readonly collectGarbage: (options?: { readonly timeoutMs?: number }) => Effect.Effect<number, BlockStoreFailed>
}

export class ArtifactBlocks extends Context.Service<ArtifactBlocks, ArtifactBlocksShape>()("jointly/ArtifactBlocks") {}

/** The CIDv1 of `bytes` under `codec`. */
export const cidOf = async (bytes: Uint8Array, codec: Codec = "raw"): Promise<CID> => CID.createV1(codecOf[codec], await sha256.digest(bytes))

/** Parses a CID string, refusing hashes other than sha2-256 (the only one `verify` can recompute). */
export const parseCid = (cid: string): Effect.Effect<CID, InvalidCid> =>
  Effect.try({
    try: () => CID.parse(cid),
    catch: (cause) => new InvalidCid({ cid, message: `${cid} is not a CID: ${cause instanceof Error ? cause.message : String(cause)}` })
  }).pipe(
    Effect.filterOrFail(
      (parsed) => parsed.multihash.code === sha256.code,
      (parsed) => new InvalidCid({ cid, message: `${cid} uses multihash 0x${parsed.multihash.code.toString(16)}, not sha2-256` })
    )
  )

/** Fails with BlockTampered unless `bytes` hash to `cid`. */
export const checkBlock = (cid: CID, bytes: Uint8Array): Effect.Effect<Uint8Array, BlockTampered> =>
  // sha2-256 of bytes in memory does not reject (node:crypto; WebCrypto's digest, on any page that has
  // `crypto.subtle` at all): a rejection would be a broken platform, a defect.
  Effect.flatMap(Effect.promise(async () => await sha256.digest(bytes)), (digest) => {
    const expected = cid.multihash.digest
    const same = digest.digest.length === expected.length && digest.digest.every((b, i) => b === expected[i])
    return same ? Effect.succeed(bytes) : Effect.fail(new BlockTampered({ cid: cid.toString(), message: `the ${bytes.length} bytes received for ${cid} hash to ${CID.createV1(cid.code, digest)}` }))
  })
