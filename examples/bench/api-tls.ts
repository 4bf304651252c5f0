/**
 * The TLS half of `npm run bench -- api` (api.ts runs it after api-auth.ts): what TLS and separate hosts cost a
 * task.
 *
 * - `stats_task_wall_ms`: a joint-statistics task over 3 participants, each on its own host (a network
 *   namespace, coordinator/src/testing/Netns.ts) reaching the coordinator over HTTPS/WSS with a certificate
 *   from the consortium's CA, brought up with the CLI as docs/deploy.md does; baseline: the same task on
 *   loopback without TLS (LocalCluster), measured in the same run, the two alternating. Wall time is the
 *   coordinator's own, from the stored submission to the stored result, so neither side counts a client's
 *   process start. Goal: at most 1.2× the baseline (ratio ≥ 0.83, bigger is better).
 *
 * Needs root for the namespaces; without them the suite says why and emits nothing.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as LocalCluster from "@jointly/cli/local/LocalCluster.ts"
import * as HostsCluster from "@jointly/coordinator/testing/HostsCluster.ts"
import * as Netns from "@jointly/coordinator/testing/Netns.ts"
import type { DatasetSpec } from "@jointly/participant/datasets/Dataset.ts"
import { emit, progress } from "./Report.ts"
import { columns, params } from "./stats.ts"

const demo = (file: string) => fileURLToPath(new URL(`../demo/${file}`, import.meta.url))
const parties = ["north", "south", "east"].map((name) => ({ name, datasets: [{ name: "pima", file: demo(`pima-${name}.csv`), columns: columns as unknown as DatasetSpec["columns"] }] }))
const RUNS = 5

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
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
    local = await LocalCluster.start({ dataDir: join(dir, "loopback"), parties })
    const loopback = local

    const acrossHosts = async () => {
      const summary = await hosts.submit({ kind: "statistics.horizontal", name: "bench", parties: hosts.parties.map((p) => ({ participant: p.address, dataset: "pima" })), params })
      return wallOf(await hosts.get(String(summary.taskId)))
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
