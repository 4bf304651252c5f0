// A task's result as tables: one rule for every kind, read off the result's shape rather than a table per kind, so
// a new task kind shows without new code. Shared as is by the dashboard (its fallback view) and the CLI
// (`jointly task get --format table|csv`, coordinator/src/cli/ResultTables.ts), so both read a result alike:
//  - a field holding objects keyed by name (statistics' `columns`) → one row per key;
//  - a field holding a list of objects (federated learning's `rounds`) → one row per element;
//  - top-level lists of numbers or strings of one length (a contribution's `owners`, `phi`, `shares`) → one table,
//    a column each;
//  - the remaining numbers, strings and booleans → a two-column summary.
// Inside a row, a list of scalars prints joined by spaces (a histogram's counts), a list of anything else as its
// length, a nested object as its scalar fields `a.b`. Plain JavaScript (typed by tables.d.ts): the dashboard has no
// build step.

const isScalar = (v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean"
const isRecord = (v) => typeof v === "object" && v !== null && !Array.isArray(v)

/** One printable cell: numbers to 6 significant digits. */
export const cell = (v) => {
  if (v === null || v === undefined) return ""
  if (isScalar(v)) return typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(6))) : String(v)
  if (Array.isArray(v)) return v.every(isScalar) ? v.map(cell).join(" ") : String(v.length)
  return JSON.stringify(v)
}

/** A row object's printable fields: scalars and scalar lists as they are, nested objects one level down. */
const flatten = (row) => {
  const out = {}
  for (const [key, value] of Object.entries(row)) {
    if (isRecord(value)) for (const [inner, v] of Object.entries(value)) out[`${key}.${inner}`] = cell(v)
    else out[key] = cell(value)
  }
  return out
}

const tableOf = (title, key, entries) => {
  const flat = entries.map(([name, row]) => [name, flatten(row)])
  const columns = [...new Set(flat.flatMap(([, row]) => Object.keys(row)))]
  return {
    title,
    columns: key === undefined ? columns : [key, ...columns],
    rows: flat.map(([name, row]) => [...(key === undefined ? [] : [name ?? ""]), ...columns.map((c) => row[c] ?? "")])
  }
}

export const tablesOf = (result) => {
  if (!isRecord(result)) return [{ title: "result", columns: ["value"], rows: [[cell(result)]] }]
  const tables = []
  // Summary lines keep the result's field order (a lone list is placed once the groups are known).
  const summary = []
  const lists = new Map()
  for (const [at, [field, value]] of Object.entries(result).entries()) {
    if (isRecord(value) && Object.keys(value).length > 0 && Object.values(value).every(isRecord)) {
      tables.push(tableOf(field, "name", Object.entries(value)))
    } else if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) {
      tables.push(tableOf(field, undefined, value.map((v) => [undefined, v])))
    } else if (Array.isArray(value) && value.length > 1 && value.every(isScalar)) {
      lists.set(value.length, [...(lists.get(value.length) ?? []), [at, field, value]])
    } else if (isRecord(value)) {
      for (const [inner, v] of Object.entries(flatten(value))) summary.push([at, `${field}.${inner}`, v])
    } else {
      summary.push([at, field, cell(value)])
    }
  }
  for (const [length, group] of lists) {
    if (group.length === 1) summary.push([group[0][0], group[0][1], cell(group[0][2])])
    else tables.push({ title: group.map(([, f]) => f).join(", "), columns: group.map(([, f]) => f), rows: Array.from({ length }, (_, i) => group.map(([, , values]) => cell(values[i]))) })
  }
  const rows = summary.sort((a, b) => a[0] - b[0]).map(([, field, value]) => [field, value])
  return rows.length > 0 ? [{ title: "summary", columns: ["field", "value"], rows }, ...tables] : tables
}
