/**
 * Elements → 128-bit blocks e(x) (spec.ts step 2), duplicates dropped, and the keyed hashes every party computes
 * on its blocks: the partition and the three cuckoo locations.
 *
 *   |x| ≤ 15 bytes:  e(x) = |x| ‖ x ‖ 0…          (injective; byte 0 < 16)
 *   |x| ≥ 16 bytes:  e(x) = 0x10 ‖ CBC-MAC_{k_enc}(len64 ‖ x ‖ 0-pad)[0..15]
 *
 * Bits 5–6 of byte 0 stay free for the cuckoo tag k, so e(x)‖k is one block. Two steps, because the count a party
 * announces in its hello must already be its number of distinct elements while the MAC key only exists after the
 * hellos: `prepare` writes the short ids' blocks straight from the strings (no intermediate UTF-8 buffer for ASCII)
 * and drops duplicates — by block for short ids, by string for long ones — and `complete` MACs the long ids, over
 * all of them at once, one AES batch per 16-byte position (π = AES⁻¹, Aes.ts). A length prefix makes the message
 * space prefix-free, where CBC-MAC is a PRF; ids are mostly short (account numbers, "patient-123456"); a UUID takes
 * 4 rounds.
 */
import { Effect } from "effect"
import { Aes, type AesError, type AesKey, BLOCK_BYTES } from "./Aes.ts"
import { words } from "./Bits.ts"

export const SHORT_MAX = 15
const LONG_FLAG = 0x10

export interface Prepared {
  /** e(x) of the distinct elements, 16 bytes each, in input order of first occurrence; long ids' blocks are zero until `complete`. */
  readonly blocks: Uint8Array
  /** Input index of each distinct element. */
  readonly inputIndex: Uint32Array
  readonly duplicates: number
  /** The long ids: their element index and their UTF-8 bytes (`ends` as in Group.EncodedIds). */
  readonly long: { readonly index: Uint32Array; readonly bytes: Uint8Array; readonly ends: Uint32Array }
}

const encoder = new TextEncoder()

/** Writes `id` as UTF-8 at `out[at…]` when it fits in `room` bytes; returns its length, or −1 when it is longer. */
const writeUtf8 = (id: string, out: Uint8Array, at: number, room: number): number => {
  if (id.length > room) return -1
  let j = 0
  for (; j < id.length; j++) {
    const c = id.charCodeAt(j)
    if (c >= 0x80) break
    out[at + j] = c
  }
  if (j === id.length) return j
  const bytes = encoder.encode(id)
  if (bytes.length > room) return -1
  out.set(bytes, at)
  return bytes.length
}

/**
 * The dedupe table's slot of block d: the high `bits` of a multiplicative hash. Not its low bits: the low bits of a
 * product depend only on the low bits of its factors, i.e. on the first bytes of each word, which ids with a common
 * prefix share (`u1234567`: 3 varying digits in the low 19 bits), so linear probing ran into long clusters (1M such
 * ids took 2.3 s to prepare).
 */
const blockSlot = (w: Uint32Array, d: number, bits: number) => {
  const a = Math.imul(w[4 * d]! ^ (w[4 * d + 1]! >>> 15), 0x9e3779b1) ^ Math.imul(w[4 * d + 1]! ^ (w[4 * d + 2]! >>> 15), 0x85ebca77)
  const b = Math.imul(w[4 * d + 2]! ^ (w[4 * d + 3]! >>> 15), 0xc2b2ae3d) ^ Math.imul(w[4 * d + 3]! ^ (w[4 * d]! >>> 15), 0x27d4eb2f)
  return Math.imul(a ^ (b >>> 16) ^ (a >>> 13) ^ b, 0x9e3779b1) >>> (32 - bits)
}

/** The distinct elements and their short-id blocks (`complete` adds the long ones once the session key exists). */
export const prepare = (ids: ReadonlyArray<string>): Prepared => {
  const n = ids.length
  const blocks = new Uint8Array(n * BLOCK_BYTES)
  const w = words(blocks)
  let bits = 4
  while (2 ** bits < n * 2) bits++
  const slots = new Int32Array(2 ** bits).fill(-1)
  const mask = 2 ** bits - 1
  const inputIndex = new Uint32Array(n)
  const longIds = new Map<string, number>()
  const longIndex: Array<number> = []
  let d = 0 // distinct elements so far; block d is being written
  for (let i = 0; i < n; i++) {
    const id = ids[i]!
    const length = writeUtf8(id, blocks, d * BLOCK_BYTES + 1, SHORT_MAX)
    if (length < 0) {
      blocks.fill(0, d * BLOCK_BYTES, (d + 1) * BLOCK_BYTES) // a non-ASCII id may have left a prefix there
      if (longIds.has(id)) continue
      longIds.set(id, d)
      longIndex.push(d)
      inputIndex[d++] = i
      continue
    }
    blocks[d * BLOCK_BYTES] = length
    let slot = blockSlot(w, d, bits)
    let duplicate = false
    for (let j = slots[slot]!; j >= 0; slot = (slot + 1) & mask, j = slots[slot]!) {
      if (w[4 * j] === w[4 * d] && w[4 * j + 1] === w[4 * d + 1] && w[4 * j + 2] === w[4 * d + 2] && w[4 * j + 3] === w[4 * d + 3]) {
        duplicate = true
        break
      }
    }
    if (duplicate) {
      blocks.fill(0, d * BLOCK_BYTES, (d + 1) * BLOCK_BYTES)
      continue
    }
    slots[slot] = d
    inputIndex[d++] = i
  }
  const longBytes: Array<Uint8Array> = []
  const ends = new Uint32Array(longIndex.length)
  let total = 0
  for (const [id] of longIds) longBytes.push(encoder.encode(id))
  longBytes.forEach((bytes, j) => (ends[j] = total += bytes.length))
  const bytes = new Uint8Array(total)
  longBytes.forEach((b, j) => bytes.set(b, j === 0 ? 0 : ends[j - 1]!))
  return {
    blocks: blocks.subarray(0, d * BLOCK_BYTES),
    inputIndex: inputIndex.subarray(0, d),
    duplicates: n - d,
    long: { index: Uint32Array.from(longIndex), bytes, ends }
  }
}

// ---- CBC-MAC of the long ids (hot loops in plain functions: V8 optimizes those, not a generator body that runs once)

type Long = Prepared["long"]

const startOf = (long: Long, j: number) => (j === 0 ? 0 : long.ends[j - 1]!)

/** Round 0: each long id's length block (64-bit little-endian length, then zeros). */
const lengthBlocks = (long: Long): Uint8Array => {
  const state = new Uint8Array(long.index.length * BLOCK_BYTES)
  const view = new DataView(state.buffer)
  for (let j = 0; j < long.index.length; j++) {
    const length = long.ends[j]! - startOf(long, j)
    view.setUint32(j * BLOCK_BYTES, length, true)
    view.setUint32(j * BLOCK_BYTES + 4, Math.floor(length / 0x1_0000_0000), true)
  }
  return state
}

/** The ids still running at round r (more than r data blocks) and their chaining state ⊕ data block r. */
const roundInputs = (long: Long, chained: Uint8Array, r: number) => {
  const active: Array<number> = []
  for (let j = 0; j < long.index.length; j++) if (long.ends[j]! - startOf(long, j) > r * BLOCK_BYTES) active.push(j)
  const batch = new Uint8Array(active.length * BLOCK_BYTES)
  for (let a = 0; a < active.length; a++) {
    const j = active[a]!
    const from = startOf(long, j) + r * BLOCK_BYTES
    const to = Math.min(long.ends[j]!, from + BLOCK_BYTES)
    batch.set(chained.subarray(j * BLOCK_BYTES, (j + 1) * BLOCK_BYTES), a * BLOCK_BYTES)
    for (let b = from; b < to; b++) batch[a * BLOCK_BYTES + b - from] = batch[a * BLOCK_BYTES + b - from]! ^ long.bytes[b]!
  }
  return { active, batch }
}

const scatter = (chained: Uint8Array, active: ReadonlyArray<number>, next: Uint8Array) => {
  for (let a = 0; a < active.length; a++) chained.set(next.subarray(a * BLOCK_BYTES, (a + 1) * BLOCK_BYTES), active[a]! * BLOCK_BYTES)
}

const writeLong = (long: Long, chained: Uint8Array, out: Uint8Array) => {
  for (let j = 0; j < long.index.length; j++) {
    const at = long.index[j]! * BLOCK_BYTES
    out[at] = LONG_FLAG
    out.set(chained.subarray(j * BLOCK_BYTES, j * BLOCK_BYTES + SHORT_MAX), at + 1)
  }
}

/** Fills in the long ids' blocks under the session's encoding key; returns the completed blocks. */
export const complete = (key: AesKey, prepared: Prepared): Effect.Effect<Uint8Array, AesError, Aes> =>
  Effect.gen(function*() {
    const { long } = prepared
    if (long.index.length === 0) return prepared.blocks
    const aes = yield* Aes
    const chained = yield* aes.decryptBlocks(key, lengthBlocks(long))
    let longest = 0
    for (let j = 0; j < long.index.length; j++) longest = Math.max(longest, long.ends[j]! - startOf(long, j))
    for (let r = 0; r < Math.ceil(longest / BLOCK_BYTES); r++) {
      const { active, batch } = roundInputs(long, chained, r)
      scatter(chained, active, yield* aes.decryptBlocks(key, batch))
    }
    writeLong(long, chained, prepared.blocks)
    return prepared.blocks
  })

// ---- keyed hashes: partition and cuckoo locations

/** π_{l0}(e) and π_{l1}(e) of every block, as words: element i's are words 4i…4i+3 of each. */
export interface Hashes {
  readonly a: Uint32Array
  readonly b: Uint32Array
}

export const hashWords = (keys: readonly [AesKey, AesKey], blocks: Uint8Array): Effect.Effect<Hashes, AesError, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const [a, b] = yield* Effect.all([aes.decryptBlocks(keys[0], blocks), aes.decryptBlocks(keys[1], blocks)])
    return { a: words(a), b: words(b) }
  })

const TWO_POW_53 = 2 ** 53

/**
 * A 53-bit integer from two hash words, mapped onto [0, m) by multiplication (x·m / 2^53, floored) rather than a
 * modulo: two double multiplications instead of three floating-point remainders, bias ≤ m/2^53. Plain IEEE-754
 * arithmetic, so every platform computes the same bin; the clamp covers a product that rounds up to m.
 */
export const reduce = (hi: number, lo: number, m: number): number =>
  Math.min(m - 1, Math.floor(((hi >>> 0) * 2_097_152 + (lo >>> 11)) * (m / TWO_POW_53)))

/** Cuckoo location k ∈ {0,1,2} of element i among `bins` bins: words (1,0), (3,2) of π_{l0}(e) and (1,0) of π_{l1}(e). */
export const location = (hash: Hashes, i: number, k: number, bins: number): number =>
  k === 2 ? reduce(hash.b[4 * i + 1]!, hash.b[4 * i]!, bins) : reduce(hash.a[4 * i + 2 * k + 1]!, hash.a[4 * i + 2 * k]!, bins)

/** Partition of element i among `partitions`: words (3,2) of π_{l1}(e). */
export const partitionOf = (hash: Hashes, i: number, partitions: number): number => reduce(hash.b[4 * i + 3]!, hash.b[4 * i + 2]!, partitions)
