/**
 * SecureSVM end to end in memory on the Breast Cancer Wisconsin data (683 rows, label 1 = malignant → y = +1)
 * split over 3 providers: both modes against the float SVM (same split, batches, initialisation and
 * hyper-parameters) and, exactly, against the fixed-point trajectory; then the faults.
 */
import { readFileSync } from "node:fs"
import { Context, Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as Kernels from "../../compute/Kernels.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { ParticipantFailure } from "../Protocol.ts"
import * as SecAgg from "../secure-aggregation/spec.ts"
import * as Coordinator from "./coordinator.ts"
import { protocol } from "./index.ts"
import * as Model from "./Model.ts"
import * as Participant from "./participant.ts"
import type { Params, Result } from "./spec.ts"
import { hyperOf } from "./spec.ts"
import * as Spec from "./spec.ts"
import { datasetFile } from "../../testing/Datasets.ts"

const bcwFile = datasetFile("bcw.csv")
const [header, ...lines] = readFileSync(bcwFile, "utf8").trim().split("\n")
const columns = header!.split(",")
const [firstFeature, ...otherFeatures] = columns.slice(1, 10)
const features: Params["features"] = [firstFeature!, ...otherFeatures]
const rows = lines.map((l) => l.split(",").map(Number))

type Columns = Record<string, Array<number>>

const table = (name: string, data: Columns, text: Record<string, Array<string>> = {}): TabularData => {
  const columnNames = [...Object.keys(data), ...Object.keys(text)]
  return {
    name,
    rowCount: (data[columnNames[0]!] ?? text[columnNames[0]!]!).length,
    columnNames,
    isNumeric: (c) => c in data,
    numeric: (c) => Float64Array.from(data[c]!),
    strings: (c) => text[c] ?? data[c]!.map(String)
  }
}

/** Provider p gets rows i ≡ p (mod 3). */
const providers: Array<Columns> = [0, 1, 2].map((p) => {
  const mine = rows.filter((_, i) => i % 3 === p)
  return Object.fromEntries(columns.slice(1).map((c, k) => [c, mine.map((r) => r[k + 1]!)]))
})

const asPartyData = (c: Columns): Model.PartyData => ({
  x: c.label!.map((_, i) => Float64Array.from(features, (f) => c[f]![i]!)),
  y: Int8Array.from(c.label!, (v) => (v === 1 ? 1 : -1))
})

const backends = await Backends.build(NodeBackends.layer())

const provide = (data: TabularData, kernels?: BigIntKernels) => {
  const layer = Layer.succeed(LocalData, {
    dataset: (name: string) =>
      name === "bcw" ? Effect.succeed(data) : Effect.fail(new ParticipantFailure({ participant: "?", stage: "dataset", code: "UnknownDataset", detail: name }))
  })
  // Without `kernels`, the portable TS kernels (the BigIntKernels service's default).
  const all = kernels === undefined ? layer : Layer.merge(layer, Layer.succeed(Kernels.BigIntKernels, kernels))
  return <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, all) as Effect.Effect<A, ParticipantFailure>
}

const testKeys = { unsafeAllowTestKeySizes: true, testKeyBits: 1024 } as const

const setup = (
  params: Params,
  tables: ReadonlyArray<TabularData> = providers.map((c, i) => table(`p${i}`, c)),
  faults: ReadonlyArray<ReadonlyArray<InMemoryHost.Fault>> = [],
  kernels?: BigIntKernels
) => {
  const withAnalyst = params.mode === "B"
  const configs = tables.map((data, i) => ({ handlers: Participant.handlers("bcw", params, testKeys), provide: provide(data, kernels), faults: faults[i] ?? [] }))
  const analystWallet = InMemoryHost.randomWallet()
  const host = InMemoryHost.make(
    withAnalyst ? [...configs, { handlers: Participant.handlers("none", params, testKeys), wallet: analystWallet, provide: provide(tables[0]!, kernels) }] : configs
  )
  const full = withAnalyst ? { ...params, analyst: analystWallet.address } : params
  return { host, training: host.run((session) => Coordinator.run(session, full, { timeoutMs: 20_000, unsafeAllowTestKeySizes: true })) }
}

const run = async (...args: Parameters<typeof setup>) => {
  const { host, training } = setup(...args)
  const result: Result = await Effect.runPromise(training)
  // The scheduler stores a result as its declaration's Schema encodes it: nothing may be lost or refused there.
  expect(Schema.encodeUnknownSync(protocol.result)(result)).toEqual(result)
  return { host, result }
}

const failureOf = (...args: Parameters<typeof setup>) => Effect.runPromise(Effect.flip(setup(...args).training))

/**
 * Every aggregation before the one still held (`held`: the test's in mode A, none once mode B's report is asked) is
 * settled at each provider — a marker in place of its secure-aggregation state, SecureSVM's own dropped — and a
 * late request of the first training round is refused "Settled", whether it begins the round or unmasks it.
 */
const expectSettled = async (host: InMemoryHost.InMemoryHost, result: Result, mode: "A" | "B", held: string | undefined) => {
  const providerIds = host.participants.slice(0, providers.length)
  const aggregations = 1 + result.rounds + 1 // the joint scaling, the training rounds, the test
  for (const p of providerIds) {
    const memory = host.memory(p)
    const secagg = [...memory].filter(([key]) => key.startsWith("secagg/svm/"))
    expect(secagg.filter(([, value]) => typeof value !== "string").map(([key]) => key)).toEqual(held === undefined ? [] : [`secagg/${held}`])
    expect(secagg).toHaveLength(aggregations)
    expect([...memory.keys()].filter((key) => key.startsWith("svm/agg/"))).toEqual(held === undefined ? [] : [`svm/agg/${held}`])
  }
  const ask = (stage: Parameters<CoordinatorSession["round"]>[0], request: unknown) =>
    Effect.runPromise(Effect.flip(host.run((session) => session.round(stage, new Map([[providerIds[0]!, request as never]]), { minReplies: 1 }))))
  const first = { aggregationId: "svm/round-0", purpose: "train" as const, epoch: 0, batch: 0 }
  const late = mode === "A"
    ? await ask(Spec.roundModel, { ...first, model: { weights: features.map(() => 0), bias: 0 } })
    : await ask(Spec.compare, { ...first, publicKey: new Uint8Array(), model: { ciphertexts: new Uint8Array(), slotBits: 0 } })
  expect(late).toMatchObject({ _tag: "ParticipantFailure", code: "Settled" })
  expect(await ask(SecAgg.unmask, { aggregationId: "svm/round-0", contributors: providerIds })).toMatchObject({ _tag: "ParticipantFailure", code: "Settled" })
}

const base: Params = { features, label: { column: "label", positive: 1, negative: 0 }, seed: 7 }

const references = (params: Params, result: Result) => {
  const hyper = hyperOf(params)
  const parties = providers.map(asPartyData)
  const scaling = result.model.scaling!
  return { float: Model.trainPlaintext(parties, hyper, scaling), fixed: Model.trainFixedPoint(parties, hyper, scaling) }
}

const expectCloseToPlaintext = (result: Result, float: Model.Trained) => {
  const plain = Model.metrics(float.confusion)
  expect(Math.abs(result.test.precision - plain.precision)).toBeLessThanOrEqual(0.01)
  expect(Math.abs(result.test.recall - plain.recall)).toBeLessThanOrEqual(0.01)
  expect(result.test.precision).toBeGreaterThan(0.9)
  expect(result.test.recall).toBeGreaterThan(0.9)
}

describe("SecureSVM on bcw over 3 providers", () => {
  let modeA: Result

  it("mode A: the jointly standardized model equals the fixed-point trajectory exactly and the float SVM within 1 point", async () => {
    const { result, host } = await run(base)
    modeA = result
    const { float, fixed } = references(base, result)
    expect(result.model.weights).toEqual(fixed.model.weights)
    expect(result.model.bias).toBe(fixed.model.bias)
    expect(result.costs).toEqual(fixed.costs)
    expect(result.test).toEqual(Model.metrics(fixed.confusion))
    expectCloseToPlaintext(result, float)
    expect(result.test.tp + result.test.fp + result.test.fn + result.test.tn).toBe(137)
    expect(result.trainRows).toBe(683 - 137)
    // Jointly computed scaling = float statistics of the pooled training rows.
    const train = providers.flatMap((c) => {
      const { train } = Model.split(c.label!.length, 7, 0.2)
      return train.map((i) => features.map((f) => c[f]![i]!))
    })
    features.forEach((_, k) => {
      const mean = train.reduce((s, r) => s + r[k]!, 0) / train.length
      const std = Math.sqrt(train.reduce((s, r) => s + (r[k]! - mean) ** 2, 0) / train.length)
      expect(result.model.scaling!.mean[k]).toBeCloseTo(mean, 4)
      expect(result.model.scaling!.std[k]).toBeCloseTo(std, 4)
    })
    expect(result.model).toMatchObject({ format: "linear", link: "sign", featureColumns: features })
    expect(host.commitments.some((c) => c.phase === "secagg/svm/round-0")).toBe(true)
    await expectSettled(host, result, "A", "svm/test")
  })

  it("mode B: the blind-compared model is bit-identical to mode A's; the coordinator never sees a model or a total", async () => {
    const { result, host } = await run({ ...base, mode: "B" })
    expect(result.model.weights).toEqual(modeA.model.weights)
    expect(result.model.bias).toBe(modeA.model.bias)
    // The hinge sums too: the analyst's cost comes from the providers' encrypted violator margins.
    expect(result.costs).toEqual(modeA.costs)
    expect(result.test).toEqual(modeA.test)
    expectCloseToPlaintext(result, references(base, result).float)
    expect(result.paillier!.comparisons).toBe((683 - 137) * 5 + 137)
    expect(result.paillier!.packedCiphertexts).toBeLessThan(result.paillier!.comparisons / 5)
    // Providers received only ciphertexts: no plaintext model in any provider request.
    const toProviders = host.transcript.filter((t) => t.direction === "request" && t.stage === "svm.b-compare")
    expect(toProviders.length).toBeGreaterThan(0)
    expect(toProviders.every((t) => !t.json.includes("weights"))).toBe(true)
    await expectSettled(host, result, "B", undefined)
  }, 120_000)

  it("mode B over the Node backends' native kernels (margins on the model's multiExpTable, one multiExp per packed chunk) gives the same model", async () => {
    const native = Context.get(backends.context, Kernels.BigIntKernels)
    expect(native.multiExp).toBeDefined()
    expect(native.multiExpTable).toBeDefined()
    const { result } = await run({ ...base, mode: "B" }, undefined, undefined, native)
    expect(result.model.weights).toEqual(modeA.model.weights)
    expect(result.model.bias).toBe(modeA.model.bias)
    expect(result.costs).toEqual(modeA.costs)
    expect(result.test).toEqual(modeA.test)
  }, 120_000)

  it("mode A survives a provider dropping out mid-round within the dropout tolerance", async () => {
    const { result, host } = await run({ ...base, dropoutTolerance: 1 }, undefined, [[], [], [{ kind: "dropout", fromStage: "secagg.unmask" }]])
    expect(result.dropped).toEqual([host.participants[2]])
    expect(result.test.precision).toBeGreaterThan(0.9)
    expect(result.test.recall).toBeGreaterThan(0.9)
    // The test split of the dropped provider is no longer counted.
    expect(result.test.tp + result.test.fp + result.test.fn + result.test.tn).toBe(137 - Math.round(providers[2]!.label!.length * 0.2))
  })

  it("names the unexpected classes of a label column", async () => {
    const bad = { ...providers[1]!, label: providers[1]!.label!.map((v, i) => (i === 3 ? 4 : i === 9 ? 2 : v)) }
    const tables = [table("p0", providers[0]!), table("p1", bad), table("p2", providers[2]!)]
    const error = (await failureOf(base, tables)) as ParticipantFailure
    expect(error).toBeInstanceOf(ParticipantFailure)
    expect(error.code).toBe("UnexpectedLabel")
    expect(error.detail).toContain("classes 4, 2")
    expect(error.detail).toContain("column label")
  })

  it("names the dataset and column of a NaN feature", async () => {
    const bad = { ...providers[0]!, mitoses: providers[0]!.mitoses!.map((v, i) => (i === 5 ? Number.NaN : v)) }
    const error = (await failureOf(base, [table("clinic-north.csv", bad), table("p1", providers[1]!), table("p2", providers[2]!)])) as ParticipantFailure
    expect(error).toBeInstanceOf(ParticipantFailure)
    expect(error.code).toBe("NonFiniteFeature")
    expect(error.detail).toContain("dataset clinic-north.csv, column mitoses")
  })
})
