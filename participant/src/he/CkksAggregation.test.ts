/**
 * Federated learning with `aggregation: "ckks"` (core/src/protocols/federated-learning/CkksAggregation.ts) over
 * InMemoryHost and the node-seal `Ckks` service: three parties train a small linear regression, and the model
 * must equal plaintext FedAvg within CKKS precision while the coordinator sees only ciphertexts and sealed keys.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { bytesToFloat32, ModelArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import { Ckks, type RequesterKeys } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import * as CkksAggregation from "@jointly/core/internal/protocols/federated-learning/CkksAggregation"
import * as Coordinator from "@jointly/core/internal/protocols/federated-learning/coordinator"
import { resolved as resolveParams } from "@jointly/core/internal/protocols/federated-learning/index"
import type { ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Participant from "@jointly/core/internal/protocols/federated-learning/participant"
import type { Params, Result } from "@jointly/core/internal/protocols/federated-learning/spec"
import { prng } from "@jointly/core/internal/protocols/federated-learning/Updates"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"

// The Node backends (node-seal's CKKS among them), built once for every party and the coordinator; SEAL loads on
// its first use, here rather than inside the rounds' 2 s timeouts.
const backends = await Backends.build(NodeBackends.layer())
await Effect.runPromise(Context.get(backends.context, Ckks).generateKeys())

const D = 3

/** Linear regression y ≈ w·x + b by mini-batch SGD on the mean squared error: weights [kernel D, bias]. */
const linearRuntime: ModelRuntimeApi = {
  initialize: (_t, seed) => Effect.sync(() => {
    const r = prng(seed)
    return Float32Array.from({ length: D + 1 }, (_, i) => (i < D ? r() - 0.5 : 0))
  }),
  train: ({ weights, config, data }) => Effect.sync(() => {
    const w = Float32Array.from(weights)
    for (let e = 0; e < config.epochs; e++) {
      for (let start = 0; start < data.rows; start += config.batchSize) {
        const end = Math.min(start + config.batchSize, data.rows)
        const grad = new Float64Array(D + 1)
        for (let i = start; i < end; i++) {
          let p = w[D]!
          for (let d = 0; d < D; d++) p += w[d]! * data.features[i * D + d]!
          const g = 2 * (p - data.labels[i]!)
          for (let d = 0; d < D; d++) grad[d]! += g * data.features[i * D + d]!
          grad[D]! += g
        }
        for (let k = 0; k <= D; k++) w[k]! -= (config.learningRate * grad[k]!) / (end - start)
      }
    }
    return w
  }),
  evaluate: ({ weights, data }) => Effect.sync(() => {
    let lossSum = 0
    for (let i = 0; i < data.rows; i++) {
      let p = weights[D]!
      for (let d = 0; d < D; d++) p += weights[d]! * data.features[i * D + d]!
      lossSum += (p - data.labels[i]!) ** 2
    }
    return { lossSum, correct: 0, samples: data.rows }
  }),
  predict: () => Effect.die("not used")
}

const table = (name: string, seed: number, rows: number): TabularData => {
  const r = prng(seed)
  const columns: Record<string, Array<number>> = { a: [], b: [], c: [], y: [] }
  for (let i = 0; i < rows; i++) {
    const [a, b, c] = [r() * 2 - 1, r() * 2 - 1, r() * 2 - 1]
    columns.a!.push(a)
    columns.b!.push(b)
    columns.c!.push(c)
    columns.y!.push(1.5 * a - 2 * b + 0.5 * c + 0.3 + (r() - 0.5) * 0.1)
  }
  return {
    name,
    rowCount: rows,
    columnNames: Object.keys(columns),
    isNumeric: () => true,
    numeric: (c) => Float64Array.from(columns[c]!),
    strings: (c) => columns[c]!.map(String)
  }
}

const base: Params = {
  model: {
    class_name: "Sequential",
    config: { name: "r", layers: [{ class_name: "Dense", config: { units: 1, activation: "linear", use_bias: true, batch_input_shape: [null, D] } }] }
  },
  featureColumns: ["a", "b", "c"],
  labelColumn: "y",
  optimizer: "sgd",
  learningRate: 0.1,
  localEpochs: 1,
  batchSize: 16,
  rounds: 3,
  seed: 7
}

// Different row counts, so sample weighting matters.
const sizes = [150, 250, 100]

const makeHost = (params: Params, faults: ReadonlyArray<ReadonlyArray<InMemoryHost.Fault>> = []) => {
  const r = resolveParams(params, sizes.length)
  return InMemoryHost.make(sizes.map((rows, i) => {
    const data = table(`p${i}`, 10 + i, rows)
    const layer = Layer.mergeAll(
      backends.layer,
      Layer.succeed(LocalData, {
        dataset: (name: string) => name === "train" ? Effect.succeed(data) : Effect.fail(new ParticipantFailure({ participant: "?", stage: "dataset", code: "UnknownDataset", detail: name }))
      }),
      // After the backends: this test's linear model replaces their tfjs runtime.
      Layer.succeed(ModelRuntime, linearRuntime)
    )
    return {
      handlers: Participant.handlers("train", r),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>,
      faults: faults[i] ?? []
    }
  }))
}

const train = (host: InMemoryHost.InMemoryHost, params: Params) =>
  Effect.runPromise(host.run((s) => Effect.provide(Coordinator.run(s, resolveParams(params, sizes.length), { timeoutMs: 60_000 }), backends.layer))) as Promise<Result>

const weightsOf = (result: Result) => bytesToFloat32(Schema.decodeUnknownSync(ModelArtifact)(result.model).weights as Uint8Array)

const base64Bytes = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
const isSealBytes = (bytes: Uint8Array) => bytes.length > 16 && bytes[0] === 0x5e && bytes[1] === 0xa1

describe("federated learning with CKKS aggregation", () => {
  it("gives the plaintext FedAvg model within CKKS precision, and the coordinator sees only ciphertexts", async () => {
    const ckksParams: Params = { ...base, aggregation: "ckks" }
    const host = makeHost(ckksParams)
    const encrypted = await train(host, ckksParams)
    const plain = await train(makeHost({ ...base, aggregation: "plain" }), { ...base, aggregation: "plain" })

    const a = weightsOf(encrypted)
    const b = weightsOf(plain)
    expect(a.length).toBe(D + 1)
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4)
    expect(encrypted.aggregation).toBe("ckks")
    expect(encrypted.rounds.map((r) => r.trainSamples)).toEqual(plain.rounds.map((r) => r.trainSamples))
    expect(encrypted.rounds.every((r) => r.contributors.length === 3)).toBe(true)
    expect(Math.abs(encrypted.final.loss! - plain.final.loss!)).toBeLessThan(1e-4)
    // It learned the generating model (1.5, −2, 0.5, 0.3) roughly, so the comparison is not between two no-ops.
    expect(Math.abs(a[1]! + 2)).toBeLessThan(0.5)

    // Updates reach the coordinator as SEAL ciphertexts only.
    const trainReplies = host.transcript.filter((t) => t.stage === "fl.train" && t.direction === "reply").map((t) => JSON.parse(t.json))
    expect(trainReplies).toHaveLength(3 * base.rounds)
    for (const reply of trainReplies) {
      expect(reply.update).toBeUndefined()
      expect(Object.keys(reply).sort()).toEqual(["encrypted", "ready"])
      expect(reply.encrypted.every((c: string) => isSealBytes(base64Bytes(c)))).toBe(true)
    }
    // The secret key crossed the coordinator only inside sealed boxes.
    const [holder, ...others] = host.participants
    const keys = host.memory(holder!).get("fl/ckks/keys") as RequesterKeys
    for (const other of others) expect((host.memory(other).get("fl/ckks/keys") as RequesterKeys).secretKey).toEqual(keys.secretKey)
    // Offset 18 keeps base64 aligned with an encoding of the whole key, wherever it would appear.
    const secret = btoa(String.fromCharCode(...keys.secretKey.subarray(18, 66)))
    expect(host.transcript.some((t) => t.json.includes(secret))).toBe(false)
    const keyReplies = host.transcript.filter((t) => t.stage === "fl.ckks-keys" && t.direction === "reply").map((t) => JSON.parse(t.json))
    expect(keyReplies.map((r) => Object.keys(r).sort())).toEqual([["boxes", "parameters"]])
    expect(keyReplies[0].boxes.map((b: { to: string }) => b.to)).toEqual(others)

    // A coordinator that passes one party's ciphertext off as a sum gets no decryption.
    const single = trainReplies[0].encrypted.map(base64Bytes) as Array<Uint8Array>
    const forged = await Effect.runPromise(Effect.result(host.run((s) =>
      s.round(CkksAggregation.decrypt, new Map([[others[0]!, { aggregationId: "forged", parameters: D + 1, sum: single }]]), { minReplies: 1, timeoutMs: 2_000 })
    )))
    expect(forged._tag).toBe("Failure")
    expect(host.transcript.some((t) => t.stage === "fl.ckks-decrypt" && t.direction === "failure" && t.json.includes("TooFewContributors"))).toBe(true)

    // Memory does not grow by a model per round: a digest per decrypted sum, the global model and the decrypted
    // report of the run's latest round only (and of its final evaluation, which carries no model).
    for (const participant of host.participants) {
      const kept = [...host.memory(participant)].filter(([key]) => key.startsWith("fl/ckks/") && !key.startsWith("fl/ckks/keys") && !key.startsWith("fl/ckks/channel"))
      const rounds = Array.from({ length: base.rounds }, (_, i) => `fl/ckks/digest/round-${i + 1}`)
      expect(kept.map(([key]) => key).sort()).toEqual(["fl/ckks/decrypted/", "fl/ckks/decrypted/evaluate", "fl/ckks/digest/evaluate", ...rounds, "fl/ckks/global/"])
      for (const key of ["fl/ckks/global/", "fl/ckks/decrypted/"]) {
        expect((kept.find(([k]) => k === key)![1] as { aggregationId: string }).aggregationId).toBe(`round-${base.rounds}`)
      }
    }

    // A retried request for the latest round gets the same report; an earlier round is not decrypted again, not
    // even its own sum (its report is no longer kept), let alone another.
    const decryptOf = (aggregationId: string) => {
      const request = host.transcript.find((t) => t.stage === "fl.ckks-decrypt" && t.direction === "request" && t.participant === others[0] && t.json.includes(`"${aggregationId}"`))!
      return Schema.decodeUnknownSync(CkksAggregation.decrypt.request)(JSON.parse(request.json))
    }
    const ask = (request: typeof CkksAggregation.decrypt.request.Type) =>
      Effect.runPromise(Effect.result(host.run((s) => s.round(CkksAggregation.decrypt, new Map([[others[0]!, request]]), { minReplies: 1, timeoutMs: 2_000 }))))
    const latestReport = (host.memory(others[0]!).get("fl/ckks/decrypted/") as { value: typeof CkksAggregation.decrypt.reply.Type }).value
    const retried = await ask(decryptOf(`round-${base.rounds}`))
    const json = (report: typeof CkksAggregation.decrypt.reply.Type) => JSON.stringify(Schema.encodeSync(CkksAggregation.decrypt.reply)(report))
    expect(retried._tag === "Success" && json(retried.success.get(others[0]!)!)).toBe(json(latestReport))
    const refusals = () => host.transcript.filter((t) => t.stage === "fl.ckks-decrypt" && t.direction === "failure" && t.json.includes("SecondSum")).length
    expect((await ask(decryptOf("round-1")))._tag).toBe("Failure")
    expect((await ask({ ...decryptOf("round-1"), sum: single }))._tag).toBe("Failure")
    expect(refusals()).toBe(2)
  }, 40_000)

  it("leaves a dropout out of the sum and renormalises by the contributors' samples", async () => {
    const dropout: ReadonlyArray<ReadonlyArray<InMemoryHost.Fault>> = [[], [], [{ kind: "error", stage: "fl.train" }]]
    const ckksParams: Params = { ...base, aggregation: "ckks", minUpdatesPerRound: 2, rounds: 2 }
    const plainParams: Params = { ...base, aggregation: "plain", minUpdatesPerRound: 2, rounds: 2 }
    const encrypted = await train(makeHost(ckksParams, dropout), ckksParams)
    const plain = await train(makeHost(plainParams, dropout), plainParams)
    expect(encrypted.rounds.every((r) => r.contributors.length === 2)).toBe(true)
    expect(encrypted.rounds.map((r) => r.trainSamples)).toEqual(plain.rounds.map((r) => r.trainSamples))
    const a = weightsOf(encrypted)
    const b = weightsOf(plain)
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4)
  }, 40_000)
})
