/**
 * Every sealed checkpoint of a task anchored by one on-chain hash (issue 16 item 1, checkpoints).
 *
 * Each checkpoint saved goes to IPFS sealed to the task's parties (`SealedArtifacts`), and beside it a small
 * clear **link** block (codec `dag-json`): `{ v, task, seq, key, attempt, checkpoint, root, prev }` — the sealed
 * block's CID (as text) and sha2-256, and a dag-json link to the previous checkpoint's link (`null` for the first),
 * so that a node pinning the last link keeps the whole chain and none of the bodies (what `TaskEnded` names as
 * `checkpoint-chain` for the parties to pin). The
 * links form a hash chain across attempts, so the hash of the last link, committed on chain once as the task's
 * phase `ipfs:checkpoint` when it succeeds, binds every checkpoint's CID and ciphertext hash in order: one
 * transaction per task whatever the number of rounds, where a phase per checkpoint would cost one transaction
 * (and a confirmation wait) per round. The links are clear because who checks them need not be a reader: they
 * name CIDs and hashes of ciphertexts only.
 *
 * A checkpoint's body is needed only until a later one is safely recorded: once a checkpoint is saved (its
 * `CheckpointSealed` event written in the transaction that saves it), the coordinator's node unpins the bodies
 * older than the newest `keep` (default 2), so a long training does not keep every round's model for ever. The
 * link blocks stay pinned (a few hundred bytes each): they are the record `verify` walks. Unpinned bodies are then
 * deleted from the node's store by its garbage collection (`collect`, run after a release): one collection at a
 * time per node, a release made while one runs served by one more run after it, each bounded in time. A collection
 * walks the whole store (≈ 0.6 s at 5,000 blocks), so a node runs at most one per `gcMinIntervalMs` (default one
 * minute): a release within it leaves a collection owed, which `collectOwed` runs once the interval has passed (the
 * scheduler asks every interval). A training saving a checkpoint per second thus spends ≈ 1 % of a core on
 * collections instead of most of it.
 */
import { Clock, Effect, Schema } from "effect"
import { hexlify } from "ethers"
import { sha256 } from "multiformats/hashes/sha2"
import type { ArtifactBlocksShape, BlockStoreFailed, InvalidCid } from "@jointly/core/internal/artifacts/Blocks"
import { cidOf, parseCid } from "@jointly/core/internal/artifacts/Blocks"
import * as dagJson from "@ipld/dag-json"
import { CID } from "multiformats/cid"

/** One checkpoint's link block. */
export const Link = Schema.Struct({
  v: Schema.Literal(1),
  task: Schema.String,
  /** 0 for the task's first checkpoint, then one more per checkpoint, across attempts. */
  seq: Schema.Int,
  key: Schema.String,
  attempt: Schema.Int,
  /** CID of the sealed checkpoint. */
  checkpoint: Schema.String,
  /** 0x sha2-256 of the sealed checkpoint. */
  root: Schema.String,
  /** CID of the previous checkpoint's link (a dag-json link, as text here), null for the first. */
  prev: Schema.NullOr(Schema.String)
})
export type Link = typeof Link.Type

/** What a `CheckpointSealed` event records (the link fields are absent on events written before the chain). */
export interface Sealed {
  readonly key: string
  readonly attempt: number
  readonly cid: string
  readonly root: string
  readonly link?: string
}

/** How many checkpoint bodies the coordinator's node keeps pinned per task by default. */
export const DEFAULT_KEEP = 2
/** The least time between the starts of two garbage collections of the coordinator's node, by default. */
export const DEFAULT_GC_MIN_INTERVAL_MS = 60_000

/** Never rejects: sha2-256 of bytes in memory (node:crypto); so its callers take it with Effect.promise. */
const hashOf = async (bytes: Uint8Array) => hexlify((await sha256.digest(bytes)).digest)

/** What a release unpinned, and the bodies it could not. */
export interface Released {
  readonly released: ReadonlyArray<string>
  readonly failures: ReadonlyArray<{ readonly cid: string; readonly error: BlockStoreFailed | InvalidCid }>
}

export interface Options {
  readonly blocks: ArtifactBlocksShape
  /** Checkpoint bodies kept pinned per task (default 2). */
  readonly keep?: number
  /** Longest a collection runs before it stops where it is. */
  readonly gcTimeoutMs?: number
  /** Least time between the starts of two collections (default one minute; 0 collects at every release). */
  readonly gcMinIntervalMs?: number
}

export const make = (o: Options) => {
  const keep = Math.max(1, o.keep ?? DEFAULT_KEEP)
  const minIntervalMs = Math.max(0, o.gcMinIntervalMs ?? DEFAULT_GC_MIN_INTERVAL_MS)
  // Releases come from every running task; a collection walks the whole store, so they are not run side by side.
  let collecting: "idle" | "running" | "again" = "idle"
  // When the last collection started (none yet: -Infinity), and whether a release since asked for one.
  let lastStart = Number.NEGATIVE_INFINITY
  let owed = false
  const collectOnce = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    lastStart = now
    owed = false
    return o.blocks.collectGarbage(o.gcTimeoutMs === undefined ? {} : { timeoutMs: o.gcTimeoutMs })
  })
  const collectLoop = (deleted: number): Effect.Effect<number, BlockStoreFailed> =>
    Effect.flatMap(collectOnce, (n) => collecting === "again" ? (collecting = "running", collectLoop(deleted + n)) : Effect.succeed(deleted + n))
  const start = (): Effect.Effect<number, BlockStoreFailed> => {
    collecting = "running"
    return Effect.ensuring(collectLoop(0), Effect.sync(() => void (collecting = "idle")))
  }
  return {
    keep,
    minIntervalMs,
    /** Puts the link of a new checkpoint after `previous` (the task's earlier `CheckpointSealed` events, in order). */
    link: (taskId: string, previous: ReadonlyArray<Sealed>, sealed: { readonly key: string; readonly attempt: number; readonly cid: string; readonly root: string }): Effect.Effect<{ readonly cid: string; readonly root: string }, BlockStoreFailed> =>
      Effect.gen(function*() {
        const prev = previous.at(-1)?.link
        const link = { v: 1, task: taskId.toLowerCase(), seq: previous.length, key: sealed.key, attempt: sealed.attempt, checkpoint: sealed.cid, root: sealed.root, prev: prev === undefined ? null : CID.parse(prev) }
        const bytes = dagJson.encode(link)
        const cid = yield* o.blocks.put(bytes, "dag-json")
        return { cid, root: yield* Effect.promise(() => hashOf(bytes)) }
      }),
    /** What the chain anchors for a head link: its sha2-256, the digest of its CID (no fetch needed). */
    anchorOf: (linkCid: string): Effect.Effect<string, InvalidCid> => Effect.map(parseCid(linkCid), (cid) => hexlify(cid.multihash.digest)),
    /**
     * Unpins the bodies of all but the newest `keep` checkpoints: what it released, and the bodies it could not
     * (each tried: one that fails, say a store a crash left inconsistent, does not keep the others pinned).
     */
    release: (all: ReadonlyArray<Sealed>): Effect.Effect<Released> =>
      Effect.gen(function*() {
        const released: Array<string> = []
        const failures: Array<Released["failures"][number]> = []
        for (const superseded of all.slice(0, Math.max(0, all.length - keep))) {
          const unpinned = yield* Effect.result(Effect.flatMap(o.blocks.pinned(superseded.cid), (pinned) =>
            pinned ? Effect.as(o.blocks.unpin(superseded.cid), true) : Effect.succeed(false)))
          if (unpinned._tag === "Failure") failures.push({ cid: superseded.cid, error: unpinned.failure })
          else if (unpinned.success) released.push(superseded.cid)
        }
        return { released, failures }
      }),
    /**
     * Garbage-collects the node (what `release` unpinned leaves its store); how many blocks went. Asked while a
     * collection runs, it returns 0 at once and that collection runs once more when it ends; asked within
     * `minIntervalMs` of the last one's start, it returns 0 at once and leaves the collection owed.
     */
    collect: (): Effect.Effect<number, BlockStoreFailed> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (collecting !== "idle") return (collecting = "again", Effect.succeed(0))
        if (now - lastStart < minIntervalMs) return (owed = true, Effect.succeed(0))
        return start()
      }),
    /** The collection a release left owed, once `minIntervalMs` has passed since the last one (0 otherwise). */
    collectOwed: (): Effect.Effect<number, BlockStoreFailed> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        owed && collecting === "idle" && now - lastStart >= minIntervalMs ? start() : Effect.succeed(0)),
    /** Whether a release is waiting for a collection. */
    isOwed: (): boolean => owed
  }
}

export type CheckpointChain = ReturnType<typeof make>

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** A link of a task's checkpoint chain that does not check: the first one met walking back from the head. */
export class CheckpointLinkBroken extends Schema.TaggedError<CheckpointLinkBroken>()("CheckpointLinkBroken", {
  taskId: Schema.String,
  /** The checkpoint's place in the task (0 for its first), the link the walk expected there. */
  index: Schema.Int,
  link: Schema.String,
  /**
   * `Unlinked`: the chain reaches another link than the task's checkpoint names (or a checkpoint names none);
   * `Missing`: no connected node has it; `Tampered`: its bytes do not hash to its CID; `NotALink`: it does not
   * decode as one; `Mismatch`: it names another checkpoint than the task's; `Extra`: the first link names a
   * predecessor the task does not have.
   */
  reason: Schema.Literals(["Unlinked", "Missing", "Tampered", "NotALink", "Mismatch", "Extra"]),
  detail: Schema.String
}) {
  override get message() {
    return `checkpoint ${this.index} of ${this.taskId}: link ${this.link} ${this.reason}: ${this.detail}`
  }
}

/** What a whole walk found: every link, from the head (its hash, for the anchor) back to the first. */
export interface Walked {
  readonly headHash: string
  readonly links: ReadonlyArray<Link>
}

/**
 * Walks the link chain back from the last checkpoint's link, fetching every link by CID: each hashes to its CID,
 * decodes, names its `CheckpointSealed` event's CID, hash, key and attempt in order, and the walk ends
 * (`prev: null`) at the first event. The first link that does not is the error, named with its place and why.
 */
export const walk = <E = never>(o: {
  readonly taskId: string
  readonly events: ReadonlyArray<Sealed>
  /** A block by CID, undefined when no node has it; its failure (the source not answering) is the walk's. */
  readonly get: (cid: string) => Effect.Effect<Uint8Array | undefined, E>
}): Effect.Effect<Walked, CheckpointLinkBroken | E> =>
  Effect.gen(function*() {
    const broken = (index: number, link: string, reason: CheckpointLinkBroken["reason"], detail: string) =>
      new CheckpointLinkBroken({ taskId: o.taskId, index, link, reason, detail })
    const unlinked = o.events.findIndex((e) => e.link === undefined)
    if (o.events.length === 0 || unlinked >= 0) return yield* broken(Math.max(0, unlinked), "none", "Unlinked", "a checkpoint of this task names no link")
    const links: Array<Link> = []
    let headHash = ""
    let at: string | null = o.events.at(-1)!.link!
    for (let i = o.events.length - 1; i >= 0; i--) {
      const event = o.events[i]!
      if (at !== event.link) return yield* broken(i, String(at), "Unlinked", `the chain reaches ${at}, the task's checkpoint ${i} is linked by ${event.link}`)
      const cid: string = at
      const bytes = yield* o.get(cid)
      if (bytes === undefined) return yield* broken(i, cid, "Missing", "not found on IPFS (no connected node holds it)")
      // cidOf, as hashOf, only hashes bytes in memory: it cannot reject.
      if ((yield* Effect.promise(() => cidOf(bytes, "dag-json"))).toString() !== cid) return yield* broken(i, cid, "Tampered", "the block received does not hash to its CID")
      if (i === o.events.length - 1) headHash = yield* Effect.promise(() => hashOf(bytes))
      const decoded = Schema.decodeUnknownExit(Link)(decodeLink(bytes))
      if (decoded._tag !== "Success") return yield* broken(i, cid, "NotALink", "it does not decode as a checkpoint link")
      const link = decoded.value
      const same = link.task === o.taskId.toLowerCase() && link.seq === i && link.checkpoint === event.cid && link.root === event.root && link.key === event.key && link.attempt === event.attempt
      if (!same) return yield* broken(i, cid, "Mismatch", `it names checkpoint ${link.seq} ${link.checkpoint} (${link.root}); the task's is ${event.cid} (${event.root})`)
      links.unshift(link)
      at = link.prev
    }
    if (at !== null) return yield* broken(0, o.events[0]!.link!, "Extra", `the first link names a predecessor ${at} the task does not have`)
    return { headHash, links }
  })

/** A link block's value with its `prev` link as text (dag-json decodes it as a CID); undefined when it is not dag-json. */
const decodeLink = (bytes: Uint8Array): unknown => {
  try {
    const raw = dagJson.decode<{ prev?: unknown }>(bytes)
    const prev = CID.asCID(raw.prev)
    return prev === null ? raw : { ...raw, prev: prev.toString() }
  } catch {
    return undefined
  }
}

/**
 * `verify`'s checks of a task's checkpoint chain: the whole walk (`walk`: the first broken link is one failed
 * check naming it), and the head link's hash against the chain's anchor.
 */
export const verify = <E = never>(o: {
  readonly taskId: string
  readonly events: ReadonlyArray<Sealed>
  /** The `ipfs:checkpoint` root on chain. */
  readonly anchor: string | undefined
  readonly get: (cid: string) => Effect.Effect<Uint8Array | undefined, E>
}): Effect.Effect<ReadonlyArray<Check>, E> => Effect.gen(function*() {
  const name = `checkpoint chain ${o.events.at(-1)?.link}`
  // A broken link is a failed check; the source not answering is the caller's failure.
  const walked = yield* walk(o).pipe(
    Effect.catchIf((error): error is CheckpointLinkBroken => error instanceof CheckpointLinkBroken, (broken) => Effect.succeed(broken))
  )
  if (walked instanceof CheckpointLinkBroken) {
    return [{ name: `${name}: link ${walked.index}`, ok: false, detail: `${walked.reason}: ${walked.link}: ${walked.detail}` }]
  }
  const { headHash } = walked
  return [
    { name: `${name}: the chain holds its hash`, ok: headHash === o.anchor, detail: o.anchor === undefined ? "no ipfs:checkpoint commitment on chain" : `anchor ${o.anchor}, head link ${headHash}` },
    { name: `${name}: links every checkpoint`, ok: true, detail: `${o.events.length} checkpoint(s), each link fetched and checked, each CID and ciphertext hash in order` }
  ]
})
