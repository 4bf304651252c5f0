/**
 * The same rows from a CSV file (DuckDB), a Parquet file (DuckDB) and a real PostgreSQL table give the same
 * answers bit for bit: summaries (the fixed-point vector of joint statistics), id streams, batches, content
 * hashes — and equal the old path, the CSV read whole by JavaScript and summed value by value. Bad data gets a
 * DatasetError naming the source, the line or row and the column.
 */
import { Effect, Layer, Stream } from "effect"
import { DuckDBInstance } from "@duckdb/node-api"
import pg from "pg"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import * as FixedPoint from "@jointly/core/internal/crypto/FixedPoint"
import { binOf } from "@jointly/core/internal/data/Bins"
import * as Local from "@jointly/core/internal/data/Local"
import * as MemorySource from "@jointly/core/internal/data/MemorySource"
import { type DataSource, LocalData, type SummaryRequest, type Where } from "@jointly/core/internal/data/Tabular"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Postgres from "@jointly/coordinator/internal/testing/Postgres"
import * as BadCsv from "../testing/BadCsv.ts"
import * as CsvDataset from "./CsvDataset.ts"
import { type ColumnSpec, DatasetError, type DatasetSpec } from "./Dataset.ts"
import * as Sources from "./Sources.ts"

const dir = mkdtempSync(join(tmpdir(), "jointly-sources-"))
let server: Awaited<ReturnType<typeof Postgres.start>>
const sources = Sources.make()

/** Seeded PRNG (mulberry32): a failure reproduces. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const columns: ReadonlyArray<ColumnSpec> = [
  { name: "id", type: "string" },
  { name: "x", type: "number" },
  { name: "price", type: "number" },
  { name: "age", type: "integer" },
  { name: "site", type: "string" }
]
const ROWS = 3_000

/**
 * Rows that probe the rounding: x has up to 17 significant digits, ties of v·2^16 at .5 (which Math.round sends
 * up), negatives and −0; price is a 3-decimal amount (NUMERIC in PostgreSQL, DECIMAL in Parquet); ids repeat
 * and some are empty.
 */
const rows = (() => {
  const random = prng(7)
  const out: Array<{ id: string; x: string; price: string; age: string; site: string }> = []
  const sites = ["north", "south", "east", "Zürich", "west"]
  for (let i = 0; i < ROWS; i++) {
    let x: string
    switch (i % 6) {
      case 0: x = String((random() - 0.5) * 10 ** Math.floor(random() * 12)); break
      case 1: x = ((Math.floor(random() * 2000) - 1000) + 0.5 / 65536).toString(); break // a tie at 2^16
      case 2: x = (-(Math.floor(random() * 50)) - 1.5 / 65536).toString(); break // a negative tie
      case 3: x = i % 12 === 3 ? "-0" : String(Math.floor(random() * 1e6)); break
      case 4: x = (random() * 1e-3).toPrecision(17); break
      default: x = String(Math.round(random() * 1e6) / 1e3)
    }
    out.push({
      id: i % 97 === 0 ? "" : `u${Math.floor(random() * ROWS * 0.8)}`,
      x,
      price: (Math.floor(random() * 1e7) / 1e3 - 5000).toFixed(3),
      age: String(Math.floor(random() * 90)),
      site: sites[i % sites.length]!
    })
  }
  return out
})()

const csvFile = join(dir, "people.csv")
const parquetFile = join(dir, "people.parquet")
const csvSpec: DatasetSpec = { name: "people", file: csvFile, columns, id: "id" }
const parquetSpec: DatasetSpec = { name: "people", file: parquetFile, format: "parquet", columns, id: "id" }
let postgresSpec: DatasetSpec
let csv: DataSource
let parquet: DataSource
let postgres: DataSource
let memory: DataSource

const run = <A>(effect: Effect.Effect<A, DatasetError>) => Effect.runPromise(effect)
const failure = (effect: Effect.Effect<unknown, DatasetError>) => Effect.runPromise(Effect.flip(effect))
const collect = <A>(stream: Stream.Stream<A, DatasetError>) => Effect.runPromise(Stream.runCollect(stream))

beforeAll(async () => {
  writeFileSync(csvFile, "id,x,price,age,site,ignored\r\n" + rows.map((r) => `${r.id},${r.x},${r.price},${r.age},"${r.site}",zz`).join("\r\n") + "\r\n")
  // The Parquet file is written by DuckDB from the CSV, typed: DOUBLE, DECIMAL(12,3), BIGINT, VARCHAR.
  const duck = await DuckDBInstance.create(":memory:")
  const connection = await duck.connect()
  await connection.run(
    `COPY (SELECT NULLIF(id, '') AS id, CAST(x AS DOUBLE) AS x, CAST(price AS DECIMAL(12,3)) AS price, CAST(age AS BIGINT) AS age, site ` +
      `FROM read_csv('${csvFile}', header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', ` +
      `columns = {'id': 'VARCHAR', 'x': 'VARCHAR', 'price': 'VARCHAR', 'age': 'VARCHAR', 'site': 'VARCHAR', 'ignored': 'VARCHAR'})) TO '${parquetFile}' (FORMAT parquet)`
  )
  connection.closeSync()
  duck.closeSync()
  // PostgreSQL: float8, numeric(12,3), int4, text — inserted from the same text.
  server = await Postgres.start()
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  await client.query("CREATE SCHEMA bank")
  await client.query("CREATE TABLE bank.people (id text, x float8, price numeric(12,3), age int4, site text, seq serial)")
  for (let at = 0; at < rows.length; at += 500) {
    const slice = rows.slice(at, at + 500)
    await client.query(
      `INSERT INTO bank.people (id, x, price, age, site) VALUES ${slice.map((_, i) => `($${5 * i + 1}, $${5 * i + 2}, $${5 * i + 3}, $${5 * i + 4}, $${5 * i + 5})`).join(", ")}`,
      slice.flatMap((r) => [r.id === "" ? null : r.id, r.x, r.price, r.age, r.site])
    )
  }
  await client.end()
  // A registered query, ordered so row numbers follow the file's.
  postgresSpec = { name: "people", postgres: { connection: server.url, query: "SELECT id, x, price, age, site FROM bank.people ORDER BY seq;" }, columns, id: "id" }
  csv = (await sources.open(csvSpec)).source
  parquet = (await sources.open(parquetSpec)).source
  postgres = (await sources.open(postgresSpec)).source
  const loaded = await CsvDataset.loadPromise({ name: "people", file: csvFile, columns, id: "id" })
  memory = MemorySource.make(loaded.table, { columns, id: "id" })
}, 120_000)

afterAll(async () => {
  await sources.close()
  await server?.stop()
  await removeDir(dir)
})

/** The old path, written out: every matching row's value scaled by FixedPoint.scale and summed in BigInt. */
const reference = (request: SummaryRequest) => {
  const match = (r: (typeof rows)[number]) => {
    const w = request.where
    if (w === undefined) return true
    const value = (r as Record<string, string>)[w.column]!
    const a = columns.find((c) => c.name === w.column)!.type === "string" ? value : Number(value)
    const b = typeof a === "number" ? Number(w.value) : String(w.value)
    switch (w.op) {
      case "<": return a < b
      case "<=": return a <= b
      case ">": return a > b
      case ">=": return a >= b
      case "==": return a === b
      case "!=": return a !== b
    }
  }
  const selected = rows.filter(match)
  const out: Record<string, { sum: bigint; squares: bigint; bins?: Array<number> }> = {}
  for (const column of request.columns) {
    let sum = 0n
    let squares = 0n
    const bins = column.edges === undefined ? undefined : new Array<number>(column.edges.length - 1).fill(0)
    for (const r of selected) {
      const v = Number((r as Record<string, string>)[column.name])
      const x = FixedPoint.scale(request.scaleBits, v)
      sum += x
      squares += x * x
      const bin = column.edges === undefined ? -1 : binOf(column.edges, v)
      if (bin >= 0) bins![bin]!++
    }
    out[column.name] = { sum, squares, ...(bins === undefined ? {} : { bins }) }
  }
  return { rows: selected.length, columns: out }
}

const requests: ReadonlyArray<SummaryRequest> = [
  { columns: [{ name: "x" }, { name: "price" }, { name: "age" }], scaleBits: 16 },
  { columns: [{ name: "x", edges: [-1000, -10, 0, 0.5, 10, 1e6] }, { name: "age", edges: [0, 18, 65, 89] }], scaleBits: 16, where: { column: "age", op: ">=", value: 30 } },
  { columns: [{ name: "price", edges: [-5000, 0, 5000] }], scaleBits: 0, where: { column: "site", op: "==", value: "Zürich" } },
  { columns: [{ name: "x" }], scaleBits: 8, where: { column: "site", op: "<", value: "south" } },
  { columns: [{ name: "age" }], scaleBits: 8, where: { column: "age", op: "==", value: "61" } },
  { columns: [{ name: "age", edges: [10, 20] }], scaleBits: 16, where: { column: "x", op: "!=", value: 0 } }
]

describe("the same rows from CSV, Parquet and PostgreSQL", () => {
  it.each(requests.map((r, i) => [i, r] as const))("summary %i equals the old in-memory path bit for bit", async (_, request) => {
    const expected = reference(request)
    const summaries = await Promise.all([memory, csv, parquet, postgres].map((s) => run(s.summarize(request))))
    for (const summary of summaries) {
      expect(summary.rows).toBe(expected.rows)
      for (const column of request.columns) {
        const got = summary.columns[column.name]!
        const want = expected.columns[column.name]!
        expect(got.sum).toBe(want.sum)
        expect(got.squares).toBe(want.squares)
        expect(got.bins).toEqual(want.bins)
      }
    }
    // min and max too, across engines
    for (const summary of summaries.slice(1)) {
      for (const column of request.columns) {
        expect(summary.columns[column.name]!.min).toBe(summaries[0]!.columns[column.name]!.min)
        expect(summary.columns[column.name]!.max).toBe(summaries[0]!.columns[column.name]!.max)
      }
    }
  })

  it("streams the id column in order, in chunks no larger than asked, equal everywhere", async () => {
    const expected = rows.map((r) => r.id)
    for (const source of [memory, csv, parquet, postgres]) {
      const chunks = await collect(source.ids({ column: "id", chunkSize: 256 }))
      expect(Math.max(...chunks.map((c) => c.ids.length))).toBeLessThanOrEqual(256)
      expect(chunks.flatMap((c) => c.ids)).toEqual(expected)
      expect(chunks.flatMap((c) => c.rows)).toEqual(expected.map((_, i) => i))
    }
  })

  it("deduplicates and orders ids by a keyed hash in the engine, the same order everywhere", async () => {
    const key = "9c1f0e7a".repeat(8)
    const streams = await Promise.all([memory, csv, parquet, postgres].map((s) => collect(s.distinctIds({ column: "id", chunkSize: 500, key, where: { column: "age", op: "<", value: 60 } }))))
    const [reference, ...others] = streams.map((chunks) => ({ ids: chunks.flatMap((c) => c.ids), rows: chunks.flatMap((c) => c.rows) }))
    const expected = new Map<string, number>()
    rows.forEach((r, i) => {
      if (r.id !== "" && Number(r.age) < 60 && !expected.has(r.id)) expected.set(r.id, i)
    })
    expect(new Set(reference!.ids)).toEqual(new Set(expected.keys()))
    expect(reference!.ids.length).toBe(expected.size)
    reference!.ids.forEach((id, i) => expect(reference!.rows[i]).toBe(expected.get(id)))
    for (const other of others) expect(other).toEqual(reference)
    // Another key, another order.
    const reordered = await collect(csv.distinctIds({ column: "id", chunkSize: 500, key: "00".repeat(32), where: { column: "age", op: "<", value: 60 } }))
    expect(reordered.flatMap((c) => c.ids)).not.toEqual(reference!.ids)
    const counts = await Promise.all([memory, csv, parquet, postgres].map((s) => run(s.idCounts({ column: "id" }))))
    for (const c of counts) expect(c).toEqual({ rows: ROWS, empty: rows.filter((r) => r.id === "").length })
  })

  it("reads rows in bounded batches and materialises the same table; content hashes agree", async () => {
    const where: Where = { column: "site", op: "!=", value: "east" }
    const wanted = rows.filter((r) => r.site !== "east")
    for (const source of [memory, csv, parquet, postgres]) {
      const batches = await collect(source.batches({ columns: ["x", "site", "age"], size: 1000, where }))
      expect(batches.map((b) => b.offset)).toEqual(batches.map((_, i) => i * 1000))
      expect(batches.every((b) => b.length <= 1000)).toBe(true)
      expect(batches.flatMap((b) => [...(b.columns.x as Float64Array)])).toEqual(wanted.map((r) => Number(r.x)))
      expect(batches.flatMap((b) => b.columns.site as ReadonlyArray<string>)).toEqual(wanted.map((r) => r.site))
      const table = await run(source.materialize())
      expect([...table.numeric("price")]).toEqual(rows.map((r) => Number(r.price)))
      expect(table.strings("id")).toEqual(rows.map((r) => r.id))
    }
    const hashes = await Promise.all([memory, csv, parquet, postgres].map((s) => run(ContentHash.ofSource(s))))
    const loaded = await CsvDataset.loadPromise({ name: "people", file: csvFile, columns, id: "id" })
    expect(new Set(hashes)).toEqual(new Set([loaded.contentHash]))
    const tooLarge = await failure(csv.materialize({ maxRows: 100 }))
    expect(tooLarge.reason).toBe("TooLarge")
  })

  it("gives training only the columns it asks for, row for row, through batches; TooLarge past the host's cap", async () => {
    for (const source of [csv, parquet, postgres]) {
      const local = Layer.succeed(LocalData, { dataset: () => Effect.die("not materialised"), source: () => Effect.succeed(source), maxRows: ROWS })
      const table = await Effect.runPromise(Effect.provide(Local.columns("people", ["age", "x", "site", "bmi"]), local))
      expect(table.columnNames).toEqual(["x", "age", "site"])
      expect(table.rowCount).toBe(ROWS)
      expect([...table.numeric("x")]).toEqual(rows.map((r) => Number(r.x)))
      expect([...table.numeric("age")]).toEqual(rows.map((r) => Number(r.age)))
      expect(table.strings("site")).toEqual(rows.map((r) => r.site))
      const capped = Layer.succeed(LocalData, { dataset: () => Effect.die("not materialised"), source: () => Effect.succeed(source), maxRows: ROWS - 1 })
      const tooLarge = await Effect.runPromise(Effect.flip(Effect.provide(Local.columns("people", ["x"]), capped)))
      expect(tooLarge._tag === "DatasetError" && tooLarge.reason).toBe("TooLarge")
    }
  })

  it("refuses what no engine but JavaScript would order alike, and values past the fixed-point range", async () => {
    for (const source of [memory, csv, parquet, postgres]) {
      const wrong = await failure(source.summarize({ columns: [{ name: "x" }], scaleBits: 16, where: { column: "age", op: "<", value: "30" } }))
      expect(wrong.reason).toBe("WrongType")
      expect(wrong.column).toBe("age")
      const unknown = await failure(source.summarize({ columns: [{ name: "bmi" }], scaleBits: 16 }))
      expect(unknown.reason).toBe("UnknownColumn")
      const notNumeric = await failure(source.summarize({ columns: [{ name: "site" }], scaleBits: 16 }))
      expect(notNumeric.reason).toBe("WrongType")
      // x reaches ~5e10: past 2^53 at 2^32 scale, as FixedPoint.scale refuses it.
      const range = await failure(source.summarize({ columns: [{ name: "x" }], scaleBits: 32 }))
      expect(range.reason).toBe("OutOfRange")
      expect(range.column).toBe("x")
      expect(range.row).toBeGreaterThan(0)
    }
  })
})

describe("typed errors naming the source, the row and the column", () => {
  const write = (name: string, text: string) => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }
  const openFailure = (spec: DatasetSpec) => sources.open(spec).then(() => { throw new Error("opened") }, (error: unknown) => error as DatasetError)

  it.each([
    ...BadCsv.cases,
    ["value on a later line of a multi-line record", 'a,b,note\n1,2,"two\nlines"\nq,4,x\n', "NotNumeric", 4, "a"]
  ] as const)("CSV through DuckDB, %s: the file, line and column", async (name, text, reason, line, column) => {
    const file = write(`${name.replace(/ /g, "-")}.csv`, text)
    const error = await openFailure({ name: "bad", file, columns: BadCsv.columns })
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.reason).toBe(reason)
    expect(error.line).toBe(line)
    expect(error.column).toBe(column)
    expect(error.message).toContain(`${file}, line ${line}, column "${column}"`)
  })

  it("a missing file, an empty file", async () => {
    expect((await openFailure({ name: "x", file: join(dir, "nope.csv"), columns: BadCsv.columns })).reason).toBe("FileNotFound")
    expect((await openFailure({ name: "x", file: join(dir, "nope.parquet"), format: "parquet", columns: BadCsv.columns })).reason).toBe("FileNotFound")
    expect((await openFailure({ name: "x", file: write("header.csv", "a,b\r\n"), columns: BadCsv.columns })).reason).toBe("Empty")
  })

  it("Parquet: NULL where a number is needed, NaN, a missing column, a type that cannot be read", async () => {
    const file = join(dir, "nulls.parquet")
    const duck = await DuckDBInstance.create(":memory:")
    const connection = await duck.connect()
    await connection.run(`COPY (SELECT 'k' || i AS id, CASE WHEN i = 41 THEN NULL ELSE i * 1.5 END AS a, CASE WHEN i = 7 THEN 'nan'::DOUBLE ELSE i END AS b, DATE '2024-01-01' AS d FROM range(100) t(i)) TO '${file}' (FORMAT parquet)`)
    connection.closeSync()
    duck.closeSync()
    const nullValue = await openFailure({ name: "n", file, format: "parquet", columns: [{ name: "id", type: "string" }, { name: "a", type: "number" }], id: "id" })
    expect(nullValue.reason).toBe("NullValue")
    expect(nullValue.row).toBe(42)
    expect(nullValue.key).toBe("k41")
    expect(nullValue.message).toContain(`${file}, row 42 (id k41), column "a": NullValue`)
    const nan = await openFailure({ name: "n", file, format: "parquet", columns: [{ name: "b", type: "number" }] })
    expect(nan.reason).toBe("NotFinite")
    expect(nan.row).toBe(8)
    expect((await openFailure({ name: "n", file, format: "parquet", columns: [{ name: "zz", type: "number" }] })).reason).toBe("MissingColumn")
    const date = await openFailure({ name: "n", file, format: "parquet", columns: [{ name: "d", type: "number" }] })
    expect(date.reason).toBe("UnsupportedType")
    expect(date.column).toBe("d")
  })

  it("PostgreSQL: NULL and text in numeric columns name the row and its id; missing table and column", async () => {
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    await client.query("CREATE TABLE accounts (id text, balance float8, score text)")
    await client.query("INSERT INTO accounts SELECT 'acct-' || i, CASE WHEN i = 17 THEN NULL ELSE i END, CASE WHEN i = 5 THEN 'high' ELSE i::text END FROM generate_series(1, 30) i")
    await client.end()
    const spec = (columns: ReadonlyArray<ColumnSpec>, table = "accounts"): DatasetSpec =>
      ({ name: "accounts", postgres: { connection: server.url, query: `SELECT * FROM ${table} ORDER BY balance NULLS LAST` }, columns, id: "id" })
    const idColumn: ColumnSpec = { name: "id", type: "string" }
    const nullValue = await openFailure(spec([idColumn, { name: "balance", type: "number" }]))
    expect(nullValue.reason).toBe("NullValue")
    expect(nullValue.key).toBe("acct-17")
    expect(nullValue.row).toBe(30)
    expect(nullValue.column).toBe("balance")
    expect(nullValue.source).toMatch(/^postgres 127\.0\.0\.1:\d+\/postgres query of dataset accounts$/)
    const text = await openFailure(spec([idColumn, { name: "score", type: "integer" }]))
    expect(text.reason).toBe("NotNumeric")
    expect(text.key).toBe("acct-5")
    expect(text.message).toContain(`"high" is not a number`)
    expect((await openFailure({ name: "t", postgres: { connection: server.url, table: "nope", schema: "bank" }, columns: [idColumn] })).reason).toBe("MissingTable")
    expect((await openFailure({ name: "t", postgres: { connection: server.url, table: "people", schema: "bank" }, columns: [{ name: "iban", type: "string" }] })).reason).toBe("MissingColumn")
  })

  it("PostgreSQL unreachable or refusing the login: Unreachable, AuthFailed — the password never in the message", async () => {
    const url = new URL(server.url)
    const closed = `postgres://jointly:s3cret@127.0.0.1:1/postgres`
    const refused = await openFailure({ name: "t", postgres: { connection: closed, table: "people" }, columns: [{ name: "id", type: "string" }] })
    expect(refused.reason).toBe("Unreachable")
    expect(refused.source).toBe("postgres 127.0.0.1:1/postgres table people")
    expect(refused.message).not.toContain("s3cret")
    const badRole = `postgres://nobody:s3cret@${url.host}/postgres`
    const auth = await openFailure({ name: "t", postgres: { connection: badRole, table: "people", schema: "bank" }, columns: [{ name: "id", type: "string" }] })
    expect(auth.reason).toBe("AuthFailed")
    expect(auth.message).not.toContain("s3cret")
  })
})
