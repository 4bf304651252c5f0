/**
 * `npm run bench -- stats`: joint statistics over 3 parties (the demo's Pima split).
 *
 * - `task_wall_ms`: a whole task over real parts — anvil, the coordinator's socket.io server, three
 *   participant processes — from submission to a stored result; baseline: the same statistics computed in
 *   plaintext in one process over the union of the rows (what a data lake would do).
 * - `protocol_ms`: the statistics protocol alone, both roles in one process through the in-memory host
 *   (every message still Schema-encoded and JSON round-tripped), with secure aggregation; baseline: the same
 *   protocol with the vectors summed in the clear, so the ratio is the cost of secure aggregation itself.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer, Schema } from "effect"
import { LocalData, type TabularData } from "@jointly/core/internal/data/Tabular"
import { localVector, statistics } from "@jointly/core/internal/protocols/joint-statistics/Aggregates"
import * as StatsCoordinator from "@jointly/core/internal/protocols/joint-statistics/coordinator"
import * as StatsParticipant from "@jointly/core/internal/protocols/joint-statistics/participant"
import type { Params } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { type CoordinatorSession, handler, stage } from "@jointly/core/internal/protocols/Protocol"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as CsvDataset from "@jointly/participant/internal/datasets/CsvDataset"
import { tabular } from "@jointly/participant/internal/Agent"
import { emit, opsPerSecond, progress } from "./Report.ts"

const demo = (file: string) => fileURLToPath(new URL(`../demo/${file}`, import.meta.url))
/** The demo files' columns and the statistics both the stats and the api suites time. */
export const columns = [
  { name: "pregnant", type: "integer" },
  { name: "glucose", type: "number" },
  { name: "pressure", type: "number" },
  { name: "mass", type: "number" },
  { name: "age", type: "integer" },
  { name: "label", type: "integer" }
] as const
const parties = ["north", "south", "east"].map((name) => ({ name, file: demo(`pima-${name}.csv`) }))
export const params: Params = {
  columns: ["glucose", "mass", "age"],
  statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
  histogram: { glucose: [0, 80, 100, 120, 140, 160, 180, 200] },
  where: { column: "glucose", op: ">", value: 0 }
} as unknown as Params

/** The plaintext baseline of the protocol: every party sends its vector in the clear. */
const plainVector = stage("bench.plain-vector", Schema.Struct({}), Schema.Struct({ vector: Schema.Array(Schema.BigIntFromString) }))

const msPer = (opsPerSecondValue: number) => 1000 / opsPerSecondValue

export const run = async () => {
  const data: Array<TabularData> = await Promise.all(
    parties.map(async (p) => tabular(await CsvDataset.loadPromise({ name: "pima", file: p.file, columns: columns as never })))
  )

  // --- the protocol alone, secure vs plaintext, in one process ---
  const wallets = data.map(() => InMemoryHost.randomWallet())
  const configs = data.map((d, i) => ({
    wallet: wallets[i]!,
    handlers: [
      ...StatsParticipant.handlers("pima", params),
      handler(plainVector, () => Effect.sync(() => ({ vector: localVector(d, params) })))
    ],
    provide: <A>(effect: Effect.Effect<A, any, any>) =>
      Effect.provide(effect, Layer.succeed(LocalData, { dataset: () => Effect.succeed(d) })) as Effect.Effect<A, any>
  }))
  // One host per task, ended after it as a deployed coordinator ends a task: the participants release its state.
  const task = <A, E>(program: (session: CoordinatorSession) => Effect.Effect<A, E>) => {
    const host = InMemoryHost.make(configs as never)
    return Effect.runPromise(Effect.ensuring(host.run(program), host.end()))
  }
  const secure = () => task((session) => StatsCoordinator.run(session, params))
  const plain = () =>
    task((session) =>
      Effect.map(
        session.round(plainVector, new Map(session.participants.map((p) => [p, {}] as const)), { minReplies: session.participants.length }),
        (replies) => {
          const vectors = [...replies.values()].map((r) => r.vector)
          const total = vectors[0]!.map((_, i) => vectors.reduce((s, v) => s + v[i]!, 0n))
          return statistics(total, params, session.participants)
        }
      )
    )
  progress("stats: protocol in memory, secure vs plaintext")
  const secureRate = await opsPerSecond(secure, { warmup: 1, runs: 5, minRunMs: 500 })
  const plainRate = await opsPerSecond(plain, { warmup: 1, runs: 5, minRunMs: 500 })
  emit({
    suite: "stats",
    metric: "protocol_ms",
    params: { parties: 3, rows: 768, columns: 3, aggregation: "secure", host: "in-memory" },
    value: msPer(secureRate),
    baseline: "same protocol, vectors summed in plaintext",
    baseline_value: msPer(plainRate),
    ratio: msPer(plainRate) / msPer(secureRate)
  })

  // --- the whole task over real parts ---
  const dataDir = await mkdtemp(join(tmpdir(), "jointly-bench-stats-"))
  progress("stats: starting a local cluster (anvil, coordinator, 3 participant processes)")
  const cluster = await LocalCluster.start({
    dataDir,
    parties: parties.map((p) => ({ name: p.name, datasets: [{ name: "pima", file: p.file, columns: columns as never }] }))
  })
  try {
    const runTask = async () => {
      const id = await cluster.submit({
        kind: "statistics.horizontal",
        parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never,
        params
      })
      const detail = await cluster.waitForTask(id)
      if (detail.status !== "Succeeded") throw new Error(`bench task ${id} ended ${detail.status}: ${detail.reason}`)
    }
    progress("stats: timing whole tasks")
    const taskRate = await opsPerSecond(runTask, { warmup: 1, runs: 3, minRunMs: 0 })
    const centralRate = await opsPerSecond(() => {
      const total = data.map((d) => localVector(d, params)).reduce((acc, v) => acc.map((x, i) => x + v[i]!))
      return statistics(total, params, [])
    }, { warmup: 3, runs: 5, minRunMs: 200 })
    emit({
      suite: "stats",
      metric: "task_wall_ms",
      params: { parties: 3, rows: 768, columns: 3, chain: "anvil", transport: "socket.io", participants: "processes" },
      value: msPer(taskRate),
      baseline: "plaintext statistics over the union in one process",
      baseline_value: msPer(centralRate),
      ratio: msPer(centralRate) / msPer(taskRate)
    })
  } finally {
    await cluster.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}
