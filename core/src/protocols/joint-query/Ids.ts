/**
 * How a party's id column becomes the set it brings (documented in psi/spec.ts): ids are text, empty cells are
 * skipped, duplicates are dropped (first row wins), and the survivors are put in a uniformly random order so
 * the order of blinded elements reveals nothing about the order of rows.
 */
import { Effect, Schema, Stream } from "effect"
import type { DatasetError } from "../../data/DatasetError.ts"
import type { DataSource, TabularData } from "../../data/Tabular.ts"

export interface IdSet {
  /** Distinct ids in a random order. */
  readonly ids: ReadonlyArray<string>
  /** Row (0-based, in the dataset) of each id. */
  readonly rows: ReadonlyArray<number>
  readonly duplicates: number
  readonly empty: number
}

/** CSPRNG words drawn 16 384 at a time (getRandomValues' 64 KiB limit): one call per id cost ~1 µs at 1M ids. */
export const randomWords = () => {
  const buffer = new Uint32Array(16_384)
  let at = buffer.length
  return () => {
    if (at === buffer.length) {
      crypto.getRandomValues(buffer)
      at = 0
    }
    return buffer[at++]!
  }
}

/** A uniform index in [0, n) from the CSPRNG (rejection sampling, no modulo bias). */
export const uniform = (n: number, next: () => number): number => {
  const limit = Math.floor(0x1_0000_0000 / n) * n
  for (;;) {
    const word = next()
    if (word < limit) return word % n
  }
}

/** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
export const permutation = (n: number): Uint32Array => {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  const next = randomWords()
  for (let i = n - 1; i > 0; i--) {
    const j = uniform(i + 1, next)
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}

/** Collects ids row by row: empty ones skipped, the first row of each id kept, the survivors shuffled at the end. */
class Collector {
  // A Set and two flat lists rather than a Map's entry pairs: one allocation less per id at 1M ids.
  readonly seen = new Set<string>()
  readonly firstIds: Array<string> = []
  readonly firstRows: Array<number> = []
  duplicates = 0
  empty = 0

  add(id: string, row: number) {
    if (id === "") {
      this.empty++
      return
    }
    if (this.seen.has(id)) {
      this.duplicates++
      return
    }
    this.seen.add(id)
    this.firstIds.push(id)
    this.firstRows.push(row)
  }

  finish(): IdSet {
    const order = permutation(this.firstIds.length)
    const ids: Array<string> = new Array(order.length)
    const rows: Array<number> = new Array(order.length)
    for (let i = 0; i < order.length; i++) {
      ids[i] = this.firstIds[order[i]!]!
      rows[i] = this.firstRows[order[i]!]!
    }
    return { ids, rows, duplicates: this.duplicates, empty: this.empty }
  }
}

export const load = (data: TabularData, column: string): IdSet => {
  const values = data.strings(column)
  const collector = new Collector()
  for (let row = 0; row < values.length; row++) collector.add(values[row]!, row)
  return collector.finish()
}

/** More distinct ids than a task allows: reading stopped there. */
export class TooManyIds extends Schema.TaggedError<TooManyIds>()("TooManyIds", { maxIds: Schema.Int }) {
  override get message() {
    return `more than ${this.maxIds} distinct ids`
  }
}

/**
 * The id set of a source's column, read as a stream of bounded chunks (the column is never in memory whole:
 * only the distinct ids kept), stopping with TooManyIds as soon as there are more than `maxIds`.
 */
export const fromSource = (source: DataSource, column: string, maxIds: number, chunkSize = 65_536): Effect.Effect<IdSet, DatasetError | TooManyIds> =>
  Effect.gen(function*() {
    const collector = new Collector()
    yield* Stream.runForEach(source.ids({ column, chunkSize }), (chunk) =>
      Effect.suspend(() => {
        for (let i = 0; i < chunk.ids.length; i++) collector.add(chunk.ids[i]!, chunk.rows[i]!)
        return collector.firstIds.length > maxIds ? Effect.fail(new TooManyIds({ maxIds })) : Effect.void
      }))
    return collector.finish()
  })

export const chunks = (count: number, chunkSize: number): number => Math.ceil(count / chunkSize)

/** Elements in chunk `index` of a set of `count` elements. */
export const chunkLength = (count: number, chunkSize: number, index: number): number =>
  Math.max(0, Math.min(chunkSize, count - index * chunkSize))
