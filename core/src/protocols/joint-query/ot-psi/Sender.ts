/**
 * The sender of the OT-based PSI (spec.ts): plays the base-OT receiver with secret choices s, turns each chunk of
 * the receiver's OT matrix into its rows q_j as it arrives, then sends the OPRF values of its elements in a fresh
 * random order, chunk by chunk. Learns the intersection only when the receiver reveals it.
 */
import { Effect } from "effect"
import type { Aes } from "./Aes.ts"
import * as BaseOt from "./BaseOt.ts"
import { transpose, words } from "./Bits.ts"
import * as Encoding from "./Encoding.ts"
import type { Link } from "./Link.ts"
import * as Messages from "./Messages.ts"
import * as Oprf from "./Oprf.ts"
import * as Session from "./Session.ts"
import * as Spec from "./spec.ts"
import { OtPsiError } from "./spec.ts"

const UNSENT = 0xffff_ffff

const concat = (parts: ReadonlyArray<Uint32Array>): Uint32Array => {
  const out = new Uint32Array(parts.reduce((sum, p) => sum + p.length, 0))
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0)
  return out
}

/** q-columns of one chunk: PRG(k^{s_i}) ⊕ s_i·u_i, in place in `columns`. */
const absorbColumns = (columns: Uint32Array, u: Uint32Array, s: Uint32Array, rows: number) => {
  const columnWords = rows >>> 5
  for (let i = 0; i < Spec.CODE_BITS; i++) {
    if (((s[i >>> 5]! >>> (i & 31)) & 1) === 0) continue
    for (let w = i * columnWords, end = w + columnWords; w < end; w++) columns[w] = columns[w]! ^ u[w]!
  }
}

/**
 * The rows to hash for `count` elements: for slot k < 3 the row of location k, for stash slot j row bins + j, each
 * q_row ⊕ (C(x‖tag) ∧ s); `codes` holds `codeSlots` codewords per element (tags 0…codeSlots−1), planar.
 */
const valueRows = (
  q: Uint32Array,
  codes: Oprf.Codewords,
  s: Uint32Array,
  hash: Encoding.Hashes,
  elements: Uint32Array,
  codeSlots: number,
  slots: number,
  step: Session.Step,
  scratch: { readonly t: Uint32Array; readonly rowIds: Float64Array }
) => {
  const count = elements.length
  const t = scratch.t.subarray(0, count * slots * Spec.CODE_WORDS)
  const rowIds = scratch.rowIds.subarray(0, count * slots)
  for (let i = 0; i < count; i++) {
    const element = elements[i]!
    for (let k = 0; k < slots; k++) {
      const row = k < Spec.HASHES ? Encoding.location(hash, element, k, step.bins) : step.bins + (k - Spec.HASHES)
      const code = 4 * (i * codeSlots + Math.min(k, Spec.STASH_TAG))
      const out = (i * slots + k) * Spec.CODE_WORDS
      const from = row * Spec.CODE_WORDS
      for (let p = 0, w = 0; p < 4; p++, w += 4) {
        const part = codes[p]!
        t[out + w] = q[from + w]! ^ (part[code]! & s[w]!)
        t[out + w + 1] = q[from + w + 1]! ^ (part[code + 1]! & s[w + 1]!)
        t[out + w + 2] = q[from + w + 2]! ^ (part[code + 2]! & s[w + 2]!)
        t[out + w + 3] = q[from + w + 3]! ^ (part[code + 3]! & s[w + 3]!)
      }
      rowIds[i * slots + k] = step.rowOffset + row
    }
  }
  return { t, rowIds }
}

/** The elements sent at positions [first, first + count) of the random order, recorded in `positions`. */
const pickBatch = (members: Uint32Array, order: Uint32Array, first: number, count: number, positions: Uint32Array, positionAt: number): Uint32Array => {
  const batch = new Uint32Array(count)
  for (let i = 0; i < count; i++) positions[positionAt + i] = batch[i] = members[order[first + i]!]!
  return batch
}


/** The sender: helps the receiver learn the intersection; learns it too only with `revealToSender`. */
export const sender = (link: Link, elements: ReadonlyArray<string>, options: Session.Options): Effect.Effect<Session.Output, Session.EngineError, Aes> =>
  Effect.gen(function*() {
    const { aes, channel, random, own } = yield* Session.start(link, elements, options)
    const peer = yield* Effect.flatMap(channel.receive, (m) => Messages.decodeHello(m, "receiverHello"))
    const choices = random(Spec.CODE_BYTES).slice()
    const fields: Messages.Hello = {
      version: Spec.VERSION,
      reveal: options.revealToSender ?? false,
      stash: 0,
      partitionElements: options.partitionElements ?? Spec.DEFAULT_PARTITION_ELEMENTS,
      count: own.inputIndex.length,
      seed: random(Messages.SEED_BYTES),
      points: new Uint8Array(0)
    }
    const chosen = yield* Effect.try({
      try: () => BaseOt.receiverChoose(peer.points, choices, Spec.CODE_BITS, random, Session.rootOf(options.context, peer, fields)),
      catch: (error) => new OtPsiError({ reason: "InvalidPoint", detail: error instanceof Error ? error.message : String(error) })
    })
    const hello: Messages.Hello = { ...fields, points: chosen.points }
    yield* channel.send(Messages.encodeHello("senderHello", hello))
    const session = yield* Session.establish("sender", channel, own, options, random, { receiver: peer, sender: hello })
    const streams = yield* Oprf.columnStreams(chosen.seeds)
    const s = words(choices)
    const slots = Spec.HASHES + session.stash
    // The stash rows all use the tag-3 codeword, computed once per element.
    const codeSlots = session.stash > 0 ? Spec.HASHES + 1 : Spec.HASHES
    const { valueBytes } = session
    const perMessage = Math.max(1, Math.min(Spec.VALUE_CHUNK_ITEMS, Math.floor((link.maxMessageBytes - Messages.BULK_HEADER) / (slots * valueBytes))))
    // Reused across chunks: the rows to hash and their ids, and the PRG columns of a matrix chunk.
    const scratch = { t: new Uint32Array(perMessage * slots * Spec.CODE_WORDS), rowIds: new Float64Array(perMessage * slots) }
    const columnScratch = new Uint8Array(Spec.MATRIX_CHUNK_ROWS * Spec.CODE_BYTES)
    const positions = new Uint32Array(own.inputIndex.length).fill(UNSENT) // global position → distinct element
    for (const step of Session.schedule(session)) {
      // 1. The partition's rows q_j, transposed chunk by chunk as the matrix arrives.
      const q = new Uint32Array(step.rows * Spec.CODE_WORDS)
      for (let first = 0; first < step.rows;) {
        const message = yield* channel.receive
        const { body, units } = yield* Messages.decodeBulk(message, "matrix", step.partition, first, Spec.CODE_BYTES, step.rows - first)
        if (units % Spec.ROW_ALIGN !== 0) return yield* Session.fail("MalformedMessage", `matrix: ${units} rows is not a multiple of ${Spec.ROW_ALIGN}`)
        const columns = words(yield* streams.next(units, units <= Spec.MATRIX_CHUNK_ROWS ? columnScratch : undefined))
        absorbColumns(columns, words(body.byteOffset % 4 === 0 ? body : body.slice()), s, units)
        transpose(columns, Spec.CODE_BITS, units, q.subarray(first * Spec.CODE_WORDS, (first + units) * Spec.CODE_WORDS))
        first += units
      }
      options.onProgress?.({ stage: "matrix", partition: step.partition, partitions: session.partitions })
      // 2. The values of every element of the partition, in a fresh random order.
      const members = session.members[step.partition]!
      const order = Session.shuffle(members.length, random)
      for (let first = 0; first < members.length; first += perMessage) {
        const count = Math.min(perMessage, members.length - first)
        const batch = pickBatch(members, order, first, count, positions, step.positionOffset + first)
        const codes = yield* Oprf.codewords(session.oprf, Session.taggedInputs(session.blocks, batch, codeSlots))
        const { t, rowIds } = valueRows(q, codes, s, session.hash, batch, codeSlots, slots, step, scratch)
        const message = Messages.bulkFrame("values", step.partition, first, count * slots * valueBytes)
        yield* Oprf.hashRows(session.oprf, new Uint8Array(t.buffer, t.byteOffset, t.byteLength), rowIds, valueBytes, message, Messages.BULK_HEADER)
        yield* channel.send(message)
      }
      options.onProgress?.({ stage: "values", partition: step.partition, partitions: session.partitions })
    }
    let indices: Uint32Array = new Uint32Array(0)
    if (session.reveal) {
      const revealed: Array<Uint32Array> = []
      for (let previous = -1; ;) {
        const { positions: chunk, last } = yield* Effect.flatMap(channel.receive, (m) => Messages.decodeReveal(m, own.inputIndex.length, previous))
        const unsent = chunk.find((position) => positions[position] === UNSENT)
        if (unsent !== undefined) return yield* Session.fail("MalformedMessage", `reveal: position ${unsent} was never sent`)
        revealed.push(chunk.map((position) => own.inputIndex[positions[position]!]!))
        if (chunk.length > 0) previous = chunk[chunk.length - 1]!
        if (last) break
      }
      indices = concat(revealed)
      options.onProgress?.({ stage: "reveal", partition: session.partitions - 1, partitions: session.partitions })
    }
    return { indices, stats: Session.stats("sender", aes.name, own, session, peer.count) }
  })
