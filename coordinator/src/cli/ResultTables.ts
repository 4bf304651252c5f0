/**
 * A task's result as text or CSV tables, for `jointly task get|watch --format table|csv`. The tables themselves
 * come from the one shape-reading rule the dashboard also shows results by (dashboard/public/tables.js).
 */
import type { Table } from "../dashboard/public/tables.js"

export { tablesOf } from "../dashboard/public/tables.js"
export type { Table }

/** Columns padded to their widest cell, a rule under the header, a title line above. */
export const renderText = (tables: ReadonlyArray<Table>): string =>
  tables
    .map((t) => {
      const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? "").length)))
      const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
      return [`${t.title}`, line(t.columns), widths.map((w) => "-".repeat(w)).join("  "), ...t.rows.map(line)].join("\n")
    })
    .join("\n\n") + "\n"

const csvCell = (value: string) => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)

/** The result's main table as CSV (RFC 4180): the first table of rows, else the summary. */
export const renderCsv = (tables: ReadonlyArray<Table>): string => {
  const main = tables.find((t) => t.title !== "summary") ?? tables[0]
  if (main === undefined) return ""
  return [main.columns, ...main.rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n"
}
