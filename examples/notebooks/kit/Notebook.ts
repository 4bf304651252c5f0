/**
 * What the notebooks share: a local cluster started in one call and driven through the typed client, the
 * datasets they read, and tiny SVG charts for tslab's `display.html`. Loaded through `index.cjs` (tsx).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Client from "@jointly/coordinator/internal/client/Client"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"

export { Client, LocalCluster }
export { digitsParams, digitsTopology, loadDigits, nonIid } from "@jointly/participant/internal/modeling/DigitsFixture"

const repo = fileURLToPath(new URL("../../../", import.meta.url))

/** A file of the repository (`examples/demo/pima-north.csv`). */
export const repoFile = (path: string) => join(repo, path)

/** A public dataset shipped in the repository (`datasets/<name>`, provenance in `datasets/README.md`). */
export const dataset = (name: string): string => datasetFile(name)

/** A fresh temporary directory (for data shards a notebook writes before its cluster starts). */
export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `jointly-${prefix}-`))

export interface CsvTable {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

export const readCsv = async (file: string): Promise<CsvTable> => {
  const [head, ...lines] = (await readFile(file, "utf8")).trim().split(/\r?\n/)
  return { header: head!.split(","), rows: lines.map((l) => l.split(",")) }
}

export const writeCsv = async (file: string, table: CsvTable) => {
  await writeFile(file, [table.header.join(","), ...table.rows.map((r) => r.join(","))].join("\n") + "\n")
  return file
}

export interface PartyData {
  readonly name: string
  readonly datasets: ReadonlyArray<DatasetSpec>
  readonly policy?: LocalCluster.PartyOptions["policy"]
}

export interface StartOptions {
  /**
   * Calls the start off (e.g. `AbortSignal.timeout(ms)`): what it started so far is stopped, processes still
   * starting included, its directory is removed, and `startCluster` rejects once that is done.
   */
  readonly signal?: AbortSignal
  /** The start's progress lines (chain, contracts, coordinator, participants) as it reaches them. */
  readonly onProgress?: (line: string) => void
  /** A running cluster whose chain and coordinator this one joins, starting only its parties (see `joining`). */
  readonly joins?: LocalCluster.Shared
  /** The log level of the cluster's coordinator and processes (the notebooks' entry, index.cjs, passes JOINTLY_LOG's). */
  readonly logLevel?: LocalCluster.Options["logLevel"]
}

/**
 * A whole consortium on this machine (anvil, the coordinator, one participant process per party) and a client
 * signed in as the local analyst (it initiates the tasks and receives their results). `stop()` shuts it down and
 * deletes its directory. A start that fails or is called off leaves nothing behind: no process, no directory.
 */
export const startCluster = async (parties: ReadonlyArray<PartyData>, options: StartOptions = {}) => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-notebook-"))
  // LocalCluster.start stops whatever it started before it rejects; the directory it was given is the kit's.
  const cluster = await LocalCluster.start({ dataDir: join(dir, "cluster"), parties, ...options }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true })
    throw error
  })
  const client = cluster.client
  const address = (name: string) => {
    const party = cluster.parties.find((p) => p.name === name)
    if (!party) throw new Error(`no party ${name}`)
    return party.address
  }
  return {
    cluster,
    client,
    dir,
    /** A scratch directory for files the notebook writes (data shards). */
    scratch: async (name: string) => {
      const path = join(dir, name)
      await mkdir(path, { recursive: true })
      return path
    },
    address,
    /** A client signed in as one of the parties (a party reads what only it may: the weights it trained, its outputs). */
    clientOf: async (name: string) => cluster.clientFor(await cluster.walletOf(name)),
    /** `[{ participant, dataset }]` for the named parties (all by default). */
    parties: (dataset: string, names: ReadonlyArray<string> = cluster.parties.map((p) => p.name)) =>
      names.map((n) => ({ participant: address(n), dataset })) as unknown as Client.TaskDraft["parties"],
    /** Submits as the local analyst and follows the task to its end, collecting its progress. */
    run: async (draft: Client.TaskDraft, options: { timeoutMs?: number } = {}) => {
      const progress: Array<Client.Progress> = []
      const { taskId } = await client.submit(draft)
      const detail = await client.watch(taskId, { onProgress: (p) => progress.push(p), timeoutMs: options.timeoutMs ?? 300_000 })
      return { taskId, detail, progress }
    },
    stop: async () => {
      await cluster.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export type Session = Awaited<ReturnType<typeof startCluster>>

/**
 * `startCluster` over a running cluster's chain and coordinator: `sharedFile` holds what its `shared()` returned
 * (as JSON). Each session still starts, uses and stops its own parties; the chain and coordinator outlive it.
 * The notebooks' test hands it to every notebook but one (`JOINTLY_NOTEBOOK_CLUSTER`, read by `load()`), so CI
 * starts one chain instead of seven; an analyst sets nothing and each notebook starts its whole cluster.
 */
export const joining = async (sharedFile: string): Promise<typeof startCluster> => {
  const shared: unknown = JSON.parse(await readFile(sharedFile, "utf8"))
  const field = (name: keyof LocalCluster.Shared) => {
    const value = (shared as Record<string, unknown> | null)?.[name]
    if (typeof value !== "string") throw new Error(`${sharedFile} does not describe a running cluster: no ${name}`)
    return value
  }
  const joins: LocalCluster.Shared = { dataDir: field("dataDir"), rpcUrl: field("rpcUrl"), coordinatorUrl: field("coordinatorUrl") }
  return (parties, options = {}) => startCluster(parties, { joins, ...options })
}

// ---- charts: SVG strings for tslab's display.html ----

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
const palette = ["#2f6fdf", "#e0702a", "#2a9d58", "#b53b8c", "#7a5cc7", "#8a8a8a"]
const fmt = (v: number) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3))

/** Vertical bars, one per label. */
export const barChart = (options: { title: string; labels: ReadonlyArray<string>; values: ReadonlyArray<number>; width?: number; height?: number }) => {
  const width = options.width ?? 560
  const height = options.height ?? 240
  const pad = { top: 28, right: 12, bottom: 44, left: 48 }
  const max = Math.max(...options.values, 1e-9)
  const slot = (width - pad.left - pad.right) / Math.max(options.values.length, 1)
  const plotH = height - pad.top - pad.bottom
  const bars = options.values.map((v, i) => {
    const h = (v / max) * plotH
    const x = pad.left + i * slot + slot * 0.1
    return `<rect x="${x.toFixed(1)}" y="${(pad.top + plotH - h).toFixed(1)}" width="${(slot * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="${palette[0]}"><title>${escape(options.labels[i] ?? "")}: ${fmt(v)}</title></rect>` +
      `<text x="${(x + slot * 0.4).toFixed(1)}" y="${height - pad.bottom + 14}" font-size="10" text-anchor="middle">${escape(options.labels[i] ?? "")}</text>` +
      `<text x="${(x + slot * 0.4).toFixed(1)}" y="${(pad.top + plotH - h - 3).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(v)}</text>`
  })
  return frame(width, height, options.title, bars.join("") + axes(pad, width, height))
}

/** Lines over a shared x axis (e.g. a metric per training round). */
export const lineChart = (options: { title: string; x: ReadonlyArray<number>; series: Record<string, ReadonlyArray<number>>; width?: number; height?: number; xLabel?: string }) => {
  const width = options.width ?? 560
  const height = options.height ?? 260
  const pad = { top: 28, right: 110, bottom: 40, left: 48 }
  const all = Object.values(options.series).flat()
  const [lo, hi] = [Math.min(...all, 0), Math.max(...all, 1e-9)]
  const [x0, x1] = [Math.min(...options.x), Math.max(...options.x, Math.min(...options.x) + 1)]
  const px = (x: number) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right)
  const py = (y: number) => pad.top + (1 - (y - lo) / (hi - lo || 1)) * (height - pad.top - pad.bottom)
  const lines = Object.entries(options.series).map(([name, ys], k) => {
    const color = palette[k % palette.length]
    const points = ys.map((y, i) => `${px(options.x[i]!).toFixed(1)},${py(y).toFixed(1)}`).join(" ")
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>` +
      `<text x="${width - pad.right + 8}" y="${pad.top + 14 * k + 10}" font-size="11" fill="${color}">${escape(name)}</text>`
  })
  const ticks = [lo, (lo + hi) / 2, hi].map((v) => `<text x="${pad.left - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${fmt(v)}</text>`)
  const xTicks = [x0, x1].map((v) => `<text x="${px(v)}" y="${height - pad.bottom + 14}" font-size="10" text-anchor="middle">${fmt(v)}</text>`)
  const xLabel = options.xLabel ? `<text x="${(pad.left + width - pad.right) / 2}" y="${height - 8}" font-size="11" text-anchor="middle">${escape(options.xLabel)}</text>` : ""
  return frame(width, height, options.title, lines.join("") + ticks.join("") + xTicks.join("") + xLabel + axes(pad, width, height))
}

/** A histogram from the statistics task's `{ edges, counts }`. */
export const histogramChart = (title: string, histogram: { readonly edges: ReadonlyArray<number>; readonly counts: ReadonlyArray<number> }) =>
  barChart({ title, labels: histogram.counts.map((_, i) => `${histogram.edges[i]}–${histogram.edges[i + 1]}`), values: histogram.counts })

const axes = (pad: { top: number; right: number; bottom: number; left: number }, width: number, height: number) =>
  `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#444"/>` +
  `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#444"/>`

const frame = (width: number, height: number, title: string, body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">` +
  `<text x="${width / 2}" y="16" font-size="13" text-anchor="middle" font-weight="600">${escape(title)}</text>${body}</svg>`

/** An HTML table of rows (for `display.html`). */
export const table = (rows: ReadonlyArray<Record<string, unknown>>) => {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cell = (v: unknown) => escape(typeof v === "number" ? fmt(v) : v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v))
  return `<table><thead><tr>${columns.map((c) => `<th>${escape(c)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${columns.map((c) => `<td>${cell(r[c])}</td>`).join("")}</tr>`).join("") + "</tbody></table>"
}

/**
 * The pictures of a SecureBoost training result (`modeling.secureboost`): the loss after each tree (training rows,
 * and validation rows when the task held some out) and what each party's columns did in the kept trees (share of
 * the total split gain, splits in the label). Both come from the task's result, which holds no column of a
 * feature holder and no threshold; `nameOf` turns party addresses into the names a reader knows.
 */
export const secureBoostPictures = (
  result: {
    readonly curve: ReadonlyArray<{ readonly tree: number; readonly trainLoss?: number; readonly validationLoss?: number }>
    readonly importance: ReadonlyArray<{ readonly party: string; readonly splits: number; readonly gainShare: number }>
    readonly kept: number
  },
  nameOf: (address: string) => string = (a) => a
) => {
  const series: Record<string, ReadonlyArray<number>> = {}
  const training = result.curve.flatMap((c) => (c.trainLoss === undefined ? [] : [c.trainLoss]))
  const validation = result.curve.flatMap((c) => (c.validationLoss === undefined ? [] : [c.validationLoss]))
  if (training.length === result.curve.length) series["training"] = training
  if (validation.length === result.curve.length) series["validation"] = validation
  return {
    curve: lineChart({ title: `Loss after each tree (${result.kept} of ${result.curve.length} kept)`, x: result.curve.map((c) => c.tree + 1), series, xLabel: "trees" }),
    importance: barChart({
      title: "Share of the split gain per party (kept trees)",
      labels: result.importance.map((x) => `${nameOf(x.party)} (${x.splits} splits)`),
      values: result.importance.map((x) => x.gainShare)
    })
  }
}
