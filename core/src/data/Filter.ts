/**
 * What a `where` filter means, decided once against the declared columns so that every engine — JavaScript
 * over a table in memory, DuckDB, PostgreSQL — selects the same rows:
 *   - a number against a numeric column compares numerically;
 *   - anything against a text column compares as text (a number as JavaScript prints it), ordered by code
 *     point (PostgreSQL is told `COLLATE "C"`; JavaScript orders by UTF-16 code unit, which differs only between
 *     astral characters and U+E000–U+FFFF);
 *   - text against a numeric column can only be tested for equality: text that a number prints as (`"61"`,
 *     `"0.5"`) compares numerically, any other text never equals a number; ordering a number by text is
 *     refused (WrongType), since no engine but JavaScript would order it the same way.
 */
import { DatasetError } from "./DatasetError.ts"
import { type ColumnSpec, isNumericType, type Where } from "./Tabular.ts"

export type Op = Where["op"]

export type FilterPlan =
  | { readonly kind: "all" }
  | { readonly kind: "numeric"; readonly column: string; readonly op: Op; readonly value: number }
  | { readonly kind: "text"; readonly column: string; readonly op: Op; readonly value: string }
  /** Equality of a numeric column with text no number prints as: no row (`==`) or every row (`!=`). */
  | { readonly kind: "constant"; readonly column: string; readonly matches: boolean }

export const plan = (columns: ReadonlyArray<ColumnSpec>, where: Where | undefined, origin: string): FilterPlan => {
  if (where === undefined) return { kind: "all" }
  const column = columns.find((c) => c.name === where.column)
  if (column === undefined) {
    throw new DatasetError({
      reason: "UnknownColumn",
      source: origin,
      column: where.column,
      detail: `the filter names a column the dataset does not declare (declared: ${columns.map((c) => c.name).join(", ")})`
    })
  }
  if (!isNumericType(column.type)) return { kind: "text", column: column.name, op: where.op, value: String(where.value) }
  if (typeof where.value === "number") return { kind: "numeric", column: column.name, op: where.op, value: where.value }
  if (where.op !== "==" && where.op !== "!=") {
    throw new DatasetError({
      reason: "WrongType",
      source: origin,
      column: column.name,
      detail: `numeric column ordered against the text "${where.value}": give the filter a number`
    })
  }
  const number = Number(where.value)
  if (where.value.trim() !== "" && Number.isFinite(number) && String(number) === where.value) {
    return { kind: "numeric", column: column.name, op: where.op, value: number }
  }
  return { kind: "constant", column: column.name, matches: where.op === "!=" }
}

export const compare = <T extends number | string>(op: Op, a: T, b: T): boolean => {
  switch (op) {
    case "<": return a < b
    case "<=": return a <= b
    case ">": return a > b
    case ">=": return a >= b
    case "==": return a === b
    case "!=": return a !== b
  }
}

/** The columns a filter reads (to validate them with the rest). */
export const columnsOf = (filter: FilterPlan): ReadonlyArray<string> => (filter.kind === "all" ? [] : [filter.column])
