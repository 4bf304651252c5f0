/**
 * Encrypted linear inference over node-seal CKKS on 50 Breast Cancer Wisconsin rows: the library API against
 * the plaintext score w·x + b, the `prediction.encrypted-linear` protocol end to end in memory (what the owner
 * received is ciphertext bytes only), and the typed failures on bad parameters and malformed bytes.
 */
import { readFileSync } from "node:fs"
import { Context, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { TaskOutput } from "@jointly/core/internal/data/TaskOutput"
import { artifactId, type LinearArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { Ckks, CkksError, defaultParameters, foldScaling } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import * as Coordinator from "@jointly/core/internal/protocols/encrypted-linear/coordinator"
import * as Participant from "@jointly/core/internal/protocols/encrypted-linear/participant"
import { OwnedModels, type Params, type Result } from "@jointly/core/internal/protocols/encrypted-linear/spec"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as SealCkks from "@jointly/backends/internal/SealCkks"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"

const bcw = datasetFile("bcw.csv")
const [header, ...lines] = readFileSync(bcw, "utf8").trim().split("\n")
const columns = header!.split(",")
const featureColumns = columns.slice(1, 10)
const rows = lines.slice(0, 50).map((l) => l.split(",").slice(1, 10).map(Number))

/** A SecureSVM-shaped model: weights on standardized features. */
const model: LinearArtifact = {
  format: "linear",
  weights: [0.61, 0.33, 0.52, 0.29, 0.18, 0.74, 0.41, 0.27, -0.12],
  bias: -0.35,
  link: "identity",
  featureColumns,
  scaling: { mean: [4.4, 3.1, 3.2, 2.8, 3.2, 3.5, 3.4, 2.9, 1.6], std: [2.8, 3.1, 3.0, 2.9, 2.2, 3.6, 2.4, 3.1, 1.7] }
}
const plainScore = (x: ReadonlyArray<number>) =>
  model.bias + x.reduce((s, v, k) => s + model.weights[k]! * ((v - model.scaling!.mean[k]!) / model.scaling!.std[k]!), 0)

// The Node backends, built once: node-seal loads once and its contexts stay cached across the tests.
const backends = await Backends.build(NodeBackends.layer())
const ckks = Context.get(backends.context, Ckks)
const seal = SealCkks.promises(ckks)

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const flip = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect))

describe("CKKS linear evaluation (node-seal)", () => {
  it("decrypts w·x + b within 1e-3 of the plaintext score for 50 rows", async () => {
    const { keys, request } = await run(ckks.encryptFeatures(rows))
    expect(request.ciphertexts).toHaveLength(1)
    const scores = await run(ckks.evaluateLinear(request, foldScaling(model)))
    const decrypted = await run(ckks.decryptScore(keys, scores))
    expect(decrypted).toHaveLength(50)
    const errors = rows.map((x, i) => Math.abs(decrypted[i]! - plainScore(x)))
    expect(Math.max(...errors)).toBeLessThan(1e-3)
    // Both classes occur, so the check is not passed by a constant.
    expect(new Set(rows.map((x) => plainScore(x) >= 0)).size).toBe(2)
  }, 60_000)

  it("spreads many rows over several ciphertexts (Promise API)", async () => {
    const many = Array.from({ length: 300 }, (_, i) => rows[i % rows.length]!)
    const { keys, request } = await seal.encryptFeatures(many)
    expect(request.ciphertexts).toHaveLength(2) // 256 rows of stride 16 per ciphertext
    const decrypted = await seal.decryptScore(keys, await seal.evaluateLinear(request, foldScaling(model)))
    expect(Math.max(...many.map((x, i) => Math.abs(decrypted[i]! - plainScore(x))))).toBeLessThan(1e-3)
  }, 60_000)

  it("rejects weak or wrong parameters with CkksError(InvalidParameters)", async () => {
    const weak = await flip(ckks.encryptFeatures(rows, { ...defaultParameters, coeffModulusBits: [60, 60, 60, 60, 60] }))
    expect(weak).toBeInstanceOf(CkksError)
    expect(weak.reason).toBe("InvalidParameters")
    const { request } = await run(ckks.encryptFeatures(rows.slice(0, 2)))
    const garbage = await flip(ckks.evaluateLinear({ ...request, parameters: new Uint8Array(64).fill(7) }, foldScaling(model)))
    expect(garbage.reason).toBe("InvalidParameters")
    const scale = await flip(ckks.evaluateLinear({ ...request, scaleBits: 90 }, foldScaling(model)))
    expect(scale.reason).toBe("InvalidParameters")
  }, 60_000)

  it("kept query keys serve many queries; the owner's loaded keys and encoded models never serve another request", async () => {
    // Five requesters (one more than the owner keeps loaded), each with its own keys, asking in turns of five
    // models (each scaled differently): a cache that matched keys or models by anything less than their bytes would
    // rotate with another requester's keys or weigh with another model, and the score would be wrong.
    const requesters = await Promise.all(Array.from({ length: 5 }, () => seal.queryKeys(featureColumns.length)))
    const folded = foldScaling(model)
    for (const round of [0, 1]) {
      for (const [k, keys] of requesters.entries()) {
        const i = (round * 5 + k) % rows.length
        const factor = round === 0 ? k + 1 : -(k + 1)
        const scaled = { weights: folded.weights.map((w) => w * factor), bias: folded.bias * factor }
        const request = await seal.encryptRows(keys, [rows[i]!])
        expect(request.galoisKeys).toBe(keys.galoisKeys)
        const [score] = await seal.decryptScore(keys, await seal.evaluateLinear(request, scaled))
        expect(Math.abs(score! - factor * plainScore(rows[i]!))).toBeLessThan(1e-3 * Math.abs(factor))
      }
    }
    // Rows of another width than the keys were made for are refused before anything is encrypted.
    expect((await flip(ckks.encryptRows(requesters[0]!, [rows[0]!.slice(1)]))).reason).toBe("ShapeMismatch")
  }, 120_000)

  it("rejects malformed ciphertext and key bytes with a typed error, and keeps working", async () => {
    const { keys, request } = await run(ckks.encryptFeatures(rows.slice(0, 2)))
    const ct = request.ciphertexts[0]!
    const truncated = await flip(ckks.evaluateLinear({ ...request, ciphertexts: [ct.slice(0, ct.length - 100)] }, foldScaling(model)))
    expect(truncated.reason).toBe("MalformedCiphertext")
    const random = crypto.getRandomValues(new Uint8Array(4096))
    expect((await flip(ckks.evaluateLinear({ ...request, ciphertexts: [random] }, foldScaling(model)))).reason).toBe("MalformedCiphertext")
    expect((await flip(ckks.evaluateLinear({ ...request, galoisKeys: random }, foldScaling(model)))).reason).toBe("MalformedKeys")
    expect((await flip(ckks.evaluateLinear(request, { weights: [1, 2], bias: 0 }))).reason).toBe("ShapeMismatch")
    expect((await flip(ckks.decryptScore(keys, { ciphertexts: [random], rows: 2, stride: 16 }))).reason).toBe("MalformedCiphertext")
    // Still usable after the rejections.
    const decrypted = await run(ckks.decryptScore(keys, await run(ckks.evaluateLinear(request, foldScaling(model)))))
    expect(Math.abs(decrypted[1]! - plainScore(rows[1]!))).toBeLessThan(1e-3)
  }, 60_000)
})

describe("prediction.encrypted-linear protocol", () => {
  const table: TabularData = {
    name: "bcw",
    rowCount: rows.length,
    columnNames: featureColumns,
    isNumeric: () => true,
    numeric: (c) => Float64Array.from(rows, (r) => r[featureColumns.indexOf(c)]!),
    strings: (c) => rows.map((r) => String(r[featureColumns.indexOf(c)]))
  }
  const modelId = artifactId(model)

  it("the requester alone gets w·x + b; the owner receives ciphertext bytes only", async () => {
    const requester = InMemoryHost.randomWallet()
    const owner = InMemoryHost.randomWallet()
    const params: Params = { requester: requester.address, owner: owner.address, modelId, features: featureColumns as unknown as Params["features"] }
    let delivered: { modelId: string; scores: Array<number> } | undefined
    const requesterServices = Layer.mergeAll(
      Layer.succeed(LocalData, { dataset: () => Effect.succeed(table) }),
      Layer.succeed(TaskOutput, { write: (_taskId, output) => Effect.sync(() => ((delivered = output as typeof delivered), "memory:test")) }),
      backends.layer
    )
    const ownerServices = Layer.mergeAll(
      Layer.succeed(LocalData, { dataset: (name) => Effect.fail(new ParticipantFailure({ participant: owner.address, stage: "dataset", code: "UnknownDataset", detail: name })) }),
      Layer.succeed(OwnedModels, { linear: (id) => (id === modelId ? Effect.succeed(model) : Effect.fail(new ParticipantFailure({ participant: owner.address, stage: "he.evaluate", code: "UnknownModel", detail: id }))) }),
      backends.layer
    )
    const host = InMemoryHost.make([
      { handlers: Participant.handlers("bcw", params), wallet: requester, provide: (e) => Effect.provide(e, requesterServices) as any },
      { handlers: Participant.handlers("none", params), wallet: owner, provide: (e) => Effect.provide(e, ownerServices) as any }
    ])
    const result = (await Effect.runPromise(host.run((session) => Coordinator.run(session, params)))) as Result
    expect(result.rows).toBe(50)
    expect(delivered!.scores).toHaveLength(50)
    expect(Math.max(...rows.map((x, i) => Math.abs(delivered!.scores[i]! - plainScore(x))))).toBeLessThan(1e-3)

    // What reached the owner: its one request, encoded as on the wire.
    const toOwner = host.transcript.filter((t) => t.participant === owner.address && t.direction === "request")
    expect(toOwner.map((t) => t.stage)).toEqual(["he.evaluate"])
    const message = JSON.parse(toOwner[0]!.json) as { modelId: string; features: Record<string, unknown> }
    expect(Object.keys(message.features).sort()).toEqual(["ciphertexts", "features", "galoisKeys", "parameters", "rows", "scaleBits", "stride"])
    // The rows can only be in the ciphertexts (parameters and Galois keys are made before any row is read; the
    // keys even hold SEAL's scale 1.0 as a raw double): no feature value there as float64, LE or BE, nor as text.
    const blobs = (message.features.ciphertexts as Array<string>).map((b) => Uint8Array.from(Buffer.from(b, "base64")))
    const needles = [...new Set(rows.flat())].flatMap((v) => {
      const le = new Uint8Array(8)
      new DataView(le.buffer).setFloat64(0, v, true)
      return [Buffer.from(le), Buffer.from(le).reverse()]
    })
    for (const blob of blobs) for (const needle of needles) expect(Buffer.from(blob).indexOf(needle)).toBe(-1)
    expect(toOwner[0]!.json).not.toContain(rows[0]!.join(","))
    // And the owner's reply is ciphertext too: the coordinator relayed no score in the clear.
    const fromOwner = host.transcript.filter((t) => t.participant === owner.address && t.direction !== "request")
    expect(fromOwner.every((t) => !t.json.includes(String(plainScore(rows[0]!)).slice(0, 6)))).toBe(true)
  }, 120_000)

  it("a model whose columns differ from the task's features fails at the owner with FeatureMismatch", async () => {
    const requester = InMemoryHost.randomWallet()
    const owner = InMemoryHost.randomWallet()
    const other = { ...model, featureColumns: [...featureColumns].reverse() }
    const params: Params = { requester: requester.address, owner: owner.address, modelId: artifactId(other), features: featureColumns as unknown as Params["features"] }
    const services = Layer.mergeAll(
      Layer.succeed(LocalData, { dataset: () => Effect.succeed(table) }),
      Layer.succeed(OwnedModels, { linear: () => Effect.succeed(other) }),
      backends.layer
    )
    const host = InMemoryHost.make([
      { handlers: Participant.handlers("bcw", params), wallet: requester, provide: (e) => Effect.provide(e, services) as any },
      { handlers: Participant.handlers("none", params), wallet: owner, provide: (e) => Effect.provide(e, services) as any }
    ])
    const error = await Effect.runPromise(Effect.flip(host.run((session) => Coordinator.run(session, params))))
    expect(JSON.stringify(error)).toContain("FeatureMismatch")
  }, 120_000)
})
