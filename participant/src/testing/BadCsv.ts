/**
 * Malformed CSV files every CSV reader of the participant must refuse whole, each with the typed error it must
 * raise and the line and column it must name: the JavaScript reader (CsvDataset) and DuckDB's (Sources) are
 * held to the same table, so their errors cannot drift apart. Columns: `a` a number, `b` an integer.
 */
export const columns = [{ name: "a", type: "number" }, { name: "b", type: "integer" }] as const

/** [case, file text, DatasetError reason, line, column]. */
export const cases = [
  ["not numeric", "a,b\n1,2\nx,3\n", "NotNumeric", 3, "a"],
  ["empty numeric", "a,b\n1,2\n4,\n", "NotNumeric", 3, "b"],
  ["not finite", "a,b\n1,2\n3,4\nInfinity,5\n", "NotFinite", 4, "a"],
  ["overflow", "a,b\n1e999,2\n", "NotFinite", 2, "a"],
  ["not integer", "a,b\n1,2\n1.5,2.5\n", "NotInteger", 3, "b"],
  ["row too short", "a,b,c\n1,2,3\n1,2\n", "RowLength", 3, "c"],
  ["row too long", "a,b\n1,2\n1,2,3\n", "RowLength", 3, "b"],
  ["missing column", "a,c\n1,2\n", "MissingColumn", 1, "b"]
] as const
