/**
 * The batched OPRF of KKRT (spec.ts step 4–5): the pseudorandom code C, the output hash H, and the PRG columns of
 * the OT-extension matrix. Every function works on whole batches (rows of 64 bytes = 16 words) so that each AES
 * call covers thousands of blocks.
 */
import { Effect } from "effect"
import { Aes, type AesKey, BLOCK_BYTES } from "./Aes.ts"
import { words } from "./Bits.ts"
import { CODE_BYTES, CODE_WORDS } from "./spec.ts"

export interface OprfKeys {
  readonly code: readonly [AesKey, AesKey, AesKey, AesKey]
  readonly out: AesKey
}

/** C(v) of each 16-byte input block: rows of 64 bytes, π_{c0}(v) ‖ π_{c1}(v) ‖ π_{c2}(v) ‖ π_{c3}(v). */
export const codewords = (keys: OprfKeys, inputs: Uint8Array): Effect.Effect<Uint8Array, never, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const count = inputs.length / BLOCK_BYTES
    const parts = yield* Effect.all(keys.code.map((key) => aes.decryptBlocks(key, inputs)))
    const rows = new Uint8Array(count * CODE_BYTES)
    const out = words(rows)
    for (let part = 0; part < 4; part++) {
      const w = words(parts[part]!)
      for (let i = 0, o = part * 4; i < count; i++, o += CODE_WORDS) {
        out[o] = w[4 * i]!
        out[o + 1] = w[4 * i + 1]!
        out[o + 2] = w[4 * i + 2]!
        out[o + 3] = w[4 * i + 3]!
      }
    }
    return rows
  })

/**
 * H(j, t) of each 64-byte row t of `rows` (overwritten: the tweaks are XORed in place), j = `rowIds[i]`, truncated
 * to `valueBytes` and written consecutively into `out` from `outAt`.
 */
export const hashRows = (
  keys: OprfKeys,
  rows: Uint8Array,
  rowIds: ArrayLike<number>,
  valueBytes: number,
  out: Uint8Array,
  outAt: number
): Effect.Effect<void, never, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const count = rows.length / CODE_BYTES
    const t = words(rows)
    for (let i = 0, o = 0; i < count; i++, o += CODE_WORDS) {
      const j = rowIds[i]!
      const lo = j >>> 0
      const hi = Math.floor(j / 0x1_0000_0000)
      for (let block = 0; block < 4; block++) {
        t[o + 4 * block] = t[o + 4 * block]! ^ block
        t[o + 4 * block + 2] = t[o + 4 * block + 2]! ^ lo
        t[o + 4 * block + 3] = t[o + 4 * block + 3]! ^ hi
      }
    }
    const permuted = words(yield* aes.decryptBlocks(keys.out, rows))
    const folded = new Uint8Array(count * BLOCK_BYTES)
    const u = words(folded)
    for (let i = 0, o = 0; i < count; i++, o += CODE_WORDS) {
      for (let w = 0; w < 4; w++) {
        u[4 * i + w] = permuted[o + w]! ^ t[o + w]! ^ permuted[o + 4 + w]! ^ t[o + 4 + w]! ^ permuted[o + 8 + w]! ^ t[o + 8 + w]! ^ permuted[o + 12 + w]! ^ t[o + 12 + w]!
      }
    }
    const final = yield* aes.decryptBlocks(keys.out, folded)
    for (let i = 0; i < count; i++) {
      const at = outAt + i * valueBytes
      for (let b = 0; b < valueBytes; b++) out[at + b] = final[i * BLOCK_BYTES + b]! ^ folded[i * BLOCK_BYTES + b]!
    }
  })

export interface ColumnStreams {
  readonly columns: number
  readonly next: (rows: number) => Effect.Effect<Uint8Array>
}

/** Bytes of keystream buffered per column: refills are one AES call per column per this many rows / 8. */
const SLAB_BYTES = 16 * 1024

/**
 * The PRG columns of the OT matrix: column i is AES-128-CTR under seed i, consumed in order across chunks and
 * partitions. `next(rows)` returns the next `rows` bits of every column, column-major (column i = bytes
 * [i·rows/8, (i+1)·rows/8)); `rows` is a multiple of 128.
 */
export const columnStreams = (seeds: Uint8Array): Effect.Effect<ColumnStreams, never, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const columns = seeds.length / 16
    const keys = yield* Effect.all(Array.from({ length: columns }, (_, i) => aes.importKey(seeds.subarray(16 * i, 16 * (i + 1)))), { concurrency: "unbounded" })
    let slabs: Array<Uint8Array> = []
    let slabAt = 0 // bytes of the current slabs already consumed
    let nextBlock = 0 // counter block where the next slabs start
    const next = (rows: number): Effect.Effect<Uint8Array> =>
      Effect.gen(function*() {
        const bytes = rows / 8
        const out = new Uint8Array(columns * bytes)
        let done = 0
        while (done < bytes) {
          if (slabs.length === 0 || slabAt === slabs[0]!.length) {
            const size = Math.max(SLAB_BYTES, Math.ceil((bytes - done) / BLOCK_BYTES) * BLOCK_BYTES)
            const block = nextBlock
            slabs = yield* Effect.all(keys.map((key) => aes.keystream(key, block, size)), { concurrency: "unbounded" })
            nextBlock += size / BLOCK_BYTES
            slabAt = 0
          }
          const take = Math.min(bytes - done, slabs[0]!.length - slabAt)
          for (let c = 0; c < columns; c++) out.set(slabs[c]!.subarray(slabAt, slabAt + take), c * bytes + done)
          slabAt += take
          done += take
        }
        return out
      })
    return { columns, next }
  })
