/**
 * The TLS half of `npm run bench -- api` (api.ts runs it after api-auth.ts): what TLS and separate hosts cost a
 * task.
 *
 * - `stats_task_wall_ms`: a joint-statistics task over 3 participants, each on its own host (a network
 *   namespace, coordinator/src/testing/Netns.ts) reaching the coordinator over HTTPS/WSS with a certificate
 *   from the consortium's CA, brought up with the CLI as docs/deploy.md does; baseline: the same task on
 *   loopback without TLS (LocalCluster, its coordinator also a process of its own), measured in the same run, the two alternating. Wall time is the
 *   coordinator's own, from the stored submission to the stored result, so neither side counts a client's
 *   process start. Goal: at most 1.2× the baseline (ratio ≥ 0.83, bigger is better).
 *
 * Needs root for the namespaces; without them the suite says why and emits nothing.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { finalStatuses, type Status } from "@jointly/core/internal/task/Lifecycle"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as HostsCluster from "@jointly/coordinator/internal/testing/HostsCluster"
import * as Netns from "@jointly/coordinator/internal/testing/Netns"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import { emit, progress } from "./Report.ts"
import { columns, params } from "./stats.ts"

const demo = (file: string) => fileURLToPath(new URL(`../demo/${file}`, import.meta.url))
const parties = ["north", "south", "east"].map((name) => ({ name, datasets: [{ name: "pima", file: demo(`pima-${name}.csv`), columns: columns as unknown as DatasetSpec["columns"] }] }))
const RUNS = 5

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** The task once it has ended, read every second (the first read a second after submission). */
const settled = async (read: () => Promise<Record<string, unknown>>, attempts = 120) => {
  for (let i = 0; i < attempts; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const detail = await read()
    if (finalStatuses.has(detail.status as Status)) return detail
  }
  throw new Error(`bench task did not end within ${attempts} s`)
}

/** Submission stored → result stored, by the coordinator's clock. */
const wallOf = (detail: { createdAt?: unknown; updatedAt?: unknown; status?: unknown; reason?: unknown }) => {
  if (detail.status !== "Succeeded") throw new Error(`bench task ended ${String(detail.status)}: ${String(detail.reason)}`)
  return Date.parse(String(detail.updatedAt)) - Date.parse(String(detail.createdAt))
}

export const run = async () => {
  const unavailable = Netns.unavailable()
  if (unavailable !== undefined) {
    progress(`api: TLS across hosts skipped: ${unavailable}`)
    return
  }
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-api-tls-"))
  const net = Netns.make(HostsCluster.hostNames(parties))
  let local: LocalCluster.LocalCluster | undefined
  try {
    progress("api: bringing up the consortium across network namespaces (TLS)")
    const hosts = await HostsCluster.start(net, { dir: join(dir, "hosts"), parties, onProgress: (line) => progress(`api: hosts: ${line}`) })
    progress("api: bringing up the loopback cluster (no TLS)")
    // The coordinator as its own process started from a config file, as across hosts: the baseline differs from
    // the measured side by TLS and the hosts only, not by where the coordinator runs.
    local = await LocalCluster.start({ dataDir: join(dir, "loopback"), parties, coordinatorProcess: true })
    const loopback = local

    // Submitted without `--watch`, then read once it has ended: a watching CLI process would share the two
    // cores with the task it measures (the loopback side submits from this process and waits in it).
    const acrossHosts = async () => {
      const summary = await hosts.submit({ kind: "statistics.horizontal", name: "bench", parties: hosts.parties.map((p) => ({ participant: p.address, dataset: "pima" })), params }, { watch: false })
      return wallOf(await settled(() => hosts.get(String(summary.taskId))))
    }
    const onLoopback = async () => {
      const id = await loopback.submit({ kind: "statistics.horizontal", parties: loopback.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never, params })
      return wallOf(await loopback.waitForTask(id))
    }
    progress("api: warm-up")
    await acrossHosts()
    await onLoopback()
    const tls: Array<number> = []
    const plain: Array<number> = []
    for (let i = 0; i < RUNS; i++) {
      tls.push(await acrossHosts())
      plain.push(await onLoopback())
      progress(`api: run ${i + 1}/${RUNS}: across hosts with TLS ${tls.at(-1)} ms, loopback ${plain.at(-1)} ms`)
    }
    const value = median(tls)
    const baseline = median(plain)
    emit({
      suite: "api",
      metric: "stats_task_wall_ms",
      params: { parties: 3, rows: 768, tls: true, hosts: "network namespaces", runs: RUNS, goal_max_slowdown: 1.2 },
      value,
      baseline: "the same task on loopback without TLS",
      baseline_value: baseline,
      ratio: baseline / value
    })
  } finally {
    await local?.stop()
    net.teardown()
    await rm(dir, { recursive: true, force: true })
  }
}
