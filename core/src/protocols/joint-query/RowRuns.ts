/**
 * The ids a party's output lists (the intersection, or a difference's remainder) when its set was spilled
 * (IdSpill.ts): each bucket's share is sorted by row as the bucket closes and appended to the spill directory as a
 * run, so nothing proportional to the output stays in memory; the output then reads the runs back merged into one
 * ascending row order — the order an in-memory set's output lists its ids in (psi/Outputs.ts) — holding one read
 * buffer per run.
 */
import { Effect } from "effect"
import * as IdSpill from "./IdSpill.ts"
import type { SpillDir, SpillError } from "./Spill.ts"

/** Run files follow the id files of IdSpill: run r is file RUNS + r (one per bucket, B ≤ FILES). */
const RUNS = IdSpill.FILES
/** Scratch file of the merged rows (`u32` each), written while the ids are listed and read back after them. */
const ROWS = 2 * IdSpill.FILES
/** Bytes read from the runs per refill, shared among them (each gets at least MIN_READ). */
const READ_BYTES = 16 * 1024 * 1024
const MIN_READ = 16 * 1024
/** Records per batch handed to the output. */
const BATCH = 16_384

/** The runs of one party's output in its spill directory. */
export interface Runs {
  readonly dir: SpillDir
  /** Records of each run, by run number. */
  readonly counts: Array<number>
  /** Records over all runs. */
  count: number
}

export const empty = (dir: SpillDir): Runs => ({ dir, counts: [], count: 0 })

/**
 * The runs of the first `counts.length` buckets, kept in `dir` by an earlier attempt (psi/Resume.ts), with whatever a
 * later bucket had written there emptied: the buckets from `counts.length` on run again and add their runs anew.
 */
export const restore = (dir: SpillDir, counts: ReadonlyArray<number>, buckets: number): Effect.Effect<Runs, SpillError> =>
  Effect.as(
    Effect.forEach(Array.from({ length: buckets - counts.length }, (_, i) => RUNS + counts.length + i), (file) => dir.write(file, new Uint8Array(0)), { discard: true }),
    { dir, counts: [...counts], count: counts.reduce((sum, c) => sum + c, 0) }
  )

/** Appends the ids at `positions` of `bucket` as the next run, sorted by row. */
export const add = (runs: Runs, bucket: IdSpill.Bucket, positions: ArrayLike<number>): Effect.Effect<void, SpillError> => {
  const order = Uint32Array.from(positions).sort((a, b) => bucket.rows[a]! - bucket.rows[b]!)
  const run = runs.counts.length
  runs.counts.push(order.length)
  runs.count += order.length
  return order.length === 0 ? Effect.void : runs.dir.append(RUNS + run, IdSpill.encodeRecords(bucket.ids, bucket.rows, order))
}

/** A run being read: its decoded records not yet taken, and where its file continues. */
interface Cursor {
  readonly file: number
  offset: number
  left: number
  records: IdSpill.Bucket
  at: number
}

const refill = (dir: SpillDir, cursor: Cursor, bytes: number) =>
  Effect.gen(function*() {
    // A record longer than the read size: read on until it is whole.
    for (let size = bytes; ; size *= 2) {
      const piece = yield* dir.readRange(cursor.file, cursor.offset, size)
      const records: IdSpill.Bucket = { ids: [], rows: [] }
      const used = IdSpill.decodeRecords(piece, records)
      if (used > 0 || piece.length < size) {
        cursor.offset += used
        cursor.left -= records.ids.length
        cursor.records = records
        cursor.at = 0
        return
      }
    }
  })

/** Min-heap of cursors by their next row. */
const rowOf = (c: Cursor) => c.records.rows[c.at]!
const siftDown = (heap: Array<Cursor>, i: number) => {
  for (;;) {
    const l = 2 * i + 1
    const r = l + 1
    let least = i
    if (l < heap.length && rowOf(heap[l]!) < rowOf(heap[least]!)) least = l
    if (r < heap.length && rowOf(heap[r]!) < rowOf(heap[least]!)) least = r
    if (least === i) return
    const t = heap[i]!
    heap[i] = heap[least]!
    heap[least] = t
    i = least
  }
}

/** Pulls of the merged output: its ids (writing their rows aside as it goes), then its rows, in ascending row order. */
export interface Merged {
  readonly ids: Effect.Effect<ReadonlyArray<string> | undefined, SpillError>
  /** Call after `ids` has ended. */
  readonly rows: Effect.Effect<ReadonlyArray<number> | undefined, SpillError>
}

/** The runs merged by row (rows are distinct: one per id), reading `budget` bytes at a time over all runs. */
export const merge = (runs: Runs, budget = READ_BYTES): Merged => {
  const { dir } = runs
  const live = runs.counts.filter((n) => n > 0).length
  const readBytes = Math.max(MIN_READ, Math.floor(budget / Math.max(1, live)))
  let heap: Array<Cursor> | undefined
  let rowsOffset = 0
  const ids = Effect.gen(function*() {
    if (heap === undefined) {
      heap = []
      // Emptied first: an attempt that resumed after a crash mid-output merges again into the same directory.
      yield* dir.write(ROWS, new Uint8Array(0))
      for (let r = 0; r < runs.counts.length; r++) {
        if (runs.counts[r] === 0) continue
        const cursor: Cursor = { file: RUNS + r, offset: 0, left: runs.counts[r]!, records: { ids: [], rows: [] }, at: 0 }
        yield* refill(dir, cursor, readBytes)
        heap.push(cursor)
      }
      for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i)
    }
    if (heap.length === 0) return undefined
    const out: Array<string> = []
    const rows = new Uint32Array(BATCH)
    while (out.length < BATCH && heap.length > 0) {
      const top = heap[0]!
      rows[out.length] = top.records.rows[top.at]!
      out.push(top.records.ids[top.at]!)
      top.at++
      if (top.at === top.records.ids.length) {
        if (top.left > 0) yield* refill(dir, top, readBytes)
        else {
          heap[0] = heap[heap.length - 1]!
          heap.pop()
        }
      }
      if (heap.length > 0) siftDown(heap, 0)
    }
    yield* dir.append(ROWS, new Uint8Array(rows.buffer, 0, out.length * 4))
    return out
  })
  const rows = Effect.gen(function*() {
    const piece = yield* dir.readRange(ROWS, rowsOffset, BATCH * 4)
    if (piece.length === 0) return undefined
    rowsOffset += piece.length
    return Array.from(new Uint32Array(piece.slice().buffer))
  })
  return { ids, rows }
}
