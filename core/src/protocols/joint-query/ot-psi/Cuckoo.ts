/**
 * Cuckoo hashing with h = 3 locations and a stash (spec.ts step 4): every element of the receiver's partition gets
 * its own bin (or a stash slot), at most one element per bin. Insertion is the deterministic walk libOTe uses: an
 * element takes a free location if it has one, else evicts the occupant of its current location, and the evicted
 * element moves on to its next location; after `MAX_EVICTIONS` moves the element in hand goes to the stash, and a
 * full stash is a CuckooFailure (probability ≤ 2^-σ for spec.ts's bin counts).
 */
import { HASHES } from "./spec.ts"

export const MAX_EVICTIONS = 512

export interface Table {
  readonly bins: number
  /** Element (index into the partition's list) in each bin, −1 when empty. */
  readonly binItem: Int32Array
  /** Location index k (0…2) under which that element sits. */
  readonly binTag: Uint8Array
  /** Elements in the stash, in slot order. */
  readonly stash: ReadonlyArray<number>
}

/**
 * Places `count` elements, whose three locations are `locations[3i…3i+2]`, into `bins` bins and at most `stashSize`
 * stash slots; undefined when they do not fit (the caller reports CuckooFailure).
 */
export const insert = (locations: Uint32Array, count: number, bins: number, stashSize: number): Table | undefined => {
  const binItem = new Int32Array(bins).fill(-1)
  const binTag = new Uint8Array(bins)
  const stash: Array<number> = []
  for (let start = 0; start < count; start++) {
    let item = start
    let tag = 0
    let placed = false
    for (let moves = 0; moves <= MAX_EVICTIONS; moves++) {
      // A free location first: most elements land without evicting anyone.
      for (let k = 0; k < HASHES; k++) {
        const bin = locations[HASHES * item + k]!
        if (binItem[bin] === -1) {
          binItem[bin] = item
          binTag[bin] = k
          placed = true
          break
        }
      }
      if (placed) break
      const bin = locations[HASHES * item + tag]!
      const evicted = binItem[bin]!
      const evictedTag = binTag[bin]!
      binItem[bin] = item
      binTag[bin] = tag
      item = evicted
      tag = (evictedTag + 1) % HASHES
    }
    if (!placed) {
      if (stash.length >= stashSize) return undefined
      stash.push(item)
    }
  }
  return { bins, binItem, binTag, stash }
}
