/**
 * `npm run bench -- fedavg-memory`: whether plain FedAvg holds on to memory round after round, over real processes.
 * A LocalCluster of three participant processes on label-skewed digits shards (the coordinator in this process)
 * trains `FEDAVG_MEMORY_ROUNDS` (default 30) plain rounds of a dense model with `FEDAVG_MEMORY_HIDDEN` hidden units
 * (default 1024: 76k parameters, 300 kB a model, so that what a round leaves behind adds up to megabytes). While
 * the rounds run (samples one after another, each tagged with the rounds finished before it) the bench reads
 * the coordinator's heap after a full GC and its RSS, and each participant process's heap after a full GC and RSS
 * (a preload, gc-heap.cjs, collects and writes them when the bench signals the process).
 *
 * - `fedavg_heap_growth_mb` (`params.process`: "coordinator" or a party): heap and buffers (`heapUsed + external`,
 *   every thread of a participant process) after a full GC in the last sample − the same in the first sample after
 *   round `FEDAVG_MEMORY_SETTLE` (default 5: the first rounds fill caches, JIT code and tfjs's kernels),
 *   `params.start_mb` the latter, `params.from_round`/`rounds` the rounds finished at the two samples: what a
 *   process still references, the figure a per-round leak moves.
 *   `fedavg_rss_growth_mb`: the same for RSS, which also moves with the collector's timing and tfjs's WASM memory
 *   (it only grows). A slope (`mb_per_round`) near 0 is the goal; the per-round series is in the progress lines.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { digitsParams, digitsTopology, loadDigits, nonIid } from "@jointly/participant/internal/modeling/DigitsFixture"
import { emit, progress } from "./Report.ts"

const names = ["a", "b", "c"] as const
const MB = 1024 * 1024

/** A full collection in this process (the bench runs without --expose-gc). */
const collect = (() => {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as () => void
  return () => {
    gc()
    gc()
  }
})()

const rssOf = async (pid: number) => {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1])
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for process ${pid}`)
  return kb / 1024
}

/**
 * Signals a participant process to collect and report in every thread (gc-heap.cjs): the heap summed over its
 * threads (its buffers' external memory included) and its RSS, in MB. Worker threads answer on their own, so their lines are summed once none came for half a
 * second (a thread busy training answers later and is missing from that sample: `threads` says how many answered,
 * and the comparison keeps only samples where every thread did).
 */
const collectedIn = async (dir: string, pid: number, seq: number) => {
  const file = join(dir, `${pid}.jsonl`)
  const lines = async () =>
    (await readFile(file, "utf8").catch(() => "")).trim().split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { readonly seq: number; readonly main: boolean; readonly heapUsed: number; readonly external: number; readonly rss: number })
      .filter((l) => l.seq === seq)
  process.kill(pid, "SIGUSR2")
  // Done when the main thread has answered and no other thread has for half a second (a collection takes less).
  let seen = -1
  let quiet = 0
  for (let waited = 0; waited < 30_000; waited += 100) {
    const now = await lines()
    const main = now.find((l) => l.main)
    quiet = now.length === seen ? quiet + 100 : 0
    seen = now.length
    if (main !== undefined && quiet >= 500) return { heapUsed: now.reduce((sum, l) => sum + l.heapUsed + l.external, 0), rss: main.rss, threads: now.length }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`participant process ${pid} did not report its heap (is gc-heap.cjs preloaded?)`)
}

interface Sample {
  /** Rounds finished when the sample was taken. */
  readonly round: number
  readonly coordinatorHeap: number
  readonly coordinatorRss: number
  readonly parties: ReadonlyArray<{ readonly heapUsed: number; readonly rss: number; readonly threads: number }>
}

export const run = async () => {
  const rounds = Number(process.env.FEDAVG_MEMORY_ROUNDS ?? 30)
  const hidden = Number(process.env.FEDAVG_MEMORY_HIDDEN ?? 1024)
  const settle = Math.min(Number(process.env.FEDAVG_MEMORY_SETTLE ?? 5), rounds - 1)
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-fedavg-memory-"))
  try {
    const digits = loadDigits()
    const split = nonIid(digits, names.length)
    await mkdir(join(dir, "csv"))
    const columns = digits.header.map((name) => ({ name, type: "integer" as const }))
    const files = await Promise.all(split.shards.map(async (rows, i) => {
      const file = join(dir, "csv", `digits-${names[i]}.csv`)
      await writeFile(file, [digits.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n")
      return file
    }))
    // The participant processes inherit this preload (LocalCluster passes its environment on); set for their start only.
    const heapDir = join(dir, "heap")
    await mkdir(heapDir)
    const inherited = { GC_HEAP_DIR: process.env.GC_HEAP_DIR, NODE_OPTIONS: process.env.NODE_OPTIONS }
    process.env.GC_HEAP_DIR = heapDir
    process.env.NODE_OPTIONS = `${inherited.NODE_OPTIONS ?? ""} --require ${fileURLToPath(new URL("./gc-heap.cjs", import.meta.url))}`.trim()
    progress(`fedavg-memory: local cluster of ${names.length} participant processes`)
    const cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      parties: names.map((name, i) => ({ name, datasets: [{ name: "digits", file: files[i]!, columns }] })),
      startTimeoutMs: 600_000
    }).finally(() => {
      for (const [key, value] of Object.entries(inherited)) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
    })
    try {
      const params = digitsParams(digits.header, { rounds, localEpochs: 1, aggregation: "plain", model: digitsTopology(hidden) })
      const id = await cluster.submit({
        kind: "modeling.horizontal-fl",
        parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "digits" })) as never,
        params,
        roundTimeoutMs: 120_000
      } as never)
      const samples: Array<Sample> = []
      let signals = 0
      const sample = async (round: number): Promise<Sample> => {
        collect()
        const seq = ++signals
        return {
          round,
          coordinatorHeap: (process.memoryUsage().heapUsed + process.memoryUsage().external) / MB,
          coordinatorRss: await rssOf(process.pid),
          parties: await Promise.all(cluster.parties.map((p) => collectedIn(heapDir, p.process.pid!, seq)))
        }
      }
      /** Rounds finished (the coordinator's per-round progress events) and whether the task is still running. */
      const state = async () => {
        const detail = await cluster.client.get(id)
        const done = detail.events.filter((e) => e.type === "Progress" && (e.data as { stage?: unknown }).stage === "fl.round").length
        return { done, running: detail.status === "Running" && done < rounds }
      }
      // Samples one after another while the rounds run, each tagged with the rounds finished before it. A round may
      // be shorter than a sample, so not every round has one; a sample that the task's end overtook (the parties
      // release the task's memory then) is dropped.
      let finished = false
      const watcher = (async () => {
        while (!finished) {
          const before = await state()
          if (before.done > 0 && before.running) {
            const s = await sample(before.done)
            if ((await state()).running) {
              samples.push(s)
              progress(`fedavg-memory: after round ${s.round}: coordinator heap ${s.coordinatorHeap.toFixed(1)} MB, rss ${s.coordinatorRss.toFixed(0)} MB; participants heap ${s.parties.map((p) => `${p.heapUsed.toFixed(1)} (${p.threads} threads)`).join(" / ")} MB, rss ${s.parties.map((p) => p.rss.toFixed(0)).join(" / ")} MB`)
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
      })()
      const detail = await cluster.waitForTask(id, { timeoutMs: 3_600_000 })
      finished = true
      await watcher
      if (detail.status !== "Succeeded") throw new Error(`plain FedAvg ended ${detail.status}: ${detail.reason}`)
      // A thread busy training when signalled answers too late for its sample: compare only complete samples.
      const threads = names.map((_, i) => Math.max(...samples.map((s) => s.parties[i]!.threads)))
      const settled = samples.filter((s) => s.round >= settle && s.parties.every((p, i) => p.threads === threads[i]))
      if (settled.length < 2 || settled.at(-1)!.round === settled[0]!.round) throw new Error(`${settled.length} samples after round ${settle}: too few rounds to compare`)
      const first = settled[0]!
      const last = settled.at(-1)!
      const perRound = (a: number, b: number) => Number(((b - a) / Math.max(1, last.round - first.round)).toFixed(3))
      const common = { rounds: last.round, parameters: 64 * hidden + hidden + hidden * 10 + 10, from_round: first.round, aggregation: "plain", parties: names.length, participants: "processes" }
      const line = (metric: string, process: string, from: number, to: number) =>
        emit({ suite: "fedavg-memory", metric, params: { ...common, process, mb_per_round: perRound(from, to), start_mb: Number(from.toFixed(1)) }, value: to - from })
      line("fedavg_heap_growth_mb", "coordinator", first.coordinatorHeap, last.coordinatorHeap)
      line("fedavg_rss_growth_mb", "coordinator", first.coordinatorRss, last.coordinatorRss)
      names.forEach((name, i) => {
        line("fedavg_heap_growth_mb", name, first.parties[i]!.heapUsed, last.parties[i]!.heapUsed)
        line("fedavg_rss_growth_mb", name, first.parties[i]!.rss, last.parties[i]!.rss)
      })
    } finally {
      await cluster.stop()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
