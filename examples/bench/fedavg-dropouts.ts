/**
 * `npm run bench -- horizontal` (case "dropouts", JOINTLY_HORIZONTAL=dropouts alone): a FedAvg round at scale
 * with participants lost after masking (issue 17 item 5: 100 participants × 1M parameters, 30 % dropping out),
 * secure aggregation against plain in the same run.
 *
 * - N simulated participants (FedAvgRounds.ts: in-memory host, one process, real secure-aggregation crypto, every
 *   message Schema-encoded and JSON round-tripped) train a dense 64 → h → 10 model of P parameters on round-robin shards
 *   of digits.csv. Local training is simulated: the participant's model runtime returns global + δ_i,r, a fixed
 *   pseudo-random step (|δ| ≤ 0.01) of participant i in round r, so a round costs what the protocol costs (the
 *   update vectors are what matters here), not tfjs.
 * - The first ⌊fraction·N⌋ participants (by cohort order) drop out after masking, every round: in secure mode
 *   each computes its masked input y_u (masks with every key holder applied) and then vanishes instead of
 *   delivering it, so the coordinator must reconstruct its mask key and remove its pairwise masks from every
 *   survivor's input (the O(dropped · survivors · P) recovery path); in plain mode each trains and its update is
 *   lost the same way. minUpdatesPerRound = N − dropped.
 * - Every round's aggregate is checked against the FedAvg of the survivors' updates computed here in float64
 *   from the same δ (the global model each participant receives next round, and the final checkpoint): the run
 *   fails loudly when any weight is off by more than 1e-4 (fixed-point rounding is ~1e-7; a wrong or missing mask
 *   is off by up to 2^31/2^20).
 *
 * Metrics (one row per ring: round 1 aggregates in Z_2^64, later rounds in Z_2^32, federated-learning Updates.ts):
 * `fedavg_dropout_round_ms` (secure, baseline plain, ratio plain/secure), `fedavg_dropout_round_cpu_ms` (process
 * CPU, all threads), `fedavg_dropout_round_ms_parallel_participants` (max participant handler time + the rest,
 * FedAvgRounds.ts), `fedavg_dropout_round_cpu_ms_parallel_participants` (the same split of process CPU: what one
 * round costs when each participant runs on its own machine, the load of other processes left out),
 * `fedavg_dropout_round_cpu_ms_coordinator_host` (process CPU outside participant handlers: the coordinator, the
 * in-memory host's encoding of every message, GC between handlers), `fedavg_dropout_rss_mb` (process RSS at the
 * round's end: coordinator and all simulated participants together, one process).
 *
 * Sizes: JOINTLY_FEDAVG_PARTICIPANTS (default 20), JOINTLY_FEDAVG_PARAMETERS (default 100000; the model's hidden
 * width is chosen to come closest), JOINTLY_FEDAVG_DROPOUT (fraction, default 0.3), JOINTLY_FEDAVG_ROUNDS
 * (default 2), JOINTLY_FEDAVG_NEIGHBOURS (secure aggregation's neighbours k: a number, or "all" for the complete
 * graph; default: the protocol's rule), JOINTLY_FEDAVG_PRGS (the masks' PRGs, comma list of crypto/Prg.ts names,
 * each a secure run against the same plain run, one set of rows each with `prg_name`; default
 * "chacha20,aes128-ctr"). The case:
 *   JOINTLY_HORIZONTAL=dropouts JOINTLY_FEDAVG_PARTICIPANTS=100 JOINTLY_FEDAVG_PARAMETERS=1000000 npm run bench -- horizontal
 */
import { Effect } from "effect"
import type { ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { Topology } from "@jointly/core/internal/protocols/federated-learning/index"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import { prng } from "@jointly/core/internal/protocols/federated-learning/Updates"
import * as Prg from "@jointly/core/internal/crypto/Prg"
import { bytesToFloat32 } from "@jointly/core/internal/models/ModelArtifact"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { digitsParams, digitsTable, loadDigits } from "@jointly/participant/internal/modeling/DigitsFixture"
import { median, roundTimes } from "./FedAvgRounds.ts"
import { emit, progress } from "./Report.ts"

const numberFrom = (value: string | undefined, fallback: number) => (value === undefined || value.trim() === "" ? fallback : Number(value))

const denseTopology = (hidden: number) => ({
  class_name: "Sequential",
  config: {
    name: "fedavg-dropouts",
    layers: [
      { class_name: "Dense", config: { units: hidden, activation: "relu", batch_input_shape: [null, 64] } },
      { class_name: "Dense", config: { units: 10, activation: "softmax" } }
    ]
  }
})

/** δ_i,r: participant i's simulated local step in round r, |δ| ≤ 0.01 (well inside the 32-bit ring's bound). */
const step = (participant: number, round: number, parameters: number) => {
  const random = prng(participant * 7919 + round)
  const out = new Float32Array(parameters)
  for (let j = 0; j < parameters; j++) out[j] = (random() - 0.5) * 0.02
  return out
}

/** What the simulated runtimes saw, for the check: the global model of each round and each participant's rows. */
interface Observed {
  readonly globals: Map<number, Float32Array>
  readonly rows: Map<number, number>
}

/** The participant's "training": global + δ_i,r, as float32 (what a runtime returns). Round from the config's seed. */
const simulatedRuntime = (participant: number, seed: number, observed: Observed): ModelRuntimeApi => ({
  initialize: (topology, s) => Effect.sync(() => {
    const parameters = Topology.summarize(topology).parameters
    const random = prng(s)
    return Float32Array.from({ length: parameters }, () => (random() - 0.5) * 0.1)
  }),
  train: ({ weights, config, data }) => Effect.sync(() => {
    const round = config.seed - seed * 1009
    if (!observed.globals.has(round)) observed.globals.set(round, weights.slice())
    observed.rows.set(participant, data.rows)
    const delta = step(participant, round, weights.length)
    const local = new Float32Array(weights.length)
    for (let j = 0; j < weights.length; j++) local[j] = weights[j]! + delta[j]!
    return local
  }),
  evaluate: ({ data }) => Effect.succeed({ lossSum: 0, correct: 0, samples: data.rows }),
  predict: () => Effect.fail(new ModelRuntimeError({ reason: "ComputeFailed", detail: "the simulated runtime does not predict" }))
})

/** Largest |got − expected| over the weights, expected = FedAvg of the survivors' float32 local models. */
const fedAvgError = (global: Float32Array, next: Float32Array, survivors: ReadonlyArray<number>, rows: ReadonlyMap<number, number>, round: number) => {
  const sum = new Float64Array(global.length)
  let samples = 0
  for (const i of survivors) {
    const n = rows.get(i)!
    const delta = step(i, round, global.length)
    for (let j = 0; j < global.length; j++) sum[j]! += n * (Math.fround(global[j]! + delta[j]!) - global[j]!)
    samples += n
  }
  let worst = 0
  for (let j = 0; j < global.length; j++) worst = Math.max(worst, Math.abs(next[j]! - (global[j]! + sum[j]! / samples)))
  return worst
}

export const run = async () => {
  const parties = numberFrom(process.env.JOINTLY_FEDAVG_PARTICIPANTS, 20)
  const requested = numberFrom(process.env.JOINTLY_FEDAVG_PARAMETERS, 100_000)
  const fraction = numberFrom(process.env.JOINTLY_FEDAVG_DROPOUT, 0.3)
  const rounds = numberFrom(process.env.JOINTLY_FEDAVG_ROUNDS, 2)
  const neighboursEnv = process.env.JOINTLY_FEDAVG_NEIGHBOURS
  const prgs = (process.env.JOINTLY_FEDAVG_PRGS ?? "chacha20,aes128-ctr").split(",").map((name) => {
    const prg = Prg.parseName(name.trim())
    if (prg === undefined) throw new Error(`JOINTLY_FEDAVG_PRGS: unknown PRG ${JSON.stringify(name)} (known: ${Prg.NAMES.join(", ")})`)
    return prg
  })
  if (!(Number.isInteger(parties) && parties >= 3 && Number.isInteger(requested) && requested > 0 && fraction >= 0 && fraction < 0.5 && Number.isInteger(rounds) && rounds >= 1)) {
    throw new Error(`bad sizes: ${parties} participants, ${requested} parameters, dropout ${fraction}, ${rounds} rounds`)
  }
  const topology = denseTopology(Math.max(1, Math.round((requested - 10) / 75)))
  const parameters = Topology.summarize(topology).parameters
  const dropped = Math.floor(fraction * parties)
  const digits = loadDigits()
  // Round-robin shards (training is simulated, so the label mix does not matter; every shard gets rows).
  const tables = Array.from({ length: parties }, (_, i) => digitsTable(digits, digits.rows.filter((_, k) => k % parties === i), `shard-${i}`))
  const seed = 11
  const neighbours = neighboursEnv === undefined ? undefined : neighboursEnv === "all" ? parties - 1 : Number(neighboursEnv)
  const base = digitsParams(digits.header, { model: topology as never, rounds, localEpochs: 1, batchSize: 32, clientsPerRound: parties, minUpdatesPerRound: parties - dropped, seed })
  progress(`fedavg-dropouts: ${parties} participants × ${parameters} parameters, ${dropped} dropping out after masking, ${rounds} rounds per mode; simulated local training`)
  const backends = await Backends.build(NodeBackends.layer())
  const chosen = await Effect.runPromise(Effect.provide(Backends.describe, backends.layer))

  const results = new Map<"plain" | Prg.Name, Awaited<ReturnType<typeof roundTimes>>>()
  for (const run of ["plain" as const, ...prgs]) {
    const mode: "plain" | "secure" = run === "plain" ? "plain" : "secure"
    const observed: Observed = { globals: new Map(), rows: new Map() }
    // Cohort order is task order here (clientsPerRound = N samples everyone): participants 0 … dropped−1 vanish.
    const lostAfter = mode === "plain" ? "fl.train" : "secagg.masked-input"
    const params = run === "plain" ? { ...base, aggregation: mode } : { ...base, aggregation: mode, secagg: { prg: run, ...(neighbours === undefined ? {} : { neighbours }) } }
    const times = await roundTimes(backends, params, tables, {
      runtime: (i) => simulatedRuntime(i, seed, observed),
      transcript: false,
      timeoutMs: 600_000,
      handlers: (i, handlers) => i >= dropped ? handlers : handlers.map((h) => h.stage.name !== lostAfter ? h : {
        ...h,
        // The work is done (update computed, masks applied), then the reply never arrives.
        handle: (request: never, session: Parameters<typeof h.handle>[1]) =>
          Effect.flatMap(h.handle(request, session) as Effect.Effect<unknown, ParticipantFailure>, () =>
            Effect.fail(new ParticipantFailure({ participant: session.self, stage: lostAfter, code: "Disconnected", detail: "bench: lost after computing its reply" })))
      }) as typeof handlers
    })
    // The check: round r's aggregate is the global model of round r + 1 (the last one is the checkpoint).
    const survivors = Array.from({ length: parties - dropped }, (_, k) => dropped + k)
    const state = times.checkpoints.get("fl/state") as { weights: string } | undefined
    if (state === undefined) throw new Error(`${run}: no checkpoint after the run`)
    observed.globals.set(rounds + 1, bytesToFloat32(Uint8Array.from(atob(state.weights), (c) => c.charCodeAt(0))))
    for (let r = 1; r <= rounds; r++) {
      const error = fedAvgError(observed.globals.get(r)!, observed.globals.get(r + 1)!, survivors, observed.rows, r)
      progress(`${run} round ${r}: max |aggregate − FedAvg of the ${survivors.length} survivors| = ${error.toExponential(2)}`)
      if (!(error <= 1e-4)) throw new Error(`${run} round ${r}: the aggregate is wrong (max error ${error}), not the FedAvg of the survivors' updates`)
    }
    const join = (xs: ReadonlyArray<number>) => xs.map((x) => x.toFixed(0)).join(" ")
    progress(`${run} rounds ms: ${join(times.wall)} (parallel estimate ${join(times.parallel)}; cpu ${join(times.cpu)}, parallel ${join(times.cpuParallel)}, coordinator+host ${join(times.cpuRest)}; rss ${join(times.rss)} MB)`)
    results.set(run, times)
  }

  const params = {
    participants: parties, parameters, dropped_after_masking: dropped, training: "simulated (global + fixed step)",
    host: "in-memory (one process)", prg: chosen.prg, x25519: chosen.x25519, neighbours: neighbours ?? "default"
  }
  // Round 1 aggregates in the 64-bit ring, later rounds in the 32-bit one: one row each.
  const rings = [{ bits: 64, rounds: [0] }, ...(rounds > 1 ? [{ bits: 32, rounds: Array.from({ length: rounds - 1 }, (_, k) => k + 1) }] : [])]
  const plainTimes = results.get("plain")!
  for (const ring of rings) for (const prg of prgs) {
    const pick = (xs: ReadonlyArray<number>) => median(ring.rounds.map((k) => xs[k]!))
    const secureTimes = results.get(prg)!
    const p = { ...params, ring_bits: ring.bits, aggregation: "secure", prg_name: prg }
    const row = (metric: string, key: "wall" | "cpu" | "parallel" | "cpuParallel" | "cpuRest", what: string) => {
      const secure = pick(secureTimes[key])
      const plain = pick(plainTimes[key])
      emit({ suite: "horizontal", metric, params: p, value: secure, baseline: `${what} plain aggregation`, baseline_value: plain, ratio: plain / secure })
    }
    row("fedavg_dropout_round_ms", "wall", "fedavg_dropout_round_ms")
    row("fedavg_dropout_round_cpu_ms", "cpu", "fedavg_dropout_round_cpu_ms")
    row("fedavg_dropout_round_ms_parallel_participants", "parallel", "fedavg_dropout_round_ms_parallel_participants")
    row("fedavg_dropout_round_cpu_ms_parallel_participants", "cpuParallel", "fedavg_dropout_round_cpu_ms_parallel_participants")
    row("fedavg_dropout_round_cpu_ms_coordinator_host", "cpuRest", "fedavg_dropout_round_cpu_ms_coordinator_host")
    emit({ suite: "horizontal", metric: "fedavg_dropout_rss_mb", params: p, value: pick(secureTimes.rss), baseline: "fedavg_dropout_rss_mb plain aggregation", baseline_value: pick(plainTimes.rss), ratio: pick(plainTimes.rss) / pick(secureTimes.rss) })
  }
}
