/**
 * A `DataSource` computed by a SQL engine: every push-down operation becomes one parameterised query, run where
 * the data lives — PostgreSQL over a table or a registered query, DuckDB over CSV and Parquet files (in Node
 * through `@duckdb/node-api`, in a browser through duckdb-wasm: an engine is two functions, `query` and
 * `stream`). Nothing here touches Node APIs.
 *
 * Safety: identifiers come from the declared schema only (quoted by `quote`), and every value from a task — a
 * filter's value, histogram edges, an ordering key — is a bound parameter, never spliced into the text.
 *
 * Exactness: a value's fixed-point integer is computed per row in the engine with JavaScript's rounding
 * (`Math.round`: nearest, ties towards +∞) in IEEE doubles, where each step is exact — v·2^s is a power-of-two
 * product, floor is exact, and v·2^s − floor(v·2^s) is exact (Sterbenz) — then summed in exact integers
 * (HUGEINT in DuckDB, NUMERIC in PostgreSQL). So the sums equal the in-memory engine's BigInt sums bit for bit,
 * provided the engine parses text to the same double as JavaScript does (both round correctly).
 */
import { Effect, Stream } from "effect"
import { DatasetError } from "./DatasetError.ts"
import * as Filter from "./Filter.ts"
import type { Batch, ColumnSpec, ColumnSummary, DataSource, IdChunk, Summary, SummaryRequest, TabularData, Where } from "./Tabular.ts"
import { defaultMaxRows, fromBatches, isNumericType } from "./Tabular.ts"

export type Row = ReadonlyArray<unknown>

/** What differs between engines' SQL. */
export interface Dialect {
  readonly name: string
  /** An exact integer type wide enough for sums of squares: HUGEINT (DuckDB), NUMERIC (PostgreSQL). */
  readonly wide: string
  readonly double: string
  readonly text: string
  /** Text ordered by code point. */
  readonly collate: (expr: string) => string
  /** Lower-case hex SHA-256 of text (its UTF-8 bytes). */
  readonly sha256Hex: (expr: string) => string
  /** True when the whole of `expr` matches the regular expression (a POSIX/RE2 subset without flags). */
  readonly matches: (expr: string, regex: string) => string
  /** True for a finite double. */
  readonly isFinite: (expr: string) => string
  /** `expr` without leading and trailing white space (the characters JavaScript's `trim` removes most often). */
  readonly trim: (expr: string) => string
}

/** How to read one declared column: SQL over the source's raw column. */
export interface ColumnAccess {
  readonly spec: ColumnSpec
  /** The typed value: a double for numeric columns, text for text columns; NULL where the raw value is invalid. */
  readonly value: string
  /** A DatasetError reason (`NullValue`, `NotNumeric`, `NotFinite`, `NotInteger`) where the raw value is invalid, else NULL. */
  readonly problem: string
  /** The raw value as text, for messages. */
  readonly raw: string
}

/** A source's table as the engine sees it. */
export interface SqlTable {
  readonly name: string
  readonly origin: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly id?: string | undefined
  /** The FROM clause: a table, a subquery or a table function, with its alias. */
  readonly from: string
  readonly access: (column: ColumnSpec) => ColumnAccess
  /**
   * The error for an invalid value found at `row` (1-based) of `column`: a source may name more (a CSV file
   * names the line). Default: the row and its id.
   */
  readonly locate?: (problem: { readonly column: string; readonly row: number; readonly reason: DatasetError["reason"]; readonly raw: string; readonly key?: string }) => Effect.Effect<DatasetError>
}

export interface SqlEngine {
  readonly dialect: Dialect
  /** Runs a query to completion; rows as arrays in select order. */
  readonly query: (sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, DatasetError>
  /** Streams a query's rows in the engine's own chunks (memory bounded by one chunk). */
  readonly stream: (sql: string, params: ReadonlyArray<unknown>) => Stream.Stream<ReadonlyArray<Row>, DatasetError>
}

/** A double-quoted SQL identifier (the same rule in DuckDB and PostgreSQL). */
export const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`

/** A single-quoted SQL string literal, for what cannot be a parameter (a file path in a table function). */
export const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`

/** The decimal syntax CSV numbers must have (also what JavaScript's Number parses without surprises). */
export const DECIMAL = "[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"

const MAX_SAFE = "9007199254740991"

/** Numeric `problem` and `value` over raw text (CSV fields, text columns declared numeric). */
export const textNumber = (dialect: Dialect, raw: string, spec: ColumnSpec, options: { readonly nullable: boolean; readonly tryCast: (text: string) => string }) => {
  const trimmed = dialect.trim(raw)
  const parsed = options.tryCast(trimmed)
  const integer = spec.type === "integer" ? ` WHEN ${parsed} <> floor(${parsed}) OR abs(${parsed}) > ${MAX_SAFE} THEN 'NotInteger'` : ""
  const problem =
    `CASE${options.nullable ? ` WHEN ${raw} IS NULL THEN 'NullValue'` : ""} WHEN NOT ${dialect.matches(trimmed, DECIMAL)} THEN 'NotNumeric'` +
    ` WHEN ${parsed} IS NULL OR NOT ${dialect.isFinite(parsed)} THEN 'NotFinite'${integer} END`
  const value = `CASE WHEN ${dialect.matches(trimmed, DECIMAL)} THEN ${parsed} END`
  return { problem, value }
}

/** Numeric `problem` over a typed (double) value. */
export const typedNumberProblem = (dialect: Dialect, value: string, spec: ColumnSpec): string => {
  const integer = spec.type === "integer" ? ` WHEN ${value} <> floor(${value}) OR abs(${value}) > ${MAX_SAFE} THEN 'NotInteger'` : ""
  return `CASE WHEN ${value} IS NULL THEN 'NullValue' WHEN NOT ${dialect.isFinite(value)} THEN 'NotFinite'${integer} END`
}

const asBigInt = (x: unknown): bigint => (x === null || x === undefined ? 0n : typeof x === "bigint" ? x : BigInt(String(x)))
const asNumber = (x: unknown): number => (x === null || x === undefined ? 0 : Number(x))
const asDouble = (x: unknown): number | undefined => (x === null || x === undefined ? undefined : Number(x))

/** Collects query parameters and names their placeholders. */
class Params {
  readonly values: Array<unknown> = []
  constructor(private readonly dialect: Dialect) {}
  double(x: number): string {
    this.values.push(x)
    return `CAST($${this.values.length} AS ${this.dialect.double})`
  }
  text(x: string): string {
    this.values.push(x)
    return `CAST($${this.values.length} AS ${this.dialect.text})`
  }
}

const detailOf = (reason: DatasetError["reason"], raw: string): string => {
  switch (reason) {
    case "NullValue": return "no value where a number is needed"
    case "NotNumeric": return raw.trim() === "" ? "empty value in a numeric column" : `"${raw}" is not a number`
    case "NotFinite": return `"${raw}" is not a finite number`
    case "NotInteger": return `"${raw}" is not a safe integer`
    default: return raw
  }
}

/** Binary search over bins [lo, hi) of `edges` (placeholders), given e_lo ≤ v < e_hi. */
const binSearch = (v: string, edges: ReadonlyArray<string>, lo: number, hi: number): string => {
  if (hi - lo === 1) return String(lo)
  const mid = (lo + hi) >> 1
  return `CASE WHEN ${v} < ${edges[mid]} THEN ${binSearch(v, edges, lo, mid)} ELSE ${binSearch(v, edges, mid, hi)} END`
}

export const make = (engine: SqlEngine, table: SqlTable): DataSource => {
  const { dialect } = engine
  const origin = table.origin
  const fail = (reason: DatasetError["reason"], detail: string, column?: string) =>
    new DatasetError({ reason, source: origin, detail, ...(column === undefined ? {} : { column }) })

  const spec = (name: string): ColumnSpec => {
    const column = table.columns.find((c) => c.name === name)
    if (column === undefined) throw fail("UnknownColumn", `dataset ${table.name} declares no such column (declared: ${table.columns.map((c) => c.name).join(", ")})`, name)
    return column
  }
  const numericSpec = (name: string): ColumnSpec => {
    const column = spec(name)
    if (!isNumericType(column.type)) throw fail("WrongType", "the column is declared as text, not numeric", name)
    return column
  }
  const access = (name: string) => table.access(spec(name))
  const sync = <A>(f: () => A): Effect.Effect<A, DatasetError> =>
    Effect.try({ try: f, catch: (cause) => (cause instanceof DatasetError ? cause : fail("QueryFailed", String(cause))) })

  /** The filter as a boolean SQL expression (parameters bound in `params`). */
  const condition = (where: Where | undefined, params: Params): string => {
    const filter = Filter.plan(table.columns, where, origin)
    switch (filter.kind) {
      case "all": return "TRUE"
      case "constant": return filter.matches ? "TRUE" : "FALSE"
      case "numeric": return `(${access(filter.column).value} ${sqlOp(filter.op)} ${params.double(filter.value)})`
      case "text": return `(${dialect.collate(access(filter.column).value)} ${sqlOp(filter.op)} ${dialect.collate(params.text(filter.value))})`
    }
  }
  const sqlOp = (op: Filter.Op) => (op === "==" ? "=" : op === "!=" ? "<>" : op)
  const filterColumns = (where: Where | undefined) => (where === undefined ? [] : [where.column])

  /** The first invalid value of `column` (or the first row `predicate` selects), as a DatasetError. */
  const locate = (column: string, predicate?: { readonly sql: string; readonly params: ReadonlyArray<unknown>; readonly reason: DatasetError["reason"]; readonly detail: string }) =>
    Effect.gen(function*() {
      const a = access(column)
      const key = table.id === undefined ? "NULL" : `CAST(${access(table.id).raw} AS ${dialect.text})`
      const problem = predicate === undefined ? a.problem : `CASE WHEN ${predicate.sql} THEN 'OutOfRange' END`
      const rows = yield* engine.query(
        `SELECT row, raw, problem, key FROM (SELECT row_number() OVER () AS row, CAST(${a.raw} AS ${dialect.text}) AS raw, ${problem} AS problem, ${key} AS key FROM ${table.from}) located WHERE problem IS NOT NULL LIMIT 1`,
        predicate?.params ?? []
      )
      const found = rows[0]
      if (found === undefined) return fail("QueryFailed", `an invalid value was counted in column ${column} but not found again (did the data change?)`, column)
      const reason = String(found[2]) as DatasetError["reason"]
      const raw = found[1] === null ? "" : String(found[1])
      const problemOf = { column, row: asNumber(found[0]), reason, raw, ...(found[3] === null || found[3] === undefined ? {} : { key: String(found[3]) }) }
      if (predicate !== undefined) {
        return new DatasetError({ reason, source: origin, row: problemOf.row, column, detail: `${raw}: ${predicate.detail}`, ...(problemOf.key === undefined ? {} : { key: problemOf.key }) })
      }
      if (table.locate !== undefined) return yield* table.locate(problemOf)
      return new DatasetError({ reason, source: origin, row: problemOf.row, column, detail: detailOf(reason, raw), ...(problemOf.key === undefined ? {} : { key: problemOf.key }) })
    })

  /** Fails with the first invalid value when any of `counts` (per column) is positive. */
  const failOnProblems = (columns: ReadonlyArray<string>, counts: ReadonlyArray<unknown>) =>
    Effect.gen(function*() {
      for (let i = 0; i < columns.length; i++) {
        if (asNumber(counts[i]) > 0) return yield* Effect.fail(yield* locate(columns[i]!))
      }
    })

  const summarize = (request: SummaryRequest): Effect.Effect<Summary, DatasetError> =>
    Effect.gen(function*() {
      const params = new Params(dialect)
      const scaleBits = request.scaleBits
      const columns = yield* sync(() => request.columns.map((c) => ({ ...c, access: table.access(numericSpec(c.name)) })))
      const cond = yield* sync(() => condition(request.where, params))
      const checked = [...new Set([...columns.map((c) => c.name), ...filterColumns(request.where)])]
      const checks = checked.map((name) => access(name).problem)

      const scale = `CAST(${2 ** scaleBits} AS ${dialect.double})`
      const bound = `CAST(${2 ** (53 - scaleBits)} AS ${dialect.double})`
      const inner: Array<string> = [`(${cond}) AS m`]
      checks.forEach((problem, i) => inner.push(`${problem} AS p${i}`))
      const outer: Array<string> = ["count(*) FILTER (WHERE m) AS n"]
      checks.forEach((_, i) => outer.push(`count(*) FILTER (WHERE p${i} IS NOT NULL) AS bad${i}`))
      const histograms: Array<{ readonly column: number; readonly bins: number }> = []
      columns.forEach((column, i) => {
        const v = column.access.value
        const scaled = `(${v} * ${scale})`
        // Through BIGINT: PostgreSQL casts a double to NUMERIC by 15 significant digits, to BIGINT exactly.
        const x = `CASE WHEN abs(${v}) < ${bound} THEN CAST(CAST(floor(${scaled}) + CASE WHEN ${scaled} - floor(${scaled}) >= 0.5 THEN 1 ELSE 0 END AS BIGINT) AS ${dialect.wide}) END`
        inner.push(`${v} AS v${i}`, `${x} AS x${i}`)
        outer.push(
          `sum(x${i}) FILTER (WHERE m) AS s${i}`,
          `sum(x${i} * x${i}) FILTER (WHERE m) AS q${i}`,
          `min(v${i}) FILTER (WHERE m) AS lo${i}`,
          `max(v${i}) FILTER (WHERE m) AS hi${i}`
        )
        if (column.edges !== undefined) {
          const edges = column.edges.map((e) => params.double(e))
          const last = edges.length - 1
          // The last bin is closed: v ≥ e_(last−1) up to e_last; below it a binary search over the open bins.
          const search = last === 1 ? "" : ` ELSE ${binSearch(v, edges, 0, last - 1)}`
          const bin = `CASE WHEN NOT (${cond}) OR ${v} < ${edges[0]} OR ${v} > ${edges[last]} THEN NULL WHEN ${v} >= ${edges[last - 1]} THEN ${last - 1}${search} END`
          inner.push(`${bin} AS b${histograms.length}`)
          histograms.push({ column: i, bins: last })
        }
      })
      const grouping = histograms.map((_, h) => `b${h}`)
      const sql = grouping.length === 0
        ? `SELECT ${outer.join(", ")} FROM (SELECT ${inner.join(", ")} FROM ${table.from}) t`
        : `SELECT ${[...grouping.map((b) => `GROUPING(${b})`), ...grouping, ...outer].join(", ")} FROM (SELECT ${inner.join(", ")} FROM ${table.from}) t GROUP BY GROUPING SETS ((), ${grouping.map((b) => `(${b})`).join(", ")})`
      const rows = yield* engine.query(sql, params.values)

      const g = grouping.length
      const total = rows.find((row) => row.slice(0, g).every((x) => asNumber(x) === 1))
      if (total === undefined) return yield* Effect.fail(fail("QueryFailed", "the summary query returned no total row"))
      const base = 2 * g
      yield* failOnProblems(checked, checks.map((_, i) => total[base + 1 + i]))
      const binCounts = histograms.map((h) => new Array<number>(h.bins).fill(0))
      for (const row of rows) {
        for (let h = 0; h < g; h++) {
          if (asNumber(row[h]) !== 0 || row[g + h] === null || row[g + h] === undefined) continue
          binCounts[h]![asNumber(row[g + h])] = asNumber(row[base])
        }
      }
      const out: Record<string, ColumnSummary> = {}
      const at = base + 1 + checks.length
      for (let i = 0; i < columns.length; i++) {
        const column = columns[i]!
        const [s, q, lo, hi] = total.slice(at + 4 * i, at + 4 * i + 4)
        const min = asDouble(lo)
        const max = asDouble(hi)
        // Out of the fixed-point range a value's x is NULL; the extremes tell, as FixedPoint.scale would throw:
        // round(v·2^s) is unsafe exactly when |v| ≥ 2^(53−s).
        for (const extreme of [min, max]) {
          if (extreme !== undefined && !Number.isSafeInteger(Math.round(extreme * 2 ** scaleBits))) {
            const again = new Params(dialect)
            const sql = `(${condition(request.where, again)}) AND abs(${column.access.value}) >= ${again.double(2 ** (53 - scaleBits))}`
            return yield* Effect.fail(yield* locate(column.name, { sql, params: again.values, reason: "OutOfRange", detail: `v·2^${scaleBits} exceeds 2^53; lower scaleBits` }))
          }
        }
        const h = histograms.findIndex((x) => x.column === i)
        out[column.name] = { sum: asBigInt(s), squares: asBigInt(q), min, max, ...(h < 0 ? {} : { bins: binCounts[h]! }) }
      }
      return { rows: asNumber(total[base]), columns: out }
    })

  /** Consecutive rows of a streamed query regrouped into arrays of at most `size`. */
  const regroup = (rows: Stream.Stream<ReadonlyArray<Row>, DatasetError>, size: number): Stream.Stream<ReadonlyArray<Row>, DatasetError> =>
    rows.pipe(
      Stream.mapAccum(() => [] as Array<Row>, (pending: Array<Row>, chunk: ReadonlyArray<Row>) => {
        const out: Array<ReadonlyArray<Row>> = []
        let buffer = pending
        for (const row of chunk) {
          buffer.push(row)
          if (buffer.length === size) {
            out.push(buffer)
            buffer = []
          }
        }
        return [buffer, out] as const
      }, { onHalt: (pending) => (pending.length > 0 ? [pending] : []) })
    )

  /** The first row of a chunk whose check column (at `index` in each row) names a problem, as a DatasetError. */
  const checkRows = (rows: ReadonlyArray<Row>, checks: ReadonlyArray<{ readonly column: string; readonly index: number }>) =>
    Effect.gen(function*() {
      for (const row of rows) {
        for (const check of checks) {
          if (row[check.index] !== null && row[check.index] !== undefined) return yield* Effect.fail(yield* locate(check.column))
        }
      }
    })

  /** A bad id in a numeric column; NULL is no problem for ids: it is an empty id, which PSI skips. */
  const idProblem = (a: ColumnAccess) => (isNumericType(a.spec.type) ? `CASE WHEN ${a.raw} IS NULL THEN NULL ELSE ${a.problem} END` : "NULL")
  const idText = (value: unknown, numeric: boolean): string => (value === null || value === undefined ? "" : numeric ? String(Number(value)) : String(value))

  const source: DataSource = {
    name: table.name,
    columns: table.columns,
    id: table.id,
    origin,
    check: () =>
      Effect.gen(function*() {
        const numeric = table.columns.filter((c) => isNumericType(c.type))
        const checks = numeric.map((c) => `count(*) FILTER (WHERE ${table.access(c).problem} IS NOT NULL)`)
        const rows = yield* engine.query(`SELECT ${["count(*)", ...checks].join(", ")} FROM ${table.from}`, [])
        yield* failOnProblems(numeric.map((c) => c.name), rows[0]?.slice(1) ?? [])
        return { rows: asNumber(rows[0]?.[0]) }
      }),
    summarize,
    ids: ({ column, chunkSize, where }) =>
      Stream.unwrap(sync(() => {
        const params = new Params(dialect)
        const a = access(column)
        const numeric = isNumericType(a.spec.type)
        const sql = `SELECT v, p, row FROM (SELECT ${a.value} AS v, ${idProblem(a)} AS p, row_number() OVER () - 1 AS row, (${condition(where, params)}) AS m FROM ${table.from}) t WHERE m`
        return regroup(engine.stream(sql, params.values), chunkSize).pipe(
          Stream.mapEffect((rows) =>
            Effect.as(checkRows(rows, numeric ? [{ column, index: 1 }] : []), {
              ids: rows.map((row) => idText(row[0], numeric)),
              rows: rows.map((row) => asNumber(row[2]))
            } satisfies IdChunk))
        )
      })),
    distinctIds: ({ column, chunkSize, key, where }) =>
      Stream.unwrap(Effect.gen(function*() {
        const params = new Params(dialect)
        const a = yield* sync(() => access(column))
        const numeric = isNumericType(a.spec.type)
        const cond = yield* sync(() => condition(where, params))
        // Numbers as ids must be integers, which every engine prints alike (a BIGINT's decimal digits).
        const text = numeric ? `COALESCE(CAST(CAST(${a.value} AS BIGINT) AS ${dialect.text}), '')` : `COALESCE(${a.value}, '')`
        const check = yield* engine.query(
          `SELECT count(*) FILTER (WHERE p IS NOT NULL), count(*) FILTER (WHERE m AND v IS NOT NULL AND (v <> floor(v) OR abs(v) > ${MAX_SAFE})) FROM (SELECT ${idProblem(a)} AS p, ${numeric ? a.value : "0"} AS v, (${cond}) AS m FROM ${table.from}) t`,
          params.values
        )
        yield* failOnProblems([column], [check[0]?.[0]])
        if (asNumber(check[0]?.[1]) > 0) {
          return yield* Effect.fail(yield* locate(column, { sql: `${a.value} <> floor(${a.value})`, params: [], reason: "WrongType", detail: "not an integer: a numeric id column must hold integers" }))
        }
        const order = dialect.sha256Hex(`${params.text(key)} || id`)
        const sql = `SELECT id, min(row) AS row FROM (SELECT ${text} AS id, row_number() OVER () - 1 AS row, (${cond}) AS m FROM ${table.from}) t WHERE m AND id <> '' GROUP BY id ORDER BY ${dialect.collate(order)}`
        return regroup(engine.stream(sql, params.values), chunkSize).pipe(
          Stream.map((rows): IdChunk => ({ ids: rows.map((row) => String(row[0])), rows: rows.map((row) => asNumber(row[1])) }))
        )
      })),
    idCounts: ({ column, where }) =>
      Effect.gen(function*() {
        const params = new Params(dialect)
        const a = yield* sync(() => access(column))
        const cond = yield* sync(() => condition(where, params))
        const numeric = isNumericType(a.spec.type)
        const rows = yield* engine.query(
          `SELECT count(*) FILTER (WHERE m), count(*) FILTER (WHERE m AND (v IS NULL OR ${numeric ? "FALSE" : "v = ''"})), count(*) FILTER (WHERE p IS NOT NULL) FROM (SELECT ${a.value} AS v, ${idProblem(a)} AS p, (${cond}) AS m FROM ${table.from}) t`,
          params.values
        )
        yield* failOnProblems([column], [rows[0]?.[2]])
        return { rows: asNumber(rows[0]?.[0]), empty: asNumber(rows[0]?.[1]) }
      }),
    batches: ({ columns, size, where }) =>
      Stream.unwrap(sync(() => {
        const params = new Params(dialect)
        const accesses = columns.map(access)
        const select = accesses.flatMap((a) => [`${a.value}`, isNumericType(a.spec.type) ? a.problem : "NULL"])
        const sql = `SELECT ${select.map((s, i) => `${s} AS c${i}`).join(", ")} FROM ${table.from} WHERE ${condition(where, params)}`
        const checks = accesses.flatMap((a, i) => (isNumericType(a.spec.type) ? [{ column: a.spec.name, index: 2 * i + 1 }] : []))
        let offset = 0
        return regroup(engine.stream(sql, params.values), size).pipe(
          Stream.mapEffect((rows) =>
            Effect.map(checkRows(rows, checks), (): Batch => {
              const out: Record<string, Float64Array | ReadonlyArray<string>> = {}
              accesses.forEach((a, i) => {
                out[a.spec.name] = isNumericType(a.spec.type)
                  ? Float64Array.from(rows, (row) => Number(row[2 * i]))
                  : rows.map((row) => (row[2 * i] === null || row[2 * i] === undefined ? "" : String(row[2 * i])))
              })
              const batch = { offset, length: rows.length, columns: out }
              offset += rows.length
              return batch
            }))
        )
      })),
    materialize: (options) =>
      Effect.gen(function*() {
        const maxRows = options?.maxRows ?? defaultMaxRows
        const counted = yield* engine.query(`SELECT count(*) FROM ${table.from}`, [])
        const rowCount = asNumber(counted[0]?.[0])
        if (rowCount > maxRows) return yield* Effect.fail(fail("TooLarge", `${rowCount} rows exceed the ${maxRows} a protocol may hold in memory`))
        const names = table.columns.map((c) => c.name)
        const parts: Array<Batch> = []
        yield* Stream.runForEach(source.batches({ columns: names, size: 65_536 }), (batch) => Effect.sync(() => parts.push(batch)))
        return fromBatches(table.name, table.columns, parts, table.origin)
      })
  }
  return source
}
