/**
 * Runs of kept ids merge back into one ascending row order with every id beside its row: buckets of random rows,
 * ids of every length (some longer than a read), empty runs, and runs large enough to be read in several pieces.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type * as IdSpill from "./IdSpill.ts"
import * as RowRuns from "./RowRuns.ts"
import * as Spill from "./Spill.ts"

const drain = <A>(pull: Effect.Effect<ReadonlyArray<A> | undefined, unknown>) =>
  Effect.gen(function*() {
    const out: Array<A> = []
    for (let batch = yield* pull; batch !== undefined; batch = yield* pull) out.push(...batch)
    return out
  })

describe("RowRuns", () => {
  it("merges the sorted runs of several buckets into row order, ids beside their rows", async () => {
    const dir = await Effect.runPromise(Spill.inMemory().open("runs"))
    const runs = RowRuns.empty(dir)
    // 2 000 000 candidate rows dealt at random to 6 buckets (one left empty), each keeping a random subset.
    const idOf = (row: number) => (row % 997 === 0 ? `long-${"x".repeat(40_000)}-${row}` : `id-${row}-${"é".repeat(row % 13)}`)
    const expected: Array<number> = []
    for (let b = 0; b < 6; b++) {
      const bucket: IdSpill.Bucket = { ids: [], rows: [] }
      if (b !== 3) {
        for (let k = 0; k < 9_000; k++) {
          const row = k * 6 + b
          bucket.rows.push(row)
          bucket.ids.push(idOf(row))
        }
        // File order is not row order.
        for (let i = bucket.rows.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1))
          ;[bucket.rows[i], bucket.rows[j]] = [bucket.rows[j]!, bucket.rows[i]!]
          ;[bucket.ids[i], bucket.ids[j]] = [bucket.ids[j]!, bucket.ids[i]!]
        }
      }
      const keep = bucket.rows.map((_, i) => i).filter(() => Math.random() < 0.6)
      for (const i of keep) expected.push(bucket.rows[i]!)
      await Effect.runPromise(RowRuns.add(runs, bucket, keep))
    }
    expected.sort((a, b) => a - b)
    expect(runs.count).toBe(expected.length)
    // Reads of 16 KiB per run: each run is read in many pieces, and a 40 kB id needs a longer one.
    const merged = RowRuns.merge(runs, 0)
    const ids = await Effect.runPromise(drain(merged.ids))
    const rows = await Effect.runPromise(drain(merged.rows))
    expect(rows).toEqual(expected)
    expect(ids).toEqual(expected.map(idOf))
  })
})
