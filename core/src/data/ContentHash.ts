/**
 * A dataset's content hash (a catalogue entry's `contentHash`): SHA-256 over a canonical encoding of the
 * declared columns' values — "jointly.dataset.v1", the row count, the column count, then per declared column in
 * declared order its name, its type and its values (float64 little-endian, −0 as 0; text as u32 length + UTF-8).
 * Values are hashed, not file bytes, so the same rows hash alike from CSV, Parquet or PostgreSQL, and "1.0"
 * and "1", quoting, line endings and undeclared columns do not change the hash.
 *
 * Over a source it is computed column by column from bounded batches (one pass per column), so it never holds
 * a column in memory.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Stream } from "effect"
import type { DatasetError } from "./DatasetError.ts"
import type { ColumnSpec, DataSource } from "./Tabular.ts"

/** An incremental SHA-256 (node:crypto's is faster where there is one; @noble/hashes' everywhere). */
export interface Hasher {
  readonly update: (bytes: Uint8Array) => void
  readonly digest: () => Uint8Array
}

export const nobleSha256 = (): Hasher => {
  const hash = sha256.create()
  return { update: (bytes) => void hash.update(bytes), digest: () => hash.digest() }
}

/** Feeds the canonical encoding into a hasher, part by part. */
export class Encoder {
  readonly #hash: Hasher
  readonly #utf8 = new TextEncoder()
  constructor(hash: Hasher) {
    this.#hash = hash
  }
  u32(n: number) {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, n, true)
    this.#hash.update(b)
  }
  text(s: string) {
    const bytes = this.#utf8.encode(s)
    this.u32(bytes.length)
    this.#hash.update(bytes)
  }
  header(rowCount: number, columns: ReadonlyArray<ColumnSpec>) {
    this.text("jointly.dataset.v1")
    this.u32(rowCount)
    this.u32(columns.length)
  }
  column(column: ColumnSpec) {
    this.text(column.name)
    this.text(column.type)
  }
  values(data: Float64Array | ReadonlyArray<string>) {
    if (data instanceof Float64Array) {
      const bytes = new Uint8Array(data.length * 8)
      const view = new DataView(bytes.buffer)
      // -0 and 0 compare equal in every computation: hash them alike.
      for (let i = 0; i < data.length; i++) view.setFloat64(i * 8, data[i]! + 0, true)
      this.#hash.update(bytes)
    } else {
      for (const s of data) this.text(s)
    }
  }
  digest(): string {
    return "0x" + bytesToHex(this.#hash.digest())
  }
}

/** The content hash of columns in memory. */
export const ofColumns = (
  columns: ReadonlyArray<ColumnSpec>,
  rowCount: number,
  values: ReadonlyMap<string, Float64Array | ReadonlyArray<string>>,
  hasher: () => Hasher = nobleSha256
): string => {
  const encoder = new Encoder(hasher())
  encoder.header(rowCount, columns)
  for (const column of columns) {
    encoder.column(column)
    encoder.values(values.get(column.name)!)
  }
  return encoder.digest()
}

/** The content hash of a source, streamed column by column (each value checked against its declared type). */
export const ofSource = (source: DataSource, hasher: () => Hasher = nobleSha256, batchSize = 65_536): Effect.Effect<string, DatasetError> =>
  Effect.gen(function*() {
    const { rows } = yield* source.check()
    const encoder = new Encoder(hasher())
    encoder.header(rows, source.columns)
    for (const column of source.columns) {
      encoder.column(column)
      yield* Stream.runForEach(source.batches({ columns: [column.name], size: batchSize }), (batch) => Effect.sync(() => encoder.values(batch.columns[column.name]!)))
    }
    return encoder.digest()
  })
