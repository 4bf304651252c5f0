/**
 * Test fixtures for the coordinator's integration tests: the Pima dataset split over parties, the plaintext
 * references a secure result must equal, and dumps of everything a run leaves behind (chain, store, frames).
 */
import type { ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Server } from "socket.io"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { localVector, statistics } from "@jointly/core/internal/protocols/joint-statistics/Aggregates"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import type { Sql } from "../store/Sql.ts"

export interface Csv {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

const parse = (text: string): Csv => {
  const [head, ...lines] = text.split(/\r?\n/).filter((l) => l.trim() !== "")
  return { header: head!.split(","), rows: lines.map((l) => l.split(",")) }
}

/** Pima Indians Diabetes (768 rows), from the repository's datasets folder. */
export const pima = (): Csv => parse(readFileSync(datasetFile("pima.csv"), "utf8"))

/** pima.csv's columns as a participant declares them. */
export const pimaColumns = [
  { name: "pregnant", type: "integer" },
  { name: "glucose", type: "number" },
  { name: "pressure", type: "number" },
  { name: "triceps", type: "number" },
  { name: "insulin", type: "number" },
  { name: "mass", type: "number" },
  { name: "pedigree", type: "number" },
  { name: "age", type: "integer" },
  { name: "label", type: "integer" }
] as const

/**
 * The crash and fault tests' parties: pima dealt round robin to `names`, one CSV each under `<dir>/csv`, each
 * party serving it as dataset "pima" (pass `parties` straight to LocalCluster.start).
 */
export const pimaParties = async <Name extends string>(dir: string, names: ReadonlyArray<Name>) => {
  const full = pima()
  await mkdir(join(dir, "csv"), { recursive: true })
  const files = await Promise.all(splitRoundRobin(full, names.length).map((p, i) => writeCsv(join(dir, "csv"), `pima-${names[i]}.csv`, p)))
  return { full, parties: names.map((name, i) => ({ name, datasets: [{ name: "pima", file: files[i]!, columns: [...pimaColumns] }] })) }
}

export const toText = (csv: Csv) => [csv.header.join(","), ...csv.rows.map((r) => r.join(","))].join("\n") + "\n"

/** Row i goes to part i mod n, as the demo files were made. */
export const splitRoundRobin = (csv: Csv, n: number): Array<Csv> =>
  Array.from({ length: n }, (_, k) => ({ header: csv.header, rows: csv.rows.filter((_, i) => i % n === k) }))

export const writeCsv = async (dir: string, name: string, csv: Csv) => {
  const file = join(dir, name)
  await writeFile(file, toText(csv))
  return file
}

/** The whole table as protocols read it (numeric columns parsed with Number, as the CSV adapter does). */
export const tabular = (csv: Csv, name = "reference"): TabularData => ({
  name,
  rowCount: csv.rows.length,
  columnNames: [...csv.header],
  isNumeric: () => true,
  numeric: (column) => {
    const index = csv.header.indexOf(column)
    if (index < 0) throw new Error(`no column ${column}`)
    return Float64Array.from(csv.rows, (r) => Number(r[index]))
  },
  strings: (column) => csv.rows.map((r) => r[csv.header.indexOf(column)]!)
})

/** The fixed-point plaintext reference: what the secure computation must equal bit for bit. */
export const exactReference = (csvs: ReadonlyArray<Csv>, params: Params, contributors: ReadonlyArray<string>): Result => {
  const vectors = csvs.map((csv) => localVector(tabular(csv), params))
  const total = vectors[0]!.map((_, k) => vectors.reduce((sum, v) => sum + v[k]!, 0n))
  return statistics(total, params, contributors)
}

/** Float statistics straight from the text of the rows, with no fixed-point step. */
export const floatColumn = (csv: Csv, column: string, keep: (row: Record<string, number>) => boolean = () => true) => {
  const values: Array<number> = []
  for (const r of csv.rows) {
    const row = Object.fromEntries(csv.header.map((h, i) => [h, Number(r[i])]))
    if (keep(row)) values.push(row[column]!)
  }
  const n = values.length
  const sum = values.reduce((s, x) => s + x, 0)
  const mean = sum / n
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)
  return { values, n, sum, mean, variance, std: Math.sqrt(variance) }
}

/** numpy.histogram's counts: [e_i, e_i+1), the last bin closed, values outside dropped. */
export const histogram = (values: ReadonlyArray<number>, edges: ReadonlyArray<number>) => {
  const counts = new Array<number>(edges.length - 1).fill(0)
  const last = edges.length - 1
  for (const v of values) {
    if (v < edges[0]! || v > edges[last]!) continue
    if (v === edges[last]) counts[last - 1]!++
    else for (let i = 0; i < last; i++) if (v >= edges[i]! && v < edges[i + 1]!) counts[i]!++
  }
  return counts
}

// ---------------------------------------------------------------- what a run leaves behind

const jsonText = (value: unknown) =>
  JSON.stringify(value, (_k, v) =>
    typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)

/**
 * Records every socket.io frame of the participants namespace, both directions, on sockets open now and
 * later. Returns the frames (JSON text) and a stop function.
 */
export const captureFrames = (io: Server, namespace = "/participants") => {
  const frames: Array<string> = []
  let on = true
  const attach = (socket: import("socket.io").Socket) => {
    socket.onAny((event, ...args) => on && frames.push(jsonText(["in", socket.data.account, event, ...args])))
    socket.onAnyOutgoing((event, ...args) => on && frames.push(jsonText(["out", socket.data.account, event, ...args])))
  }
  const nsp = io.of(namespace)
  for (const socket of nsp.sockets.values()) attach(socket)
  nsp.on("connection", attach)
  return { frames, stop: () => void (on = false) }
}

/** Every table of the store as text. */
export const dumpStore = async (sql: Sql) => {
  const tables = await sql.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = 'public' order by table_name`
  )
  const parts: Array<string> = []
  for (const { table_name } of tables) parts.push(`${table_name}: ${jsonText(await sql.query(`select * from "${table_name}"`))}`)
  return { tables: tables.map((t) => t.table_name), text: parts.join("\n") }
}

/** Every transaction (input included) and every log on the chain, as text. */
export const dumpChain = async (rpcUrl: string) => {
  const latest = Number(await jsonRpc<string>(rpcUrl, "eth_blockNumber", []))
  const parts: Array<string> = []
  let transactions = 0
  for (let n = 0; n <= latest; n++) {
    const block = await jsonRpc<{ transactions: Array<{ input: string }> }>(rpcUrl, "eth_getBlockByNumber", [`0x${n.toString(16)}`, true])
    transactions += block.transactions.length
    parts.push(jsonText(block.transactions))
  }
  parts.push(jsonText(await jsonRpc(rpcUrl, "eth_getLogs", [{ fromBlock: "0x0", toBlock: "latest" }])))
  return { blocks: latest + 1, transactions, text: parts.join("\n").toLowerCase() }
}

export const utf8Hex = (text: string) => Buffer.from(text, "utf8").toString("hex")

/** Polls until `predicate` holds (or throws after `timeoutMs`). */
export const eventually = async <T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/**
 * Kills `party`'s process with SIGKILL (as a crash), waits until task `taskId` is suspended — back to Scheduled,
 * waiting for the party — and starts the party's process again (a LocalCluster's `task` and `launch`).
 */
export const crashUntilSuspended = async <P extends { readonly process: ChildProcess }>(
  cluster: { readonly task: (id: string) => Promise<{ readonly status: string }>; readonly launch: (party: P) => Promise<unknown> },
  party: P,
  taskId: string
) => {
  const exited = new Promise((resolve) => party.process.once("exit", resolve))
  party.process.kill("SIGKILL")
  await exited
  await eventually(async () => ((await cluster.task(taskId)).status === "Scheduled" ? true : undefined), "the attempt to be suspended", 60_000)
  await cluster.launch(party)
}
