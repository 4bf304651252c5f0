/**
 * `npm run bench -- load`: what one coordinator carries, and two instances over one PostgreSQL (issue 17).
 *
 * Lightweight simulated participants — real agents (`@jointly/participant` Agent, real EIP-712 handshakes, real
 * secure-aggregation statistics), many in this one process with their stages inline — connect to one coordinator
 * process, or round-robin to two coordinator processes sharing one PostgreSQL, over a real anvil. For each
 * participant count N and concurrency C it keeps C statistics tasks of 3 random participants in flight until 3·C
 * have finished, and reports:
 *
 *   - `connected`: participants admitted and held at once (of N);
 *   - `tasks_per_minute`: tasks completed per minute at concurrency C (two instances: baseline one instance,
 *     ratio two / one);
 *   - `task_p50_ms`, `task_p99_ms`: submission to Succeeded;
 *   - `coordinator_rss_mb`: resident memory of the coordinator process(es) after the run (sum over instances);
 *   - `tasks_failed`: tasks refused, ended other than Succeeded, or not final by their deadline (of 3·C).
 *
 * The tasks are spread over analysts, `perInitiator` in flight each: the coordinator caps the tasks one initiator
 * has open (16 by default, TooManyTasks), and a single analyst holding 100 open tasks is refused by design. With one
 * analyst the cap was hit at C = 100 on two instances only by chance of pace: one instance takes an initiator's
 * submissions one at a time (a per-initiator lock in its process) and ended tasks about as fast as it admitted new
 * ones; two instances admit twice as fast (a lock each; the cap itself is counted in the shared store, correctly)
 * while a cross-instance task ends later, so more than 16 were open at once.
 *
 * Sizes: JOINTLY_LOAD_PARTICIPANTS (default "10,30") and JOINTLY_LOAD_CONCURRENCY (default "1,5"), comma lists;
 * JOINTLY_LOAD_INSTANCES (default "1,2": both topologies, and their ratio when both run). Loops are bounded (3·C
 * tasks per cell, each with a deadline). Loopback only. JOINTLY_LOAD_LOGS=<dir> keeps each coordinator's last
 * stderr lines there after a topology's run (what to read when a task did not succeed).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Wallet } from "ethers"
import { isFinal } from "@jointly/core/internal/task/Lifecycle"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Consortium from "@jointly/coordinator/internal/local/Consortium"
import * as Postgres from "@jointly/coordinator/internal/testing/Postgres"
import * as Agent from "@jointly/participant/internal/Agent"
import { emit, progress } from "./Report.ts"
import { columns, params } from "./stats.ts"

const demo = (file: string) => fileURLToPath(new URL(`../demo/${file}`, import.meta.url))
const files = ["north", "south", "east"].map((name) => demo(`pima-${name}.csv`))
const list = (value: string | undefined, fallback: string) => (value ?? fallback).split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0)
const taskDeadlineMs = 180_000
/** Tasks one analyst keeps in flight: half the coordinator's default cap on an initiator's open tasks. */
const perInitiator = 8

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const rssMb = async (pids: ReadonlyArray<number | undefined>) => {
  let kb = 0
  for (const pid of pids) {
    if (pid === undefined) continue
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "")
    kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  }
  return kb / 1024
}

/** An error and its causes, each with its code: "Transport error" alone does not say what the socket did. */
const explain = (error: unknown): string => {
  const parts: Array<string> = []
  // RequestFailed keeps what it wraps as `detail`; an HttpClientError and node's fetch errors as `cause`.
  const next = (e: unknown): unknown => (e as { cause?: unknown }).cause ?? (e as { detail?: unknown }).detail
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; e = next(e), depth++) {
    const code = (e as { code?: unknown }).code
    parts.push(`${e instanceof Error ? e.message : String(e)}${typeof code === "string" ? ` [${code}]` : ""}`)
  }
  return parts.join(" <- ")
}

interface Cell {
  readonly connected: number
  readonly tasksPerMinute: number
  readonly p50: number
  readonly p99: number
  readonly rss: number
  /** Tasks that were refused, ended other than Succeeded, or were not final by their deadline. */
  readonly failed: number
  /** The bench process's own event-loop delay over the cell (its agents and HTTP client share that loop), ms. */
  readonly loopDelayP99: number
  readonly loopDelayMax: number
}

/** One topology (1 or 2 instances) at N participants, measured at every concurrency. */
const measure = async (instances: number, n: number, concurrencies: ReadonlyArray<number>, logs: string | undefined): Promise<Map<number, Cell>> => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-load-"))
  const pg = await Postgres.start()
  const agents: Array<Awaited<ReturnType<typeof Agent.start>>> = []
  let cluster: LocalCluster.LocalCluster | undefined
  try {
    cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      coordinatorProcess: true,
      store: pg.url,
      instances,
      parties: [],
      // Every simulated participant connects from 127.0.0.1: the per-address budgets are the whole fleet's here.
      socketLimits: { connectionsPerMinute: 10 * n + 100, eventsPer10sPerAddress: 1_000 * n + 1_000 }
    })
    progress(`load: ${instances} instance(s), admitting ${n} participants`)
    const wallets = Array.from({ length: n }, () => Wallet.createRandom() as unknown as Wallet)
    for (const [i, wallet] of wallets.entries()) {
      await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: `load-${i}`, wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }, true)
    }
    for (const [i, wallet] of wallets.entries()) {
      agents.push(await Agent.start({
        coordinatorUrl: cluster.coordinatorUrls[i % instances]!,
        wallet,
        compute: "inline",
        datasets: [{ name: "pima", file: files[i % files.length]!, columns: columns as never }],
        policy: () => ({ decision: "approve", reason: "load bench" })
      }))
    }
    await Promise.all(agents.map((a) => Promise.race([a.connected, new Promise((r) => setTimeout(r, 30_000))])))
    const connected = agents.filter((a) => a.isConnected()).length
    progress(`load: ${connected}/${n} connected`)

    // The analysts the tasks are spread over (members, as the local analyst is).
    const analysts = Array.from({ length: Math.ceil(Math.max(...concurrencies) / perInitiator) }, () => Wallet.createRandom() as unknown as Wallet)
    for (const [i, wallet] of analysts.entries()) {
      await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: `load-analyst-${i}`, wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }, true)
    }

    const out = new Map<number, Cell>()
    let next = 0
    for (const c of concurrencies) {
      const total = 3 * c
      const latencies: Array<number> = []
      let failed = 0
      const started = performance.now()
      const delay = monitorEventLoopDelay({ resolution: 20 })
      delay.enable()
      let issued = 0
      const worker = async (w: number) => {
        const analyst = analysts[Math.floor(w / perInitiator)]!
        while (issued < total) {
          issued++
          const mine = next++
          // Three distinct participants, the task sent to the instances in turn.
          const picked = new Set<number>()
          while (picked.size < 3) picked.add(Math.floor(Math.random() * n))
          const at = mine % instances
          const t0 = performance.now()
          const submitted = await cluster!.clientFor(analyst, at).submit({
            kind: "statistics.horizontal",
            parties: [...picked].map((i) => ({ participant: wallets[i]!.address, dataset: "pima" })) as never,
            params,
            nonce: `load-${instances}-${n}-${c}-${mine}`
          }).catch((error: unknown) => {
            failed++
            progress(`load: submission refused: ${explain(error)}`)
            return undefined
          })
          if (submitted === undefined) continue
          const id = submitted.taskId
          const deadline = Date.now() + taskDeadlineMs
          for (;;) {
            const detail = await cluster!.clientFor(analyst, at).get(id).catch(() => undefined)
            if (detail !== undefined && isFinal(detail.status)) {
              if (detail.status === "Succeeded") latencies.push(performance.now() - t0)
              else {
                failed++
                progress(`load: task ${id} ended ${detail.status}: ${detail.reason}`)
              }
              break
            }
            if (Date.now() > deadline) {
              failed++
              progress(`load: task ${id} not final within ${taskDeadlineMs} ms`)
              break
            }
            await new Promise((r) => setTimeout(r, 250))
          }
        }
      }
      await Promise.all(Array.from({ length: c }, (_, w) => worker(w)))
      const wallMs = performance.now() - started
      delay.disable()
      const sorted = [...latencies].sort((a, b) => a - b)
      if (failed > 0) progress(`load: ${failed} of ${total} tasks did not succeed (N=${n}, C=${c}, instances=${instances})`)
      out.set(c, {
        connected,
        tasksPerMinute: (latencies.length / wallMs) * 60_000,
        p50: sorted.length > 0 ? percentile(sorted, 50) : NaN,
        p99: sorted.length > 0 ? percentile(sorted, 99) : NaN,
        rss: await rssMb(cluster.coordinatorPids()),
        failed,
        loopDelayP99: delay.percentile(99) / 1e6,
        loopDelayMax: delay.max / 1e6
      })
      progress(`load: N=${n} C=${c} instances=${instances}: ${out.get(c)!.tasksPerMinute.toFixed(1)} tasks/min, p50 ${out.get(c)!.p50.toFixed(0)} ms`)
    }
    return out
  } finally {
    for (const agent of agents) await agent.close().catch(() => {})
    if (logs !== undefined && cluster !== undefined) {
      await mkdir(logs, { recursive: true })
      for (const [i, lines] of cluster.coordinatorStderrs.entries()) await writeFile(join(logs, `load-${instances}x-n${n}-instance${i}.log`), lines.join("\n"))
    }
    await cluster?.stop()
    await pg.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

export const run = async () => {
  const sizes = list(process.env.JOINTLY_LOAD_PARTICIPANTS, "10,30")
  const concurrencies = list(process.env.JOINTLY_LOAD_CONCURRENCY, "1,5")
  const topologies = list(process.env.JOINTLY_LOAD_INSTANCES, "1,2").filter((i) => i === 1 || i === 2)
  const logs = process.env.JOINTLY_LOAD_LOGS
  for (const n of sizes) {
    const one = topologies.includes(1) ? await measure(1, n, concurrencies, logs) : undefined
    const two = topologies.includes(2) ? await measure(2, n, concurrencies, logs) : undefined
    for (const c of concurrencies) {
      const a = one?.get(c)
      const b = two?.get(c)
      for (const [instances, cell] of [[1, a], [2, b]] as const) {
        if (cell === undefined) continue
        const p = { participants: n, concurrency: c, instances, party_size: 3, store: "postgres", chain: "anvil" }
        emit({ suite: "load", metric: "connected", params: p, value: cell.connected })
        emit({ suite: "load", metric: "task_p50_ms", params: p, value: cell.p50 })
        emit({ suite: "load", metric: "task_p99_ms", params: p, value: cell.p99 })
        emit({ suite: "load", metric: "coordinator_rss_mb", params: p, value: cell.rss })
        emit({ suite: "load", metric: "tasks_failed", params: p, value: cell.failed })
        emit({ suite: "load", metric: "bench_loop_delay_p99_ms", params: p, value: cell.loopDelayP99 })
        emit({ suite: "load", metric: "bench_loop_delay_max_ms", params: p, value: cell.loopDelayMax })
      }
      const tpm = (instances: number, cell: Cell) => ({ suite: "load", metric: "tasks_per_minute", params: { participants: n, concurrency: c, instances, party_size: 3, store: "postgres", chain: "anvil" }, value: cell.tasksPerMinute })
      if (a !== undefined && b !== undefined) {
        emit({ ...tpm(2, b), baseline: "one coordinator instance, same N and C", baseline_value: a.tasksPerMinute, ratio: b.tasksPerMinute / a.tasksPerMinute })
      } else if (a !== undefined || b !== undefined) {
        // One topology alone: its rate, with no ratio to claim.
        emit(a !== undefined ? tpm(1, a) : tpm(2, b!))
      }
    }
  }
}
