/**
 * The batched OPRF of KKRT (spec.ts step 4–5): the pseudorandom code C, the output hash H, and the PRG columns of
 * the OT-extension matrix. Every function works on whole batches (rows of 64 bytes = 16 words) so that each AES
 * call covers thousands of blocks.
 */
import { Effect } from "effect"
import { Aes, type AesError, type AesKey, BLOCK_BYTES } from "./Aes.ts"
import { words } from "./Bits.ts"
import { CODE_BYTES, CODE_WORDS } from "./spec.ts"

export interface OprfKeys {
  readonly code: readonly [AesKey, AesKey, AesKey, AesKey]
  readonly out: AesKey
}

// Hot loops live in plain functions: V8 optimizes those, not the body of a generator that runs once (Effect.gen).

export type Codewords = readonly [Uint32Array, Uint32Array, Uint32Array, Uint32Array]

/**
 * C(v) of each 16-byte input block, as its four 128-bit parts π_{c0}(v), π_{c1}(v), π_{c2}(v), π_{c3}(v) — part p
 * of input i is words 4i…4i+3 of `parts[p]` (code row i = part0_i ‖ part1_i ‖ part2_i ‖ part3_i). Left planar:
 * each consumer reads the parts where it needs them instead of a 64-byte row copy first.
 */
export const codewords = (keys: OprfKeys, inputs: Uint8Array): Effect.Effect<Codewords, AesError, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const parts = yield* Effect.all(keys.code.map((key) => aes.decryptBlocks(key, inputs)))
    return [words(parts[0]!), words(parts[1]!), words(parts[2]!), words(parts[3]!)] as const
  })

/** XORs the tweak τ_{i,j} = (i, 0, j mod 2^32, ⌊j/2^32⌋) into block i of each row, j = that row's id. */
const tweak = (t: Uint32Array, rowIds: ArrayLike<number>, count: number) => {
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
}

/** u = ⊕_i π(t'_i) ⊕ t'_i over the four blocks of each row. */
const fold = (permuted: Uint32Array, t: Uint32Array, count: number): Uint8Array => {
  const folded = new Uint8Array(count * BLOCK_BYTES)
  const u = words(folded)
  for (let i = 0, o = 0; i < count; i++, o += CODE_WORDS) {
    for (let w = 0; w < 4; w++) {
      u[4 * i + w] = permuted[o + w]! ^ t[o + w]! ^ permuted[o + 4 + w]! ^ t[o + 4 + w]! ^ permuted[o + 8 + w]! ^ t[o + 8 + w]! ^ permuted[o + 12 + w]! ^ t[o + 12 + w]!
    }
  }
  return folded
}

/** π(u) ⊕ u truncated to `valueBytes`, each written consecutively into `out` from `outAt`. */
const finish = (final: Uint8Array, folded: Uint8Array, count: number, valueBytes: number, out: Uint8Array, outAt: number) => {
  for (let i = 0; i < count; i++) {
    const at = outAt + i * valueBytes
    for (let b = 0; b < valueBytes; b++) out[at + b] = final[i * BLOCK_BYTES + b]! ^ folded[i * BLOCK_BYTES + b]!
  }
}

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
): Effect.Effect<void, AesError, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const count = rows.length / CODE_BYTES
    const t = words(rows)
    tweak(t, rowIds, count)
    const folded = fold(words(yield* aes.decryptBlocks(keys.out, rows)), t, count)
    finish(yield* aes.decryptBlocks(keys.out, folded), folded, count, valueBytes, out, outAt)
  })

export interface ColumnStreams {
  readonly columns: number
  /** The next `rows` bits of every column, into `out` (columns × rows/8 bytes) when given, else a new buffer. */
  readonly next: (rows: number, out?: Uint8Array) => Effect.Effect<Uint8Array, AesError>
}

/** Bytes of keystream buffered per column: refills are one AES call per column per this many rows / 8. */
const SLAB_BYTES = 32 * 1024

const copyColumns = (slabs: ReadonlyArray<Uint8Array>, from: number, take: number, out: Uint8Array, bytes: number, done: number) => {
  for (let c = 0; c < slabs.length; c++) out.set(slabs[c]!.subarray(from, from + take), c * bytes + done)
}

/**
 * The PRG columns of the OT matrix: column i is AES-128-CTR under seed i, consumed in order across chunks and
 * partitions. `next(rows)` returns the next `rows` bits of every column, column-major (column i = bytes
 * [i·rows/8, (i+1)·rows/8)); `rows` is a multiple of 128.
 */
export const columnStreams = (seeds: Uint8Array): Effect.Effect<ColumnStreams, AesError, Aes> =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const columns = seeds.length / 16
    const keys = yield* Effect.all(Array.from({ length: columns }, (_, i) => aes.importKey(seeds.subarray(16 * i, 16 * (i + 1)))), { concurrency: "unbounded" })
    let slabs: Array<Uint8Array> = []
    let slabAt = 0 // bytes of the current slabs already consumed
    let nextBlock = 0 // counter block where the next slabs start
    const next = (rows: number, into?: Uint8Array): Effect.Effect<Uint8Array, AesError> =>
      Effect.gen(function*() {
        const bytes = rows / 8
        const out = into?.subarray(0, columns * bytes) ?? new Uint8Array(columns * bytes)
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
          copyColumns(slabs, slabAt, take, out, bytes, done)
          slabAt += take
          done += take
        }
        return out
      })
    return { columns, next }
  })
