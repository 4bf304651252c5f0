/**
 * Elements → 128-bit blocks e(x) (spec.ts step 2), duplicates dropped first, and the keyed hashes every party computes
 * on its blocks: the partition and the three cuckoo locations.
 *
 *   |x| ≤ 15 bytes:  e(x) = |x| ‖ x ‖ 0…          (injective; byte 0 < 16)
 *   |x| ≥ 16 bytes:  e(x) = 0x10 ‖ CBC-MAC_{k_enc}(len64 ‖ x ‖ 0-pad)[0..15]
 *
 * Bits 5–6 of byte 0 stay free for the cuckoo tag k (`tagged`), so e(x)‖k is one block. CBC-MAC runs over all long
 * ids at once, one AES batch per 16-byte position (π = AES⁻¹, Aes.ts): a length prefix makes the message space
 * prefix-free, where CBC-MAC is a PRF; ids are mostly short (account numbers, "patient-123456"), UUIDs take 4 rounds.
 */
import { Effect } from "effect"
import type { EncodedIds } from "../Group.ts"
import { Aes, type AesKey, BLOCK_BYTES } from "./Aes.ts"
import { words } from "./Bits.ts"

export const SHORT_MAX = 15
const LONG_FLAG = 0x10

interface LongIds {
  readonly index: ReadonlyArray<number>
  readonly starts: Uint32Array
  readonly lengths: Uint32Array
}

/** Round 0 of CBC-MAC: each long id's length block (64-bit little-endian length, then zeros). */
const lengthBlocks = (long: LongIds): Uint8Array => {
  const state = new Uint8Array(long.index.length * BLOCK_BYTES)
  const view = new DataView(state.buffer)
  for (let j = 0; j < long.index.length; j++) {
    view.setUint32(j * BLOCK_BYTES, long.lengths[j]!, true)
    view.setUint32(j * BLOCK_BYTES + 4, Math.floor(long.lengths[j]! / 0x1_0000_0000), true)
  }
  return state
}

/** The ids still running at round r (more than r data blocks) and their chaining state ⊕ data block r. */
const roundInputs = (long: LongIds, ids: EncodedIds, chained: Uint8Array, r: number) => {
  const active: Array<number> = []
  for (let j = 0; j < long.index.length; j++) if (long.lengths[j]! > r * BLOCK_BYTES) active.push(j)
  const batch = new Uint8Array(active.length * BLOCK_BYTES)
  for (let a = 0; a < active.length; a++) {
    const j = active[a]!
    const from = long.starts[j]! + r * BLOCK_BYTES
    const to = Math.min(long.starts[j]! + long.lengths[j]!, from + BLOCK_BYTES)
    batch.set(chained.subarray(j * BLOCK_BYTES, (j + 1) * BLOCK_BYTES), a * BLOCK_BYTES)
    for (let b = from; b < to; b++) batch[a * BLOCK_BYTES + b - from] = batch[a * BLOCK_BYTES + b - from]! ^ ids.bytes[b]!
  }
  return { active, batch }
}

const scatter = (chained: Uint8Array, active: ReadonlyArray<number>, next: Uint8Array) => {
  for (let a = 0; a < active.length; a++) chained.set(next.subarray(a * BLOCK_BYTES, (a + 1) * BLOCK_BYTES), active[a]! * BLOCK_BYTES)
}

const writeLong = (long: LongIds, chained: Uint8Array, out: Uint8Array) => {
  for (let j = 0; j < long.index.length; j++) {
    const at = long.index[j]! * BLOCK_BYTES
    out[at] = LONG_FLAG
    out.set(chained.subarray(j * BLOCK_BYTES, j * BLOCK_BYTES + SHORT_MAX), at + 1)
  }
}

/** CBC-MAC of the long ids `index` (into `ids`), written as their blocks into `out`: one AES batch per round. */
const macLongIds = (key: AesKey, ids: EncodedIds, index: ReadonlyArray<number>, out: Uint8Array) =>
  Effect.gen(function*() {
    if (index.length === 0) return
    const aes = yield* Aes
    const starts = Uint32Array.from(index, (i) => (i === 0 ? 0 : ids.ends[i - 1]!))
    const long: LongIds = { index, starts, lengths: Uint32Array.from(index, (i, j) => ids.ends[i]! - starts[j]!) }
    const chained = yield* aes.decryptBlocks(key, lengthBlocks(long))
    const rounds = Math.ceil(long.lengths.reduce((a, b) => Math.max(a, b), 0) / BLOCK_BYTES)
    for (let r = 0; r < rounds; r++) {
      const { active, batch } = roundInputs(long, ids, chained, r)
      scatter(chained, active, yield* aes.decryptBlocks(key, batch))
    }
    writeLong(long, chained, out)
  })

export interface DistinctIds {
  /** The distinct ids, in input order of first occurrence. */
  readonly ids: EncodedIds
  /** Input index of each distinct id. */
  readonly inputIndex: Uint32Array
  readonly duplicates: number
}

/**
 * Drops repeated ids (byte-equal; the first occurrence stays), before anything is announced: the count a party
 * sends is its number of distinct elements, and a repeated element never shows up as repeated values.
 */
export const distinctIds = (ids: EncodedIds): DistinctIds => {
  const count = ids.ends.length
  let size = 16
  while (size < count * 2) size *= 2
  const slots = new Int32Array(size).fill(-1)
  const mask = size - 1
  const keep = new Uint32Array(count)
  let kept = 0
  const startOf = (i: number) => (i === 0 ? 0 : ids.ends[i - 1]!)
  for (let i = 0; i < count; i++) {
    const start = startOf(i)
    const end = ids.ends[i]!
    let h = 0x811c9dc5 ^ (end - start)
    for (let b = start; b < end; b++) h = Math.imul(h ^ ids.bytes[b]!, 0x01000193)
    let slot = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0) & mask
    for (;;) {
      const j = slots[slot]!
      if (j < 0) {
        slots[slot] = i
        keep[kept++] = i
        break
      }
      const other = startOf(j)
      if (ids.ends[j]! - other === end - start) {
        let same = true
        for (let b = 0; b < end - start && same; b++) same = ids.bytes[start + b] === ids.bytes[other + b]
        if (same) break
      }
      slot = (slot + 1) & mask
    }
  }
  if (kept === count) return { ids, inputIndex: keep, duplicates: 0 }
  const inputIndex = keep.slice(0, kept)
  let bytes = 0
  for (const i of inputIndex) bytes += ids.ends[i]! - startOf(i)
  const out = new Uint8Array(bytes)
  const ends = new Uint32Array(kept)
  for (let j = 0, at = 0; j < kept; j++) {
    const i = inputIndex[j]!
    out.set(ids.bytes.subarray(startOf(i), ids.ends[i]!), at)
    at += ids.ends[i]! - startOf(i)
    ends[j] = at
  }
  return { ids: { bytes: out, ends }, inputIndex, duplicates: count - kept }
}

/** The short ids' blocks written into `blocks`; returns the indices of the long ones. */
const encodeShort = (ids: EncodedIds, blocks: Uint8Array): Array<number> => {
  const longIds: Array<number> = []
  for (let i = 0, start = 0; i < ids.ends.length; start = ids.ends[i]!, i++) {
    const length = ids.ends[i]! - start
    if (length > SHORT_MAX) {
      longIds.push(i)
      continue
    }
    const at = i * BLOCK_BYTES
    blocks[at] = length
    for (let b = 0; b < length; b++) blocks[at + 1 + b] = ids.bytes[start + b]!
  }
  return longIds
}

/** e(x) of every id (call `distinctIds` first), count × 16 bytes. */
export const encode = (key: AesKey, ids: EncodedIds): Effect.Effect<Uint8Array, never, Aes> =>
  Effect.gen(function*() {
    const blocks = new Uint8Array(ids.ends.length * BLOCK_BYTES)
    yield* macLongIds(key, ids, encodeShort(ids, blocks), blocks)
    return blocks
  })

/** Copy of `blocks` (or the listed ones) with the cuckoo tag k in bits 5–6 of byte 0. */
export const tagged = (blocks: Uint8Array, tag: number): Uint8Array => {
  const out = blocks.slice()
  for (let at = 0; at < out.length; at += BLOCK_BYTES) out[at] = out[at]! | (tag << 5)
  return out
}

/**
 * The keyed hash words of each block: 8 words per block, π_{l0}(e) then π_{l1}(e) (spec.ts), from which
 * `partitionOf` and `location` read 64-bit integers.
 */
export const hashWords = (keys: readonly [AesKey, AesKey], blocks: Uint8Array): Effect.Effect<Uint32Array, never, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const [a, b] = yield* Effect.all([aes.decryptBlocks(keys[0], blocks), aes.decryptBlocks(keys[1], blocks)])
    return pairBlocks(words(a), words(b), blocks.length / BLOCK_BYTES)
  })

/** 8 words per element: its block of `wa`, then its block of `wb`. */
const pairBlocks = (wa: Uint32Array, wb: Uint32Array, count: number): Uint32Array => {
  const out = new Uint32Array(count * 8)
  for (let i = 0; i < count; i++) {
    out[8 * i] = wa[4 * i]!; out[8 * i + 1] = wa[4 * i + 1]!; out[8 * i + 2] = wa[4 * i + 2]!; out[8 * i + 3] = wa[4 * i + 3]!
    out[8 * i + 4] = wb[4 * i]!; out[8 * i + 5] = wb[4 * i + 1]!; out[8 * i + 6] = wb[4 * i + 2]!; out[8 * i + 7] = wb[4 * i + 3]!
  }
  return out
}

const TWO_POW_53 = 2 ** 53

/**
 * A 53-bit integer from two hash words, mapped onto [0, m) by multiplication (x·m / 2^53, floored) rather than a
 * modulo: two double multiplications instead of three floating-point remainders, bias ≤ m/2^53. Plain IEEE-754
 * arithmetic, so every platform computes the same bin; the clamp covers a product that rounds up to m.
 */
export const reduce = (hi: number, lo: number, m: number): number =>
  Math.min(m - 1, Math.floor(((hi >>> 0) * 2_097_152 + (lo >>> 11)) * (m / TWO_POW_53)))

/** Cuckoo location k ∈ {0,1,2} of element i among `bins` bins. */
export const location = (hash: Uint32Array, i: number, k: number, bins: number): number => reduce(hash[8 * i + 2 * k + 1]!, hash[8 * i + 2 * k]!, bins)

/** Partition of element i among `partitions`. */
export const partitionOf = (hash: Uint32Array, i: number, partitions: number): number => reduce(hash[8 * i + 7]!, hash[8 * i + 6]!, partitions)
