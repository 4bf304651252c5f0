/**
 * Joint statistics over horizontally partitioned data (PROTOCOLS.md §3 item 3).
 *
 * Each party turns its (optionally filtered) rows into one integer vector — row count, then per column the sum
 * and sum of squares of fixed-point values and histogram bin counts — and the parties add their vectors with
 * dropout-tolerant secure aggregation. The coordinator, and everyone else, learns only the totals; mean,
 * variance and standard deviation are computed from them in plaintext.
 */
import { Schema } from "effect"
import { Where } from "../../data/Tabular.ts"
import { stage } from "../Protocol.ts"

export const kind = "statistics.horizontal" as const

export const Statistic = Schema.Literals(["count", "sum", "mean", "variance", "std", "histogram"])
export type Statistic = typeof Statistic.Type

export const Params = Schema.Struct({
  columns: Schema.NonEmptyArray(Schema.String),
  statistics: Schema.NonEmptyArray(Statistic),
  /** Bin edges per column, strictly increasing; bins are [e_i, e_i+1) and the last one is closed. */
  histogram: Schema.optional(Schema.Record(Schema.String, Schema.Array(Schema.Finite))),
  where: Schema.optional(Where),
  /** Fixed-point scale 2^scaleBits (default 16, PROTOCOLS §4). */
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 }))),
  /** How many parties may drop out and still leave an exact result (default ⌊(n−1)/2⌋). */
  dropoutTolerance: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
})
export type Params = typeof Params.Type

export const defaultScaleBits = 16
/** Ring of the aggregated vector: wide enough for sums of squares of 2^16-scaled values over millions of rows. */
export const ringBits = 128

export const ColumnResult = Schema.Struct({
  sum: Schema.optional(Schema.Finite),
  mean: Schema.optional(Schema.Finite),
  /** Sample variance (n − 1 denominator), as pandas and R report it. */
  variance: Schema.optional(Schema.Finite),
  populationVariance: Schema.optional(Schema.Finite),
  std: Schema.optional(Schema.Finite),
  histogram: Schema.optional(Schema.Struct({ edges: Schema.Array(Schema.Finite), counts: Schema.Array(Schema.Int) }))
})
export type ColumnResult = typeof ColumnResult.Type

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  count: Schema.Int,
  columns: Schema.Record(Schema.String, ColumnResult),
  /** Parties whose rows are in the totals (all parties unless some dropped before sending their input). */
  contributors: Schema.Array(Schema.String),
  scaleBits: Schema.Int
})
export type Result = typeof Result.Type

/** Before any masking, every party checks that it can compute its share (dataset, columns, filter). */
export const prepare = stage("statistics.prepare", Schema.Struct({}), Schema.Struct({ ready: Schema.Literal(true) }))

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  field: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid statistics parameters: ${this.field}: ${this.detail}`
  }
}

/** Checks what a Schema cannot express; returns the first problem found. */
export const validate = (params: Params, parties: number): InvalidParams | undefined => {
  if (parties < 2) return new InvalidParams({ field: "parties", detail: `needs at least 2 parties, got ${parties}` })
  if (new Set(params.columns).size !== params.columns.length) {
    return new InvalidParams({ field: "columns", detail: "a column is listed twice" })
  }
  const wantsHistogram = params.statistics.includes("histogram")
  for (const [column, edges] of Object.entries(params.histogram ?? {})) {
    if (!params.columns.includes(column)) return new InvalidParams({ field: `histogram.${column}`, detail: "not one of the task's columns" })
    if (edges.length < 2) return new InvalidParams({ field: `histogram.${column}`, detail: "needs at least two bin edges" })
    for (let i = 1; i < edges.length; i++) {
      if (!(edges[i]! > edges[i - 1]!)) return new InvalidParams({ field: `histogram.${column}`, detail: "bin edges must increase strictly" })
    }
  }
  if (wantsHistogram && Object.keys(params.histogram ?? {}).length === 0) {
    return new InvalidParams({ field: "histogram", detail: "the histogram statistic needs bin edges for at least one column" })
  }
  const tolerance = params.dropoutTolerance
  if (tolerance !== undefined && parties - tolerance <= parties / 2) {
    return new InvalidParams({
      field: "dropoutTolerance",
      detail: `with ${parties} parties at most ${maxDropoutTolerance(parties)} may drop out (a majority must remain to unmask)`
    })
  }
  return undefined
}

export const maxDropoutTolerance = (parties: number): number => Math.floor((parties - 1) / 2)

/** Layout of the aggregated vector: [count, per column: sum, sum of squares, histogram bins…]. */
export interface Layout {
  readonly length: number
  readonly columns: ReadonlyArray<{ readonly name: string; readonly sum: number; readonly squares: number; readonly bins?: { readonly offset: number; readonly edges: ReadonlyArray<number> } }>
}

export const layout = (params: Params): Layout => {
  let offset = 1
  const wantsHistogram = params.statistics.includes("histogram")
  const columns = params.columns.map((name) => {
    const sum = offset++
    const squares = offset++
    const edges = wantsHistogram ? params.histogram?.[name] : undefined
    if (edges === undefined) return { name, sum, squares }
    const bins = { offset, edges }
    offset += edges.length - 1
    return { name, sum, squares, bins }
  })
  return { length: offset, columns }
}
