/**
 * `npm run bench -- horizontal`: horizontal federated learning (modeling.horizontal-fl).
 *
 * - `fedavg_round_ms`: wall time of one FedAvg round (send global model, local training on tfjs-backend-wasm,
 *   aggregation, checkpoint) with 10 participants and a ~100k-parameter dense model on digits.csv, both roles
 *   in one process through the in-memory host (every message Schema-encoded and JSON round-tripped, real
 *   secure aggregation crypto; no sockets, and the participants' training runs one after another on this
 *   thread); baseline: the same rounds with updates summed in the clear, so the ratio (plain / secure, bigger
 *   is better; 1/ratio is the slowdown) is the cost of secure aggregation. Median over rounds after the first.
 * - `secagg_overhead_ms`: secure minus plain, per round.
 */
import { Effect, Layer } from "effect"
import { LocalData } from "@jointly/core/data/Tabular.ts"
import { PredictionSink } from "@jointly/core/protocols/batch-prediction/spec.ts"
import * as Coordinator from "@jointly/core/protocols/federated-learning/coordinator.ts"
import { resolved } from "@jointly/core/protocols/federated-learning/index.ts"
import { ModelRuntime } from "@jointly/core/protocols/federated-learning/ModelRuntime.ts"
import * as Participant from "@jointly/core/protocols/federated-learning/participant.ts"
import type { Params } from "@jointly/core/protocols/federated-learning/spec.ts"
import { Topology } from "@jointly/core/protocols/federated-learning/index.ts"
import type { ParticipantFailure } from "@jointly/core/protocols/Protocol.ts"
import * as InMemoryHost from "@jointly/core/testing/InMemoryHost.ts"
import { digitsParams, digitsTable, loadDigits, nonIid } from "@jointly/participant/modeling/DigitsFixture.ts"
import * as TfjsRuntime from "@jointly/participant/modeling/TfjsRuntime.ts"
import { emit, progress } from "./Report.ts"

const parties = 10
const rounds = 5

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Dense 64 → 512 → 128 → 10: 100,234 parameters. */
const topology = {
  class_name: "Sequential",
  config: {
    name: "bench",
    layers: [
      { class_name: "Dense", config: { units: 512, activation: "relu", batch_input_shape: [null, 64] } },
      { class_name: "Dense", config: { units: 128, activation: "relu" } },
      { class_name: "Dense", config: { units: 10, activation: "softmax" } }
    ]
  }
}

const roundTimes = async (params: Params, shards: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>, table: (rows: ReadonlyArray<ReadonlyArray<number>>, i: number) => ReturnType<typeof digitsTable>) => {
  const r = resolved(params, shards.length)
  const host = InMemoryHost.make(shards.map((rows, i) => {
    const layer = Layer.mergeAll(
      Layer.succeed(LocalData, { dataset: () => Effect.succeed(table(rows, i)) }),
      Layer.succeed(ModelRuntime, TfjsRuntime.make()),
      Layer.succeed(PredictionSink, { write: () => Effect.void })
    )
    return { handlers: Participant.handlers("digits", r), provide: <A>(e: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(e, layer) as Effect.Effect<A, ParticipantFailure> }
  }))
  const marks: Array<number> = []
  await Effect.runPromise(host.run((session) => {
    const timed = {
      ...session,
      // The first mark is the start of round 1 (after prepare/initialize), then one per finished round.
      progress: (event: Parameters<typeof session.progress>[0]) => Effect.sync(() => {
        if (event.stage === "fl.prepare" || event.stage === "fl.round") marks.push(performance.now())
      })
    }
    return Coordinator.run(timed, r, { timeoutMs: 120_000 })
  }))
  return marks.slice(1).map((t, i) => t - marks[i]!)
}

export const run = async () => {
  const digits = loadDigits()
  const { shards } = nonIid(digits, parties)
  const table = (rows: ReadonlyArray<ReadonlyArray<number>>, i: number) => digitsTable(digits, rows, `shard-${i}`)
  const base = digitsParams(digits.header, { model: topology, rounds, localEpochs: 1, batchSize: 32, clientsPerRound: parties, minUpdatesPerRound: parties })
  const parameters = Topology.summarize(topology).parameters
  progress(`horizontal: ${parties} participants, ${parameters} parameters, ${rounds} rounds per mode`)
  await TfjsRuntime.ensureBackend()
  const plain = await roundTimes({ ...base, aggregation: "plain" }, shards, table)
  progress(`plain rounds ms: ${plain.map((x) => x.toFixed(0)).join(" ")}`)
  const secure = await roundTimes({ ...base, aggregation: "secure" }, shards, table)
  progress(`secure rounds ms: ${secure.map((x) => x.toFixed(0)).join(" ")}`)
  const plainMs = median(plain.slice(1))
  const secureMs = median(secure.slice(1))
  const params = { participants: parties, parameters, localEpochs: 1, rowsPerParticipant: Math.round(shards.reduce((s, x) => s + x.length, 0) / parties), host: "in-memory (one process)", backend: "tfjs-wasm", ring_bits: 64 }
  emit({ suite: "horizontal", metric: "fedavg_round_ms", params: { ...params, aggregation: "secure" }, value: secureMs, baseline: "fedavg_round_ms plain aggregation", baseline_value: plainMs, ratio: plainMs / secureMs })
  emit({ suite: "horizontal", metric: "secagg_overhead_ms", params, value: secureMs - plainMs })
}
