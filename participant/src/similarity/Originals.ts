/**
 * Paid access to a retrieval result's original, with integrity end to end (PROTOCOLS.md §8 "Our construction"
 * steps 4–5, §11 item 33): the link between `query.similar` (core/src/protocols/similarity) and the files shared
 * for a fee (`../governance/FileShare.ts`, `contracts/FileExchange.sol`).
 *
 * - **publish** (owner): each original is shared through FileShare (encrypted, on IPFS, on the exchange with its
 *   download fee), and a new epoch of the dataset's index log (`FeatureLogFile`) sets each image's `location` to
 *   its exchange entry — so the location is inside the salted leaf the owner signs and the task ledger commits.
 * - **fetch** (querier): for one record of a `query.similar` output, before anything is paid: the index root is
 *   the one the task ledger committed for the task ("similar/index"), the output is the one it committed
 *   ("similar/output"), the record's leaf — with its location — verifies against that root, the location names
 *   this chain's exchange, the file is on it and was uploaded by the task's owner, and the block fetched by CID is
 *   the ciphertext on chain. Then the fee is paid, the key arrives on chain, and the file is opened and checked
 *   against the description whose hash is on chain (FileShare.download).
 *
 * A mismatch anywhere is an OriginalError naming the record and what differs.
 *
 * Location of an original on the exchange: `jointly-file:eip155:<chain id>:<exchange address>:<cid>` (the chain
 * and contract in CAIP-10 form, then the CID of the encrypted block).
 */
import { getAddress } from "ethers"
import { Effect, Schema } from "effect"
import { effectify, type Hex, type TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import * as FeatureIndex from "@jointly/core/internal/protocols/similarity/FeatureIndex"
import * as Spec from "@jointly/core/internal/protocols/similarity/spec"
import { sha256Digest } from "@jointly/core/internal/wire/Canonical"
import type { FileShare, FileShareError, FileShareFailure } from "../governance/FileShare.ts"
import * as FeatureLogFile from "./FeatureLogFile.ts"

export class OriginalError extends Schema.TaggedError<OriginalError>()("OriginalError", {
  reason: Schema.Literals([
    "UnknownRecord",
    "RootNotOnChain",
    "OutputNotOnChain",
    "NotCommitted",
    "NoLocation",
    "NotAnExchangeLocation",
    "OtherExchange",
    "UnknownFile",
    "NotOwnersFile",
    "Withdrawn",
    "CiphertextMismatch",
    "DescriptionMismatch",
    "KeyNotDelivered",
    "Malformed",
    "IndexLogNotWritten"
  ]),
  /** The record (image id) whose original was asked for. */
  record: Schema.String,
  detail: Schema.String,
  /** Set when the fee was paid: the request to dispute (`jointly files dispute`). */
  requestId: Schema.optional(Schema.String)
}) {
  override get message() {
    return `original of ${this.record}: ${this.reason}: ${this.detail}${this.requestId === undefined ? "" : ` (paid under request ${this.requestId}, which may be disputed)`}`
  }
}

/** An exchange entry as a location: which chain, which FileExchange, which CID. */
export interface ExchangeRef {
  readonly chainId: bigint
  readonly exchange: string
  readonly cid: string
}

const LOCATION = /^jointly-file:eip155:(\d{1,20}):(0x[0-9a-fA-F]{40}):([A-Za-z0-9]{10,128})$/u

export const locationOf = (ref: ExchangeRef): string => `jointly-file:eip155:${ref.chainId}:${getAddress(ref.exchange)}:${ref.cid}`

/** The exchange entry a location names, or undefined for any other location (a URL, a bare CID). */
export const parseLocation = (location: string): ExchangeRef | undefined => {
  const m = LOCATION.exec(location)
  return m === null ? undefined : { chainId: BigInt(m[1]!), exchange: getAddress(m[2]!), cid: m[3]! }
}

/** What publish and fetch need of the exchange: this member's FileShare and the exchange it works on. */
export interface Exchange {
  readonly share: FileShare
  readonly chainId: bigint
  readonly address: string
}

/**
 * Shares each original through the exchange at `fee` and appends one epoch to `dataset`'s index log setting each
 * image's location to its entry; succeeds with the epoch and each image's location. Every id must be in the
 * index (an update of an unknown id is refused by the next query's index build, naming it).
 */
export const publish = (
  exchange: Exchange,
  target: { readonly dataDir: string; readonly dataset: string },
  originals: ReadonlyArray<{ readonly id: string; readonly name: string; readonly file: Uint8Array }>,
  fee: bigint
): Effect.Effect<{ readonly epoch: number; readonly published: ReadonlyArray<{ id: string; cid: string; location: string }> }, OriginalError | FileShareFailure> =>
  Effect.gen(function*() {
    const published: Array<{ id: string; cid: string; location: string }> = []
    for (const original of originals) {
      const shared = yield* exchange.share.share(original.file, { name: original.name, downloadFee: fee })
      published.push({ id: original.id, cid: shared.cid, location: locationOf({ chainId: exchange.chainId, exchange: exchange.address, cid: shared.cid }) })
    }
    const epoch = yield* Effect.tryPromise({
      try: () => FeatureLogFile.append(target.dataDir, target.dataset, published.map((p) => ({ op: "update" as const, id: p.id, location: p.location }))),
      catch: (cause) => new OriginalError({ reason: "IndexLogNotWritten", record: "*", detail: `${target.dataset}'s index log: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
    return { epoch, published }
  })

const decodeOutput = Schema.decodeUnknownEffect(Spec.Output)

/** The task ledger as Originals reads it: a task's committed phases (a Promise view, lifted here: its rejection a ChainError). */
export interface TaskHistory {
  readonly taskHistory: (taskId: Hex) => Promise<ReadonlyArray<TaskHistoryEntry>>
}

/** The phase roots the task ledger holds for a task (the newest commit of each phase). */
const phaseRoots = (history: ReadonlyArray<TaskHistoryEntry>) =>
  new Map(history.flatMap((e) => (e._tag === "PhaseCommitted" ? [[e.phase, e.root.toLowerCase()] as const] : [])))

/**
 * A `query.similar` output checked against the chain, as the querier or a supervisor shown it would (§8 step 5):
 * whether its index root is the one the task ledger committed ("similar/index"), whether the output is the one it
 * committed ("similar/output", the digest recomputed), and, record by record, whether the record — id, label,
 * location, features digest — is a leaf under that root. Fails with an OriginalError (record "*") for an output
 * that does not decode, a ChainError when the task ledger cannot be read.
 */
export const audit = (taskLedger: TaskHistory, output: unknown) =>
  Effect.gen(function*() {
    const out = yield* Effect.mapError(
      decodeOutput(output),
      (cause) => new OriginalError({ reason: "Malformed", record: "*", detail: `not a query.similar output: ${cause.message}` })
    )
    const roots = phaseRoots(yield* effectify({ taskHistory: (taskId: Hex) => taskLedger.taskHistory(taskId) }).taskHistory(out.taskId))
    const root = roots.get("similar/index")
    const { digest, ...content } = out
    const onChain = roots.get("similar/output")
    return {
      output: out,
      index: { root: out.index.root, onChain: root ?? null, ok: root === out.index.root.toLowerCase() },
      digest: { digest, onChain: onChain ?? null, ok: sha256Digest(content) === digest && onChain === digest.toLowerCase() },
      records: out.results.map((r) => ({
        id: r.id,
        location: r.location ?? null,
        committed: root !== undefined && FeatureIndex.verify(FeatureIndex.leafOf(r, r.salt, r.featuresDigest), r.proof, root)
      }))
    }
  })

/** The FileShare refusals a fetch answers as its own: the original's, named by the record. */
const originalReasons: ReadonlySet<string> = new Set<OriginalError["reason"]>(["UnknownFile", "NotOwnersFile", "Withdrawn", "CiphertextMismatch", "DescriptionMismatch", "KeyNotDelivered", "Malformed"])

/**
 * The original of `recordId` from a `query.similar` output (`output` as read from the querier's output file),
 * bought and checked as the module header says. Fails with an OriginalError naming the record, a ChainError, or
 * the IPFS node's error.
 */
export const fetch = (
  exchange: Exchange,
  taskLedger: TaskHistory,
  output: unknown,
  recordId: string,
  wait: { readonly pollMs?: number; readonly waitMs?: number } = {}
) =>
  Effect.gen(function*() {
    const fail = (reason: OriginalError["reason"], detail: string) => Effect.fail(new OriginalError({ reason, record: recordId, detail }))
    const checked = yield* audit(taskLedger, output).pipe(Effect.catchTag("OriginalError", (error) => fail(error.reason, error.detail)))
    const out = checked.output
    const record = out.results.find((r) => r.id === recordId)
    if (record === undefined) return yield* fail("UnknownRecord", `task ${out.taskId} returned no record ${recordId}`)
    // The root and the output the coordinator committed on the task ledger, not the ones in the file.
    if (!checked.index.ok) return yield* fail("RootNotOnChain", `the output's index root ${out.index.root} is not the one task ${out.taskId} committed on chain (${checked.index.onChain ?? "none"})`)
    const root = checked.index.root
    if (checked.records.find((r) => r.id === recordId)?.committed !== true) {
      return yield* fail("NotCommitted", `the record (location ${record.location ?? "none"}, label ${record.label ?? "none"}) is not the one the owner committed under root ${root}`)
    }
    if (!checked.digest.ok) {
      return yield* fail("OutputNotOnChain", `the output's digest ${checked.digest.digest} is not the one task ${out.taskId} committed on chain (${checked.digest.onChain ?? "none"})`)
    }

    if (record.location === undefined) return yield* fail("NoLocation", "the owner committed no location for it")
    const location = record.location
    const ref = parseLocation(location)
    if (ref === undefined) return yield* fail("NotAnExchangeLocation", `its location ${location} names no FileExchange entry`)
    if (ref.chainId !== exchange.chainId || ref.exchange.toLowerCase() !== exchange.address.toLowerCase()) {
      return yield* fail("OtherExchange", `its location names exchange ${ref.exchange} on chain ${ref.chainId}; this member's is ${getAddress(exchange.address)} on chain ${exchange.chainId}`)
    }
    const got = yield* exchange.share.download(ref.cid, { ...wait, uploader: out.owner }).pipe(
      Effect.catchTag("FileShareError", (error): Effect.Effect<never, OriginalError | FileShareError> => {
        const reason = error.reason === "WrongUploader" ? "NotOwnersFile" : error.reason
        return Effect.fail(
          originalReasons.has(reason)
            ? new OriginalError({ reason: reason as OriginalError["reason"], record: recordId, detail: error.detail, ...(error.requestId === undefined ? {} : { requestId: error.requestId }) })
            : error
        )
      })
    )
    return { ...got, record: recordId, cid: ref.cid, location, root, taskId: out.taskId }
  })
