/**
 * `npm run bench -- sources`: reading a participant's data where it lives — a CSV file and a Parquet file
 * (DuckDB), a PostgreSQL table (pg, server-side cursors) — and the memory a joint statistics task takes as the
 * table grows.
 *
 * - `summary_rows_per_s` per source: the local part of joint statistics (counts, exact fixed-point sums and
 *   squares, min/max, a histogram, under a filter) pushed down into the engine; baseline: the same summary
 *   over the same source materialised into memory first and computed in JavaScript (the in-memory engine), so
 *   the ratio is what push-down buys.
 * - `batch_rows_per_s` per source: rows streamed in bounded batches (what training reads); baseline: the CSV
 *   read whole by the JavaScript reader, the path every dataset took before sources.
 * - `participant_peak_rss_mb`: the largest peak RSS (VmHWM) of the three participant processes of a local
 *   cluster after one joint statistics task over a CSV of `big` rows per party; baseline: the same over
 *   `small` rows. Ratio small/big: 1 means memory does not grow with rows. `stats_task_wall_ms` beside it.
 *
 * Sizes: SOURCES_BENCH_ROWS (throughput, default 1M), SOURCES_BENCH_SMALL / SOURCES_BENCH_BIG (memory,
 * default 100k and 10M). The three parties of a memory run read the same generated file (each its own
 * engine and pass over it): what is measured is one participant's memory, not the data's variety.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect, Stream } from "effect"
import pg from "pg"
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as MemorySource from "@jointly/core/internal/data/MemorySource"
import type { DataSource, Summary, SummaryRequest } from "@jointly/core/internal/data/Tabular"
import type { Params } from "@jointly/core/internal/protocols/joint-statistics/spec"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Postgres from "@jointly/coordinator/internal/testing/Postgres"
import * as CsvDataset from "@jointly/participant/internal/datasets/CsvDataset"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Sources from "@jointly/participant/internal/datasets/Sources"
import { emit, opsPerSecond, progress } from "./Report.ts"

const columns: DatasetSpec["columns"] = [
  { name: "id", type: "string" },
  { name: "x", type: "number" },
  { name: "y", type: "number" },
  { name: "age", type: "integer" },
  { name: "label", type: "integer" }
]

const request: SummaryRequest = {
  columns: [{ name: "x" }, { name: "y", edges: [0, 50, 100, 150, 200] }, { name: "age" }],
  scaleBits: 16,
  where: { column: "age", op: ">", value: 10 }
}

const params: Params = {
  columns: ["x", "y", "age"],
  statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
  histogram: { y: [0, 50, 100, 150, 200] },
  where: { column: "age", op: ">", value: 10 }
} as unknown as Params

/** `rows` deterministic rows (3-decimal x, 2-decimal y, integer age and label) as a CSV file, by DuckDB. */
export const generate = async (file: string, rows: number) => {
  const duck = await DuckDBInstance.create(":memory:", { threads: "2" })
  const connection = await duck.connect()
  try {
    await connection.run(
      `COPY (SELECT 'u' || i AS id, round(sin(i) * 1000, 3) AS x, round(cos(i * 7) * 50 + 100, 2) AS y, i % 90 AS age, i % 2 AS label ` +
        `FROM range(${rows}) t(i)) TO '${file}' (HEADER)`
    )
  } finally {
    connection.closeSync()
    duck.closeSync()
  }
}

const toParquet = async (csv: string, parquet: string) => {
  const duck = await DuckDBInstance.create(":memory:", { threads: "2" })
  const connection = await duck.connect()
  try {
    await connection.run(
      `COPY (SELECT id, CAST(x AS DOUBLE) AS x, CAST(y AS DOUBLE) AS y, CAST(age AS INTEGER) AS age, CAST(label AS INTEGER) AS label ` +
        `FROM read_csv('${csv}', header = true, all_varchar = true)) TO '${parquet}' (FORMAT parquet)`
    )
  } finally {
    connection.closeSync()
    duck.closeSync()
  }
}

const sameSummary = (a: Summary, b: Summary, what: string) => {
  const text = (s: Summary) => JSON.stringify(s, (_, v) => (typeof v === "bigint" ? v.toString() : v))
  if (text(a) !== text(b)) throw new Error(`${what}: push-down and materialised summaries differ`)
}

const throughput = async (kind: string, source: DataSource, rows: number, baselineRowsPerS: number) => {
  const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runPromise(effect as Effect.Effect<A>)
  progress(`sources: ${kind}: summary, push-down vs materialised`)
  const pushed = await run(source.summarize(request))
  const materialised = await run(Effect.flatMap(source.materialize({ maxRows: rows }), (table) => MemorySource.make(table, { columns }).summarize(request)))
  sameSummary(pushed, materialised, kind)
  const pushRate = await opsPerSecond(() => run(source.summarize(request)), { warmup: 0, runs: 3, minRunMs: 0 })
  const materialiseRate = await opsPerSecond(
    () => run(Effect.flatMap(source.materialize({ maxRows: rows }), (table) => MemorySource.make(table, { columns }).summarize(request))),
    { warmup: 0, runs: 3, minRunMs: 0 }
  )
  emit({
    suite: "sources",
    metric: "summary_rows_per_s",
    params: { source: kind, rows, columns: 3, histogram: true, filter: true },
    value: pushRate * rows,
    baseline: "same source materialised, summary in JavaScript",
    baseline_value: materialiseRate * rows
  })

  progress(`sources: ${kind}: bounded batches`)
  let seen = 0
  const batchRate = await opsPerSecond(
    () => run(Stream.runForEach(source.batches({ columns: ["x", "y", "age"], size: 4_096 }), (batch) => Effect.sync(() => void (seen += batch.length)))),
    { warmup: 0, runs: 3, minRunMs: 0 }
  )
  if (seen !== 3 * rows) throw new Error(`${kind}: batches gave ${seen / 3} rows, expected ${rows}`)
  emit({
    suite: "sources",
    metric: "batch_rows_per_s",
    params: { source: kind, rows, columns: 3, batch: 4_096 },
    value: batchRate * rows,
    baseline: "CSV read whole by the JavaScript reader",
    baseline_value: baselineRowsPerS
  })
}

/** Peak RSS (VmHWM, MB) of each participant process, in the cluster's party order. */
export const peakRssOf = (cluster: LocalCluster.LocalCluster) =>
  Promise.all(cluster.parties.map(async (party) => {
    const status = await readFile(`/proc/${party.process.pid}/status`, "utf8")
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1])
    if (!Number.isFinite(kb)) throw new Error(`no VmHWM for ${party.name}`)
    return kb / 1024
  }))

/** The largest peak RSS (MB) among the participant processes. */
export const peakRss = async (cluster: LocalCluster.LocalCluster) => Math.max(...(await peakRssOf(cluster)))

/** One joint statistics task over a cluster whose three parties serve `file` as CSV: its wall time and peak RSS. */
const statisticsTask = async (dir: string, file: string, rows: number) => {
  progress(`sources: local cluster over ${rows} rows per party`)
  const cluster = await LocalCluster.start({
    dataDir: join(dir, `cluster-${rows}`),
    parties: ["north", "south", "east"].map((name) => ({ name, datasets: [{ name: "table", file, columns }] })),
    startTimeoutMs: 600_000
  })
  try {
    const started = performance.now()
    const id = await cluster.submit({
      kind: "statistics.horizontal",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "table" })) as never,
      params,
      // A round waits for the slowest party's pass over its rows: minutes at 10M rows on a shared machine.
      roundTimeoutMs: 1_200_000
    })
    const detail = await cluster.waitForTask(id, { timeoutMs: 1_800_000 })
    const wall = performance.now() - started
    if (detail.status !== "Succeeded") throw new Error(`statistics over ${rows} rows ended ${detail.status}: ${detail.reason}`)
    const count = (detail.result as { count?: number }).count
    progress(`sources: ${rows} rows per party: count ${count}, ${(wall / 1000).toFixed(1)} s`)
    return { wall, rss: await peakRss(cluster) }
  } finally {
    await cluster.stop()
  }
}

export const run = async () => {
  const rows = Number(process.env.SOURCES_BENCH_ROWS ?? 1_000_000)
  const small = Number(process.env.SOURCES_BENCH_SMALL ?? 100_000)
  const big = Number(process.env.SOURCES_BENCH_BIG ?? 10_000_000)
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-sources-"))
  // The PostgreSQL server (another user when run as root) reads the CSV with COPY.
  await chmod(dir, 0o755)
  let server: Awaited<ReturnType<typeof Postgres.start>> | undefined
  const sources = Sources.make()
  try {
    progress(`sources: generating ${rows} rows as CSV, Parquet and a PostgreSQL table`)
    const csv = join(dir, "table.csv")
    const parquet = join(dir, "table.parquet")
    await generate(csv, rows)
    await chmod(csv, 0o644)
    await toParquet(csv, parquet)
    server = await Postgres.start()
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    await client.query("CREATE TABLE customers (id text, x float8, y float8, age int4, label int4)")
    await client.query(`COPY customers FROM '${csv}' WITH (FORMAT csv, HEADER true)`)
    await client.end()

    progress("sources: the JavaScript CSV reader (baseline)")
    const jsRate = await opsPerSecond(() => CsvDataset.loadPromise({ name: "table", file: csv, columns }), { warmup: 0, runs: 3, minRunMs: 0 })
    const specs: ReadonlyArray<readonly [string, DatasetSpec]> = [
      ["csv", { name: "table", file: csv, columns }],
      ["parquet", { name: "table", file: parquet, format: "parquet", columns }],
      ["postgres", { name: "table", postgres: { connection: server.url, table: "customers" }, columns }]
    ]
    for (const [kind, spec] of specs) {
      const opened = await sources.open(spec)
      await throughput(kind, opened.source, rows, jsRate * rows)
    }
    await sources.close()
    await server.stop()
    server = undefined

    // --- memory as the table grows ---
    const smallFile = join(dir, "small.csv")
    await generate(smallFile, small)
    const smallRun = await statisticsTask(dir, smallFile, small)
    await rm(smallFile)
    progress(`sources: generating ${big} rows`)
    const bigFile = join(dir, "big.csv")
    await generate(bigFile, big)
    const bigRun = await statisticsTask(dir, bigFile, big)
    emit({
      suite: "sources",
      metric: "participant_peak_rss_mb",
      params: { source: "csv", rows: big, parties: 3, task: "statistics.horizontal", duckdb_memory_limit: "256MB" },
      value: bigRun.rss,
      baseline: `same task over ${small} rows per party`,
      baseline_value: smallRun.rss,
      ratio: smallRun.rss / bigRun.rss
    })
    emit({
      suite: "sources",
      metric: "stats_task_wall_ms",
      params: { source: "csv", rows: big, parties: 3, participants: "processes" },
      value: bigRun.wall,
      baseline: `same task over ${small} rows per party`,
      baseline_value: smallRun.wall,
      ratio: smallRun.wall / bigRun.wall
    })
  } finally {
    await sources.close()
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
