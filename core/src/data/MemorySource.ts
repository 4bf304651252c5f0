/**
 * The in-memory engine: a `DataSource` over a `TabularData` already in memory, computed in JavaScript. It is
 * the reference the database engines are held to bit for bit (the arithmetic joint statistics always had), the
 * source a host gets for tables handed over in memory (tests, a browser page's own table), and how protocols
 * keep working over a `LocalData` that provides no `source`.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Stream } from "effect"
import * as FixedPoint from "../crypto/FixedPoint.ts"
import { binOf } from "./Bins.ts"
import { DatasetError } from "./DatasetError.ts"
import * as Filter from "./Filter.ts"
import type { Batch, ColumnSpec, ColumnSummary, DataSource, IdChunk, IdCounts, Summary, SummaryRequest, TabularData, Where } from "./Tabular.ts"
import { defaultMaxRows, isNumericType } from "./Tabular.ts"

export interface Options {
  /** Declared columns (default: every column of the table, `number` when numeric, else `string`). */
  readonly columns?: ReadonlyArray<ColumnSpec>
  readonly id?: string
  /** How messages name it (default: `memory table <name>`). */
  readonly origin?: string
}

const attempt = <A>(f: () => A): Effect.Effect<A, DatasetError> =>
  Effect.try({ try: f, catch: (cause) => (cause instanceof DatasetError ? cause : new DatasetError({ reason: "Unreadable", source: "memory", detail: String(cause) })) })

export const make = (data: TabularData, options: Options = {}): DataSource => {
  const origin = options.origin ?? `memory table ${data.name}`
  const columns: ReadonlyArray<ColumnSpec> = options.columns ??
    data.columnNames.map((name) => ({ name, type: data.isNumeric(name) ? "number" as const : "string" as const }))
  const typeOf = (name: string) => {
    const column = columns.find((c) => c.name === name)
    if (column === undefined) {
      throw new DatasetError({ reason: "UnknownColumn", source: origin, column: name, detail: `dataset ${data.name} declares no such column (declared: ${columns.map((c) => c.name).join(", ")})` })
    }
    return column.type
  }
  const fail = (reason: DatasetError["reason"], column: string, row: number, detail: string) =>
    new DatasetError({ reason, source: origin, row: row + 1, column, detail, ...(keyOf(row) === undefined ? {} : { key: keyOf(row)! }) })
  const keyOf = (row: number): string | undefined => (options.id === undefined ? undefined : data.strings(options.id)[row])

  /** A numeric column, every value checked against the declared type. */
  const numbers = (name: string): Float64Array => {
    const type = typeOf(name)
    if (!isNumericType(type)) throw new DatasetError({ reason: "WrongType", source: origin, column: name, detail: "the column is declared as text, not numeric" })
    const values = data.numeric(name)
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!
      if (!Number.isFinite(v)) throw fail(Number.isNaN(v) ? "NullValue" : "NotFinite", name, i, Number.isNaN(v) ? "no value where a number is needed" : `${v} is not a finite number`)
      if (type === "integer" && !Number.isSafeInteger(v)) throw fail("NotInteger", name, i, `${v} is not a safe integer`)
    }
    return values
  }
  const text = (name: string): ReadonlyArray<string> => (isNumericType(typeOf(name)) ? Array.from(numbers(name), String) : data.strings(name))

  const mask = (where: Where | undefined): Uint8Array => {
    const filter = Filter.plan(columns, where, origin)
    const out = new Uint8Array(data.rowCount)
    switch (filter.kind) {
      case "all": return out.fill(1)
      case "constant": return out.fill(filter.matches ? 1 : 0)
      case "numeric": {
        const values = numbers(filter.column)
        for (let i = 0; i < out.length; i++) out[i] = Filter.compare(filter.op, values[i]!, filter.value) ? 1 : 0
        return out
      }
      case "text": {
        const values = text(filter.column)
        for (let i = 0; i < out.length; i++) out[i] = Filter.compare(filter.op, values[i]!, filter.value) ? 1 : 0
        return out
      }
    }
  }

  const summarize = (request: SummaryRequest): Summary => {
    const selected = mask(request.where)
    let rows = 0
    for (let i = 0; i < selected.length; i++) rows += selected[i]!
    const out: Record<string, ColumnSummary> = {}
    for (const column of request.columns) {
      const values = numbers(column.name)
      const bins = column.edges === undefined ? undefined : new Array<number>(column.edges.length - 1).fill(0)
      let sum = 0n
      let squares = 0n
      let min: number | undefined
      let max: number | undefined
      for (let i = 0; i < values.length; i++) {
        if (selected[i] === 0) continue
        const v = values[i]!
        let x: bigint
        try {
          x = FixedPoint.scale(request.scaleBits, v)
        } catch (error) {
          throw fail("OutOfRange", column.name, i, error instanceof Error ? error.message : String(error))
        }
        sum += x
        squares += x * x
        if (min === undefined || v < min) min = v
        if (max === undefined || v > max) max = v
        if (bins !== undefined) {
          const bin = binOf(column.edges!, v)
          if (bin >= 0) bins[bin]!++
        }
      }
      out[column.name] = { sum, squares, min, max, ...(bins === undefined ? {} : { bins }) }
    }
    return { rows, columns: out }
  }

  const chunked = (ids: ReadonlyArray<string>, rows: ReadonlyArray<number>, size: number): Stream.Stream<IdChunk> =>
    Stream.fromIterable(function*() {
      for (let at = 0; at < ids.length; at += size) yield { ids: ids.slice(at, at + size), rows: rows.slice(at, at + size) }
    }())

  // Ids are the table's text: an empty cell (NaN in a numeric column) is an empty id, skipped by PSI, not an error.
  const idRows = (column: string, where: Where | undefined) => {
    typeOf(column)
    const values = data.strings(column)
    const selected = mask(where)
    const ids: Array<string> = []
    const rows: Array<number> = []
    for (let i = 0; i < values.length; i++) {
      if (selected[i] === 0) continue
      ids.push(values[i]!)
      rows.push(i)
    }
    return { ids, rows }
  }

  /** An id column for distinctIds: text, or numbers that are all integers (printed alike by every engine). */
  const idText = (column: string): ReadonlyArray<string> => {
    if (isNumericType(typeOf(column))) {
      const values = data.numeric(column)
      for (let i = 0; i < values.length; i++) {
        if (!Number.isNaN(values[i]!) && !Number.isSafeInteger(values[i]!)) throw fail("WrongType", column, i, `${values[i]} is not an integer: a numeric id column must hold integers`)
      }
    }
    return data.strings(column)
  }

  return {
    name: data.name,
    columns,
    id: options.id,
    origin,
    check: () =>
      attempt(() => {
        for (const column of columns) if (isNumericType(column.type)) numbers(column.name)
        return { rows: data.rowCount }
      }),
    summarize: (request) => attempt(() => summarize(request)),
    ids: ({ column, chunkSize, where }) =>
      Stream.unwrap(Effect.map(attempt(() => idRows(column, where)), ({ ids, rows }) => chunked(ids, rows, chunkSize))),
    distinctIds: ({ column, chunkSize, key, where }) =>
      Stream.unwrap(Effect.map(attempt(() => {
        const values = idText(column)
        const selected = mask(where)
        const first = new Map<string, number>()
        for (let i = 0; i < values.length; i++) if (selected[i] === 1 && values[i] !== "" && !first.has(values[i]!)) first.set(values[i]!, i)
        const utf8 = new TextEncoder()
        const ordered = [...first].map(([id, row]) => ({ id, row, order: bytesToHex(sha256(utf8.encode(key + id))) }))
        ordered.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
        return { ids: ordered.map((e) => e.id), rows: ordered.map((e) => e.row) }
      }), ({ ids, rows }) => chunked(ids, rows, chunkSize))),
    idCounts: ({ column, where }) =>
      attempt((): IdCounts => {
        const { ids } = idRows(column, where)
        return { rows: ids.length, empty: ids.filter((id) => id === "").length }
      }),
    batches: ({ columns: names, size, where }) =>
      Stream.unwrap(Effect.map(attempt(() => {
        const selected = mask(where)
        const rows: Array<number> = []
        for (let i = 0; i < selected.length; i++) if (selected[i] === 1) rows.push(i)
        const values = names.map((name) => [name, isNumericType(typeOf(name)) ? numbers(name) : data.strings(name)] as const)
        return { rows, values }
      }), ({ rows, values }) =>
        Stream.fromIterable(function*(): Generator<Batch> {
          for (let at = 0; at < rows.length; at += size) {
            const slice = rows.slice(at, at + size)
            const columns: Record<string, Float64Array | ReadonlyArray<string>> = {}
            for (const [name, column] of values) {
              columns[name] = column instanceof Float64Array ? Float64Array.from(slice, (r) => column[r]!) : slice.map((r) => column[r]!)
            }
            yield { offset: at, length: slice.length, columns }
          }
        }()))),
    materialize: (options) =>
      attempt(() => {
        const maxRows = options?.maxRows ?? defaultMaxRows
        if (data.rowCount > maxRows) {
          throw new DatasetError({ reason: "TooLarge", source: origin, detail: `${data.rowCount} rows exceed the ${maxRows} a protocol may hold in memory` })
        }
        return data
      })
  }
}

