/**
 * The arithmetic of joint statistics, shared by both roles and by the plaintext reference: a party's local
 * vector, and the statistics read back from the sum of all parties' vectors. Both work on exact integers, so
 * the secure result equals the plaintext computation over the same fixed-point values bit for bit.
 */
import { Effect } from "effect"
import * as MemorySource from "../../data/MemorySource.ts"
import type { Summary, SummaryRequest, TabularData } from "../../data/Tabular.ts"
import type { ColumnResult, Layout, Params, Result } from "./spec.ts"
import { defaultScaleBits, kind, layout } from "./spec.ts"

export { binOf } from "../../data/Bins.ts"

/** What a party asks its data source for: the push-down of its local vector. */
export const request = (params: Params): SummaryRequest => ({
  columns: layout(params).columns.map((c) => (c.bins === undefined ? { name: c.name } : { name: c.name, edges: c.bins.edges })),
  scaleBits: params.scaleBits ?? defaultScaleBits,
  ...(params.where === undefined ? {} : { where: params.where })
})

/** One party's contribution from its source's summary: exact signed integers (not yet reduced into the ring). */
export const vectorOf = (summary: Summary, params: Params): Array<bigint> => {
  const shape = layout(params)
  const out = new Array<bigint>(shape.length).fill(0n)
  out[0] = BigInt(summary.rows)
  for (const column of shape.columns) {
    const totals = summary.columns[column.name]!
    out[column.sum] = totals.sum
    out[column.squares] = totals.squares
    if (column.bins !== undefined) totals.bins!.forEach((count, bin) => (out[column.bins!.offset + bin] = BigInt(count)))
  }
  return out
}

/** The local vector of a table in memory, by the in-memory engine (the reference; throws DatasetError). */
export const localVector = (data: TabularData, params: Params): Array<bigint> =>
  vectorOf(Effect.runSync(Effect.orDie(MemorySource.make(data).summarize(request(params)))), params)

/** Exact num/den as a double (both may exceed 2^53). */
const ratio = (num: bigint, den: bigint): number => {
  const negative = (num < 0n) !== (den < 0n)
  const n = num < 0n ? -num : num
  const d = den < 0n ? -den : den
  const whole = n / d
  const fraction = Number(((n - whole * d) << 64n) / d) / 2 ** 64
  const value = Number(whole) + fraction
  return negative ? -value : value
}

/** Statistics from the summed vector (signed integers). */
export const statistics = (total: ReadonlyArray<bigint>, params: Params, contributors: ReadonlyArray<string>): Result => {
  const shape: Layout = layout(params)
  const scaleBits = params.scaleBits ?? defaultScaleBits
  const scale = 1n << BigInt(scaleBits)
  const n = total[0]!
  const wants = new Set(params.statistics)
  const columns: Record<string, ColumnResult> = {}
  for (const column of shape.columns) {
    const s = total[column.sum]!
    const q = total[column.squares]!
    const result: { -readonly [K in keyof ColumnResult]: ColumnResult[K] } = {}
    if (wants.has("sum")) result.sum = ratio(s, scale)
    if (n > 0n && wants.has("mean")) result.mean = ratio(s, n * scale)
    if (n > 1n && (wants.has("variance") || wants.has("std"))) {
      // n·Q − S² is exact in integers; dividing last keeps the variance free of cancellation error.
      const spread = n * q - s * s
      const variance = ratio(spread, n * (n - 1n) * scale * scale)
      if (wants.has("variance")) {
        result.variance = variance
        result.populationVariance = ratio(spread, n * n * scale * scale)
      }
      if (wants.has("std")) result.std = Math.sqrt(variance)
    }
    if (column.bins !== undefined) {
      const counts = total.slice(column.bins.offset, column.bins.offset + column.bins.edges.length - 1).map(Number)
      result.histogram = { edges: [...column.bins.edges], counts }
    }
    columns[column.name] = result
  }
  return { kind, count: Number(n), columns, contributors: [...contributors], scaleBits }
}
