/**
 * `npm run bench -- horizontal`: horizontal federated learning (modeling.horizontal-fl).
 *
 * - `fedavg_round_ms`: wall time of one FedAvg round (send global model, local training on tfjs-backend-wasm,
 *   aggregation, checkpoint) with 10 participants and a ~100k-parameter dense model on digits.csv, both roles
 *   in one process through the in-memory host (every message Schema-encoded and JSON round-tripped, real
 *   secure aggregation crypto; no sockets, and the participants' training runs one after another on this
 *   thread); baseline: the same rounds with updates summed in the clear, so the ratio (plain / secure, bigger
 *   is better; 1/ratio is the slowdown) is the cost of secure aggregation. Median over rounds after the first
 *   of each task, two tasks per mode.
 * - `secagg_overhead_ms`: secure minus plain, per round.
 * - `fedavg_round_cpu_ms`: process CPU time (user + system, all threads) per round, same rounds and medians as
 *   `fedavg_round_ms`: on a machine shared with other work it tracks the cost better than wall time.
 * - `fedavg_round_ms_parallel_participants`: the same rounds as participants on their own machines would see
 *   them. One thread cannot run ten participants at once, which charges secure mode ten participants' key
 *   agreements and signature checks in sequence; so each participant's handler time is measured (handlers run
 *   one at a time, so no other work is counted in them) and a round is max over participants of their handler
 *   time + everything else in the round (coordinator work and the host's message encoding, counted in full).
 *   Derived from the same runs as `fedavg_round_ms`, and only an estimate: no network, no contention.
 *
 * - `fl_local_train_ms`: one participant's local training call (one epoch over one shard, same model) as the
 *   participant runs it, through its worker pool (`fl.train` job, modeling/Compute.ts poolRuntime: weights
 *   cross the thread boundary, the seat's cached matrix does not), against the same call on the calling thread
 *   (TfjsRuntime, baseline). Median of 5 after a warm-up call each. `fl_local_train_cpu_ms`: process CPU time
 *   (all threads) per call, the same calls. `fl_local_train_event_loop_ms`: the calling thread's event-loop
 *   busy time during those calls (what training costs the protocol thread's socket).
 *   The round metrics above still train on the calling thread (TfjsRuntime), so their handler times stay
 *   comparable across runs.
 *
 * - the "dropouts" case (`fedavg-dropouts.ts`): a round at 100 participants × 1M parameters with 30 % lost after
 *   masking, secure against plain (sizes by environment variables there). JOINTLY_HORIZONTAL picks the cases
 *   ("training", "dropouts"; both by default).
 *
 * Secure rounds aggregate deltas in the 32-bit ring except the first round (64-bit, see federated-learning's
 * Updates.ts); the medians skip the first round in both modes. The first secure round of an attempt also pays
 * the once-per-attempt setup of secure aggregation: each participant's account certifies its Ed25519 signing
 * key and every peer checks those certificates (secp256k1 recoveries), and the X25519 pairs are drawn (later
 * rounds reuse them, secure-aggregation/server.ts "Key reuse"); its time is in the progress lines.
 */
import { performance as nodePerformance } from "node:perf_hooks"
import { Effect } from "effect"
import { Topology } from "@jointly/core/internal/protocols/federated-learning/index"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as NodeFiles from "@jointly/backends/internal/node/NodeFiles"
import * as TfjsRuntime from "@jointly/backends/internal/TfjsRuntime"
import { digitsParams, digitsTable, loadDigits, nonIid } from "@jointly/participant/internal/modeling/DigitsFixture"
import { poolRuntime } from "@jointly/participant/internal/modeling/Compute"
import * as PoolRunner from "@jointly/participant/internal/worker/PoolRunner"
import { topology } from "./BenchModel.ts"
import * as FedAvgDropouts from "./fedavg-dropouts.ts"
import { median, roundTimes } from "./FedAvgRounds.ts"
import { emit, progress } from "./Report.ts"

/** A fresh tfjs runtime on this thread, as the Node backends compose it (one per participant: models are stateful). */
const tfjsRuntime = () => TfjsRuntime.make({ wasmPaths: NodeFiles.tfjsWasmDir() })

const parties = 10
const rounds = 4
const passes = 2

/** One local training call, in the calling thread and through a one-seat pool: wall and event-loop busy ms. */
const localTraining = async (rows: ReadonlyArray<ReadonlyArray<number>>, seed: number) => {
  const pool = PoolRunner.make({ size: 1 })
  try {
    const thread = tfjsRuntime()
    const runtimes = [["thread", thread], ["pool", poolRuntime(pool.runner)]] as const
    const weights = await Effect.runPromise(thread.initialize(topology, seed))
    const data = { key: "bench/train", rows: rows.length, width: 64, features: Float32Array.from(rows.flatMap((r) => r.slice(0, 64).map((v) => v / 16))), labels: Float32Array.from(rows, (r) => r[64]!) }
    const config = { optimizer: "adam", learningRate: 0.01, epochs: 1, batchSize: 32, loss: "categoricalCrossentropy", proximalMu: 0, seed } as const
    const out: Record<string, { wall: number; loop: number; cpu: number }> = {}
    for (const [name, runtime] of runtimes) {
      const train = () => Effect.runPromise(runtime.train({ topology, weights, config, data }))
      await train() // warm-up: the pool seat's tfjs initialisation and the matrix transfer happen here
      const wall: Array<number> = []
      const loop: Array<number> = []
      const cpu: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const elu = nodePerformance.eventLoopUtilization()
        const cpuMark = process.cpuUsage()
        const started = performance.now()
        await train()
        wall.push(performance.now() - started)
        const used = process.cpuUsage(cpuMark)
        cpu.push((used.user + used.system) / 1000)
        loop.push(nodePerformance.eventLoopUtilization(elu).active)
      }
      out[name] = { wall: median(wall), loop: median(loop), cpu: median(cpu) }
      progress(`  local training on ${name}: wall ${wall.map((x) => x.toFixed(0)).join(" ")} ms, cpu ${cpu.map((x) => x.toFixed(0)).join(" ")} ms, event loop busy ${loop.map((x) => x.toFixed(0)).join(" ")} ms`)
    }
    return { thread: out.thread!, pool: out.pool! }
  } finally {
    await pool.close()
  }
}

export const run = async () => {
  // JOINTLY_HORIZONTAL: which cases run, comma list of "training" (the rounds above) and "dropouts"
  // (fedavg-dropouts.ts); both by default.
  const cases = (process.env.JOINTLY_HORIZONTAL ?? "training,dropouts").split(",").map((s) => s.trim())
  if (cases.includes("training")) await training()
  if (cases.includes("dropouts")) await FedAvgDropouts.run()
}

const training = async () => {
  const digits = loadDigits()
  const { shards } = nonIid(digits, parties)
  const table = (rows: ReadonlyArray<ReadonlyArray<number>>, i: number) => digitsTable(digits, rows, `shard-${i}`)
  const base = digitsParams(digits.header, { model: topology, rounds, localEpochs: 1, batchSize: 32, clientsPerRound: parties, minUpdatesPerRound: parties })
  const parameters = Topology.summarize(topology).parameters
  progress(`horizontal: ${parties} participants, ${parameters} parameters, ${passes} × ${rounds} rounds per mode`)
  const backends = await Backends.build(NodeBackends.layer())
  const chosen = await Effect.runPromise(Effect.provide(Backends.describe, backends.layer))
  await Effect.runPromise(tfjsRuntime().initialize(topology, 1)) // selects tfjs' WASM backend before any timing
  // The modes alternate (plain, secure, plain, secure) so that load drifting on a shared machine hits both alike.
  const plain = { wall: [] as Array<number>, parallel: [] as Array<number>, cpu: [] as Array<number> }
  const secure = { wall: [] as Array<number>, parallel: [] as Array<number>, cpu: [] as Array<number> }
  for (let pass = 0; pass < passes; pass++) {
    for (const [mode, into] of [["plain", plain], ["secure", secure]] as const) {
      const times = await roundTimes(backends, { ...base, aggregation: mode }, shards.map(table), { runtime: tfjsRuntime })
      progress(`${mode} rounds ms: ${times.wall.map((x) => x.toFixed(0)).join(" ")} (parallel estimate ${times.parallel.map((x) => x.toFixed(0)).join(" ")}; cpu ${times.cpu.map((x) => x.toFixed(0)).join(" ")})`)
      into.wall.push(...times.wall.slice(1))
      into.parallel.push(...times.parallel.slice(1))
      into.cpu.push(...times.cpu.slice(1))
    }
  }
  const plainMs = median(plain.wall)
  const secureMs = median(secure.wall)
  const params = {
    participants: parties, parameters, localEpochs: 1, rowsPerParticipant: Math.round(shards.reduce((s, x) => s + x.length, 0) / parties),
    host: "in-memory (one process)", backend: "tfjs-wasm", ring_bits: 32, prg: chosen.prg, x25519: chosen.x25519, ed25519: chosen.ed25519
  }
  emit({ suite: "horizontal", metric: "fedavg_round_ms", params: { ...params, aggregation: "secure" }, value: secureMs, baseline: "fedavg_round_ms plain aggregation", baseline_value: plainMs, ratio: plainMs / secureMs })
  emit({ suite: "horizontal", metric: "secagg_overhead_ms", params, value: secureMs - plainMs })
  const plainCpu = median(plain.cpu)
  const secureCpu = median(secure.cpu)
  emit({
    suite: "horizontal",
    metric: "fedavg_round_cpu_ms",
    params: { ...params, aggregation: "secure" },
    value: secureCpu,
    baseline: "fedavg_round_cpu_ms plain aggregation",
    baseline_value: plainCpu,
    ratio: plainCpu / secureCpu
  })
  const plainParallel = median(plain.parallel)
  const secureParallel = median(secure.parallel)
  emit({
    suite: "horizontal",
    metric: "fedavg_round_ms_parallel_participants",
    params: { ...params, aggregation: "secure", host: "estimate: max(participant handler time) + coordinator and host time, from the in-memory runs" },
    value: secureParallel,
    baseline: "fedavg_round_ms_parallel_participants plain aggregation",
    baseline_value: plainParallel,
    ratio: plainParallel / secureParallel
  })
  const local = await localTraining(shards[0]!, base.seed!)
  const localParams = { parameters, rows: shards[0]!.length, localEpochs: 1, backend: "tfjs-wasm", runtime: "worker pool (fl.train job, 1 seat)" }
  emit({ suite: "horizontal", metric: "fl_local_train_ms", params: localParams, value: local.pool.wall, baseline: "fl_local_train_ms on the calling thread (TfjsRuntime)", baseline_value: local.thread.wall, ratio: local.thread.wall / local.pool.wall })
  emit({ suite: "horizontal", metric: "fl_local_train_cpu_ms", params: localParams, value: local.pool.cpu, baseline: "fl_local_train_cpu_ms on the calling thread (TfjsRuntime)", baseline_value: local.thread.cpu, ratio: local.thread.cpu / local.pool.cpu })
  emit({ suite: "horizontal", metric: "fl_local_train_event_loop_ms", params: localParams, value: local.pool.loop, baseline: "fl_local_train_event_loop_ms on the calling thread (TfjsRuntime)", baseline_value: local.thread.loop, ratio: local.thread.loop / Math.max(local.pool.loop, 0.01) })
}
