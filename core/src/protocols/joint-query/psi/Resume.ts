/**
 * Resuming an OT-PSI in buckets (spec.ts "Resume") from what a party kept on disk: a spilled set's directory is
 * the task's resumable one (Spill.ts), and each bucket the engine finished is recorded there — its content's digest,
 * what it matched, how many ids it added to the output's runs, how many the peer announced — once the bucket's run
 * is written. A later attempt (a party left, the coordinator or a participant restarted) spills the set again,
 * counts how many leading buckets it can keep (same task shape, same bucket content, so the same data), and the
 * coordinator starts the engine at the smaller count of the two parties; each drops what it kept past that point.
 *
 * What is kept holds the party's own ids, row numbers and match counts, as private as the spill itself, and no key:
 * every bucket run again uses the new attempt's engine session (its context names the attempt).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"
import * as IdSpill from "../IdSpill.ts"
import type { SpillDir, SpillError } from "../Spill.ts"

/** The record's file: after the id files and the output's runs and merge scratch (RowRuns.ts). */
const PROGRESS = 2 * IdSpill.FILES + 1

const FORMAT = "jointly/psi-ot-progress/v1"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const Bucket = Schema.Struct({
  /** SHA-256 of the bucket's records as spilled (IdSpill `u32 row ‖ u32 length ‖ UTF-8`, file order). */
  digest: Schema.String,
  /** Elements of this party's bucket in the intersection. */
  matches: Count,
  /** Records this bucket added to the output's runs (the matches or, for a difference, the rest; 0 without output). */
  kept: Count,
  /** Elements the peer's engine announced for this bucket. */
  peerElements: Count
})
export type Bucket = typeof Bucket.Type

/** The task's shape at this party: a record made under another shape is never resumed from. */
export const Shape = Schema.Struct({
  role: Schema.Literals(["receiver", "sender"]),
  keep: Schema.Literals(["matched", "unmatched", "nothing"]),
  buckets: Count,
  seed: Count
})
export type Shape = typeof Shape.Type

const Record = Schema.Struct({ format: Schema.Literal(FORMAT), ...Shape.fields, done: Schema.Array(Bucket) })
type Record = typeof Record.Type

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const digestOf = (bucket: IdSpill.Bucket): string =>
  bytesToHex(sha256(IdSpill.encodeRecords(bucket.ids, bucket.rows, Uint32Array.from(bucket.ids.keys()))))

/** The buckets recorded in `dir` under `shape`, or none (no record, another shape, or one that does not decode). */
const recorded = (dir: SpillDir, shape: Shape): Effect.Effect<ReadonlyArray<Bucket>, SpillError> =>
  Effect.map(dir.read(PROGRESS), (bytes) => {
    if (bytes.length === 0) return []
    let json: unknown
    try {
      json = JSON.parse(decoder.decode(bytes))
    } catch {
      return [] // cut short by a crash while it was written: nothing to resume from
    }
    const decoded = Schema.decodeUnknownExit(Record)(json)
    if (decoded._tag === "Failure") return []
    const r = decoded.value
    return r.role === shape.role && r.keep === shape.keep && r.buckets === shape.buckets && r.seed === shape.seed ? r.done : []
  })

/**
 * The leading buckets of `spilled` this party can resume from: recorded under `shape` and, bucket by bucket, with
 * the content spilled now (a changed dataset stops the count at its first changed bucket). Never all of them: the
 * last bucket always runs again, so the engine's final output exists in the attempt that resumes.
 */
export const resumable = (spilled: IdSpill.Spilled, shape: Shape): Effect.Effect<ReadonlyArray<Bucket>, SpillError> =>
  Effect.gen(function*() {
    const done = yield* recorded(spilled.dir, shape)
    const kept: Array<Bucket> = []
    for (const bucket of done.slice(0, Math.max(0, shape.buckets - 1))) {
      if (digestOf(yield* IdSpill.readBucket(spilled, kept.length, shape.buckets)) !== bucket.digest) break
      kept.push(bucket)
    }
    return kept
  })

/** Records the buckets done so far (the whole record, replaced: a few bytes per bucket). */
export const record = (dir: SpillDir, shape: Shape, done: ReadonlyArray<Bucket>): Effect.Effect<void, SpillError> =>
  dir.write(PROGRESS, encoder.encode(JSON.stringify({ format: FORMAT, ...shape, done } satisfies Record)))
