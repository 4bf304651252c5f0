/**
 * `npm run bench -- psi-sum-values`: the intersection-sum value holder's memory for its value column (#18). Before,
 * the holder took the whole table from the host (`LocalData.dataset`: materialised, cached for the task, capped at
 * the host's maxRows) and its column; now a holder whose set is on disk streams the column to its spill directory by
 * row and reads back only each chunk's values (psi/External.ts `spillValues`, `valuesOf`). Each variant runs in a
 * process of its own over the same CSV (`id`, `value`; PSI_SUM_VALUES_ROWS rows, default 1M — the default cap of the
 * old path) and reads the values of the same PSI_SUM_VALUES_CHUNKS chunks of 8 192 pseudorandom rows (default 16);
 * both sums must agree. Reported: `sum_holder_values_peak_rss_mb`, the streamed process's peak RSS, against the
 * materialised one's (ratio materialised/streamed); `sum_holder_values_rss_growth_mb`, the same above a process that
 * only opens the source (its footprint, in the params); and the wall time of each, with the load average.
 *
 * Not the whole task: a holder also Paillier-encrypts each of its values (≈ 17 ms each in TypeScript at 2048 bits),
 * which puts a whole intersection-sum at a size where the column shows in its RSS out of a bench's reach; this
 * measures what the change touches, in the participant's own source and spill code.
 */
import { fork } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DuckDBInstance } from "@duckdb/node-api"
import { emit, progress } from "./Report.ts"

interface Measured { readonly sum: number; readonly peakMb: number; readonly ms: number }

const measure = (variant: "footprint" | "materialised" | "streamed", file: string, rows: number, chunks: number) =>
  new Promise<Measured>((resolve, reject) => {
    const child = fork(fileURLToPath(new URL("./psi-sum-values-child.ts", import.meta.url)), [variant, file, String(rows), String(chunks)], {
      execArgv: ["--conditions=@jointly/source", "--import", "tsx"],
      stdio: ["ignore", "pipe", "inherit", "ipc"]
    })
    let out = ""
    child.stdout!.on("data", (d) => (out += String(d)))
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Measured) : reject(new Error(`${variant} exited ${code}`))))
  })

export const run = async () => {
  const rows = Number(process.env.PSI_SUM_VALUES_ROWS ?? 1_000_000)
  const chunks = Number(process.env.PSI_SUM_VALUES_CHUNKS ?? 16)
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-psi-sum-values-"))
  try {
    const file = join(dir, "valued.csv")
    progress(`psi-sum-values: generating ${rows} rows (id, value)`)
    const duck = await DuckDBInstance.create(":memory:", { threads: "2" })
    const connection = await duck.connect()
    try {
      await connection.run(`COPY (SELECT 'customer-' || i AS id, (i * 7) % 1000 AS value FROM range(${rows}) t(i)) TO '${file}' (HEADER)`)
    } finally {
      connection.closeSync()
      duck.closeSync()
    }
    const loadBefore = loadavg()[0]!
    const footprint = await measure("footprint", file, rows, chunks)
    progress(`psi-sum-values: footprint ${footprint.peakMb.toFixed(0)} MB; materialised (before)`)
    const before = await measure("materialised", file, rows, chunks)
    progress(`psi-sum-values: materialised ${before.peakMb.toFixed(0)} MB, ${(before.ms / 1000).toFixed(1)} s; streamed (after)`)
    const after = await measure("streamed", file, rows, chunks)
    progress(`psi-sum-values: streamed ${after.peakMb.toFixed(0)} MB, ${(after.ms / 1000).toFixed(1)} s`)
    if (before.sum !== after.sum) throw new Error(`the two variants read different values: ${before.sum} vs ${after.sum}`)
    const params = { rows, chunks_read: chunks, chunk: 8_192, source: "csv", load_average: `${loadBefore.toFixed(1)}→${loadavg()[0]!.toFixed(1)}` }
    const baseline = "the same rows' values through the materialised table (the holder before #18)"
    emit({ suite: "psi-sum-values", metric: "sum_holder_values_peak_rss_mb", params, value: after.peakMb, baseline, baseline_value: before.peakMb, ratio: before.peakMb / after.peakMb })
    // What each variant adds to the process's footprint (the same modules and opened source).
    emit({ suite: "psi-sum-values", metric: "sum_holder_values_rss_growth_mb", params: { ...params, footprint_mb: Math.round(footprint.peakMb) }, value: after.peakMb - footprint.peakMb, baseline, baseline_value: before.peakMb - footprint.peakMb, ratio: (before.peakMb - footprint.peakMb) / Math.max(1, after.peakMb - footprint.peakMb) })
    emit({ suite: "psi-sum-values", metric: "sum_holder_values_wall_ms", params, value: after.ms, baseline, baseline_value: before.ms, ratio: before.ms / after.ms })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
