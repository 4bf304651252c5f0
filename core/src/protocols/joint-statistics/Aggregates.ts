/**
 * The arithmetic of joint statistics, shared by both roles and by the plaintext reference: a party's local
 * vector, and the statistics read back from the sum of all parties' vectors. Both work on exact integers, so
 * the secure result equals the plaintext computation over the same fixed-point values bit for bit.
 */
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { whereMask } from "../../data/Tabular.ts"
import type { ColumnResult, Layout, Params, Result } from "./spec.ts"
import { defaultScaleBits, kind, layout } from "./spec.ts"

/** Bin index of v for edges e (numpy's convention: [e_i, e_i+1), last bin closed), or −1 outside. */
export const binOf = (edges: ReadonlyArray<number>, v: number): number => {
  const last = edges.length - 1
  if (!(v >= edges[0]!) || !(v <= edges[last]!)) return -1
  if (v === edges[last]) return last - 1
  let lo = 0
  let hi = last
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (v >= edges[mid]!) lo = mid
    else hi = mid
  }
  return lo
}

/** One party's contribution: exact signed integers (not yet reduced into the aggregation ring). */
export const localVector = (data: TabularData, params: Params): Array<bigint> => {
  const shape = layout(params)
  const scaleBits = params.scaleBits ?? defaultScaleBits
  const mask = whereMask(data, params.where)
  const out = new Array<bigint>(shape.length).fill(0n)
  let count = 0
  for (let i = 0; i < mask.length; i++) count += mask[i]!
  out[0] = BigInt(count)
  for (const column of shape.columns) {
    const values = data.numeric(column.name)
    let sum = 0n
    let squares = 0n
    for (let i = 0; i < values.length; i++) {
      if (mask[i] === 0) continue
      const v = values[i]!
      const x = FixedPoint.scale(scaleBits, v)
      sum += x
      squares += x * x
      if (column.bins !== undefined) {
        const bin = binOf(column.bins.edges, v)
        if (bin >= 0) out[column.bins.offset + bin]! += 1n
      }
    }
    out[column.sum] = sum
    out[column.squares] = squares
  }
  return out
}

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
