/**
 * Vertical SVM and logistic regression end to end in memory (InMemoryHost: every message through its Schema
 * and JSON), on the PSI-split bcw and wdbc files (three parties, label at party a), with small test keys
 * (`unsafeAllowTestKeySizes`). Each trained model is compared, in the same run, with the same model trained in
 * plaintext on the joined table (same split, standardization and batch schedule, float arithmetic): test
 * accuracy, precision and recall within 1 point, and the label of every test id from joint prediction (the
 * training evaluation and a `prediction.vertical-batch` task) equal to the plaintext model's. Faults: a
 * mismatched alignment, withheld and invalid partial decryptions, NaN and constant feature columns.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import type { ParticipantFailure } from "../Protocol.ts"
import * as Coordinator from "./coordinator.ts"
import * as Linear from "./Linear.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Participant from "./participant.ts"
import * as Reference from "./Reference.ts"
import * as Spec from "./spec.ts"

const file = (name: string) => fileURLToPath(new URL(`../../../../examples/query/${name}`, import.meta.url))

type Table = Reference.Table
const readCsv = (name: string): Table => Reference.parseCsv(readFileSync(file(name), "utf8"))

const tabular = (name: string, t: Table, patch: (column: string, values: Array<number>) => void = () => {}): TabularData => {
  const numeric = new Map<string, Float64Array>()
  for (const [k, c] of t.columns.entries()) {
    if (c === "id") continue
    const values = t.rows.map((r) => (r[k] === "" ? Number.NaN : Number(r[k])))
    patch(c, values)
    numeric.set(c, Float64Array.from(values))
  }
  return {
    name,
    rowCount: t.rows.length,
    columnNames: [...t.columns, ...[...numeric.keys()].filter((c) => !t.columns.includes(c))],
    isNumeric: (c) => numeric.has(c),
    numeric: (c) => numeric.get(c)!,
    strings: (c) => t.rows.map((r) => r[t.columns.indexOf(c)]!)
  }
}

const dataLayer = (data: TabularData) => Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) })

interface Dataset {
  readonly name: "bcw" | "wdbc"
  readonly tables: ReadonlyArray<Table>
  readonly positive: number
}
const load = (name: "bcw" | "wdbc", positive: number): Dataset => ({ name, tables: ["a", "b", "c"].map((p) => readCsv(`${name}_vertical_party_${p}_psi.csv`)), positive })
const bcw = load("bcw", 1)
const wdbc = load("wdbc", 0)

const featuresOf = (t: Table) => Reference.featuresOf(t)

interface RunOptions {
  readonly model: Linear.ModelKind
  readonly overrides?: Partial<Spec.TrainParams>
  readonly faults?: ReadonlyArray<ReadonlyArray<InMemoryHost.Fault>>
  readonly cheat?: number
  readonly patch?: ReadonlyArray<(column: string, values: Array<number>) => void>
  readonly extraColumns?: ReadonlyArray<ReadonlyArray<string>>
  readonly tamperAlignment?: number
  readonly decryptTimeoutMs?: number
}

// 512-bit keys keep the OpenSSL kernel's per-context cost low; 400 updates (8 batches of 50) keep the file
// near a minute. The bench runs the book's 1500 updates at 2048 bits.
const KEY = { keyBits: 512, unsafeAllowTestKeySizes: true, updates: 400 } as const

const train = (d: Dataset, o: RunOptions) => {
  const wallets = d.tables.map(() => InMemoryHost.randomWallet())
  const addresses = wallets.map((w) => w.address)
  const params: Spec.TrainParams = {
    idColumn: "id",
    labelHolder: addresses[0]!,
    label: { column: "label", positive: d.positive },
    features: d.tables.map((t, i) => ({ party: addresses[i]!, columns: [...featuresOf(t), ...(o.extraColumns?.[i] ?? [])] })) as unknown as Spec.TrainParams["features"],
    maxIds: 10_000,
    ...KEY,
    ...o.overrides
  }
  const datas = d.tables.map((t, i) => tabular(`${d.name}-${i}`, t, o.patch?.[i]))
  const host = InMemoryHost.make(
    datas.map((data, i) => {
      let handlers: Array<InMemoryHost.AnyStageHandler> = Participant.handlers(d.name, { kind: "train", model: o.model, params }, addresses, o.cheat === i ? { cheat: "partial-decryption" } : {})
      if (o.tamperAlignment === i) {
        // A party whose join produced another order: its prepare reports a different alignment digest.
        handlers = handlers.map((h) => h.stage.name !== Spec.prepare.name ? h : { ...h, handle: (req: any, s: any) => Effect.map(h.handle(req, s), (rep: any) => ({ ...rep, alignment: "0x" + "ab".repeat(32) })) })
      }
      return {
        wallet: wallets[i],
        handlers,
        faults: o.faults?.[i] ?? [],
        provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, dataLayer(data)) as Effect.Effect<A, ParticipantFailure>
      }
    })
  )
  const run = host.run((session) => Coordinator.runTraining(session, o.model, params, { timeoutMs: 120_000, decryptTimeoutMs: o.decryptTimeoutMs }))
  return { host, params, addresses, wallets, datas, run }
}

const plaintextReference = (d: Dataset, model: Linear.ModelKind, params: Spec.TrainParams, result: Spec.TrainResult, ids: ReadonlyArray<string>) =>
  Reference.reference(d.tables, d.positive, model, params, result.schedule, ids)

const sharedIds = (d: Dataset) => {
  const sets = d.tables.map((t) => new Set(t.rows.map((r) => r[0]!)))
  return [...sets[0]!].filter((id) => sets.every((s) => s.has(id)))
}

const trainAndCompare = async (d: Dataset, model: Linear.ModelKind, overrides: Partial<Spec.TrainParams> = {}, accuracyFloor = 0.9) => {
  const t = train(d, { model, overrides })
  const result = (await Effect.runPromise(t.run)) as Spec.TrainResult
  const holder = t.addresses[0]!
  const stored = await Effect.runPromise(PartialModels.get(holder, result.modelId))
  expect(stored).toBeDefined()
  const ids = stored!.ids
  expect(new Set(ids)).toEqual(new Set(sharedIds(d)))
  const ref = plaintextReference(d, model, t.params, result, ids)
  for (const m of ["accuracy", "precision", "recall"] as const) expect(Math.abs(result.test[m] - ref.metrics[m])).toBeLessThanOrEqual(0.01)
  expect(result.test.accuracy).toBeGreaterThan(accuracyFloor)
  // The label holder's evaluation (joint prediction of the test split) gives the plaintext model's label per id.
  const evaluation = (t.host.memory(holder).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; positive: Array<boolean> } }).evaluation
  expect(evaluation.ids).toEqual(ref.testIds)
  expect(evaluation.positive).toEqual(ref.predicted)
  // Partial models never left their owners: no weight appears in anything the coordinator saw.
  const w = (await Effect.runPromise(PartialModels.get(t.addresses[1]!, result.modelId)))!.weights
  const wire = t.host.transcript.map((e) => e.json).join("\n")
  for (const x of w.slice(0, 3)) expect(wire).not.toContain(String(x))
  return { t, result, ref }
}

describe("vertical training over InMemoryHost (512-bit test keys)", () => {
  it("SVM on bcw (label 1 = malignant, 413 shared ids) matches the plaintext SVM; batch and online prediction agree", async () => {
    const { t, result, ref } = await trainAndCompare(bcw, "svm")
    expect(result.rows).toBe(413)
    expect(result.iterations).toBe(8)
    expect(Object.keys(result.commitments)).toEqual(["vertical.prepare", "vertical.keys", "vertical.train", "vertical.finish"])
    expect(t.host.commitments.length).toBeLessThan(10)
    expect(result.counters.comparisons).toBe(400)

    // prediction.vertical-batch over the test split and prediction.vertical-online for a few ids, requester c.
    const requester = t.addresses[2]!
    const predict = (params: Spec.OnlineParams | Spec.BatchParams, kind: "online" | "batch") => {
      const host = InMemoryHost.make(
        t.datas.map((data, i) => ({
          wallet: t.wallets[i],
          handlers: Participant.handlers(bcw.name, kind === "online" ? { kind, params: params as Spec.OnlineParams } : { kind, params: params as Spec.BatchParams }, t.addresses),
          provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, dataLayer(data)) as Effect.Effect<A, ParticipantFailure>
        }))
      )
      return Effect.runPromise(host.run((s) => Coordinator.runPrediction(s, Spec.kinds[kind], params, { timeoutMs: 20_000 }))).then((r) => ({ r, out: host.memory(requester).get(TaskOutput.MEMORY_KEY) as { ids: Array<string>; positive: Array<boolean>; scores: Array<number> } }))
    }
    const batch = await predict({ model: result.modelId, requester, idColumn: "id", subset: "test" }, "batch")
    expect(batch.out.ids).toEqual(ref.testIds)
    expect(batch.out.positive).toEqual(ref.predicted)
    const some = ref.testIds.slice(0, 5) as unknown as Spec.OnlineParams["ids"]
    const online = await predict({ model: result.modelId, requester, idColumn: "id", ids: some }, "online")
    expect(online.out.positive).toEqual(ref.predicted.slice(0, 5))
    expect(online.r.count).toBe(5)
    // Nobody else holds the scores: the coordinator's transcript has sealed partials only.
    expect(JSON.stringify(online.r)).not.toContain("scores")
  }, 60_000)

  it("SVM on wdbc (label 0 = malignant) matches the plaintext SVM", async () => {
    await trainAndCompare(wdbc, "svm")
  }, 60_000)

  // The requirement is the comparison with the plaintext model on the same schedule. The absolute floor only
  // guards against both learning nothing: the Taylor-approximated model scores 0.88–0.95 depending on the
  // schedule commit–reveal draws each run (the plaintext reference with it too), so its floor is 0.8 —
  // still far above the majority-class rate (0.64 on bcw, 0.63 on wdbc).
  it("logistic regression (Taylor sigmoid) on bcw and wdbc matches the plaintext model", async () => {
    await trainAndCompare(bcw, "logistic", {}, 0.8)
    await trainAndCompare(wdbc, "logistic", {}, 0.8)
  }, 120_000)
})

describe("vertical training faults", () => {
  const short = { updates: 100, batchSize: 50 }
  const reason = async (eff: Effect.Effect<unknown, unknown>) => Effect.runPromise(Effect.flip(eff)) as Promise<{ _tag: string; reason?: string; code?: string; detail: string }>

  it("a mismatched alignment stops the task before training (AlignmentMismatch)", async () => {
    const t = train(bcw, { model: "svm", overrides: short, tamperAlignment: 1 })
    const error = await reason(t.run)
    expect(error._tag).toBe("ProtocolError")
    expect(error.reason).toBe("AlignmentMismatch")
    expect(error.detail).toContain(t.addresses[1]!)
    expect(t.host.transcript.some((e) => e.stage === Spec.deal.name)).toBe(false)
  })

  it("an invalid partial decryption is caught by its proof and the cheater named", async () => {
    const t = train(bcw, { model: "svm", overrides: short, cheat: 2 })
    const error = await reason(t.run)
    expect(error.reason).toBe("InvalidPartialDecryption")
    expect(error.detail).toContain(t.addresses[2]!)
    expect(error.detail).not.toContain(t.addresses[1]!)
  }, 30_000)

  it("a party that withholds its partial decryption is named after the timeout (t = n), tolerated when t allows", async () => {
    const withhold = [[], [{ kind: "delay", stage: Spec.decrypt.name, ms: 30_000 }], []] as const
    const failed = train(bcw, { model: "svm", overrides: short, faults: withhold, decryptTimeoutMs: 1_500 })
    const error = await reason(failed.run)
    expect(error.reason).toBe("PartialDecryptionWithheld")
    expect(error.detail).toContain(failed.addresses[1]!)

    const tolerated = train(bcw, { model: "logistic", overrides: { ...short, threshold: 2 }, faults: withhold, decryptTimeoutMs: 1_500 })
    const result = (await Effect.runPromise(tolerated.run)) as Spec.TrainResult
    expect(result.withheld).toEqual([tolerated.addresses[1]])
    expect(result.test.accuracy).toBeGreaterThan(0.85)
  }, 60_000)

  it("NaN cells fail with InvalidFeature; a constant column is dropped from standardization and reported", async () => {
    const nan = train(bcw, { model: "svm", overrides: short, patch: [() => {}, (c, v) => { if (c === "bare_nuclei") for (let i = 0; i < v.length; i += 10) v[i] = Number.NaN }, () => {}] })
    const error = await reason(nan.run)
    expect(error._tag).toBe("ParticipantFailure")
    expect(error.code).toBe("InvalidFeature")
    expect(error.detail).toContain("bare_nuclei")

    const constant = train(bcw, { model: "logistic", overrides: short, patch: [() => {}, () => {}, (c, v) => { if (c === "mitoses") v.fill(3) }] })
    const result = (await Effect.runPromise(constant.run)) as Spec.TrainResult
    expect(result.constantColumns).toEqual(["mitoses"])
    expect(result.features[2]).toBe(2)
  }, 30_000)
})
