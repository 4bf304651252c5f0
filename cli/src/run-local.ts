/** `jointly run --local`: a whole consortium for one task, then everything shut down. */
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join, resolve } from "node:path"
import { Schema } from "effect"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { CsvSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Client from "@jointly/coordinator/internal/client/Client"
import type * as Log from "@jointly/coordinator/internal/Log"
import * as LocalCluster from "./local/LocalCluster.ts"
import * as ProgressBar from "@jointly/coordinator/internal/cli/ProgressBar"

/** A task file for local runs: the task without its parties, plus the declared schema of the party files. */
export const LocalTask = Schema.Struct({
  kind: Schema.String,
  name: Schema.optional(Schema.String),
  dataset: Schema.Struct({
    name: Schema.String,
    columns: CsvSpec.fields.columns,
    id: Schema.optional(Schema.String),
    /** Party name → its own columns, where the parties' files differ (vertically partitioned data). */
    partyColumns: Schema.optional(Schema.Record(Schema.String, CsvSpec.fields.columns))
  }),
  params: Schema.Unknown,
  roundTimeoutMs: Schema.optional(Schema.Int)
})

export const loadTask = async (file: string) => {
  const decoded = Schema.decodeUnknownExit(LocalTask)(JSON.parse(await readFile(file, "utf8")))
  if (decoded._tag === "Failure") throw new Error(`task file ${file}: ${String(decoded.cause)}`)
  return decoded.value
}

/**
 * Decodes the task file's kind and params by the kind's declaration before anything starts (chain, contracts,
 * coordinator, participants): an unknown kind fails with UnknownTaskKind listing the known ones, bad params with
 * InvalidTaskParams. `party:<name>` references resolve to stand-in addresses, since the real ones exist only
 * once the cluster runs (the coordinator decodes the submitted task again then).
 */
export const checkTask = (task: typeof LocalTask.Type, partyNames: ReadonlyArray<string>): Protocols.Task => {
  if (Protocols.lookup(task.kind) === undefined) throw new Protocols.UnknownTaskKind({ kind: task.kind, known: Protocols.kinds })
  const standIns = new Map(partyNames.map((name, i) => [name, "0x" + (i + 1).toString(16).padStart(40, "0")] as const))
  const [first, ...rest] = [...standIns.values()]
  const spec = Schema.decodeUnknownSync(TaskSpec)({
    kind: task.kind,
    initiator: "0x" + "f".repeat(40),
    nonce: "check",
    parties: [first, ...rest].map((participant) => ({ participant, dataset: task.dataset.name })),
    params: resolvePartyNames(task.params, standIns),
    roundTimeoutMs: task.roundTimeoutMs
  })
  return Protocols.decodeTaskOrThrow(spec)
}

/** `--party name=file.csv` entries as LocalCluster parties holding the task file's dataset. */
export const partiesOf = (task: typeof LocalTask.Type, entries: ReadonlyArray<string>): Array<LocalCluster.PartyOptions> => {
  const parties = entries.map((entry) => {
    const match = entry.match(/^([A-Za-z0-9_.-]+)=(.+)$/)
    if (!match) throw new Error(`--party expects <name>=<file.csv>, got ${entry}`)
    return { name: match[1]!, file: resolve(match[2]!) }
  })
  if (parties.length < 2) throw new Error("a local cluster needs at least two --party")
  return parties.map((p) => ({ name: p.name, datasets: [{ name: task.dataset.name, file: p.file, columns: task.dataset.partyColumns?.[p.name] ?? task.dataset.columns, id: task.dataset.id }] }))
}

export const run = async (options: { task: string; parties: ReadonlyArray<string>; json: boolean; dataDir?: string; keep: boolean; logLevel: Log.Level }) => {
  // --json: stdout is one JSON document and stderr stays quiet off a terminal (progress bars only on one).
  const renderer = ProgressBar.make(process.stderr, { lines: !options.json })
  const say = renderer.line
  const task = await loadTask(options.task)
  const parties = partiesOf(task, options.parties)
  checkTask(task, parties.map((p) => p.name))
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), "jointly-local-"))
  const cluster = await LocalCluster.start({ dataDir, parties, logLevel: options.logLevel, onProgress: say })
  // Receivers' private outputs (joint query) live in the parties' data dirs: those are kept to be read.
  let outputsKept = false
  try {
    const addresses = new Map(cluster.parties.map((p) => [p.name, p.address] as const))
    const taskId = await cluster.submit({
      kind: task.kind,
      name: task.name ?? basename(options.task),
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: task.dataset.name })) as never,
      params: resolvePartyNames(task.params, addresses),
      roundTimeoutMs: task.roundTimeoutMs
    })
    say(`task ${taskId} submitted`)
    const detail = await Client.make({ url: cluster.coordinatorUrl, initiator: cluster.keys.analyst })
      .watch(taskId, { onStatus: (status) => say(`task ${status}`), onProgress: renderer.progress, timeoutMs: 600_000 })
      .finally(renderer.done)
    const transactions = detail.chain.map((c) => ({ op: c.op, txHash: c.txHash, blockNumber: c.blockNumber, status: c.status }))
    if (options.json) {
      process.stdout.write(JSON.stringify({
        taskId,
        status: detail.status,
        reason: detail.reason,
        result: detail.result,
        resultDigest: detail.resultDigest,
        parties: Object.fromEntries(cluster.parties.map((p) => [p.name, p.address])),
        chain: { rpcUrl: cluster.rpcUrl, registry: cluster.deployment.registry, ledger: cluster.deployment.ledger, transactions }
      }, null, 2) + "\n")
    } else {
      process.stdout.write(render(taskId, detail, cluster.parties.map((p) => p.name), transactions.length))
    }
    outputsKept = printOutputs(detail.result, cluster.parties, say)
    if (detail.status !== "Succeeded") process.exitCode = 1
  } finally {
    await cluster.stop()
    if (!options.dataDir && !options.keep && !outputsKept) await rm(dataDir, { recursive: true, force: true })
  }
}

/** Tells where each receiver keeps its output (joint query); true when there is any. */
const printOutputs = (result: unknown, parties: ReadonlyArray<{ name: string; address: string }>, say: (line: string) => void): boolean => {
  const outputs = (result as { outputs?: ReadonlyArray<{ receiver: string; digest: string; location: string }> } | null)?.outputs
  if (!Array.isArray(outputs) || outputs.length === 0) return false
  const cardinality = (result as { cardinality?: number }).cardinality
  if (cardinality !== undefined) say(`cardinality ${cardinality}`)
  for (const output of outputs) {
    const name = parties.find((p) => p.address.toLowerCase() === output.receiver.toLowerCase())?.name ?? output.receiver
    say(`output of ${name}: ${output.location} (digest ${output.digest})`)
  }
  return true
}

/**
 * A local task file names parties by their --party names ("party:clinic-north"); the spec needs their chain
 * addresses, which exist only once the cluster has created their keystores.
 */
export const resolvePartyNames = (value: unknown, addresses: ReadonlyMap<string, string>): unknown => {
  if (typeof value === "string" && value.startsWith("party:")) {
    const address = addresses.get(value.slice("party:".length))
    if (!address) throw new Error(`the task names ${value}, but no --party is called ${value.slice("party:".length)}`)
    return address
  }
  if (Array.isArray(value)) return value.map((v) => resolvePartyNames(v, addresses))
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePartyNames(v, addresses)]))
  }
  return value
}

const render = (taskId: string, detail: Client.TaskOutcome, parties: ReadonlyArray<string>, txs: number) => {
  const lines = [`task ${taskId}`, `status ${detail.status}${detail.reason ? ` — ${detail.reason}` : ""}`, `parties ${parties.join(", ")}`]
  const result = detail.result as { count?: number; columns?: Record<string, Record<string, unknown>> } | null
  if (result?.columns) {
    lines.push(`rows ${result.count}`, "")
    const stats = ["sum", "mean", "std", "variance"] as const
    lines.push(["column".padEnd(14), ...stats.map((s) => s.padStart(14))].join(""))
    for (const [column, values] of Object.entries(result.columns)) {
      lines.push([column.padEnd(14), ...stats.map((s) => (typeof values[s] === "number" ? (values[s] as number).toFixed(4) : "—").padStart(14))].join(""))
      const histogram = values.histogram as { edges: number[]; counts: number[] } | undefined
      if (histogram) {
        const max = Math.max(...histogram.counts, 1)
        histogram.counts.forEach((count, i) => {
          lines.push(`  [${histogram.edges[i]}, ${histogram.edges[i + 1]}) ${"█".repeat(Math.round((count / max) * 30))} ${count}`)
        })
      }
    }
  }
  lines.push("", `result digest ${detail.resultDigest ?? "—"}; ${txs} chain transactions`)
  return lines.join("\n") + "\n"
}
