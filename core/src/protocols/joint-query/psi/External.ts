/**
 * The ECDH ring over sets larger than memory (spec.ts "External"): the same messages as the in-memory ring, but
 * what a party holds of them lives in a private spill directory (../Spill.ts), so its memory does not grow with the
 * sets:
 *   - its own set, spilled by ../IdSpill.ts, is put in one uniformly random order on disk (`order`: each record to
 *     one of K files at random, then each file shuffled — a uniform permutation, as the in-memory `Ids.permutation`
 *     gives), and each hop-0 chunk is read back from it (`readChunk`);
 *   - the fully-blinded chunks a matcher completes or receives go to partition files by the leading bits of the
 *     point (`keep`), each element with its position in its set; matching (`match`) then holds one partition of every
 *     set at a time. The partition is a function of the final, jointly blinded value, computed locally: nothing
 *     about it leaves the party, so the peers see the messages of the in-memory ring and nothing else;
 *   - a hiding kind's last hop shuffles the set it relays in bounded memory the same way (`toRelay`, `relayChunk`);
 *   - a receiver's output lists its ids from the ordered file, flagged by the matching, as row-sorted runs
 *     (`runsOf`, ../RowRuns.ts) that the output stage merges into row order.
 *
 * Points are kept whole (32 bytes), not truncated: matching compares full group elements, exactly as in memory, so
 * there is no collision term at all; 36 bytes an element on disk, and as typed arrays while a partition is matched.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { Effect, Stream } from "effect"
import type { DatasetError } from "../../../data/DatasetError.ts"
import type { DataSource } from "../../../data/Tabular.ts"
import * as ElementSet from "../ElementSet.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import * as IdSpill from "../IdSpill.ts"
import * as RowRuns from "../RowRuns.ts"
import type { SpillDir, SpillError } from "../Spill.ts"

const POINT = Group.POINT_BYTES
/** A fully-blinded element in a partition file: its point and its u32 position in its set's order. */
const RECORD = POINT + 4
/** Files of the directory (a fresh one, its run files RowRuns': FILES … 2·FILES), after those. */
const SHUFFLE = 4 * IdSpill.FILES
const MAX_SHUFFLE = IdSpill.FILES
const ORDER = SHUFFLE + MAX_SHUFFLE
const OUTBOX = ORDER + 1
const RELAY = ORDER + 2
const EXTRAS = RELAY + MAX_SHUFFLE
const REMAINDER = EXTRAS + 1
const RECEIVED = EXTRAS + 2
const OWN_IDS = EXTRAS + 3
const THEIR_IDS = OWN_IDS + MAX_SHUFFLE
const RANKED = THEIR_IDS + MAX_SHUFFLE
const PARTS = RANKED + MAX_SHUFFLE
/** Where each chunk of the ordered own set starts (float64 each), kept so a resumed attempt finds them (RingProgress.ts). */
const OFFSETS = 1
/**
 * intersection-sum, the value holder: its value column by row (float64 each; NaN for an empty or non-finite cell),
 * streamed from the source into the own set's spill directory at this file, after its id and run files.
 */
const VALUES = 4 * IdSpill.FILES
/** At most 2^8 partitions per set, by the top bits of a point's first two bytes (so byte order is kept across them). */
const MAX_PARTITION_BITS = 8
const MAX_PARTITIONS = 1 << MAX_PARTITION_BITS
/** Bytes buffered per file before an append. */
const BUFFER_BYTES = 32 * 1024

/** Write buffers over many files of one directory; `put` is synchronous, `drain` appends what filled. */
class Appender {
  private readonly buffers = new Map<number, { bytes: Uint8Array; used: number }>()
  private readonly full: Array<readonly [number, Uint8Array]> = []
  constructor(private readonly dir: SpillDir) {}

  put(file: number, bytes: Uint8Array) {
    let buffer = this.buffers.get(file)
    if (buffer === undefined) this.buffers.set(file, buffer = { bytes: new Uint8Array(Math.max(BUFFER_BYTES, bytes.length)), used: 0 })
    if (buffer.used + bytes.length > buffer.bytes.length) {
      this.full.push([file, buffer.bytes.slice(0, buffer.used)])
      buffer.used = 0
      if (bytes.length > buffer.bytes.length) buffer.bytes = new Uint8Array(bytes.length)
    }
    buffer.bytes.set(bytes, buffer.used)
    buffer.used += bytes.length
  }

  /** Appends the buffers that filled since the last call. */
  get drain(): Effect.Effect<void, SpillError> {
    return Effect.suspend(() => Effect.forEach(this.full.splice(0), ([file, bytes]) => this.dir.append(file, bytes), { discard: true }))
  }

  /** Appends everything buffered and lets the buffers go. */
  get flush(): Effect.Effect<void, SpillError> {
    return Effect.suspend(() => {
      for (const [file, buffer] of this.buffers) if (buffer.used > 0) this.full.push([file, buffer.bytes.slice(0, buffer.used)])
      this.buffers.clear()
      return this.drain
    })
  }
}

/** Start offsets of the IdSpill records in `bytes`, then their end. */
const boundaries = (bytes: Uint8Array): Array<number> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const starts: Array<number> = []
  let at = 0
  while (at + 8 <= bytes.length) {
    starts.push(at)
    at += 8 + view.getUint32(at + 4, true)
  }
  starts.push(at)
  return starts
}

/** A party's own set on disk in its random order: where each chunk starts in the ordered file. */
export interface Ordered {
  readonly dir: SpillDir
  /** The file holding the records (the own set's, or a union's remainder). */
  readonly file: number
  /** Byte offset of each chunk, then the file's length. */
  readonly offsets: ReadonlyArray<number>
  readonly count: number
  readonly chunkSize: number
}

/**
 * Puts the spilled set in one uniformly random order in `dir`: every record to one of ⌈count / perFile⌉ files
 * chosen uniformly, then each file shuffled (Fisher–Yates) and appended. For a permutation π, the assignment that
 * yields it is unique given the file sizes and the shuffles are uniform, so every π is equally likely. Holds one
 * file at a time.
 */
export const order = (spilled: IdSpill.Spilled, dir: SpillDir, chunkSize: number, perFile: number): Effect.Effect<Ordered, SpillError> =>
  Effect.gen(function*() {
    const files = Math.min(MAX_SHUFFLE, Math.max(1, Math.ceil(spilled.count / perFile)))
    const next = Ids.randomWords()
    const out = new Appender(dir)
    for (let file = 0; file < IdSpill.FILES; file++) {
      const bytes = yield* spilled.dir.read(file)
      const starts = boundaries(bytes)
      for (let r = 0; r + 1 < starts.length; r++) out.put(SHUFFLE + Ids.uniform(files, next), bytes.subarray(starts[r]!, starts[r + 1]!))
      yield* out.drain
    }
    yield* out.flush
    const offsets = [0]
    let written = 0
    let count = 0
    for (let k = 0; k < files; k++) {
      const bytes = yield* dir.read(SHUFFLE + k)
      const starts = boundaries(bytes)
      const permutation = Ids.permutation(starts.length - 1)
      for (const r of permutation) {
        const record = bytes.subarray(starts[r]!, starts[r + 1]!)
        out.put(ORDER, record)
        written += record.length
        if (++count % chunkSize === 0) offsets.push(written)
      }
      yield* out.drain
      yield* dir.write(SHUFFLE + k, new Uint8Array(0))
    }
    yield* out.flush
    if (count % chunkSize !== 0) offsets.push(written)
    yield* dir.write(OFFSETS, new Uint8Array(Float64Array.from(offsets).buffer))
    return { dir, file: ORDER, offsets, count, chunkSize }
  })

/** The ordered own set `order` left in `dir` (a resumed attempt's: RingProgress.ts verified the files). */
export const reopen = (dir: SpillDir, count: number, chunkSize: number): Effect.Effect<Ordered, SpillError> =>
  Effect.map(dir.read(OFFSETS), (bytes) => ({ dir, file: ORDER, offsets: Array.from(new Float64Array(bytes.slice().buffer)), count, chunkSize }))

const decoded = (bytes: Uint8Array): IdSpill.Bucket => {
  const out: IdSpill.Bucket = { ids: [], rows: [] }
  IdSpill.decodeRecords(bytes, out)
  return out
}

/** Chunks `from` … `to` − 1 of the ordered set: their ids and rows. */
const readChunks = (own: Ordered, from: number, to: number) =>
  Effect.map(own.dir.readRange(own.file, own.offsets[from]!, own.offsets[to]! - own.offsets[from]!), decoded)

/** Chunk `index` of the ordered set (what hop 0 hashes and blinds). */
export const readChunk = (own: Ordered, index: number): Effect.Effect<IdSpill.Bucket, SpillError> => readChunks(own, index, index + 1)

/** What a matcher keeps of the ring on disk. */
export interface Store {
  readonly dir: SpillDir
  /** Its own set, when that was spilled (otherwise it is in memory, `State.set`). */
  readonly own: Ordered | undefined
  /** Elements a partition (or a shuffle file) is sized for. */
  readonly perFile: number
  /** log2 of the partitions of each fully-blinded set. */
  readonly bits: number
  /** The group of the points (its encodings decide which bits partition them: `partitionOf`). */
  readonly group: Group.GroupName
  readonly writer: Appender
  readonly next: () => number
  /** Hiding kinds: chunks of the set this party relays that arrived (to its random files), and whether it is shuffled. */
  readonly relayChunks: Set<number>
  relayShuffled: boolean
  /** set-union, its receiver: where each part of the other party's remainder is in the received file. */
  readonly received: Array<{ readonly offset: number; readonly length: number; readonly count: number }>
  receivedLength: number
  /** intersection-sum: where each chunk's ciphertexts are in the extras file. */
  readonly extras: Map<number, { readonly offset: number; readonly length: number }>
  extrasLength: number
  /** intersection-sum, the value holder: the directory its value column was spilled to (`spillValues`). */
  readonly values: SpillDir | undefined
}

/** log2 of the partitions of each fully-blinded set when the largest has `largest` elements. */
export const bitsOf = (largest: number, perFile: number): number => {
  let bits = 0
  while (bits < MAX_PARTITION_BITS && largest > (1 << bits) * perFile) bits++
  return bits
}

export const make = (dir: SpillDir, own: Ordered | undefined, largest: number, perFile: number, group: Group.GroupName, values?: SpillDir): Store => ({
  dir, own, perFile, bits: bitsOf(largest, perFile), group, writer: new Appender(dir), next: Ids.randomWords(), relayChunks: new Set(), relayShuffled: false,
  extras: new Map(), extrasLength: 0, received: [], receivedLength: 0, values
})

/**
 * The partition (of 2^bits) of the point at `at`: the top bits of its first two bytes, so partitions come in the
 * points' byte order. A ristretto255 encoding is even (RFC 9496: s is encoded non-negative, its lowest bit 0), so
 * the lowest bit of its first byte is skipped: taken as it is, every point fell in an even partition at 8 bits, and
 * half the partitions held twice the elements they were sized for. Skipping a bit that never varies keeps the order.
 */
export const partitionOf = (points: Uint8Array, at: number, bits: number, group: Group.GroupName): number => {
  if (bits === 0) return 0
  return group === "ristretto255"
    ? (((points[at]! >>> 1) << 8) | points[at + 1]!) >>> (15 - bits)
    : ((points[at]! << 8) | points[at + 1]!) >>> (16 - bits)
}

/**
 * The files the ring appends to while it blinds and relays, for `sources` sets and a relayed set of `relayCount`
 * (RingProgress.restore cuts them back to a checkpoint): every partition, the relay's random files, the extras.
 */
export const ringFiles = (store: Store, sources: number, relayCount: number): Array<number> => {
  const files = [EXTRAS]
  for (let source = 0; source < sources; source++) for (let p = 0; p < 1 << store.bits; p++) files.push(partitionFile(source, p))
  for (let k = 0; k < relayFiles(store, relayCount); k++) files.push(RELAY + k)
  return files
}

/** Empties what the stages after the ring write, so they run again on a resumed attempt as on a fresh one. */
export const clearAfterRing = (store: Store): Effect.Effect<void, SpillError> =>
  Effect.forEach([OUTBOX, REMAINDER, RECEIVED], (file) => store.dir.write(file, new Uint8Array(0)), { discard: true })

/** intersection-sum, a matcher resumed: where the holder's ciphertexts of each chunk kept so far are. */
export const restoreExtras = (store: Store, extras: ReadonlyArray<readonly [number, number, number]>) => {
  for (const [index, offset, length] of extras) {
    store.extras.set(index, { offset, length })
    store.extrasLength = Math.max(store.extrasLength, offset + length)
  }
}

export const extrasOf = (store: Store): Array<readonly [number, number, number]> => [...store.extras].map(([index, at]) => [index, at.offset, at.length] as const)

/** Rows per batch while the value column is spilled. */
const VALUE_BATCH = 65_536

/**
 * intersection-sum, the value holder: its value column into `dir` by row, read from the source in batches (the
 * column is never whole in memory). Returns the bytes' SHA-256 (a resumed ring's fingerprint covers the values too).
 */
export const spillValues = (source: DataSource, column: string, dir: SpillDir): Effect.Effect<Uint8Array, SpillError | DatasetError> =>
  Effect.gen(function*() {
    const hash = sha256.create()
    yield* dir.write(VALUES, new Uint8Array(0))
    yield* Stream.runForEach(source.batches({ columns: [column], size: VALUE_BATCH }), (batch) => {
      const values = batch.columns[column]
      const out = new Float64Array(batch.length)
      for (let i = 0; i < batch.length; i++) {
        const v = values instanceof Float64Array ? values[i]! : Number.NaN
        out[i] = Number.isFinite(v) ? v : Number.NaN
      }
      const bytes = new Uint8Array(out.buffer)
      hash.update(bytes)
      return dir.append(VALUES, bytes)
    })
    return hash.digest()
  })

/**
 * intersection-sum, the value holder: the values of `rows` (a chunk's, rows of the whole dataset in a random order),
 * one 8-byte read each from the spilled column — next to a Paillier encryption per value, a small cost.
 */
export const valuesOf = (dir: SpillDir, rows: ReadonlyArray<number>): Effect.Effect<Float64Array, SpillError> =>
  Effect.gen(function*() {
    const out = new Float64Array(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const bytes = yield* dir.readRange(VALUES, rows[i]! * 8, 8)
      out[i] = bytes.length === 8 ? new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true) : Number.NaN
    }
    return out
  })

const partitionFile = (source: number, partition: number) => PARTS + source * MAX_PARTITIONS + partition

/** Files the fully-blinded chunk of set number `source` (its owner's index among the parties) starting at position `first`. */
export const keep = (store: Store, source: number, first: number, points: Uint8Array): Effect.Effect<void, SpillError> => {
  const record = new Uint8Array(RECORD)
  const view = new DataView(record.buffer)
  for (let j = 0, at = 0; at < points.length; j++, at += POINT) {
    record.set(points.subarray(at, at + POINT))
    view.setUint32(POINT, first + j, true)
    store.writer.put(partitionFile(source, partitionOf(points, at, store.bits, store.group)), record)
  }
  return store.writer.drain
}

/** A partition file as contiguous points and their positions. */
const split = (bytes: Uint8Array) => {
  const count = bytes.length / RECORD
  const points = new Uint8Array(count * POINT)
  const positions = new Uint32Array(count)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < count; i++) {
    points.set(bytes.subarray(i * RECORD, i * RECORD + POINT), i * POINT)
    positions[i] = view.getUint32(i * RECORD + POINT, true)
  }
  return { count, points, positions }
}

/**
 * Which elements of set `target` (of `count` elements) are in every set of `others`: a flag (1) per position of
 * `target`'s order. Partition by partition, holding one partition of each set; `each` sees every partition's
 * elements of `target` and which of them matched, partitions in ascending byte order of their points.
 */
export const match = (
  store: Store,
  target: number,
  count: number,
  others: ReadonlyArray<number>,
  each?: (points: Uint8Array, positions: Uint32Array, matched: Uint8Array) => void
): Effect.Effect<Uint8Array, SpillError> =>
  Effect.gen(function*() {
    yield* store.writer.flush
    const flags = new Uint8Array(count)
    for (let p = 0; p < 1 << store.bits; p++) {
      const mine = split(yield* store.dir.read(partitionFile(target, p)))
      const inAll = new Uint8Array(mine.count).fill(1)
      for (const other of others) {
        const theirs = split(yield* store.dir.read(partitionFile(other, p)))
        const within = ElementSet.of(theirs.points).within(mine.points)
        for (let i = 0; i < mine.count; i++) if (inAll[i] === 1 && !within(i)) inAll[i] = 0
      }
      for (let i = 0; i < mine.count; i++) if (inAll[i] === 1) flags[mine.positions[i]!] = 1
      each?.(mine.points, mine.positions, inAll)
    }
    return flags
  })

/**
 * psi-aligned: the matched positions of own set `target` in ascending order of their fully-blinded points (the
 * common order), and SHA-256 over `domain` and those points in that order (the alignment digest), as the
 * in-memory path computes them. Partitions come in ascending byte order, so sorting within each is the whole sort.
 */
export const aligned = (store: Store, target: number, count: number, others: ReadonlyArray<number>, domain: Uint8Array) =>
  Effect.gen(function*() {
    const hash = sha256.create().update(domain)
    const order: Array<number> = []
    const flags = yield* match(store, target, count, others, (points, positions, matched) => {
      const picked: Array<number> = []
      for (let i = 0; i < matched.length; i++) if (matched[i] === 1) picked.push(i)
      picked.sort((a, b) => ElementSet.compare(points, a, b))
      const ordered = new Uint8Array(picked.length * POINT)
      picked.forEach((i, k) => {
        ordered.set(points.subarray(i * POINT, (i + 1) * POINT), k * POINT)
        order.push(positions[i]!)
      })
      hash.update(ordered)
    })
    return { flags, positions: Uint32Array.from(order), digest: hash.digest() }
  })

/**
 * The ids and rows of a spilled own set at `positions`, in that order (psi-aligned's common order): each record of
 * the ordered file that is listed goes, with its rank, to file ⌊rank / perFile⌋; the pulls then read those files
 * in turn, each sorted by rank. Holds one file and a rank per element of the set (a typed array).
 */
export const inOrder = (own: Ordered, positions: Uint32Array, perFile: number) =>
  Effect.gen(function*() {
    const rankOf = new Int32Array(own.count).fill(-1)
    positions.forEach((position, rank) => (rankOf[position] = rank))
    const out = new Appender(own.dir)
    const chunks = own.offsets.length - 1
    const files = Math.ceil(positions.length / perFile)
    // Emptied first: a resumed attempt may list them again.
    for (let k = 0; k < files; k++) yield* own.dir.write(RANKED + k, new Uint8Array(0))
    const head = new Uint8Array(4)
    const headView = new DataView(head.buffer)
    for (let c = 0; c < chunks; c++) {
      const bytes = yield* own.dir.readRange(own.file, own.offsets[c]!, own.offsets[c + 1]! - own.offsets[c]!)
      const starts = boundaries(bytes)
      for (let r = 0; r + 1 < starts.length; r++) {
        const rank = rankOf[c * own.chunkSize + r]!
        if (rank < 0) continue
        headView.setUint32(0, rank, true)
        const file = RANKED + Math.floor(rank / perFile)
        out.put(file, head)
        out.put(file, bytes.subarray(starts[r]!, starts[r + 1]!))
      }
      yield* out.drain
    }
    yield* out.flush
    /** File `k` decoded, sorted by rank. */
    const sorted = (k: number) =>
      Effect.map(own.dir.read(RANKED + k), (bytes) => {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        const entries: Array<{ rank: number; id: string; row: number }> = []
        for (let at = 0; at + 12 <= bytes.length;) {
          const length = view.getUint32(at + 8, true)
          entries.push({ rank: view.getUint32(at, true), row: view.getUint32(at + 4, true), id: decoder.decode(bytes.subarray(at + 12, at + 12 + length)) })
          at += 12 + length
        }
        return entries.sort((a, b) => a.rank - b.rank)
      })
    const pull = <A>(pick: (e: { id: string; row: number }) => A) => {
      let k = 0
      return Effect.suspend(() => (k >= files ? Effect.succeed(undefined) : Effect.map(sorted(k++), (entries) => entries.map(pick))))
    }
    return { ids: pull((e) => e.id), rows: pull((e) => e.row) }
  })

const decoder = new TextDecoder()

/** intersection-sum: the value holder's ciphertexts of chunk `index`, kept as they came (read back by `extras`). */
export const keepExtra = (store: Store, index: number, extra: Uint8Array): Effect.Effect<void, SpillError> =>
  Effect.suspend(() => {
    store.extras.set(index, { offset: store.extrasLength, length: extra.length })
    store.extrasLength += extra.length
    return store.dir.append(EXTRAS, extra)
  })

/** The kept ciphertext bytes of chunk `index` (empty if none came). */
export const extra = (store: Store, index: number): Effect.Effect<Uint8Array, SpillError> => {
  const at = store.extras.get(index)
  return at === undefined ? Effect.succeed(new Uint8Array(0)) : store.dir.readRange(EXTRAS, at.offset, at.length)
}

/**
 * Hiding kinds: a chunk of the fully-blinded set this party relays, each point to one of ⌈count / perFile⌉ files
 * chosen uniformly (shuffled later, as `order` does its own set).
 */
const relayFiles = (store: Store, count: number) => Math.min(MAX_SHUFFLE, Math.max(1, Math.ceil(count / store.perFile)))

export const toRelay = (store: Store, index: number, points: Uint8Array, count: number): Effect.Effect<void, SpillError> => {
  const files = relayFiles(store, count)
  for (let at = 0; at < points.length; at += POINT) store.writer.put(RELAY + Ids.uniform(files, store.next), points.subarray(at, at + POINT))
  store.relayChunks.add(index)
  return store.writer.drain
}

/** Chunk `index` of the relayed set in its shuffled order; the first call shuffles it (one file at a time). */
export const relayChunk = (store: Store, index: number, count: number, chunkSize: number): Effect.Effect<Uint8Array, SpillError> =>
  Effect.gen(function*() {
    if (!store.relayShuffled) {
      yield* store.writer.flush
      // The random files stay: a resumed attempt that relays again shuffles them again (RingProgress.ts).
      yield* store.dir.write(OUTBOX, new Uint8Array(0))
      for (let k = 0; k < relayFiles(store, count); k++) {
        const points = yield* store.dir.read(RELAY + k)
        for (const i of Ids.permutation(points.length / POINT)) store.writer.put(OUTBOX, points.subarray(i * POINT, (i + 1) * POINT))
        yield* store.writer.drain
      }
      yield* store.writer.flush
      store.relayShuffled = true
    }
    return yield* store.dir.readRange(OUTBOX, index * chunkSize * POINT, Ids.chunkLength(count, chunkSize, index) * POINT)
  })

/**
 * A spilled own set's output: the ids at the positions whose flag is `want` (1: the intersection, 0: a
 * difference's remainder), read from the ordered file a few chunks at a time, as row-sorted runs (at most
 * IdSpill.FILES of them, RowRuns' limit).
 */
export const runsOf = (own: Ordered, flags: Uint8Array, want: 0 | 1, perRun: number): Effect.Effect<RowRuns.Runs, SpillError> =>
  Effect.gen(function*() {
    const chunks = own.offsets.length - 1
    const per = Math.max(1, Math.ceil(perRun / own.chunkSize), Math.ceil(chunks / IdSpill.FILES))
    // Emptied first (`restore` of no runs): a resumed attempt may list them again.
    const runs = yield* RowRuns.restore(own.dir, [], Math.ceil(chunks / per))
    for (let c = 0; c < chunks; c += per) {
      const bucket = yield* readChunks(own, c, Math.min(chunks, c + per))
      const first = c * own.chunkSize
      const listed: Array<number> = []
      for (let i = 0; i < bucket.ids.length; i++) if (flags[first + i] === want) listed.push(i)
      yield* RowRuns.add(runs, bucket, listed)
    }
    return runs
  })

/** Positions whose flag is set. */
export const flagged = (flags: Uint8Array): Array<number> => {
  const out: Array<number> = []
  for (let i = 0; i < flags.length; i++) if (flags[i] === 1) out.push(i)
  return out
}

/**
 * set-union, the party that sends: its ids outside the intersection (flag 0), in its set's order, in chunks of the
 * ring's size — what `query.transfer` sends chunk by chunk, read back with `readChunk`.
 */
export const remainder = (own: Ordered, flags: Uint8Array): Effect.Effect<Ordered, SpillError> =>
  Effect.gen(function*() {
    const out = new Appender(own.dir)
    const offsets = [0]
    let written = 0
    let count = 0
    for (let c = 0; c + 1 < own.offsets.length; c++) {
      const bytes = yield* own.dir.readRange(own.file, own.offsets[c]!, own.offsets[c + 1]! - own.offsets[c]!)
      const starts = boundaries(bytes)
      for (let r = 0; r + 1 < starts.length; r++) {
        if (flags[c * own.chunkSize + r] === 1) continue
        out.put(REMAINDER, bytes.subarray(starts[r]!, starts[r + 1]!))
        written += starts[r + 1]! - starts[r]!
        if (++count % own.chunkSize === 0) offsets.push(written)
      }
      yield* out.drain
    }
    yield* out.flush
    if (count % own.chunkSize !== 0) offsets.push(written)
    return { dir: own.dir, file: REMAINDER, offsets, count, chunkSize: own.chunkSize }
  })

/** set-union, its receiver: a part of the other party's remainder, kept on disk. */
export const keepReceived = (store: Store, ids: ReadonlyArray<string>): Effect.Effect<void, SpillError> =>
  Effect.suspend(() => {
    const bytes = IdSpill.encodeRecords(ids, ids.map(() => 0), Uint32Array.from(ids.keys()))
    store.received.push({ offset: store.receivedLength, length: bytes.length, count: ids.length })
    store.receivedLength += bytes.length
    return store.dir.append(RECEIVED, bytes)
  })

export const receivedCount = (store: Store): number => store.received.reduce((sum, part) => sum + part.count, 0)

/** The received ids, a part per pull. */
export const receivedIds = (store: Store): Effect.Effect<ReadonlyArray<string> | undefined, SpillError> => {
  let part = 0
  return Effect.suspend(() => {
    const at = store.received[part++]
    return at === undefined ? Effect.succeed(undefined) : Effect.map(store.dir.readRange(RECEIVED, at.offset, at.length), (bytes) => decoded(bytes).ids)
  })
}

/**
 * set-union, its receiver: whether no received id is one of `own`'s (the other party sent only ids outside the
 * intersection). Both go to files by a hash of the id under a local random seed, then each file is compared alone.
 */
export const disjoint = (store: Store, own: Ordered): Effect.Effect<boolean, SpillError> =>
  Effect.gen(function*() {
    const files = Math.min(MAX_SHUFFLE, Math.max(1, Math.ceil(Math.max(own.count, receivedCount(store)) / store.perFile)))
    for (let k = 0; k < files; k++) for (const base of [OWN_IDS, THEIR_IDS]) yield* store.dir.write(base + k, new Uint8Array(0))
    const seed = store.next()
    const fileOf = (id: string) => Math.floor((IdSpill.hashOf(id, seed) * files) / 0x1_0000_0000)
    const file = (base: number, ids: ReadonlyArray<string>) => {
      for (const id of ids) store.writer.put(base + fileOf(id), IdSpill.encodeRecords([id], [0], [0]))
      return store.writer.drain
    }
    for (let c = 0; c + 1 < own.offsets.length; c++) yield* file(OWN_IDS, (yield* readChunk(own, c)).ids)
    const received = receivedIds(store)
    for (let ids = yield* received; ids !== undefined; ids = yield* received) yield* file(THEIR_IDS, ids)
    yield* store.writer.flush
    for (let k = 0; k < files; k++) {
      const mine = new Set(decoded(yield* store.dir.read(OWN_IDS + k)).ids)
      if (decoded(yield* store.dir.read(THEIR_IDS + k)).ids.some((id) => mine.has(id))) return false
    }
    return true
  })
