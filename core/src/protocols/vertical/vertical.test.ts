/**
 * Vertical SVM and logistic regression end to end in memory (InMemoryHost: every message through its Schema
 * and JSON), on the PSI-split bcw and wdbc files (three parties, label at party a), with small test keys
 * (the harness provides `TestKeySizes`). Each trained model is compared, in the same run, with the same model trained in
 * plaintext on the joined table (same split, standardization and batch schedule, float arithmetic): test
 * accuracy, precision and recall within 1 point, and the label of every test id from joint prediction (the
 * training evaluation and a `prediction.vertical-batch` task) equal to the plaintext model's. Faults: a
 * mismatched alignment, withheld and invalid partial decryptions, NaN and constant feature columns.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Layer, Schema } from "effect"
import { hexlify, Wallet } from "ethers"
import { describe, expect, it, onTestFinished, vi } from "vitest"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import type { JobRunner } from "../../compute/JobRunner.ts"
import * as Kernels from "../../compute/Kernels.ts"
import { TestKeySizes } from "../../crypto/KeyMaterial.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as IdleRunner from "../../testing/IdleRunner.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import * as QueryCompute from "../joint-query/Compute.ts"
import type { CoordinatorSession, ParticipantFailure } from "../Protocol.ts"
import * as Coordinator from "./coordinator.ts"
import * as Linear from "./Linear.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Participant from "./participant.ts"
import * as Party from "./Party.ts"
import * as Reference from "./Reference.ts"
import * as Secure from "./Secure.ts"
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

// The parties compute as Node participants do: over the Node backends (OpenSSL's big integers and primes), built once.
const backends = await Backends.build(NodeBackends.layer())
const dataLayer = (data: TabularData) => Layer.merge(backends.layer, Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) }))

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
  /** Fixes the run: wallets, task id and every party's RPIs from this seed, rows in id order (Options.testSchedule). */
  readonly seed?: string
  /** The parties' job runner (shared); without one they run their jobs inline, with no idle time for their stocks. */
  readonly runner?: Layer.Layer<JobRunner>
}

const seededWallet = (seed: string, i: number) => new Wallet(hexlify(sha256(utf8ToBytes(`jointly/vertical/test-wallet|${seed}|${i}`))))

// 512-bit keys keep the OpenSSL kernel's per-context cost low; 400 updates (8 batches of 50) keep the file
// near a minute. The bench runs the book's 1500 updates at 2048 bits.
const KEY = { keyBits: 512, updates: 400 } as const
/** The test harness's own permission for 512-bit keys: a task param cannot ask for it. */
const testKeys = Layer.succeed(TestKeySizes, true)

const train = (d: Dataset, o: RunOptions) => {
  const wallets = d.tables.map((_, i) => (o.seed === undefined ? InMemoryHost.randomWallet() : seededWallet(o.seed, i)))
  const addresses = wallets.map((w) => w.address)
  const params = Schema.decodeUnknownSync(Spec.TrainParams)({
    idColumn: "id",
    labelHolder: addresses[0]!,
    label: { column: "label", positive: d.positive },
    features: d.tables.map((t, i) => ({ party: addresses[i]!, columns: [...featuresOf(t), ...(o.extraColumns?.[i] ?? [])] })),
    maxIds: 10_000,
    ...KEY,
    ...o.overrides
  })
  const datas = d.tables.map((t, i) => tabular(`${d.name}-${i}`, t, o.patch?.[i]))
  // One test store for every party (keyed by owner), shared with the prediction tasks of the same test.
  const models = PartialModels.testMemory()
  const options = (i: number): Participant.Options => ({ ...(o.cheat === i ? { cheat: "partial-decryption" } : {}), ...(o.seed === undefined ? {} : { testSchedule: o.seed }) })
  const host = InMemoryHost.make(
    datas.map((data, i) => {
      let handlers: Array<InMemoryHost.AnyStageHandler> = Participant.handlers(d.name, { kind: "train", model: o.model, params }, addresses, options(i))
      if (o.tamperAlignment === i) {
        // A party whose join produced another order: its prepare reports a different alignment digest.
        handlers = handlers.map((h) => h.stage.name !== Spec.prepare.name ? h : { ...h, handle: (req: any, s: any) => Effect.map(h.handle(req, s), (rep: any) => ({ ...rep, alignment: "0x" + "ab".repeat(32) })) })
      }
      return {
        wallet: wallets[i],
        handlers,
        faults: o.faults?.[i] ?? [],
        provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, Layer.mergeAll(dataLayer(data), models, testKeys, o.runner ?? Layer.empty)) as Effect.Effect<A, ParticipantFailure>
      }
    }),
    o.seed === undefined ? {} : { taskId: `vertical-${o.seed}` }
  )
  const run = host.run((session) => Coordinator.runTraining(session, o.model, params, { timeoutMs: 120_000, decryptTimeoutMs: o.decryptTimeoutMs }))
  const stored = (owner: string, modelId: string) => Effect.runPromise(Effect.provide(PartialModels.get(owner, modelId), models))
  /** The party's sealed progress at `iteration`, or the store's failure reason ("Missing" once cleaned up). */
  const progressAt = (owner: string, taskId: string, iteration: number) =>
    Effect.runPromise(Effect.provide(Effect.result(PartialModels.loadProgress(owner, taskId, iteration)), models)).then((r) => (r._tag === "Success" ? r.success : r.failure.reason))
  const saveProgress = (owner: string, progress: PartialModels.Progress) => Effect.runPromise(Effect.provide(PartialModels.saveProgress(owner, progress), models))
  return { host, params, addresses, wallets, datas, run, models, stored, progressAt, saveProgress }
}

const plaintextReference = (d: Dataset, model: Linear.ModelKind, params: Spec.TrainParams, result: Spec.TrainResult, ids: ReadonlyArray<string>) =>
  Reference.reference(d.tables, d.positive, model, params, result.schedule, ids)

const sharedIds = (d: Dataset) => {
  const sets = d.tables.map((t) => new Set(t.rows.map((r) => r[0]!)))
  return [...sets[0]!].filter((id) => sets.every((s) => s.has(id)))
}

const trainAndCompare = async (d: Dataset, model: Linear.ModelKind, overrides: Partial<Spec.TrainParams> = {}, seed?: string) => {
  const t = train(d, { model, overrides, ...(seed === undefined ? {} : { seed }) })
  const result = (await Effect.runPromise(t.run)) as Spec.TrainResult
  const holder = t.addresses[0]!
  const stored = await t.stored(holder, result.modelId)
  expect(stored).toBeDefined()
  const ids = stored!.ids
  expect(new Set(ids)).toEqual(new Set(sharedIds(d)))
  const ref = plaintextReference(d, model, t.params, result, ids)
  for (const m of ["accuracy", "precision", "recall"] as const) expect(Math.abs(result.test[m] - ref.metrics[m])).toBeLessThanOrEqual(0.01)
  // The label holder's ROC curve ranks the same test rows as the plaintext model does.
  expect(Math.abs(result.test.auc! - ref.roc!.auc)).toBeLessThanOrEqual(0.01)
  expect(result.test.roc!.at(-1)).toEqual({ fpr: 1, tpr: 1 })
  expect(result.test.accuracy).toBeGreaterThan(0.9)
  // The label holder's evaluation (joint prediction of the test split) gives the plaintext model's label per id.
  const evaluation = (t.host.memory(holder).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; positive: Array<boolean> } }).evaluation
  expect(evaluation.ids).toEqual(ref.testIds)
  expect(evaluation.positive).toEqual(ref.predicted)
  // Partial models never left their owners: no weight appears in anything the coordinator saw.
  const w = (await t.stored(t.addresses[1]!, result.modelId)).weights
  const wire = t.host.transcript.map((e) => e.json).join("\n")
  for (const x of w.slice(0, 3)) expect(wire).not.toContain(String(x))
  return { t, result, ref }
}

describe("vertical training over InMemoryHost (512-bit test keys)", () => {
  it("SVM on bcw (label 1 = malignant, 413 shared ids) matches the plaintext SVM; batch (masked and threshold) and online prediction agree", async () => {
    const { t, result, ref } = await trainAndCompare(bcw, "svm")
    expect(result.rows).toBe(413)
    expect(result.iterations).toBe(8)
    expect(Object.keys(result.commitments)).toEqual(["vertical.prepare", "vertical.keys", "vertical.train", "vertical.finish"])
    expect(t.host.commitments.length).toBeLessThan(10)
    expect(result.counters.comparisons).toBe(400)

    // prediction.vertical-batch over the test split and prediction.vertical-online for a few ids, requester c.
    const requester = t.addresses[2]!
    // Prediction uses the join's channel keys only: no party may hash-blind its ids for a ring that never runs.
    let hashBlinded = 0
    const counting = Layer.succeed(QueryCompute.QueryCompute, {
      ...QueryCompute.inline(QueryCompute.wasmKernels),
      hashBlind: (group, domain, ids, scalar) => Effect.suspend(() => {
        hashBlinded += ids.length
        return QueryCompute.inline(QueryCompute.wasmKernels).hashBlind(group, domain, ids, scalar)
      })
    })
    const predict = (task: Exclude<Participant.Task, { kind: "train" }>) => {
      const { kind, params } = task
      const host = InMemoryHost.make(
        t.datas.map((data, i) => ({
          wallet: t.wallets[i],
          handlers: Participant.handlers(bcw.name, task, t.addresses),
          provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, Layer.mergeAll(dataLayer(data), t.models, testKeys, counting)) as Effect.Effect<A, ParticipantFailure>
        }))
      )
      return Effect.runPromise(host.run((s) => Coordinator.runPrediction(s, Spec.kinds[kind], params, { timeoutMs: 20_000 }))).then((r) => ({ r, out: host.memory(requester).get(TaskOutput.MEMORY_KEY) as { ids: Array<string>; positive: Array<boolean>; scores: Array<number> } }))
    }
    const batch = await predict({ kind: "batch", params: { model: result.modelId, requester, idColumn: "id", subset: "test" } })
    expect(batch.out.ids).toEqual(ref.testIds)
    expect(batch.out.positive).toEqual(ref.predicted)
    // The default adds masked scores: nothing is decrypted. The threshold path gives the same totals exactly.
    expect(batch.r.counters.partialDecryptions).toBe(0)
    const threshold = await predict({ kind: "batch", params: { model: result.modelId, requester, idColumn: "id", subset: "test", aggregation: "threshold" } })
    expect(threshold.r.counters.partialDecryptions).toBeGreaterThan(0)
    expect(threshold.out.scores).toEqual(batch.out.scores)
    const [firstId, ...moreIds] = ref.testIds.slice(0, 5)
    const some: Spec.OnlineParams["ids"] = [firstId!, ...moreIds]
    const online = await predict({ kind: "online", params: { model: result.modelId, requester, idColumn: "id", ids: some } })
    expect(online.out.positive).toEqual(ref.predicted.slice(0, 5))
    expect(online.r.count).toBe(5)
    // Nobody else holds the scores: the coordinator's transcript has sealed partials only.
    expect(JSON.stringify(online.r)).not.toContain("scores")
    expect(hashBlinded).toBe(0)
  }, 60_000)

  // Seeded: the absolute accuracy floor depends on which rows land in the test split (an unseeded split once gave
  // 0.897); agreement with the plaintext model, within 0.01, is the check that matters.
  it("SVM on wdbc (label 0 = malignant) matches the plaintext SVM", async () => {
    await trainAndCompare(wdbc, "svm", {}, "wdbc")
  }, 60_000)

  // A production run's split and batches follow the PSI's random order and commit–reveal's random integers, so
  // the Taylor-approximated model's accuracy moves with them (0.88–0.95, the plaintext reference with it). The
  // test fixes them (Options.testSchedule, never a task param): on this schedule the plaintext reference scores
  // 0.952 on bcw and 0.941 on wdbc, so the 0.9 floor holds for the plaintext model and must for the secure one.
  it("logistic regression (Taylor sigmoid) on bcw and wdbc matches the plaintext model on a fixed schedule", async () => {
    for (const d of [bcw, wdbc]) {
      const { t, result, ref } = await trainAndCompare(d, "logistic", {}, "s0")
      expect(ref.metrics.accuracy).toBeGreaterThan(0.9)
      // The schedule is the one the seed fixes: every party's RPIs replayed from it.
      expect(result.schedule).toEqual(Array.from({ length: result.iterations }, (_, i) => Linear.batchSeed(result.modelId, i, t.addresses.map((a) => Participant.seededRpi("s0", a, i).rpi))))
    }
  }, 120_000)
})

/** A runner with idle time over the vertical jobs at test key sizes and the Node backends' kernels (testing/IdleRunner.ts). */
const idleRunner = () => IdleRunner.make(Secure.jobs(Effect.runSync(Effect.provideContext(Kernels.BigIntKernels, backends.context)), { unsafeAllowTestKeySizes: true }))

/** A party's stocks of encryption randomness in an attempt (Party.TrainState `stocks`), once their refills have ended. */
const stocksOf = async (host: InMemoryHost.InMemoryHost, party: string, attempt?: number) => {
  const stocks = (host.memory(party, attempt).get(Party.TRAIN) as Party.TrainState).stocks!
  const all = [stocks.threshold, ...(stocks.judge === undefined ? [] : [stocks.judge])]
  // Refills run in the background: wait for them to end (not for a fixed time, which a loaded machine outlasts).
  while (all.some((s) => s.stock.filling)) await new Promise((resolve) => setTimeout(resolve, 5))
  return stocks
}

/** A coordinator session that dies (as a SIGKILL would) when `when` matches a round's stage and first request. */
const dying = (session: CoordinatorSession, when: (stage: string, request: any) => boolean): CoordinatorSession => ({
  ...session,
  round: (stage, requests, options) => (when(stage.name, requests.values().next().value) ? Effect.die("coordinator killed") : session.round(stage, requests, options))
})

describe("vertical training across a coordinator restart", () => {
  it("resumes at the last checkpointed iteration with every party's w^p and commitments, and ends where an uninterrupted run does; every attempt, resumed too, encrypts with randomness made ahead in idle time, each value once", async () => {
    const overrides = { updates: 300, batchSize: 50 }
    const seed = "s0"
    const whole = train(bcw, { model: "svm", overrides, seed })
    const uninterrupted = (await Effect.runPromise(whole.run)) as Spec.TrainResult
    // Inline runners have no idle time: the uninterrupted run made no randomness ahead, every encryption drew its own.
    for (const a of whole.addresses) expect((await stocksOf(whole.host, a)).threshold.stock.draws.taken).toBe(0)

    // The interrupted run's parties share a runner with idle time, so they make encryption randomness ahead
    // (Secure.Stock). Every value made ahead (`add`) and every value an encryption takes from a stock (`take`) is
    // recorded: none may be taken twice.
    const idle = idleRunner()
    const made: Array<bigint> = []
    const taken: Array<bigint> = []
    const { add, take } = Randomness.RandomnessPool.prototype
    vi.spyOn(Randomness.RandomnessPool.prototype, "add").mockImplementation(function(this: Randomness.RandomnessPool, values) {
      made.push(...values)
      add.call(this, values)
    })
    vi.spyOn(Randomness.RandomnessPool.prototype, "take").mockImplementation(function(this: Randomness.RandomnessPool) {
      const value = take.call(this)
      taken.push(value)
      return value
    })
    onTestFinished(() => void vi.restoreAllMocks())
    const t = train(bcw, { model: "svm", overrides, seed, runner: idle.layer })
    /**
     * Each party's encryptions of an attempt's `trained` iterations: every stock was drawn from (made in idle time,
     * the attempt's own, since a restart keeps none), and its threshold stock was offered every score row and
     * blinding noise. The values taken, summed over the parties.
     */
    const drewFromStocks = async (attempt: number, trained: number) => {
      let drawn = 0
      for (const a of t.addresses) {
        const stocks = await stocksOf(t.host, a, attempt)
        expect(stocks.threshold.stock.draws.taken + stocks.threshold.stock.draws.missed).toBe(trained * (overrides.batchSize + stocks.threshold.blinding))
        // The label holder's factors and masks under its judge key, from a stock of their own.
        expect(stocks.judge !== undefined).toBe(a === t.addresses[0])
        for (const { stock } of [stocks.threshold, ...(stocks.judge === undefined ? [] : [stocks.judge])]) {
          expect(stock.draws.taken).toBeGreaterThan(0)
          drawn += stock.draws.taken
        }
      }
      return drawn
    }
    // Attempt 1: the coordinator dies as it starts iteration 3 (after checkpointing iterations 0–2).
    const crashAt = 3
    const crashing = (s: CoordinatorSession) => dying(s, (stage, request) => stage === Spec.score.name && request.iteration === crashAt)
    const first = await Effect.runPromiseExit(t.host.run((s) => Coordinator.runTraining(crashing(s), "svm", t.params, { timeoutMs: 120_000 }), 1))
    expect(first._tag).toBe("Failure")
    // Read before the next attempt starts, which drops this one's memory.
    let drawn = await drewFromStocks(1, crashAt)
    // Attempt 2: fresh participant memory (no key share, no scratch state), the same checkpoints and stores; it
    // dies again during evaluation, after the "training finished" checkpoint: the final progress must survive.
    const taskId = `vertical-${seed}`
    const iterations = uninterrupted.iterations
    const evaluating = (s: CoordinatorSession) => dying(s, (stage, request) => stage === Spec.predictScore.name && request.requestId === "evaluate")
    const second = await Effect.runPromiseExit(t.host.run((s) => Coordinator.runTraining(evaluating(s), "svm", t.params, { timeoutMs: 120_000 }), 2))
    expect(second._tag).toBe("Failure")
    // The resumed attempt's new keys got new stocks at once, filled while it trained iterations 3–5.
    drawn += await drewFromStocks(2, iterations - crashAt)
    const idleJobs = () => [...idle.idleJobs.values()].reduce((a, b) => a + b, 0)
    const madeBefore = idleJobs()
    for (const a of t.addresses) expect(await t.progressAt(a, taskId, iterations)).toMatchObject({ iteration: iterations })
    const trainCommits = () => t.host.commitments.filter((c) => c.phase === "vertical.train")
    expect(trainCommits()).toHaveLength(1)
    // Attempt 3 resumes at the last boundary straight into evaluation, without committing the train phase again.
    const result = (await Effect.runPromise(t.host.run((s) => Coordinator.runTraining(s, "svm", t.params, { timeoutMs: 120_000 }), 3))) as Spec.TrainResult
    expect(result.resumedFromIteration).toBe(iterations)
    // Resumed with no iteration left, its stocks make nothing: randomness made for no encryption is work thrown away.
    for (const a of t.addresses) {
      const stocks = await stocksOf(t.host, a, 3)
      for (const { stock } of [stocks.threshold, ...(stocks.judge === undefined ? [] : [stocks.judge])]) expect(stock.pool.size).toBe(0)
    }
    expect(idleJobs()).toBe(madeBefore)
    // Each value made ahead was drawn afresh, and each taken once: every encryption's randomness its own.
    expect(new Set(made).size).toBe(made.length)
    expect(new Set(taken).size).toBe(taken.length)
    expect(taken.length).toBe(drawn)
    const madeSet = new Set(made)
    expect(taken.every((v) => madeSet.has(v))).toBe(true)
    // Read now: like a deployed agent, a participant drops an attempt's memory when the next attempt starts.
    const evaluation = (t.host.memory(t.addresses[0]!, 3).get(TaskOutput.MEMORY_KEY) as { evaluation: { ids: Array<string>; positive: Array<boolean> } }).evaluation
    expect(trainCommits()).toHaveLength(1)
    expect(result.commitments["vertical.train"]).toBe(trainCommits()[0]!.digest)
    // The result is checkpointed, so the progress files are gone; a later attempt only repeats the cleanup.
    for (const a of t.addresses) for (const i of [iterations - 1, iterations]) expect(await t.progressAt(a, taskId, i)).toBe("Missing")
    const again = (await Effect.runPromise(t.host.run((s) => Coordinator.runTraining(s, "svm", t.params, { timeoutMs: 120_000 }), 4))) as Spec.TrainResult
    expect(again).toEqual(result)
    expect(result.schedule).toEqual(uninterrupted.schedule)
    expect(result.counters.comparisons).toBe(uninterrupted.counters.comparisons)
    // Fixed-point training is exact: the resumed partial models are the uninterrupted ones, bit for bit.
    for (const [i, a] of t.addresses.entries()) expect((await t.stored(a, result.modelId)).weights).toEqual((await whole.stored(whole.addresses[i]!, uninterrupted.modelId)).weights)
    expect(result.test).toEqual(uninterrupted.test)
    const ids = (await t.stored(t.addresses[0]!, result.modelId)).ids
    const ref = plaintextReference(bcw, "svm", t.params, result, ids)
    expect(evaluation.positive).toEqual(ref.predicted)
  }, 180_000)

  it("a party whose restored row order differs is named (ResumeOrderMismatch) and the failed task's progress is removed", async () => {
    const t = train(bcw, { model: "svm", overrides: { updates: 150, batchSize: 50 }, seed: "s1" })
    const crashAt = 2
    const first = await Effect.runPromiseExit(t.host.run((s) => Coordinator.runTraining(dying(s, (stage, request) => stage === Spec.score.name && request.iteration === crashAt), "svm", t.params, { timeoutMs: 120_000 }), 1))
    expect(first._tag).toBe("Failure")
    const taskId = "vertical-s1"
    // Party b's progress (sealed under its own key, so only b's store could do this) gets two rows swapped: still
    // a permutation of the join, so only the cross-check can tell.
    const saved = (await t.progressAt(t.addresses[1]!, taskId, crashAt)) as PartialModels.Progress
    const ids = [...saved.ids]
    ;[ids[0], ids[1]] = [ids[1]!, ids[0]!]
    await t.saveProgress(t.addresses[1]!, { ...saved, ids })
    const error = await Effect.runPromise(Effect.flip(t.host.run((s) => Coordinator.runTraining(s, "svm", t.params, { timeoutMs: 120_000 }), 2))) as { _tag: string; reason: string; detail: string }
    expect(error._tag).toBe("ProtocolError")
    expect(error.reason).toBe("ResumeOrderMismatch")
    expect(error.detail).toContain(t.addresses[1]!)
    expect(error.detail).not.toContain(t.addresses[0]!)
    expect(error.detail).not.toContain(t.addresses[2]!)
    // Stopped before a key was dealt again (attempt 1 dealt the only one).
    expect(t.host.transcript.filter((e) => e.stage === Spec.deal.name && e.direction === "request")).toHaveLength(1)
    // The task failed for good, so nobody keeps its progress.
    for (const a of t.addresses) for (const i of [crashAt - 1, crashAt]) expect(await t.progressAt(a, taskId, i)).toBe("Missing")
  }, 60_000)
})

/** A coordinator session whose rounds of `stage` go through `tamper` (which may run rounds of its own). */
const tampering = (
  session: CoordinatorSession,
  stage: string,
  tamper: (requests: ReadonlyMap<string, any>, round: (requests: ReadonlyMap<string, any>, minReplies?: number) => Effect.Effect<ReadonlyMap<string, any>, any>) => Effect.Effect<ReadonlyMap<string, any>, any>
): CoordinatorSession => ({
  ...session,
  round: ((s: any, requests: ReadonlyMap<string, any>, options: any) =>
    s.name !== stage
      ? session.round(s, requests, options)
      : tamper(requests, (r, minReplies = options.minReplies) => session.round(s, r, { ...options, minReplies }))) as CoordinatorSession["round"]
})

/** A list of 512-bit-key Paillier ciphertexts (1024-bit residues, 128 bytes each, last in the encoding) with its last two swapped. */
const swapLastTwo = (bytes: Uint8Array) => {
  const width = 128
  const out = bytes.slice()
  out.set(bytes.subarray(bytes.length - width), bytes.length - 2 * width)
  out.set(bytes.subarray(bytes.length - 2 * width, bytes.length - width), bytes.length - width)
  return out
}

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

  it("the label holder combines its own kept partials, never the copy the coordinator relays: a batch of other ciphertexts swapped in is refused as CoordinatorTampering", async () => {
    const t = train(bcw, { model: "svm", overrides: short })
    // The coordinator has the label holder decrypt judge/0 a second time, over the same ciphertexts in another
    // order, and relays that batch (sealed by the holder to itself, so it opens) as the holder's own.
    const replaying = (session: CoordinatorSession) =>
      tampering(session, Spec.decrypt.name, (requests, round) =>
        Effect.gen(function*() {
          const replies = yield* round(requests)
          const first = requests.values().next().value as { label: string; ciphertexts: Uint8Array; sealTo?: string }
          if (first.label !== "judge/0") return replies
          const holder = first.sealTo!
          const again = yield* round(new Map([[holder, { ...first, ciphertexts: swapLastTwo(first.ciphertexts) }]]), 1)
          return new Map([...replies, [holder, again.get(holder)]])
        }))
    const error = await reason(t.host.run((s) => Coordinator.runTraining(replaying(s), "svm", t.params, { timeoutMs: 120_000 })))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", code: "CoordinatorTampering", participant: t.addresses[0] })
    expect(error.detail).toContain("judge/0")
  }, 30_000)

  it("a party's own partials relayed back garbled in the gradient round are ignored: its kept batch is combined", async () => {
    const t = train(bcw, { model: "logistic", overrides: short })
    // Every party receives the update request with its own batch replaced by bytes that decode to nothing.
    const garbling = (session: CoordinatorSession) =>
      tampering(session, Spec.update.name, (requests, round) =>
        round(new Map([...requests].map(([party, request]) => [party, {
          ...request,
          partials: request.partials.map((p: Spec.Sealed) => (p.participant === party ? { ...p, payload: new Uint8Array(64) } : p))
        }]))))
    const result = (await Effect.runPromise(t.host.run((s) => Coordinator.runTraining(garbling(s), "logistic", t.params, { timeoutMs: 120_000 })))) as Spec.TrainResult
    expect(result.test.accuracy).toBeGreaterThan(0.85)
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

  it("a task naming a protocol version this build does not speak is refused by name (UnsupportedProtocolVersion): by the check, the coordinator before the join, and a party at prepare", async () => {
    const future = train(bcw, { model: "svm", overrides: { ...short, protocolVersion: Spec.PROTOCOL_VERSION + 1 } })
    const invalid = Spec.validate(future.params, future.addresses)
    expect(invalid?._tag).toBe("UnsupportedProtocolVersion")
    expect(invalid?.message).toContain(`version ${Spec.PROTOCOL_VERSION + 1}`)
    expect(Spec.validate({ ...future.params, protocolVersion: undefined }, future.addresses)).toBeUndefined()
    // The layout before the SVM's judge key (1) is refused as well.
    expect(Spec.validate({ ...future.params, protocolVersion: 1 }, future.addresses)?._tag).toBe("UnsupportedProtocolVersion")
    const error = await reason(future.run)
    expect(error.reason).toBe("UnsupportedProtocolVersion")
    // Nothing but the best-effort cleanup a failed task always sends.
    expect(future.host.transcript.filter((e) => e.stage !== Spec.cleanup.name)).toHaveLength(0)
    // A coordinator that ignores the version (an older build) meets the parties' refusal at prepare.
    const old = await reason(future.host.run((session) => Coordinator.runTraining(session, "svm", { ...future.params, protocolVersion: undefined }, { timeoutMs: 120_000 })))
    expect(JSON.stringify(old)).toContain("UnsupportedProtocolVersion")
    expect(future.host.transcript.some((e) => e.stage === Spec.deal.name)).toBe(false)
  }, 30_000)

  it("SVM: a relay that hands a party a judge key the label holder did not seal to it is refused before the party multiplies anything under it (UndecryptablePayload)", async () => {
    const t = train(bcw, { model: "svm", overrides: short })
    // The coordinator swaps the boxes of parties 1 and 2: each is sealed by the label holder, but to the other party.
    const swapping = (session: CoordinatorSession): CoordinatorSession => ({
      ...session,
      round: (stage, requests, options) => {
        if (stage.name !== Spec.gradient.name) return session.round(stage, requests, options)
        const [a, b] = [t.addresses[1]!, t.addresses[2]!]
        const swapped = new Map([...requests].map(([p, req]: [string, any]) => [p, { ...req, judgeKey: (requests.get(p === a ? b : p === b ? a : p) as any).judgeKey }]))
        return session.round(stage, swapped as typeof requests, options)
      }
    })
    const error = await reason(t.host.run((s) => Coordinator.runTraining(swapping(s), "svm", t.params, { timeoutMs: 120_000 })))
    expect(JSON.stringify(error)).toContain("UndecryptablePayload")
    expect(t.host.transcript.some((e) => e.stage === Spec.open.name)).toBe(false)
  }, 30_000)

  it("SVM: an opened gradient value that its ciphertext does not open (a label holder's lie, or a relay's) is refused by the parties as InvalidOpening naming the label holder", async () => {
    const t = train(bcw, { model: "svm", overrides: short })
    // The label holder's openings of iteration 0 leave it with every value raised by one (its randomness kept).
    const lying = (session: CoordinatorSession) =>
      tampering(session, Spec.open.name, (requests, round) =>
        Effect.map(round(requests), (replies) =>
          new Map([...replies].map(([party, reply]) => [party, {
            openings: reply.openings.map((o: Spec.Opening) => ({ ...o, value: (BigInt(o.value) + 1n).toString() }))
          }]))))
    const error = await reason(t.host.run((s) => Coordinator.runTraining(lying(s), "svm", t.params, { timeoutMs: 120_000 })))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", code: "InvalidOpening", stage: Spec.update.name })
    expect(error.detail).toContain(t.addresses[0]!)
    expect(error.detail).toContain("InvalidDecryptionProof")
  }, 30_000)

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
