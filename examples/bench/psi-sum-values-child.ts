/**
 * One measurement of `psi-sum-values` in a process of its own (so its peak RSS is that variant's alone): the
 * intersection-sum value holder's access to its value column over a CSV source of `rows` rows, either as the holder
 * did before #18 ("materialised": the table through `materialize`, as the participant host's `LocalData.dataset`
 * loads and caches it, then the column) or as it does now ("streamed": the column spilled to disk by row in batches,
 * External.spillValues, then read back for each chunk's rows, External.valuesOf). Both then read the values of the
 * same pseudorandom rows, one chunk of 8 192 after another, and print their sum (the caller checks they agree), the
 * wall time and the process's VmHWM. "footprint": the source opened and nothing read (what both include).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as External from "@jointly/core/internal/protocols/joint-query/psi/External"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Sources from "@jointly/participant/internal/datasets/Sources"
import * as SpillFiles from "@jointly/participant/internal/host/SpillFiles"

const [variant, file, rowsText, chunksText] = process.argv.slice(2)
const rows = Number(rowsText)
const chunks = Number(chunksText)
const CHUNK = 8_192
const columns: DatasetSpec["columns"] = [{ name: "id", type: "string" }, { name: "value", type: "integer" }]

/** The rows of chunk `c`: a fixed pseudorandom pick (both variants read the same ones). */
const rowsOf = (c: number) => Array.from({ length: CHUNK }, (_, i) => Math.floor(((Math.imul(c * CHUNK + i + 1, 2_654_435_761) >>> 0) / 0x1_0000_0000) * rows))

const started = performance.now()
const opened = await Sources.make().open({ name: "t", file: file!, columns })
let sum = 0
if (variant === "footprint") {
  // The process, its modules and the opened source, reading nothing: what both variants' peaks include.
} else if (variant === "materialised") {
  const table = await Effect.runPromise(opened.source.materialize({ maxRows: rows }))
  const values = table.numeric("value")
  for (let c = 0; c < chunks; c++) for (const row of rowsOf(c)) sum += values[row]!
} else {
  const dataDir = await mkdtemp(join(tmpdir(), "jointly-bench-sum-values-"))
  try {
    const dir = await Effect.runPromise(SpillFiles.make(dataDir).open("values"))
    await Effect.runPromise(External.spillValues(opened.source, "value", dir))
    for (let c = 0; c < chunks; c++) for (const value of await Effect.runPromise(External.valuesOf(dir, rowsOf(c)))) sum += value
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}
const status = await readFile("/proc/self/status", "utf8")
const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024
process.stdout.write(`${JSON.stringify({ sum, peakMb, ms: performance.now() - started })}\n`)
