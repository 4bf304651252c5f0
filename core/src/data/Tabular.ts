/**
 * What a protocol may read of a participant's local data. The participant's dataset adapters (CSV, SQL)
 * implement it; protocols depend only on this interface, so `core` never reads files itself.
 */
import { Context, Effect, Schema } from "effect"
import { ParticipantFailure } from "../protocols/Protocol.ts"

export interface TabularData {
  readonly name: string
  readonly rowCount: number
  readonly columnNames: ReadonlyArray<string>
  /** Values of a numeric column (declared `number` or `integer`); throws for an unknown or non-numeric column. */
  readonly numeric: (column: string) => Float64Array
  /** Values of any column as text; throws for an unknown column. */
  readonly strings: (column: string) => ReadonlyArray<string>
  readonly isNumeric: (column: string) => boolean
}

/** The participant's datasets, as the protocols see them. */
export class LocalData extends Context.Service<LocalData, {
  readonly dataset: (name: string) => Effect.Effect<TabularData, ParticipantFailure>
}>()("jointly/LocalData") {}

export const Where = Schema.Struct({
  column: Schema.String,
  op: Schema.Literals(["<", "<=", ">", ">=", "==", "!="]),
  value: Schema.Union([Schema.Finite, Schema.String])
})
export type Where = typeof Where.Type

const compare = (op: Where["op"], a: number | string, b: number | string): boolean => {
  switch (op) {
    case "<": return a < b
    case "<=": return a <= b
    case ">": return a > b
    case ">=": return a >= b
    case "==": return a === b
    case "!=": return a !== b
  }
}

/**
 * Row mask of a `where` filter. A numeric value compares numerically against a numeric column; anything else
 * compares as text, so `{ column: "id", op: "==", value: "1000025" }` works on a text column.
 */
export const whereMask = (data: TabularData, where: Where | undefined): Uint8Array => {
  const mask = new Uint8Array(data.rowCount)
  if (where === undefined) return mask.fill(1)
  if (!data.columnNames.includes(where.column)) throw new UnknownColumn({ dataset: data.name, column: where.column })
  if (typeof where.value === "number" && data.isNumeric(where.column)) {
    const values = data.numeric(where.column)
    for (let i = 0; i < values.length; i++) mask[i] = compare(where.op, values[i]!, where.value) ? 1 : 0
  } else {
    const values = data.strings(where.column)
    const target = String(where.value)
    for (let i = 0; i < values.length; i++) mask[i] = compare(where.op, values[i]!, target) ? 1 : 0
  }
  return mask
}

export class UnknownColumn extends Schema.TaggedError<UnknownColumn>()("UnknownColumn", {
  dataset: Schema.String,
  column: Schema.String
}) {
  override get message() {
    return `dataset ${this.dataset} has no column ${this.column}`
  }
}
