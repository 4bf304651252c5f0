/**
 * A party's id set on disk, in buckets, for the OT-PSI over sets larger than memory (psi/spec.ts "Buckets").
 *
 * The id column streams from the source (`Ids.fromSource`'s rules: ids are text, empty ones skipped, the first
 * row of each id wins) into `FILES` spill files by a hash of the id, each record `u32 row ‖ u32 length ‖ UTF-8`;
 * each file is then de-duplicated on its own (an id always lands in the same file, so that is the global rule),
 * holding one file's ids at a time. The engine later runs bucket by bucket, bucket b of B (a power of two) being
 * the files of the hash's top bits b — what one bucket holds is read back, never the whole set.
 *
 * The hash is public (seeded by the task id), so both parties put an id in the same bucket without a message; what
 * it costs in leakage (each bucket's size) is stated in psi/spec.ts.
 */
import { Effect, Stream } from "effect"
import type { DatasetError } from "../../data/DatasetError.ts"
import type { DataSource } from "../../data/Tabular.ts"
import { TooManyIds } from "./Ids.ts"
import type { IdSet } from "./Ids.ts"
import type { SpillDir, SpillError } from "./Spill.ts"

/** Spill files: the top 10 bits of the hash; a bucket is 2^(10 − log2 B) of them, so B ≤ FILES. */
export const FILE_BITS = 10
export const FILES = 1 << FILE_BITS
/** Bytes buffered per spill file before an append: FILES × this is the writer's memory (16 MiB). */
const BUFFER_BYTES = 16 * 1024

/** 32-bit hash of an id's UTF-16 code units (murmur-style mixing, fmix32 finalizer): equal on every platform. */
export const hashOf = (id: string, seed: number): number => {
  let h = (seed ^ id.length) >>> 0
  for (let i = 0; i < id.length; i++) {
    let k = Math.imul(id.charCodeAt(i), 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The hash seed of a task: public, from its id (both parties know it, as does anyone who knows the task). */
export const seedOf = (taskId: string): number => Number.parseInt(taskId.replace(/^0x/, "").slice(0, 8) || "0", 16) >>> 0

/** Buckets for sets of at most `largest` ids with `bucketIds` per bucket: a power of two, at most FILES. */
export const bucketCount = (largest: number, bucketIds: number): number => {
  let buckets = 1
  while (buckets < FILES && largest > buckets * bucketIds) buckets *= 2
  return buckets
}

/** Bucket of hash `h` among `buckets` (a power of two ≤ FILES): its top bits, so a bucket is a run of files. */
export const bucketOf = (h: number, buckets: number): number => (buckets === 1 ? 0 : h >>> (32 - Math.log2(buckets)))

export interface Spilled {
  readonly dir: SpillDir
  readonly seed: number
  /** Distinct ids. */
  readonly count: number
  readonly duplicates: number
  readonly empty: number
}

/** One bucket's ids and their rows, in file order. */
export interface Bucket {
  readonly ids: Array<string>
  readonly rows: Array<number>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Appends the whole records at the start of `bytes` to `into`; returns their length (a cut-off last one is left). */
export const decodeRecords = (bytes: Uint8Array, into: Bucket): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at + 4, true)
    if (at + 8 + length > bytes.length) break
    into.ids.push(decoder.decode(bytes.subarray(at + 8, at + 8 + length)))
    into.rows.push(view.getUint32(at, true))
    at += 8 + length
  }
  return at
}

/** The records `u32 row ‖ u32 length ‖ UTF-8` of `ids[i]`, `rows[i]` for each i of `order`, in that order. */
export const encodeRecords = (ids: ReadonlyArray<string>, rows: ReadonlyArray<number>, order: ArrayLike<number>): Uint8Array => {
  const encoded = Array.from({ length: order.length }, (_, k) => encoder.encode(ids[order[k]!]!))
  const out = new Uint8Array(encoded.reduce((sum, e) => sum + 8 + e.length, 0))
  const view = new DataView(out.buffer)
  for (let k = 0, at = 0; k < order.length; k++) {
    view.setUint32(at, rows[order[k]!]!, true)
    view.setUint32(at + 4, encoded[k]!.length, true)
    out.set(encoded[k]!, at + 8)
    at += 8 + encoded[k]!.length
  }
  return out
}

/** Write buffers of the spill files (synchronous: one Effect per full buffer, not per id). */
class Writer {
  private readonly buffers = new Map<number, { bytes: Uint8Array; used: number }>()

  /** Buffers one record; returns what file `file` must be appended first when its buffer was full. */
  add(file: number, id: string, row: number): Uint8Array | undefined {
    const encoded = encoder.encode(id)
    const size = 8 + encoded.length
    let buffer = this.buffers.get(file)
    if (buffer === undefined) this.buffers.set(file, buffer = { bytes: new Uint8Array(Math.max(BUFFER_BYTES, size)), used: 0 })
    let full: Uint8Array | undefined
    if (buffer.used + size > buffer.bytes.length) {
      full = buffer.bytes.slice(0, buffer.used)
      buffer.used = 0
      if (size > buffer.bytes.length) buffer.bytes = new Uint8Array(size)
    }
    const view = new DataView(buffer.bytes.buffer)
    view.setUint32(buffer.used, row, true)
    view.setUint32(buffer.used + 4, encoded.length, true)
    buffer.bytes.set(encoded, buffer.used + 8)
    buffer.used += size
    return full
  }

  /** What is left in every buffer, by file. */
  rest(): Array<readonly [number, Uint8Array]> {
    return [...this.buffers].filter(([, b]) => b.used > 0).map(([file, b]) => [file, b.bytes.slice(0, b.used)] as const)
  }
}

const addTo = (dir: SpillDir, writer: Writer, file: number, id: string, row: number) => {
  const full = writer.add(file, id, row)
  return full === undefined ? Effect.void : dir.append(file, full)
}
const flush = (dir: SpillDir, writer: Writer) => Effect.forEach(writer.rest(), ([file, bytes]) => dir.append(file, bytes), { discard: true })

/**
 * Streams `column` of `source` into `dir`, de-duplicates file by file, and counts; fails with TooManyIds past
 * `maxIds` distinct ids. Holds the stream's chunk, the write buffers and one file's ids at a time.
 */
export const spill = (
  source: DataSource,
  column: string,
  maxIds: number,
  dir: SpillDir,
  seed: number,
  chunkSize = 65_536
): Effect.Effect<Spilled, DatasetError | TooManyIds | SpillError> =>
  Effect.gen(function*() {
    const writer = new Writer()
    let empty = 0
    let rows = 0
    yield* Stream.runForEach(source.ids({ column, chunkSize }), (chunk) =>
      Effect.gen(function*() {
        for (let i = 0; i < chunk.ids.length; i++) {
          const id = chunk.ids[i]!
          if (id === "") {
            empty++
            continue
          }
          rows++
          const file = hashOf(id, seed) >>> (32 - FILE_BITS)
          const full = writer.add(file, id, chunk.rows[i]!)
          if (full !== undefined) yield* dir.append(file, full)
        }
      }))
    yield* flush(dir, writer)
    let count = 0
    for (let file = 0; file < FILES; file++) {
      const records = { ids: [], rows: [] } as Bucket
      decodeRecords(yield* dir.read(file), records)
      const seen = new Set<string>()
      const kept = new Writer()
      let duplicate = false
      for (let i = 0; i < records.ids.length; i++) {
        if (seen.has(records.ids[i]!)) duplicate = true
        else seen.add(records.ids[i]!)
      }
      count += seen.size
      if (count > maxIds) return yield* new TooManyIds({ maxIds })
      if (!duplicate) continue
      // Rewritten with the first row of each id only (records are in row order within a file).
      yield* dir.write(file, new Uint8Array(0))
      seen.clear()
      for (let i = 0; i < records.ids.length; i++) {
        if (seen.has(records.ids[i]!)) continue
        seen.add(records.ids[i]!)
        yield* addTo(dir, kept, file, records.ids[i]!, records.rows[i]!)
      }
      yield* flush(dir, kept)
    }
    return { dir, seed, count, duplicates: rows - count, empty }
  })

/** Empties the id files of `dir`: a resumable directory spilled into by an earlier attempt, before spilling again. */
export const clear = (dir: SpillDir): Effect.Effect<void, SpillError> =>
  Effect.forEach(Array.from({ length: FILES }, (_, file) => file), (file) => dir.write(file, new Uint8Array(0)), { discard: true })

/** Bucket `bucket` of `buckets` as spilled: the ids of its files and their rows. */
export const readBucket = (spilled: Spilled, bucket: number, buckets: number): Effect.Effect<Bucket, SpillError> =>
  Effect.gen(function*() {
    const per = FILES / buckets
    const out: Bucket = { ids: [], rows: [] }
    for (let file = bucket * per; file < (bucket + 1) * per; file++) decodeRecords(yield* spilled.dir.read(file), out)
    return out
  })

/** The whole spilled set in memory, as `Ids.fromSource` would give it (for an ECDH task over a small set). */
export const materialize = (spilled: Spilled, shuffle: (n: number) => Uint32Array): Effect.Effect<IdSet, SpillError> =>
  Effect.map(readBucket(spilled, 0, 1), (all) => {
    const order = shuffle(all.ids.length)
    return {
      ids: Array.from(order, (i) => all.ids[i]!),
      rows: Array.from(order, (i) => all.rows[i]!),
      duplicates: spilled.duplicates,
      empty: spilled.empty
    }
  })

/** Positions of an in-memory set per bucket (a party without a spill directory runs the same buckets). */
export const bucketsOf = (ids: ReadonlyArray<string>, seed: number, buckets: number): Array<Array<number>> => {
  const out = Array.from({ length: buckets }, () => [] as Array<number>)
  for (let i = 0; i < ids.length; i++) out[bucketOf(hashOf(ids[i]!, seed), buckets)]!.push(i)
  return out
}
