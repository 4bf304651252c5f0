/**
 * Histogram bins of one feature, computed by the party that owns the column, on its training rows only, and
 * never sent anywhere: the cut values are the thresholds of the lookup table (SecureBoost §4), the other
 * parties see bin indices at most.
 *
 * Exact quantiles, not a sketch: each party holds its whole column in memory (100k rows × 300 columns is 240 MB
 * of float64 at worst), so sorting it is cheaper and simpler than a GK or KLL summary, which would only matter
 * for streamed or distributed columns. The rule, reproduced by fixtures/xgboost_reference.py:
 *
 *   v = the finite training values sorted ascending (n of them), d = their distinct values;
 *   if |d| ≤ maxBins: cuts = d without its largest value (every distinct value its own bin);
 *   else: cuts = the distinct values among v[⌈k·n/maxBins⌉ − 1] for k = 1 … maxBins − 1, minus max(v).
 *
 * bin(x) = #{cuts < x}, so bin b holds (cuts[b−1], cuts[b]] and "bin ≤ b" is "x ≤ cuts[b]": a split at bin b
 * sends x ≤ cuts[b] left, on training rows and on any later row alike.
 */
import { sha256Digest } from "../../wire/Canonical.ts"
import { fail } from "./Errors.ts"

export const MAX_BINS = 256

export interface Bins {
  /** Ascending cut values; bins = cuts.length + 1 (≤ maxBins). */
  readonly cuts: Float64Array
}

export const binCount = (b: Bins): number => b.cuts.length + 1

/** Cuts of one column from its training values (`rows` of `values`). */
export const cutsOf = (values: Float64Array, rows: Uint32Array, maxBins: number): Bins => {
  if (!Number.isInteger(maxBins) || maxBins < 2 || maxBins > MAX_BINS) fail("InvalidParams", -1, `maxBins must be an integer in [2, ${MAX_BINS}]`)
  const v = Float64Array.from(rows, (r) => values[r]!).sort()
  const n = v.length
  if (n === 0) return { cuts: new Float64Array(0) }
  const distinct: Array<number> = []
  for (let i = 0; i < n; i++) if (i === 0 || v[i] !== v[i - 1]) distinct.push(v[i]!)
  if (distinct.length <= maxBins) return { cuts: Float64Array.from(distinct.slice(0, -1)) }
  const max = v[n - 1]!
  const cuts: Array<number> = []
  for (let k = 1; k < maxBins; k++) {
    const q = v[Math.ceil((k * n) / maxBins) - 1]!
    if (q !== max && (cuts.length === 0 || q !== cuts[cuts.length - 1])) cuts.push(q)
  }
  return { cuts: Float64Array.from(cuts) }
}

/** bin(x) = #{cuts < x} by binary search. */
export const binOf = (b: Bins, x: number): number => {
  let lo = 0
  let hi = b.cuts.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (b.cuts[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Bin index of every row (all roles), after checking that every value is finite. */
export const binColumn = (b: Bins, values: Float64Array, column: string, party: number): Uint8Array => {
  const out = new Uint8Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    // Missing values would need a learned default direction (XGBoost's sparsity-aware split); not supported.
    if (!Number.isFinite(x)) fail("InvalidData", party, `column ${column}, aligned row ${i}: ${x} is not a finite number (missing values are not supported)`)
    out[i] = binOf(b, x)
  }
  return out
}

/** The most populated bin over `rows` (lowest index on ties): the one the histogram jobs derive by subtraction. */
export const modeBin = (bins: Uint8Array, rows: Uint32Array, count: number): number => {
  const sizes = new Uint32Array(count)
  for (const r of rows) sizes[bins[r]!]!++
  let best = 0
  for (let b = 1; b < count; b++) if (sizes[b]! > sizes[best]!) best = b
  return best
}

/** A party's binned columns: cuts, bins per aligned row and mode bin per column, in column order. */
export interface BinnedColumns {
  readonly columns: ReadonlyArray<string>
  readonly bins: ReadonlyArray<Bins>
  /** Column-major bin indices: `codes[f][row]`. */
  readonly codes: ReadonlyArray<Uint8Array>
  readonly modes: ReadonlyArray<number>
}

export const binColumns = (
  columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }>,
  train: Uint32Array,
  maxBins: number,
  party: number
): BinnedColumns => {
  const bins = columns.map((c) => {
    for (const r of train) if (!Number.isFinite(c.values[r]!)) fail("InvalidData", party, `column ${c.name}, aligned row ${r}: ${c.values[r]} is not a finite number (missing values are not supported)`)
    return cutsOf(c.values, train, maxBins)
  })
  const codes = columns.map((c, f) => binColumn(bins[f]!, c.values, c.name, party))
  return { columns: columns.map((c) => c.name), bins, codes, modes: codes.map((code, f) => modeBin(code, train, binCount(bins[f]!))) }
}

/** A digest of every column's name and cut values: a resumed run must bin exactly as the interrupted one. */
export const binsDigest = (binned: BinnedColumns): string =>
  sha256Digest({ domain: "jointly/secureboost/bins/v1", columns: binned.columns, cuts: binned.bins.map((b) => Array.from(b.cuts)) })
