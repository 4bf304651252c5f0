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

/** CBC-MAC of the long ids `longIds` (indices into `ids`), written as their blocks into `out`. */
const macLongIds = (key: AesKey, ids: EncodedIds, longIds: ReadonlyArray<number>, out: Uint8Array) =>
  Effect.gen(function*() {
    if (longIds.length === 0) return
    const aes = yield* Aes
    const starts = longIds.map((i) => (i === 0 ? 0 : ids.ends[i - 1]!))
    const lengths = longIds.map((i, j) => ids.ends[i]! - starts[j]!)
    // Round 0: the length block; round r: data block r − 1 XORed into the chaining state.
    const state = new Uint8Array(longIds.length * BLOCK_BYTES)
    const header = new DataView(state.buffer)
    for (let j = 0; j < longIds.length; j++) {
      header.setUint32(j * BLOCK_BYTES, lengths[j]!, true)
      header.setUint32(j * BLOCK_BYTES + 4, Math.floor(lengths[j]! / 0x1_0000_0000), true)
    }
    let chained = yield* aes.decryptBlocks(key, state)
    const rounds = Math.max(...lengths.map((l) => Math.ceil(l / BLOCK_BYTES)))
    for (let r = 0; r < rounds; r++) {
      const active: Array<number> = []
      for (let j = 0; j < longIds.length; j++) if (lengths[j]! > r * BLOCK_BYTES) active.push(j)
      const batch = new Uint8Array(active.length * BLOCK_BYTES)
      for (let a = 0; a < active.length; a++) {
        const j = active[a]!
        const from = starts[j]! + r * BLOCK_BYTES
        const to = Math.min(starts[j]! + lengths[j]!, from + BLOCK_BYTES)
        batch.set(chained.subarray(j * BLOCK_BYTES, (j + 1) * BLOCK_BYTES), a * BLOCK_BYTES)
        for (let b = from; b < to; b++) batch[a * BLOCK_BYTES + b - from] = batch[a * BLOCK_BYTES + b - from]! ^ ids.bytes[b]!
      }
      const next = yield* aes.decryptBlocks(key, batch)
      for (let a = 0; a < active.length; a++) chained.set(next.subarray(a * BLOCK_BYTES, (a + 1) * BLOCK_BYTES), active[a]! * BLOCK_BYTES)
    }
    for (let j = 0; j < longIds.length; j++) {
      const at = longIds[j]! * BLOCK_BYTES
      out[at] = LONG_FLAG
      out.set(chained.subarray(j * BLOCK_BYTES, j * BLOCK_BYTES + SHORT_MAX), at + 1)
    }
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

/** e(x) of every id (call `distinctIds` first), count × 16 bytes. */
export const encode = (key: AesKey, ids: EncodedIds): Effect.Effect<Uint8Array, never, Aes> =>
  Effect.gen(function*() {
    const count = ids.ends.length
    const blocks = new Uint8Array(count * BLOCK_BYTES)
    const longIds: Array<number> = []
    for (let i = 0, start = 0; i < count; start = ids.ends[i]!, i++) {
      const length = ids.ends[i]! - start
      if (length > SHORT_MAX) {
        longIds.push(i)
        continue
      }
      const at = i * BLOCK_BYTES
      blocks[at] = length
      for (let b = 0; b < length; b++) blocks[at + 1 + b] = ids.bytes[start + b]!
    }
    yield* macLongIds(key, ids, longIds, blocks)
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
    const wa = words(a)
    const wb = words(b)
    const count = blocks.length / BLOCK_BYTES
    const out = new Uint32Array(count * 8)
    for (let i = 0; i < count; i++) {
      out[8 * i] = wa[4 * i]!; out[8 * i + 1] = wa[4 * i + 1]!; out[8 * i + 2] = wa[4 * i + 2]!; out[8 * i + 3] = wa[4 * i + 3]!
      out[8 * i + 4] = wb[4 * i]!; out[8 * i + 5] = wb[4 * i + 1]!; out[8 * i + 6] = wb[4 * i + 2]!; out[8 * i + 7] = wb[4 * i + 3]!
    }
    return out
  })

/** (hi·2^32 + lo) mod m without leaving exact double arithmetic (m < 2^32). */
export const mod64 = (hi: number, lo: number, m: number): number => {
  let r = hi % m
  r = (r * 0x10000 + (lo >>> 16)) % m
  return (r * 0x10000 + (lo & 0xffff)) % m
}

/** Cuckoo location k ∈ {0,1,2} of element i among `bins` bins. */
export const location = (hash: Uint32Array, i: number, k: number, bins: number): number => mod64(hash[8 * i + 2 * k + 1]!, hash[8 * i + 2 * k]!, bins)

/** Partition of element i among `partitions`. */
export const partitionOf = (hash: Uint32Array, i: number, partitions: number): number => mod64(hash[8 * i + 7]!, hash[8 * i + 6]!, partitions)
