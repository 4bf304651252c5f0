/**
 * The worker-pool ModelRuntime (Compute.poolRuntime over FlJobs.ts) against the in-thread TfjsRuntime on
 * digits: same seed, same weights bit for bit, for initialisation, a FedAvg round and a FedProx round; a seat
 * reuses its cached matrix and asks again for it after a restart; bad input comes back as ModelRuntimeError.
 */
import { Effect, Layer, Schema } from "effect"
import * as NodeBackends from "@jointly/backends/node"
import { afterAll, describe, expect, it } from "vitest"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import type { JobRunnerService } from "@jointly/core/internal/compute/JobRunner"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { bytesToFloat32, ModelArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { PredictionSink } from "@jointly/core/internal/protocols/batch-prediction/spec"
import * as Coordinator from "@jointly/core/internal/protocols/federated-learning/coordinator"
import { resolved } from "@jointly/core/internal/protocols/federated-learning/index"
import { type LocalMatrix, ModelRuntime, type ModelRuntimeApi, type TrainingConfig } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Participant from "@jointly/core/internal/protocols/federated-learning/participant"
import type { Result } from "@jointly/core/internal/protocols/federated-learning/spec"
import type { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as PoolRunner from "../worker/PoolRunner.ts"
import { poolRuntime } from "./Compute.ts"
import { digitsParams, digitsTable, file, loadDigits, nonIid } from "./DigitsFixture.ts"
import * as NodeFiles from "@jointly/backends/internal/node/NodeFiles"
import * as TfjsRuntime from "@jointly/backends/internal/TfjsRuntime"

/** A fresh tfjs runtime on this thread, as the Node backends compose it. */
const tfjsRuntime = () => TfjsRuntime.make({ wasmPaths: NodeFiles.tfjsWasmDir() })

const matrix = (key: string, rows: ReadonlyArray<ReadonlyArray<number>>): LocalMatrix => ({
  key,
  rows: rows.length,
  width: 64,
  features: Float32Array.from(rows.flatMap((r) => r.slice(0, 64).map((v) => v / 16))),
  labels: Float32Array.from(rows, (r) => r[64]!)
})

const bytes = (w: Float32Array) => Buffer.from(w.buffer, w.byteOffset, w.byteLength)
const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
const flip = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(e))

describe("pool ModelRuntime (fl.* jobs) on digits", () => {
  const pools = [PoolRunner.make({ size: 1 }), PoolRunner.make({ size: 1 })]
  // Lets a test move the same runtime to a fresh pool, as after a seat's thread was replaced.
  let current = pools[0]!
  const runner: JobRunnerService = { size: 1, runAll: (job, inputs) => current.runner.runAll(job, inputs) }
  afterAll(() => Promise.all(pools.map((p) => p.close())))

  const digits = loadDigits()
  const { test, shards } = nonIid(digits, 4)
  const params = digitsParams(digits.header)
  const topology = params.model
  const shard = matrix("shard-0/train", shards[0]!)
  const held = matrix("test", test)
  const config = (round: number, proximalMu = 0): TrainingConfig => ({
    optimizer: "adam", learningRate: 0.01, epochs: 2, batchSize: 32, loss: "categoricalCrossentropy", proximalMu, seed: 11 * 1009 + round
  })
  const inThread = tfjsRuntime()
  const pool = poolRuntime(runner)

  it("initialises and trains one FedAvg and one FedProx round to the in-thread runtime's weights, bit for bit", async () => {
    const start = await run(inThread.initialize(topology, params.seed!))
    expect(bytes(await run(pool.initialize(topology, params.seed!))).equals(bytes(start))).toBe(true)

    const oneRound = (r: ModelRuntimeApi, weights: Float32Array, round: number, mu = 0) => run(r.train({ topology, weights, config: config(round, mu), data: shard }))
    const local1 = await oneRound(inThread, start, 1)
    const pooled1 = await oneRound(pool, start, 1)
    expect(pooled1).toHaveLength(start.length)
    expect(bytes(pooled1).equals(bytes(start))).toBe(false)
    expect(bytes(pooled1).equals(bytes(local1))).toBe(true)

    const local2 = await oneRound(inThread, local1, 2, 0.01)
    const pooled2 = await oneRound(pool, pooled1, 2, 0.01)
    expect(bytes(pooled2).equals(bytes(local2))).toBe(true)
    // Round 2 named the matrix by key only: the seat kept it from round 1.
    expect(pool.matricesSent()).toBe(1)

    const [a, b] = [await run(inThread.evaluate({ topology, weights: local2, loss: "categoricalCrossentropy", data: held })), await run(pool.evaluate({ topology, weights: pooled2, loss: "categoricalCrossentropy", data: held }))]
    expect(b).toEqual(a)
    expect(a.correct / a.samples).toBeGreaterThan(0.3)
    const predicted = await run(pool.predict({ topology, weights: pooled2, features: held.features, rows: held.rows }))
    expect(bytes(predicted).equals(bytes(await run(inThread.predict({ topology, weights: local2, features: held.features, rows: held.rows }))))).toBe(true)
    expect(pool.matricesSent()).toBe(2)

    // A seat that does not hold the matrix (fresh thread) answers `missing`; the runtime resends it once.
    current = pools[1]!
    const pooled3 = await oneRound(pool, pooled2, 3)
    expect(bytes(pooled3).equals(bytes(await oneRound(inThread, local2, 3)))).toBe(true)
    expect(pool.matricesSent()).toBe(3)
    current = pools[0]!
  }, 120_000)

  it("returns bad input as the in-thread runtime's ModelRuntimeError", async () => {
    const start = await run(inThread.initialize(topology, params.seed!))
    const short = start.slice(1)
    const nan = start.slice()
    nan[7] = Number.NaN
    const nanRows = matrix("shard-0/nan", shards[0]!.slice(0, 40))
    nanRows.features[5] = Number.NaN
    const ragged: LocalMatrix = { ...matrix("shard-0/ragged", shards[0]!.slice(0, 40)), rows: 41 }
    const cases: ReadonlyArray<[string, (r: ModelRuntimeApi) => Effect.Effect<unknown, { readonly _tag: string; readonly reason: string; readonly detail: string }>, RegExp]> = [
      ["short weights", (r) => r.train({ topology, weights: short, config: config(1), data: shard }), /weights, the model has/],
      ["NaN weight", (r) => r.train({ topology, weights: nan, config: config(1), data: shard }), /weights\[7\] is NaN/],
      ["NaN feature", (r) => r.train({ topology, weights: start, config: config(1), data: nanRows }), /features\[5\] is NaN/],
      ["ragged matrix", (r) => r.evaluate({ topology, weights: start, loss: "categoricalCrossentropy", data: ragged }), /labels for 41 rows|features for 41/],
      ["NaN weight in predict", (r) => r.predict({ topology, weights: nan, features: held.features, rows: held.rows }), /weights\[7\] is NaN/]
    ]
    for (const [name, call, detail] of cases) {
      const [local, pooled] = [await flip(call(inThread)), await flip(call(pool))]
      expect(pooled._tag, name).toBe("ModelRuntimeError")
      expect(pooled.reason, name).toBe("ShapeMismatch")
      expect(pooled.detail, name).toMatch(detail)
      expect({ reason: pooled.reason, detail: pooled.detail }, name).toEqual({ reason: local.reason, detail: local.detail })
    }
    // The seat is still serving after the failures.
    expect(await run(pool.initialize(topology, params.seed!))).toHaveLength(start.length)
  }, 120_000)

  it("answers a malformed job with a typed error, not a crashed seat", async () => {
    const reply = async (input: JobCodec.JobValue) => JobCodec.decode((await run(runner.runAll("fl.train", [JobCodec.encode(input)])))[0]!)
    expect(await reply({ topology: "{not json", weights: new Uint8Array(8), config: {}, data: { key: "k", rows: 1, width: 1, features: new Uint8Array(4), labels: new Uint8Array(4) } }))
      .toMatchObject({ error: { reason: "InvalidModel" } })
    expect(await reply({ topology: JSON.stringify(topology), weights: new Uint8Array(6), config: { ...config(1) }, data: { key: "k2", rows: 1, width: 64 } }))
      .toMatchObject({ missing: "k2" })
    expect(await reply({ topology: JSON.stringify(topology), weights: new Uint8Array(6), config: { ...config(1), optimizer: "lbfgs" }, data: { key: "k3", rows: 1, width: 1, features: new Uint8Array(4), labels: new Uint8Array(4) } }))
      .toMatchObject({ error: { reason: "ShapeMismatch" } })
  }, 60_000)

  it("runs the protocol's rounds through one shared pool to the in-thread runtimes' model, bit for bit", async () => {
    // Three participants on one pool: their matrices share protocol keys (same task and attempt) and must
    // still never be mixed up on a seat (the key sent carries a content hash).
    const flParams = digitsParams(digits.header, { rounds: 2, aggregation: "plain" })
    const r = resolved(flParams, 3)
    const train = async (runtimeOf: () => ModelRuntimeApi) => {
      const host = InMemoryHost.make(shards.slice(0, 3).map((rows, i) => {
        const layer = Layer.mergeAll(
          Layer.succeed(LocalData, { dataset: () => Effect.succeed(digitsTable(digits, rows, `shard-${i}`)) }),
          Layer.succeed(ModelRuntime, runtimeOf()),
          Layer.succeed(PredictionSink, { write: () => Effect.void })
        )
        return {
          handlers: Participant.handlers("digits", r),
          provide: <A>(e: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(e, layer) as Effect.Effect<A, ParticipantFailure>
        }
      }))
      const result = (await Effect.runPromise(host.run((session) => Effect.provide(Coordinator.run(session, r, { timeoutMs: 60_000 }), NodeBackends.ckks)))) as Result
      const artifact = Schema.decodeUnknownSync(ModelArtifact)(result.model)
      if (artifact.format !== "tfjs-layers") throw new Error("expected a tfjs-layers artifact")
      return { weights: bytesToFloat32(artifact.weights), rounds: result.rounds }
    }
    const local = await train(() => tfjsRuntime())
    const pooled = await train(() => poolRuntime(runner))
    expect(pooled.rounds).toHaveLength(2)
    // Each host draws fresh participant accounts: everything but the contributors' addresses must match.
    const withoutAccounts = (rounds: Result["rounds"]) => rounds.map(({ contributors: _, ...round }) => round)
    expect(withoutAccounts(pooled.rounds)).toEqual(withoutAccounts(local.rounds))
    expect(bytes(pooled.weights).equals(bytes(local.weights))).toBe(true)
  }, 120_000)
})
