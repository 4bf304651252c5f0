/**
 * Set membership and ordering over chunks of 32-byte group elements without a JS string per element: at 1M ids
 * per side, `elementKey` strings cost two million allocations (and a comparator that allocated two per call).
 *
 * An open-addressing table (linear probing, load ≤ 1/2) of element indices. The hash folds all eight 32-bit
 * words of an element with a per-set random key, so a party that picks the values it relays (e.g. a shared
 * prefix) cannot make probes collide on purpose: it would have to know the key.
 */
import { POINT_BYTES } from "./Group.ts"

const WORDS = POINT_BYTES / 4

/** The elements as 32-bit words (copied only when the view is not 4-byte aligned). */
const wordsOf = (points: Uint8Array): Uint32Array =>
  points.byteOffset % 4 === 0
    ? new Uint32Array(points.buffer, points.byteOffset, points.length / 4)
    : new Uint32Array(points.slice().buffer)

export interface ElementSet {
  readonly size: number
  /** A membership test for the elements of `points`: whether element `i` of it is in the set. */
  readonly within: (points: Uint8Array) => (i: number) => boolean
}

/** The set of the elements of `points` (a chunk, or concatenated chunks). */
export const of = (points: Uint8Array): ElementSet => {
  const words = wordsOf(points)
  const count = points.length / POINT_BYTES
  let capacity = 16
  while (capacity < count * 2) capacity *= 2
  const mask = capacity - 1
  const key = crypto.getRandomValues(new Uint32Array(WORDS + 1))
  const hash = (w: Uint32Array, at: number) => {
    let h = key[WORDS]!
    for (let j = 0; j < WORDS; j++) {
      h = Math.imul(h ^ w[at + j]! ^ key[j]!, 0x9e3779b1)
      h ^= h >>> 15
    }
    return h
  }
  const equal = (w: Uint32Array, at: number, slot: number) => {
    const base = slot * WORDS
    for (let j = 0; j < WORDS; j++) if (words[base + j] !== w[at + j]) return false
    return true
  }
  const slots = new Int32Array(capacity).fill(-1)
  let size = 0
  for (let i = 0; i < count; i++) {
    let at = hash(words, i * WORDS) & mask
    for (;;) {
      const held = slots[at]!
      if (held === -1) {
        slots[at] = i
        size++
        break
      }
      if (equal(words, i * WORDS, held)) break
      at = (at + 1) & mask
    }
  }
  return {
    size,
    within: (other) => {
      const w = wordsOf(other)
      return (i) => {
        let at = hash(w, i * WORDS) & mask
        for (;;) {
          const held = slots[at]!
          if (held === -1) return false
          if (equal(w, i * WORDS, held)) return true
          at = (at + 1) & mask
        }
      }
    }
  }
}

/** Byte-wise order of elements `a` and `b` of `points` (lexicographic, as the encodings compare). */
export const compare = (points: Uint8Array, a: number, b: number): number => {
  const x = a * POINT_BYTES
  const y = b * POINT_BYTES
  for (let j = 0; j < POINT_BYTES; j++) {
    const d = points[x + j]! - points[y + j]!
    if (d !== 0) return d
  }
  return 0
}
