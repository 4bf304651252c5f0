/**
 * The SecureBoost task kinds end to end in memory (InMemoryHost: the round engine the coordinator runs, every
 * message through its Schema and JSON, real wallets, the declared stage table), on the bcw vertical split of
 * datasets/ (three parties, label at party a), aligned by the PSI join. 512-bit Paillier keys, a test option of
 * the participants' handlers (never a task parameter), keep the file short; secureboost.test.ts runs the engine at
 * 2048 bits.
 *
 * What must hold:
 * - the test split's margins from the task's joint prediction are identical, id by id, to the plaintext
 *   reference's with the same bins and hyper-parameters, and the reported AUC and accuracy are the reference's;
 * - nothing the coordinator saw holds a threshold, a gradient, a lookup record or a leaf weight;
 * - every party's model part is sealed in its store, its digest is the result's, and a prediction.secureboost
 *   task reads the parts back and gives a feature holder (the requester) the reference's margins;
 * - a key below 2048 bits is refused by the feature holders whatever the label holder sends, and a task asking
 *   for one does not decode.
 */
import { readFileSync } from "node:fs"
import { Effect, Layer, Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { datasetFile } from "../../testing/Datasets.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import type { CoordinatorSession, ParticipantFailure } from "../Protocol.ts"
import * as Protocols from "../Protocols.ts"
import * as PartialModels from "../vertical/PartialModels.ts"
import * as Coordinator from "./coordinator.ts"
import * as Fixtures from "../../testing/SecureBoostFixtures.ts"
import * as Kinds from "./index.ts"
import * as Objective from "./Objective.ts"
import * as Participant from "./participant.ts"
import * as Parts from "./Parts.ts"
import * as Reference from "./Reference.ts"
import * as Spec from "./spec.ts"
import type * as Stages from "./Stages.ts"

const names = ["a", "b", "c"] as const

const table = (party: string, name = "bcw", suffix = ""): TabularData => {
  const [header, ...lines] = readFileSync(datasetFile(`${name}_vertical_party_${party}${suffix}.csv`), "utf8").trim().split(/\r?\n/)
  const columns = header!.split(",")
  const rows = lines.map((l) => l.split(","))
  const numeric = new Map(columns.filter((c) => c !== "id").map((c) => [c, Float64Array.from(rows, (r) => Number(r[columns.indexOf(c)]))] as const))
  return {
    name: `${name}${suffix}-${party}`,
    rowCount: rows.length,
    columnNames: columns,
    isNumeric: (c) => numeric.has(c),
    numeric: (c) => numeric.get(c)!,
    strings: (c) => rows.map((r) => r[columns.indexOf(c)]!)
  }
}
const datas = names.map((n) => table(n))
const dataLayer = (data: TabularData) => Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) })

// bcw's fixture hyper-parameters (fixtures/reference.json) with fewer trees.
const hyper = { maxDepth: 3, learningRate: 0.3, lambda: 1, gamma: 0, minChildWeight: 1, maxBins: 32, testFraction: 0.2, splitSeed: 1, objective: "binary:logistic", trees: 3 } as const
const TEST_KEYS: Participant.Options = { unsafeAllowTestKeySizes: true, keyBits: 512 }
const LONG = 240_000

const wallets = names.map(() => InMemoryHost.randomWallet())
const addresses = wallets.map((w) => w.address)
const trainParams = (overrides: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Spec.TrainParams)({
    idColumn: "id",
    labelHolder: addresses[0]!,
    label: { column: "label", positive: 1 },
    features: datas.map((d, i) => ({ party: addresses[i]!, columns: d.columnNames.filter((c) => c !== "id" && c !== "label") })),
    maxIds: 10_000,
    ...hyper,
    ...overrides
  })

const hostOf = (handlers: (i: number) => Array<InMemoryHost.AnyStageHandler>, models: Layer.Layer<PartialModels.PartialModels>, stages: ReadonlyArray<{ readonly stage: { readonly name: string } }>, tables = datas) =>
  InMemoryHost.make(
    tables.map((data, i) => ({
      wallet: wallets[i],
      handlers: handlers(i),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, Layer.merge(dataLayer(data), models)) as Effect.Effect<A, ParticipantFailure>
    })),
    { stages: stages.map((s) => s.stage.name) }
  )

// The plaintext reference on the joined table, with the same bins and hyper-parameters.
const v = Fixtures.vertical("bcw")
const ref = Reference.train(Fixtures.joined(v), Spec.hyperOf(hyper), Spec.fractionsOf(hyper))
const refMargin = new Map(Array.from(ref.split.test, (i) => [v.labelHolder.ids[i]!, ref.margins[i]!] as const))

describe("modeling.secureboost and prediction.secureboost over InMemoryHost (bcw, 3 parties)", () => {
  const models = PartialModels.testMemory()
  let trained: { result: Stages.TrainResult; host: InMemoryHost.InMemoryHost } | undefined

  const train = async () => {
    if (trained !== undefined) return trained
    const params = trainParams()
    const host = hostOf((i) => Participant.handlers("bcw", { kind: "train", params }, addresses, TEST_KEYS) as never, models, Kinds.training.stages)
    const result = await Effect.runPromise(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 120_000 })))
    trained = { result, host }
    return trained
  }

  it("trains like the plaintext reference: test margins identical id by id, same AUC and accuracy", async () => {
    const { result, host } = await train()
    expect([result.rows, result.trainRows, result.validationRows, result.testRows]).toEqual([683, ref.split.train.length, 0, ref.split.test.length])
    expect([result.grown, result.kept, result.treeMs.length]).toEqual([3, 3, 3])
    expect(result.keyBits).toBe(512)
    expect(Object.keys(result.commitments).sort()).toEqual(["secureboost.evaluate", "secureboost.finish", "secureboost.key", "secureboost.prepare", "secureboost.train"])
    expect(host.commitments.map((c) => c.phase)).toEqual(expect.arrayContaining(Object.keys(result.commitments)))
    expect(host.progress.filter((p) => p.stage === "secureboost.train").map((p) => p.done)).toEqual([1, 2, 3])

    const output = host.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; margins: Array<number> } }
    const { ids, margins } = output.evaluation
    expect(new Set(ids)).toEqual(new Set(refMargin.keys()))
    ids.forEach((id, k) => expect(margins[k], id).toBe(refMargin.get(id)))
    const expected = Objective.metrics("binary:logistic", Array.from(ref.split.test, (i) => ref.margins[i]!), Array.from(ref.split.test, (i) => v.labelHolder.labels[i]!))
    expect(result.test.auc).toBe(expected.auc)
    expect(result.test.accuracy).toBe(expected.accuracy)
    expect(result.test.auc!).toBeGreaterThan(0.95)
  }, LONG)

  it("keeps every model part with its owner: sealed in its store, never on the coordinator's wire", async () => {
    const { result, host } = await train()
    const parts = await Promise.all(addresses.map((a) => Effect.runPromise(Effect.provide(Parts.get(a, result.modelId), models))))
    const trees = parts[0]!.labelHolderModel!.trees
    expect(trees.length).toBe(3)
    const lookups = parts.slice(1).flatMap((p) => p.featureHolderModel!.entries)
    expect(lookups.length).toBeGreaterThan(0)
    // The importance per party counts the splits each part holds, and the gain shares add up to 1.
    const ownSplits = trees.flatMap((t) => t.nodes.filter((n) => n.kind === "split")).length
    expect(result.importance.map((x) => [x.party, x.splits])).toEqual(addresses.map((a, i) => [a, i === 0 ? ownSplits : parts[i]!.featureHolderModel!.entries.length]))
    expect(result.importance.reduce((s, x) => s + x.gainShare, 0)).toBeCloseTo(1, 12)
    // The loss curve ends at the reference's training loss (the same margins, summed in another row order).
    expect(result.curve.map((c) => c.tree)).toEqual([0, 1, 2])
    expect(result.curve.at(-1)!.trainLoss).toBeCloseTo(Objective.loss("binary:logistic", ref.margins, v.labelHolder.labels, ref.split.train), 12)
    expect(result.curve[2]!.trainLoss!).toBeLessThan(result.curve[0]!.trainLoss!)
    addresses.forEach((a, i) => expect(result.parts[a]).toBe(sha256Digest(Schema.encodeSync(Parts.ModelPart)(parts[i]!))))

    const wire = host.transcript.map((e) => e.json).join("\n")
    for (const word of ["threshold", "gradients", "weight", "record", "entries", "margins"]) expect(wire).not.toContain(`"${word}"`)
    const thresholds = [
      ...lookups.map((e) => e.threshold),
      ...trees.flatMap((t) => t.nodes.flatMap((n) => (n.kind === "split" ? [n.threshold] : [])))
    ]
    const weights = trees.flatMap((t) => t.nodes.flatMap((n) => (n.kind === "leaf" ? [n.weight] : [])))
    // Every number on the wire as a whole token (a loss of 0.31… is not the weight 0.3).
    const numbers = new Set(wire.match(/-?\d+\.\d+(e-?\d+)?/g))
    for (const x of [...thresholds, ...weights].filter((x) => !Number.isInteger(x))) expect(numbers.has(String(x)), String(x)).toBe(false)
    for (const r of lookups) expect(wire).not.toContain(r.record)
  }, LONG)

  it("predicts online from the sealed parts: the requester (a feature holder) gets the reference's margins", async () => {
    const { result } = await train()
    const ids = [...refMargin.keys()].slice(0, 7)
    const params = Schema.decodeUnknownSync(Kinds.predicting.params)({ model: result.modelId, labelHolder: addresses[0]!, requester: addresses[2]!, idColumn: "id", ids })
    const host = hostOf(() => Participant.handlers("bcw", { kind: "predict", params }, addresses) as never, models, Kinds.predicting.stages)
    const predicted = await Effect.runPromise(host.run((session) => Coordinator.runPrediction(session, params, { timeoutMs: 60_000 })))
    expect(predicted.count).toBe(ids.length)
    const output = host.memory(addresses[2]!).get(TaskOutput.MEMORY_KEY) as { ids: Array<string>; margins: Array<number>; digest: string }
    expect(output.ids).toEqual(ids)
    ids.forEach((id, k) => expect(output.margins[k], id).toBe(refMargin.get(id)))
    expect(output.digest).toBe(predicted.digest)
    // The scores went to the requester alone, sealed: not to the label holder's output, not on the wire.
    expect(host.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY)).toBeUndefined()
    const wire = host.transcript.map((e) => e.json).join("\n")
    for (const m of output.margins) expect(wire).not.toContain(String(m))
  }, LONG)

  it("predicts in batch over every shared id, in bounded passes: the requester gets the reference's margins id by id", async () => {
    const { result } = await train()
    const params = Schema.decodeUnknownSync(Kinds.predicting.params)({ model: result.modelId, labelHolder: addresses[0]!, requester: addresses[1]!, idColumn: "id", batchSize: 300 })
    const host = hostOf(() => Participant.handlers("bcw", { kind: "predict", params }, addresses) as never, models, Kinds.predicting.stages)
    const predicted = await Effect.runPromise(host.run((session) => Coordinator.runPrediction(session, params, { timeoutMs: 60_000 })))
    expect([predicted.count, predicted.batches]).toEqual([683, 3])
    expect(host.progress.filter((p) => p.stage === "secureboost.predict").map((p) => [p.done, p.total])).toEqual([[300, 683], [600, 683], [683, 683]])
    const output = host.memory(addresses[1]!).get(TaskOutput.MEMORY_KEY) as { ids: Array<string>; margins: Array<number>; predictions: Array<number>; digest: string }
    expect(output.digest).toBe(predicted.digest)
    // Every row of the joined table, in the join's order, with the reference's margin (trees grown on the
    // training rows, applied to all of them).
    const all = new Map(v.labelHolder.ids.map((id, i) => [id, ref.margins[i]!] as const))
    expect(new Set(output.ids)).toEqual(new Set(all.keys()))
    output.ids.forEach((id, k) => {
      expect(output.margins[k], id).toBe(all.get(id))
      expect(output.predictions[k], id).toBe(Objective.sigmoid(all.get(id)!))
    })
    // Neither the ids nor the scores reached the coordinator; the label holder keeps no scores.
    expect(JSON.stringify(predicted)).not.toContain(output.ids[0]!)
    const wire = host.transcript.map((e) => e.json).join("\n")
    for (const m of output.margins.slice(0, 50)) expect(wire).not.toContain(String(m))
    expect((host.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY) as { margins?: unknown } | undefined)?.margins).toBeUndefined()

    // Online parameters and batch parameters do not mix.
    const mixed = { model: result.modelId, labelHolder: addresses[0]!, requester: addresses[1]!, idColumn: "id", ids: ["1"], batchSize: 10 }
    expect(Kinds.predicting.check!(Schema.decodeUnknownSync(Kinds.predicting.params)(mixed), { parties: addresses } as never)).toMatch(/batchSize/)
  }, LONG)

  it("resumes after the last tree every party sealed when the coordinator restarts, and ends where an uninterrupted run does", async () => {
    const { result: uninterrupted, host: whole } = await train()
    const params = trainParams()
    const store = PartialModels.testMemory()
    const host = hostOf(() => Participant.handlers("bcw", { kind: "train", params }, addresses, TEST_KEYS) as never, store, Kinds.training.stages)
    const taskId = host.session(1).taskId
    // Attempt 1: the coordinator dies (as a SIGKILL would) as it starts tree 2, after the checkpoint of trees 0–1.
    const dying = (session: CoordinatorSession): CoordinatorSession => ({
      ...session,
      round: (stage, requests, options) => (stage.name === "secureboost.tree-start" && (requests.values().next().value as { tree: number }).tree === 2 ? Effect.die("coordinator killed") : session.round(stage, requests, options))
    })
    const first = await Effect.runPromiseExit(host.run((session) => Coordinator.runTraining(dying(session), params, { timeoutMs: 120_000 }), 1))
    expect(first._tag).toBe("Failure")
    const progress = await Effect.runPromise(Effect.provide(Parts.loadProgress(addresses[1]!, taskId, 2), store))
    expect(progress.entries!.every((e) => e.tree < 2)).toBe(true)

    // Attempt 2: fresh participant memory (a new join, a new key); each party restores its sealed progress.
    const result = await Effect.runPromise(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 120_000 }), 2))
    expect([result.resumedFromTree, result.grown, result.kept]).toEqual([2, 3, 3])
    const treeStarts = host.transcript.filter((e) => e.stage === "secureboost.tree-start" && e.direction === "request").map((e) => JSON.parse(e.json).tree)
    // Trees 0 and 1 in attempt 1 (tree 2's request never left the dying coordinator), tree 2 alone in attempt 2.
    expect(treeStarts).toEqual([0, 1, 2])
    // Id by id the margins of an uninterrupted run: the restored margins make the third tree's gradients the same.
    const evaluation = (h: InMemoryHost.InMemoryHost, attempt?: number) => (h.memory(addresses[0]!, attempt).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; margins: Array<number> } }).evaluation
    const before = evaluation(whole)
    const margin = new Map(before.ids.map((id, k) => [id, before.margins[k]!] as const))
    const after = evaluation(host, 2)
    expect(after.ids.length).toBe(before.ids.length)
    after.ids.forEach((id, k) => expect(after.margins[k], id).toBe(margin.get(id)))
    expect(result.test).toEqual(uninterrupted.test)
    // The same losses, summed over the rows in each attempt's join order.
    result.curve.forEach((c, t) => expect(c.trainLoss!).toBeCloseTo(uninterrupted.curve[t]!.trainLoss!, 12))
    expect(result.importance.map((x) => x.splits)).toEqual(uninterrupted.importance.map((x) => x.splits))
    // The result is checkpointed, so the progress is gone at every party.
    for (const a of addresses) {
      for (const t of [1, 2, 3]) {
        const missing = await Effect.runPromise(Effect.flip(Effect.provide(Parts.loadProgress(a, taskId, t), store)))
        expect(missing.reason).toBe("Missing")
      }
    }
  }, LONG)

  it("hidden-instances mode with the label holder's first tree: the same margins as the reference", async () => {
    const overrides = { mode: "hidden-instances", firstTreeByLabelHolder: true, trees: 2, maxDepth: 2 } as const
    const params = trainParams(overrides)
    const host = hostOf(() => Participant.handlers("bcw", { kind: "train", params }, addresses, TEST_KEYS) as never, PartialModels.testMemory(), Kinds.training.stages)
    const result = await Effect.runPromise(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 120_000 })))
    const r = Reference.train(Fixtures.joined(v), Spec.hyperOf({ ...hyper, ...overrides }), Spec.fractionsOf(hyper))
    const expected = new Map(Array.from(r.split.test, (i) => [v.labelHolder.ids[i]!, r.margins[i]!] as const))
    const { ids, margins } = (host.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; margins: Array<number> } }).evaluation
    expect(ids.length).toBe(expected.size)
    ids.forEach((id, k) => expect(margins[k], id).toBe(expected.get(id)))
    expect([result.mode, result.kept]).toEqual(["hidden-instances", 2])
    // The first tree (the label holder's alone) asked the feature holders for no histogram.
    expect(host.transcript.some((e) => e.stage === "secureboost.histograms" && e.direction === "request" && e.json.includes('"tree":0'))).toBe(false)
    expect(host.transcript.some((e) => e.stage === "secureboost.histograms" && e.direction === "request" && e.json.includes('"tree":1'))).toBe(true)
  }, LONG)

  it("a box altered on its way to the label holder fails the task with a typed error naming its sender", async () => {
    const params = trainParams({ trees: 1, maxDepth: 1 })
    const flip = (h: InMemoryHost.AnyStageHandler): InMemoryHost.AnyStageHandler =>
      h.stage.name !== "secureboost.histograms" ? h : { ...h, handle: (req: any, session: any) => Effect.map(h.handle(req, session), (rep: any) => ({ reply: rep.reply.map((b: number, k: number) => (k === 40 ? b ^ 1 : b)) })) }
    const host = hostOf((i) => (Participant.handlers("bcw", { kind: "train", params }, addresses, TEST_KEYS) as Array<InMemoryHost.AnyStageHandler>).map((h) => (i === 1 ? flip(h) : h)), PartialModels.testMemory(), Kinds.training.stages)
    const failure = (await Effect.runPromise(Effect.flip(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 60_000 }))))) as ParticipantFailure
    expect([failure._tag, failure.participant, failure.stage, failure.code]).toEqual(["ParticipantFailure", addresses[0], "secureboost.split-search", "UndecryptablePayload"])
    expect(failure.detail).toContain(addresses[1]!)
  }, LONG)

  it("a key below 2048 bits is refused by the feature holders, and a task cannot ask for one", async () => {
    const params = trainParams({ trees: 1, maxDepth: 1 })
    // The label holder is (wrongly) allowed a 1024-bit key; the feature holders run with the production policy.
    const host = hostOf((i) => Participant.handlers("bcw", { kind: "train", params }, addresses, i === 0 ? { unsafeAllowTestKeySizes: true, keyBits: 1024 } : {}) as never, PartialModels.testMemory(), Kinds.training.stages)
    const failure = await Effect.runPromise(Effect.flip(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 60_000 }))))
    expect(failure._tag).toBe("ParticipantFailure")
    const f = failure as ParticipantFailure
    expect(f.stage).toBe("secureboost.accept-key")
    expect(f.code).toBe("InvalidKey")
    expect(f.detail).toMatch(/1024/)

    const spec = { kind: Spec.kinds.train, initiator: addresses[0]!, nonce: "n1", parties: addresses.map((participant) => ({ participant, dataset: "bcw" })), params: { ...Schema.encodeSync(Spec.TrainParams)(params), keyBits: 1024 } }
    const decoded = Protocols.decodeTask(spec as never)
    expect(Result.isFailure(decoded) && decoded.failure._tag).toBe("InvalidTaskParams")
  }, LONG)
})

describe("modeling.secureboost on the wdbc PSI files (each party holds 85% of the ids), aligned by the PSI join", () => {
  it("trains on the 342 shared ids: test margins the reference's id by id, XGBoost's to float32, AUC within 1 point", async () => {
    const fixture = (JSON.parse(readFileSync(new URL("./fixtures/reference.json", import.meta.url), "utf8")) as {
      tasks: { wdbc_psi: { params: Record<string, unknown>; rows: { aligned: number }; xgboost: { auc: number; testMargins: Record<string, number> } } }
    }).tasks.wdbc_psi
    const tables = names.map((n) => table(n, "wdbc", "_psi"))
    const params = Schema.decodeUnknownSync(Spec.TrainParams)({
      idColumn: "id",
      labelHolder: addresses[0]!,
      label: { column: "label", positive: 1 },
      features: tables.map((d, i) => ({ party: addresses[i]!, columns: d.columnNames.filter((c) => c !== "id" && c !== "label") })),
      maxIds: 10_000,
      ...fixture.params
    })
    const host = hostOf(() => Participant.handlers("wdbc", { kind: "train", params }, addresses, TEST_KEYS) as never, PartialModels.testMemory(), Kinds.training.stages, tables)
    const result = await Effect.runPromise(host.run((session) => Coordinator.runTraining(session, params, { timeoutMs: 120_000 })))
    // The join found exactly the ids all three files hold (the fixture script's intersection).
    expect(result.rows).toBe(fixture.rows.aligned)
    const w = Fixtures.vertical("wdbc", "_psi")
    const r = Reference.train(Fixtures.joined(w), Spec.hyperOf(params), Spec.fractionsOf(params))
    const expected = new Map(Array.from(r.split.test, (i) => [w.labelHolder.ids[i]!, r.margins[i]!] as const))
    const { ids, margins } = (host.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; margins: Array<number> } }).evaluation
    expect(new Set(ids)).toEqual(new Set(Object.keys(fixture.xgboost.testMargins)))
    ids.forEach((id, k) => {
      expect(margins[k], id).toBe(expected.get(id))
      const xgb = fixture.xgboost.testMargins[id]!
      expect(Math.abs(margins[k]! - xgb) / Math.max(1, Math.abs(xgb)), id).toBeLessThan(1e-5)
    })
    expect(Math.abs(result.test.auc! - fixture.xgboost.auc)).toBeLessThanOrEqual(0.01)
  }, LONG)
})
