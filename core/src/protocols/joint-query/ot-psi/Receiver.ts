/**
 * The receiver of the OT-based PSI (spec.ts): cuckoo-hashes each partition, streams the OT-extension matrix, keeps
 * its own OPRF values in an index and matches the sender's values against it as they arrive. It prepares partition
 * p+1 while the sender answers partition p, so at most one partition is in flight.
 */
import { Effect } from "effect"
import type { Aes } from "./Aes.ts"
import * as BaseOt from "./BaseOt.ts"
import { transpose, words } from "./Bits.ts"
import * as Cuckoo from "./Cuckoo.ts"
import * as Encoding from "./Encoding.ts"
import type { Link } from "./Link.ts"
import * as Messages from "./Messages.ts"
import * as Oprf from "./Oprf.ts"
import * as Session from "./Session.ts"
import * as Spec from "./spec.ts"
import { OtPsiError } from "./spec.ts"

interface Prepared {
  readonly partition: number
  readonly positionOffset: number
  /** Own OPRF values of the occupied rows, `valueBytes` each. */
  readonly values: Uint8Array
  /** Element (index into the distinct elements) and expected value slot of each occupied row. */
  readonly rowElement: Uint32Array
  readonly rowSlot: Uint8Array
  /** `buildIndex` over `values`. */
  readonly index: Int32Array
}

interface Found {
  readonly positions: Array<number>
  readonly elements: Array<number>
}

const readKey = (bytes: Uint8Array, at: number) => (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0

const slotOf = (key: number, mask: number) => (Math.imul(key, 0x9e3779b1) >>> 0) & mask

/**
 * Open addressing over the values' first 4 bytes, the key stored beside its entry (pairs [key, row + 1]) so that a
 * probe — three million per million sender elements, almost all misses — touches one cache line, not three.
 */
const buildIndex = (values: Uint8Array, count: number, valueBytes: number): Int32Array => {
  let size = 16
  while (size < count * 2) size *= 2
  const index = new Int32Array(2 * size)
  const mask = size - 1
  for (let r = 0; r < count; r++) {
    const key = readKey(values, r * valueBytes)
    let slot = slotOf(key, mask)
    while (index[2 * slot + 1] !== 0) slot = (slot + 1) & mask
    index[2 * slot] = key
    index[2 * slot + 1] = r + 1
  }
  return index
}

/** The occupied rows of a cuckoo table in ascending order: bins, then stash slots. */
const occupiedRows = (table: Cuckoo.Table, members: Uint32Array) => {
  const n = members.length
  const row = new Uint32Array(n)
  const element = new Uint32Array(n)
  const slot = new Uint8Array(n)
  const tag = new Uint8Array(n)
  let o = 0
  for (let b = 0; b < table.bins; b++) {
    const item = table.binItem[b]!
    if (item < 0) continue
    row[o] = b
    element[o] = members[item]!
    slot[o] = tag[o] = table.binTag[b]!
    o++
  }
  for (let j = 0; j < table.stash.length; j++, o++) {
    row[o] = table.bins + j
    element[o] = members[table.stash[j]!]!
    slot[o] = Spec.HASHES + j
    tag[o] = Spec.STASH_TAG
  }
  return { row, element, slot, tag }
}

/** The first occupied row at or after `from` (an index into `rows`, ascending) whose row number is ≥ `limit`. */
const rowsBefore = (rows: Uint32Array, from: number, limit: number): number => {
  let end = from
  while (end < rows.length && rows[end]! < limit) end++
  return end
}

/** The three cuckoo locations of each member among `bins`. */
const locationsOf = (hash: Encoding.Hashes, members: Uint32Array, bins: number): Uint32Array => {
  const locations = new Uint32Array(Spec.HASHES * members.length)
  for (let i = 0; i < members.length; i++) for (let k = 0; k < Spec.HASHES; k++) locations[Spec.HASHES * i + k] = Encoding.location(hash, members[i]!, k, bins)
  return locations
}

/** The chunk's code rows: each occupied row's codeword at its place, zero (any value would do) for empty bins. */
const placeRows = (codes: Oprf.Codewords, rows: Uint32Array, first: number, out: Uint32Array): Uint32Array => {
  out.fill(0)
  for (let r = 0; r < rows.length; r++) {
    const at = (rows[r]! - first) * Spec.CODE_WORDS
    for (let p = 0; p < 4; p++) {
      const part = codes[p]!
      out[at + 4 * p] = part[4 * r]!
      out[at + 4 * p + 1] = part[4 * r + 1]!
      out[at + 4 * p + 2] = part[4 * r + 2]!
      out[at + 4 * p + 3] = part[4 * r + 3]!
    }
  }
  return out
}

/** The occupied rows of a chunk, packed, with their global row ids (the hash tweak). */
const gatherRows = (t0Rows: Uint32Array, rows: Uint32Array, first: number, firstId: number, scratch: { readonly gathered: Uint32Array; readonly rowIds: Float64Array }) => {
  const gathered = scratch.gathered.subarray(0, rows.length * Spec.CODE_WORDS)
  const rowIds = scratch.rowIds.subarray(0, rows.length)
  for (let r = 0; r < rows.length; r++) {
    const local = rows[r]! - first
    gathered.set(t0Rows.subarray(local * Spec.CODE_WORDS, (local + 1) * Spec.CODE_WORDS), r * Spec.CODE_WORDS)
    rowIds[r] = firstId + local
  }
  return { gathered, rowIds }
}

/** u = T0 ⊕ T1 ⊕ Cᵀ for one chunk, written (column-major) straight into the message body. */
const matrixBody = (codeRows: Uint32Array, rows: number, t0: Uint32Array, t1: Uint32Array, message: Uint8Array) => {
  const columns = words(message.subarray(Messages.BULK_HEADER))
  transpose(codeRows, rows, Spec.CODE_BITS, columns)
  for (let i = 0; i < columns.length; i++) columns[i] = columns[i]! ^ t0[i]! ^ t1[i]!
}

/** Cuckoo-hashes partition `step`, streams its OT matrix to the sender and computes the receiver's own values. */
const prepareAndSend = (session: Session.Session, streams: { readonly zero: Oprf.ColumnStreams; readonly one: Oprf.ColumnStreams }, step: Session.Step) =>
  Effect.gen(function*() {
    const { link, blocks, hash, stash, valueBytes } = session
    const members = session.members[step.partition]!
    const n = members.length
    const table = Cuckoo.insert(locationsOf(hash, members, step.bins), n, step.bins, stash)
    if (table === undefined) {
      return yield* Session.fail("CuckooFailure", `partition ${step.partition}: ${n} elements did not fit ${step.bins} bins and ${stash} stash slots`)
    }
    const occupied = occupiedRows(table, members)
    const values = new Uint8Array(n * valueBytes)
    const chunkRows = Session.matrixChunkRows(link)
    // Scratch for one chunk, reused (the engine's allocations are what its garbage collection costs): the code
    // rows, both PRG column sets, the rows of PRG(k^0) and the occupied ones among them.
    const chunkBytes = chunkRows * Spec.CODE_BYTES
    const scratch = {
      codeRows: new Uint32Array(chunkRows * Spec.CODE_WORDS),
      t0: new Uint8Array(chunkBytes),
      t1: new Uint8Array(chunkBytes),
      t0Rows: new Uint32Array(chunkRows * Spec.CODE_WORDS),
      gathered: new Uint32Array(chunkRows * Spec.CODE_WORDS),
      rowIds: new Float64Array(chunkRows)
    }
    let next = 0 // first occupied row of the chunk (rows ascend)
    for (let first = 0; first < step.rows; first += chunkRows) {
      const rows = Math.min(chunkRows, step.rows - first)
      const end = rowsBefore(occupied.row, next, first + rows)
      const codes = (yield* Oprf.codewords(session.oprf, Session.taggedInputs(blocks, occupied.element.subarray(next, end), occupied.tag.subarray(next, end))))
      const codeRows = placeRows(codes, occupied.row.subarray(next, end), first, scratch.codeRows.subarray(0, rows * Spec.CODE_WORDS))
      const t0 = words(yield* streams.zero.next(rows, scratch.t0))
      const t1 = words(yield* streams.one.next(rows, scratch.t1))
      const message = Messages.bulkFrame("matrix", step.partition, first, t1.byteLength)
      matrixBody(codeRows, rows, t0, t1, message)
      yield* link.send(message)
      // Own values: H(j, t_j) of this chunk's occupied rows, t_j the rows of PRG(k^0).
      const t0Rows = scratch.t0Rows.subarray(0, rows * Spec.CODE_WORDS)
      transpose(t0, Spec.CODE_BITS, rows, t0Rows)
      const { gathered, rowIds } = gatherRows(t0Rows, occupied.row.subarray(next, end), first, step.rowOffset + first, scratch)
      yield* Oprf.hashRows(session.oprf, new Uint8Array(gathered.buffer, 0, gathered.byteLength), rowIds, valueBytes, values, next * valueBytes)
      next = end
    }
    const prepared: Prepared = {
      partition: step.partition,
      positionOffset: step.positionOffset,
      values,
      rowElement: occupied.element,
      rowSlot: occupied.slot,
      index: buildIndex(values, n, valueBytes)
    }
    return prepared
  })

/** Looks up every value of one chunk (`units` sender elements × `slots` values) in the receiver's index. */
const matchValues = (prepared: Prepared, body: Uint8Array, units: number, slots: number, valueBytes: number, firstPosition: number, found: Found) => {
  const { values, index, rowSlot, rowElement } = prepared
  const mask = (index.length >>> 1) - 1
  for (let q = 0; q < units; q++) {
    for (let k = 0; k < slots; k++) {
      const at = (q * slots + k) * valueBytes
      const key = readKey(body, at) | 0
      for (let slot = slotOf(key >>> 0, mask); index[2 * slot + 1] !== 0; slot = (slot + 1) & mask) {
        if (index[2 * slot] !== key) continue
        const r = index[2 * slot + 1]! - 1
        if (rowSlot[r] !== k) continue
        let same = true
        for (let b = 4; b < valueBytes && same; b++) same = values[r * valueBytes + b] === body[at + b]
        if (same) {
          found.positions.push(firstPosition + q)
          found.elements.push(rowElement[r]!)
        }
      }
    }
  }
}

/** The sender's values of one partition, chunk by chunk, matched as they arrive. */
const receiveValues = (session: Session.Session, prepared: Prepared, found: Found) =>
  Effect.gen(function*() {
    const { link, valueBytes, stash } = session
    const slots = Spec.HASHES + stash
    const total = session.senderSizes[prepared.partition]!
    for (let first = 0; first < total;) {
      const message = yield* link.receive
      const { body, units } = yield* Messages.decodeBulk(message, "values", prepared.partition, first, slots * valueBytes, total - first)
      matchValues(prepared, body, units, slots, valueBytes, prepared.positionOffset + first, found)
      first += units
    }
  })

/** The receiver: learns which of its `elements` the sender also holds. */
export const receiver = (link: Link, elements: ReadonlyArray<string>, options: Session.Options): Effect.Effect<Session.Output, Session.EngineError, Aes> =>
  Effect.gen(function*() {
    const { aes, channel, random, own } = yield* Session.start(link, elements, options)
    const secret = BaseOt.senderStart(random)
    const hello: Messages.Hello = {
      version: Spec.VERSION,
      reveal: options.revealToSender ?? false,
      stash: options.stash ?? 0,
      partitionElements: options.partitionElements ?? Spec.DEFAULT_PARTITION_ELEMENTS,
      count: own.inputIndex.length,
      seed: random(Messages.SEED_BYTES),
      points: secret.A
    }
    yield* channel.send(Messages.encodeHello("receiverHello", hello))
    const peer = yield* Effect.flatMap(channel.receive, (m) => Messages.decodeHello(m, "senderHello"))
    const session = yield* Session.establish("receiver", channel, own, options, random, { receiver: hello, sender: peer })
    const seeds = yield* Effect.try({
      try: () => BaseOt.senderSeeds(secret, peer.points, session.root),
      catch: (error) => new OtPsiError({ reason: "InvalidPoint", detail: error instanceof Error ? error.message : String(error) })
    })
    const streams = { zero: yield* Oprf.columnStreams(seeds.k0), one: yield* Oprf.columnStreams(seeds.k1) }
    const steps = Session.schedule(session)
    const found: Found = { positions: [], elements: [] }
    const progress = (stage: Session.Progress["stage"], partition: number) => options.onProgress?.({ stage, partition, partitions: session.partitions })
    let pending = steps.length > 0 ? yield* prepareAndSend(session, streams, steps[0]!) : undefined
    for (let s = 0; s < steps.length; s++) {
      const current = pending!
      progress("matrix", current.partition)
      pending = s + 1 < steps.length ? yield* prepareAndSend(session, streams, steps[s + 1]!) : undefined
      yield* receiveValues(session, current, found)
      progress("values", current.partition)
    }
    // The common order is ascending sender position: the order in which the values arrived.
    const indices = Uint32Array.from(found.elements, (element) => own.inputIndex[element]!)
    if (session.reveal) {
      const positions = Uint32Array.from(found.positions)
      const perMessage = Math.floor((link.maxMessageBytes - 2) / 4)
      for (let at = 0; ; at += perMessage) {
        const last = at + perMessage >= positions.length
        yield* channel.send(Messages.encodeReveal(positions.subarray(at, Math.min(positions.length, at + perMessage)), last))
        if (last) break
      }
      progress("reveal", session.partitions - 1)
    }
    return { indices, stats: Session.stats("receiver", aes.name, own, session, peer.count) }
  })
