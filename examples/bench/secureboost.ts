/**
 * `npm run bench -- secureboost`: SecureBoost (core/src/protocols/secureboost) with 3 parties in one process
 * (LocalRun: every message through its Schema and JSON), 2048-bit Paillier, the Paillier work of every party
 * on the participant worker pool with the OpenSSL kernel. Generated rows (Fixtures.synthetic): the label
 * holder has 30 columns and two feature holders 150 each — FATE's benchmark shape (guest 30, host 300) with the
 * host's columns split over two parties — depth 3, 32 bins (FATE's benchmark configuration), learning rate 0.3.
 *
 * - `tree_s`: wall seconds per tree (median over the trees of the run), baseline the plaintext trees with the
 *   same bins and hyper-parameters (Reference.ts) in the same run; ratio = plain / secure.
 * - `tree_cpu_s`: CPU seconds per tree of all threads (the parties share this machine's cores here; apart,
 *   each feature holder's histogram work would run on its own cores).
 * - `phase_s`: where a tree's time goes (encrypting gradients at the label holder, the feature holders'
 *   histograms, decryption and split search, split replies), summed over the run's trees, per tree.
 * - `cells_per_core_s`: (rows × feature holders' columns) per tree / (wall seconds × cores), against FATE
 *   2.0's published Hetero-SecureBoost figure: 100k rows, 300 host columns, 2 min 11 s per tree ("epoch") on
 *   two hosts using 16 cores each (doc/2.0/fate/performance/performance_multi_engines.md, EggRoll), 1024-bit
 *   Paillier (its benchmark's he_param), depth 3, 32 bins: 100,000 × 300 / (131 s × 32 cores) = 7,156. The
 *   normalisation counts every core both sides used (FATE's guest and host alike; here the 3 parties share
 *   this machine's cores) and nothing else; `cells_per_core_s_at_1024` additionally multiplies ours by the
 *   measured cost ratio of one ciphertext multiplication mod N² at 2048 vs 1024 bits, the operation that
 *   dominates, to compare at FATE's key size (FATE's own time is mostly not cryptography: its plaintext "mock"
 *   run takes 1 min 36 s of the 2 min 11 s).
 *
 * `cells_per_cpu_s` (and `_at_1024`): the same numerator per CPU-second of all threads, robust to other tenants
 * on a shared machine (FATE's figure stays per allocated core-second: its CPU time is not published).
 *
 * `JOINTLY_BENCH_SECUREBOOST` picks scales (comma-separated of 10k, 100k; both by default): 10k runs 2 trees,
 * 100k one (several minutes on two cores: the feature holders' 2·rows·150 ciphertext multiplications each
 * dominate, then the label holder's rows encryptions).
 */
import { availableParallelism } from "node:os"
import { Effect, Layer } from "effect"
import { generateKeyPair } from "@jointly/core/internal/crypto/paillier/Keys"
import * as Fixtures from "@jointly/core/internal/testing/SecureBoostFixtures"
import * as LocalRun from "@jointly/core/internal/protocols/secureboost/LocalRun"
import * as Objective from "@jointly/core/internal/protocols/secureboost/Objective"
import * as Reference from "@jointly/core/internal/protocols/secureboost/Reference"
import * as Spec from "@jointly/core/internal/protocols/secureboost/spec"
import * as PoolRunner from "./PoolRunner.ts"
import { emit, progress } from "./Report.ts"

const FATE = { rows: 100_000, hostColumns: 300, secondsPerTree: 131, cores: 32 }
const SHAPE = [30, 150, 150] as const

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Microseconds per (a·b mod m) for a `bits`-bit odd m, the feature holders' inner loop. */
const mulmodMicros = (bits: number): number => {
  const random = Fixtures.prng(bits)
  const word = () => BigInt(Math.floor(random() * 2 ** 32))
  const big = () => {
    let x = 0n
    for (let i = 0; i < bits / 32; i++) x = (x << 32n) | word()
    return x
  }
  const m = big() | 1n | (1n << BigInt(bits - 1))
  const xs = Array.from({ length: 256 }, () => big() % m)
  let acc = xs[0]!
  const rounds = 40_000
  for (let i = 0; i < 2000; i++) acc = (acc * xs[i & 255]!) % m
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) acc = (acc * xs[i & 255]!) % m
  const us = ((performance.now() - t0) * 1000) / rounds
  return acc === 0n ? Number.NaN : us
}

export const run = async () => {
  // The worker pool and this thread's backends, as a participant composes them (`@jointly/backends/node`).
  const { pool, runner, backends, kernels } = await PoolRunner.open()
  const cores = availableParallelism()
  try {
    const scales = (process.env.JOINTLY_BENCH_SECUREBOOST ?? "10k,100k").split(",").map((s) => s.trim())
    const keyStart = performance.now()
    const keyPair = await generateKeyPair({ bits: 2048 })
    const keygenMs = performance.now() - keyStart
    // The key-size normalisation, measured now: N² has 4096 bits at 2048-bit keys, 2048 at FATE's 1024.
    const mulmod4096 = mulmodMicros(4096)
    const keyCost = mulmod4096 / mulmodMicros(2048)
    // The feature holders' unit of work on this machine now (a shared machine drifts: compare within a run).
    emit({ suite: "secureboost", metric: "ciphertext_multiply_us", params: { bits: 2048, modulus_bits: 4096, engine: "V8 BigInt" }, value: mulmod4096 })
    for (const scale of scales) {
      const rows = scale === "100k" ? 100_000 : scale === "10k" ? 10_000 : Number.NaN
      if (!Number.isFinite(rows)) throw new Error(`unknown scale ${scale} (10k or 100k)`)
      const trees = rows >= 100_000 ? 1 : 2
      const params: Partial<Spec.TrainParams> = { trees, maxDepth: 3, maxBins: 32, learningRate: 0.3, testFraction: 0.1 }
      const v = Fixtures.synthetic(rows, SHAPE)
      progress(`secureboost: ${rows} rows, columns ${SHAPE.join("+")}, ${trees} tree(s), 2048-bit Paillier, ${pool.size} workers, ${kernels.name} kernels`)

      const cpu0 = process.cpuUsage()
      const result = await Effect.runPromise(Effect.provide(
        LocalRun.train({ ...v, params }, { keyPair, onTree: (t) => progress(`secureboost: ${rows} rows, tree ${t.tree} in ${(t.ms / 1000).toFixed(1)} s`) }),
        Layer.mergeAll(runner, backends.layer)
      ))
      const cpu = process.cpuUsage(cpu0)
      const secureTree = median(result.treeMs) / 1000
      const cpuTree = (cpu.user + cpu.system) / 1e6 / result.treeMs.length

      const plainStart = performance.now()
      const ref = Reference.train(Fixtures.joined(v), Spec.hyperOf(params), Spec.fractionsOf(params))
      const plainTree = (performance.now() - plainStart) / 1000 / ref.grown
      const testMargins = Array.from(ref.split.test, (i) => ref.margins[i]!)
      const identical = testMargins.every((m, i) => m === result.test.margins[i])

      const base = { rows, parties: 3, columns: SHAPE.join("+"), bits: 2048, depth: 3, bins: 32, trees: result.treeMs.length, workers: pool.size, cores, kernels: kernels.name }
      emit({ suite: "secureboost", metric: "tree_s", params: { ...base, identical_to_plaintext: identical }, value: secureTree, baseline: "plaintext trees, same bins and hyper-parameters (Reference.ts)", baseline_value: plainTree, ratio: plainTree / secureTree })
      emit({ suite: "secureboost", metric: "tree_cpu_s", params: { ...base, note: "CPU seconds of all threads per tree" }, value: cpuTree })
      const perTree = (ms: number) => ms / 1000 / result.treeMs.length
      for (const [phase, ms] of Object.entries(result.phases)) {
        if (phase !== "evaluate") emit({ suite: "secureboost", metric: "phase_s", params: { ...base, phase }, value: perTree(ms) })
      }
      const cells = rows * (SHAPE[1] + SHAPE[2])
      const ours = cells / (secureTree * cores)
      const fate = (FATE.rows * FATE.hostColumns) / (FATE.secondsPerTree * FATE.cores)
      const fateNote = "FATE 2.0 Hetero-SecureBoost: 100k rows x 300 host columns, 131 s per tree on 2 x 16 cores, 1024-bit Paillier, depth 3, 32 bins"
      emit({ suite: "secureboost", metric: "cells_per_core_s", params: { ...base, normalisation: "rows x feature-holder columns / (wall s per tree x cores used)" }, value: ours, baseline: fateNote, baseline_value: fate, ratio: ours / fate })
      // The same rate per CPU-second actually used (all threads of all parties): robust to a shared machine.
      const perCpu = cells / cpuTree
      emit({ suite: "secureboost", metric: "cells_per_cpu_s", params: { ...base, normalisation: "rows x feature-holder columns / CPU s per tree (FATE: per allocated core-second)" }, value: perCpu, baseline: fateNote, baseline_value: fate, ratio: perCpu / fate })
      emit({ suite: "secureboost", metric: "cells_per_cpu_s_at_1024", params: { ...base, normalisation: `as cells_per_cpu_s, times ${keyCost.toFixed(2)} (2048 / 1024-bit ciphertext multiplication, measured)` }, value: perCpu * keyCost, baseline: fateNote, baseline_value: fate, ratio: (perCpu * keyCost) / fate })
      emit({ suite: "secureboost", metric: "cells_per_core_s_at_1024", params: { ...base, normalisation: `as cells_per_core_s, times ${keyCost.toFixed(2)} = measured cost of a ciphertext multiplication at 2048 / 1024-bit keys` }, value: ours * keyCost, baseline: fateNote, baseline_value: fate, ratio: (ours * keyCost) / fate })
      const bytes = Object.values(result.traffic).reduce((n, t) => n + t.bytes, 0)
      emit({ suite: "secureboost", metric: "traffic_mb_per_tree", params: { ...base, messages: Object.values(result.traffic).reduce((n, t) => n + t.messages, 0) }, value: bytes / 1e6 / result.treeMs.length })
      const plainAuc = Objective.auc(testMargins, Array.from(ref.split.test, (i) => v.labelHolder.labels[i]!))
      emit({ suite: "secureboost", metric: "test_auc", params: { rows: result.test.ids.length }, value: result.test.metrics.auc!, baseline: "plaintext trees (Reference.ts)", baseline_value: plainAuc })
      progress(`secureboost: ${rows} rows, ${result.counters.encryptions} encryptions, ${result.counters.decryptions} decryptions, ${result.counters.remoteSplits} remote / ${result.counters.ownSplits} own splits; key generation ${keygenMs.toFixed(0)} ms`)
    }
  } finally {
    await Promise.all([pool.close(), backends.close()])
  }
}
