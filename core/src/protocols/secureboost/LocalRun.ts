/**
 * All parties of a SecureBoost task in one process (tests, the bench, notebooks): the label holder and the
 * feature holders exchange exactly the messages of spec.ts, each one encoded with its Schema, through JSON and
 * decoded again, so nothing passes between parties but what the wire would carry. It is also the script the
 * stage handlers of the task kinds follow (Stages.ts; the order of calls below is the order of stages).
 *
 * Rows must already be aligned (every party's `ids` in the same order), as the aligned PSI join leaves them.
 */
import { Effect, Schema } from "effect"
import type { KeyPair } from "../../crypto/paillier/Keys.ts"
import { fail, guard, type SecureBoostError } from "./Errors.ts"
import * as FeatureHolder from "./FeatureHolder.ts"
import * as LabelHolder from "./LabelHolder.ts"
import type { FeatureHolderModel, LabelHolderModel } from "./Model.ts"
import * as Objective from "./Objective.ts"
import * as Prediction from "./Prediction.ts"
import * as Spec from "./spec.ts"

export interface PartyData {
  readonly ids: ReadonlyArray<string>
  readonly columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }>
}

export interface TrainInput {
  readonly labelHolder: PartyData & { readonly labels: Float64Array }
  readonly featureHolders: ReadonlyArray<PartyData>
  readonly params: Partial<Spec.TrainParams>
}

export interface Options {
  /** Tests only: keys below 2048 bits (with keyBits or keyPair), never a task parameter. */
  readonly unsafeAllowTestKeySizes?: boolean
  readonly keyBits?: number
  readonly keyPair?: KeyPair
  /** Called after each tree with its index, wall time and validation loss. */
  readonly onTree?: (info: { readonly tree: number; readonly ms: number; readonly validationLoss: number | undefined }) => void
}

/** Bytes of every message kind as JSON on the wire. */
export type Traffic = Record<string, { messages: number; bytes: number }>

const wire = <S extends Schema.Codec<any, any>>(schema: S, traffic: Traffic, name: string) => (value: S["Type"]): S["Type"] => {
  const json = JSON.stringify(Schema.encodeSync(schema as any)(value))
  const t = (traffic[name] ??= { messages: 0, bytes: 0 })
  t.messages++
  t.bytes += json.length
  return Schema.decodeUnknownSync(schema as any)(JSON.parse(json)) as S["Type"]
}

const checkAligned = (parties: ReadonlyArray<PartyData>) => {
  const ids = parties[0]!.ids
  parties.forEach((p, i) => {
    if (p.ids.length !== ids.length || p.ids.some((id, k) => id !== ids[k])) fail("InvalidData", i, "rows are not aligned with the label holder's")
  })
}

export interface TrainResult {
  readonly labelHolder: LabelHolderModel
  readonly featureHolders: ReadonlyArray<FeatureHolderModel>
  readonly grown: number
  readonly validationLoss: ReadonlyArray<number>
  /** Ids and margins of the test rows, from joint prediction with the kept trees, and their metrics. */
  readonly test: { readonly ids: ReadonlyArray<string>; readonly margins: Float64Array; readonly metrics: Objective.Metrics }
  readonly counters: LabelHolder.LabelHolder["counters"]
  readonly traffic: Traffic
  readonly treeMs: ReadonlyArray<number>
  /** Wall milliseconds per step, summed over trees (what dominates; parties run one after another here). */
  readonly phases: Record<"gradients" | "histograms" | "splitSearch" | "splitReplies" | "partition" | "evaluate", number>
}

export const train = (input: TrainInput, options: Options = {}): Effect.Effect<TrainResult, SecureBoostError> =>
  Effect.gen(function*() {
    yield* guard(0, "InvalidData", () => checkAligned([input.labelHolder, ...input.featureHolders]))
    const params = input.params
    const hyper = Spec.hyperOf(params)
    const fractions = Spec.fractionsOf(params)
    const mode = params.mode ?? Spec.defaults.mode
    const testOptions = { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }
    const traffic: Traffic = {}
    const a = yield* guard(0, "InvalidData", () =>
      LabelHolder.make({ ...input.labelHolder, hyper, fractions, mode, featureHolders: input.featureHolders.length }, {
        ...testOptions,
        keyBits: options.keyBits ?? params.keyBits ?? Spec.defaults.keyBits,
        ...(options.keyPair === undefined ? {} : { keyPair: options.keyPair })
      }))
    const ps = yield* guard(-1, "InvalidData", () =>
      input.featureHolders.map((p, i) => FeatureHolder.make({ ...p, party: i + 1, maxBins: hyper.maxBins, fractions, mode }, testOptions)))

    // prepare → key
    const key = wire(Spec.KeyAnnouncement, traffic, "key")(yield* a.start(ps.map((p) => wire(Spec.FeatureSummary, traffic, "summary")(p.summary()))))
    for (const p of ps) yield* p.acceptKey(key)

    const treeMs: Array<number> = []
    const phases: TrainResult["phases"] = { gradients: 0, histograms: 0, splitSearch: 0, splitReplies: 0, partition: 0, evaluate: 0 }
    const timed = <A, E>(phase: keyof TrainResult["phases"], effect: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        const t0 = performance.now()
        return Effect.tap(effect, () => Effect.sync(() => void (phases[phase] += performance.now() - t0)))
      })
    for (;;) {
      const started = performance.now()
      yield* timed("gradients", Effect.gen(function*() {
        const message = wire(Spec.TreeStart, traffic, "tree-start")(yield* a.startTree())
        for (const p of ps) yield* p.startTree(message)
        return message
      }))
      for (;;) {
        const level = yield* a.nextLevel()
        if (level.kind === "done") break
        const request = level.kind === "remote" ? wire(Spec.HistogramRequest, traffic, "histogram-request")(level.request) : undefined
        const replies: Array<Spec.HistogramReply> = []
        if (request !== undefined) {
          for (const p of ps) replies.push(wire(Spec.HistogramReply, traffic, "histogram-reply")(yield* timed("histograms", p.histograms(request))))
        }
        const splitRequests = yield* timed("splitSearch", a.chooseSplits(replies))
        const splitReplies: Array<{ party: number; reply: Spec.SplitReply }> = []
        for (const { party, request: r } of splitRequests) {
          const reply = yield* timed("splitReplies", ps[party - 1]!.split(wire(Spec.SplitRequest, traffic, "split-request")(r)))
          splitReplies.push({ party, reply: wire(Spec.SplitReply, traffic, "split-reply")(reply) })
        }
        yield* timed("partition", a.applySplits(splitReplies))
      }
      const end = yield* a.endTree()
      treeMs.push(performance.now() - started)
      options.onTree?.({ tree: end.tree, ms: treeMs[treeMs.length - 1]!, validationLoss: end.validationLoss })
      if (end.stop) break
    }
    const { model, message } = a.finish()
    const finish = wire(Spec.Finish, traffic, "finish")(message)
    const featureModels = ps.map((p) => p.finish(finish))

    // evaluate: joint prediction of the test rows
    const testRows = Array.from(a.split.test)
    const ids = testRows.map((r) => input.labelHolder.ids[r]!)
    const margins = yield* timed("evaluate", predict(model, featureModels, [input.labelHolder, ...input.featureHolders].map((p) => rowsOf(p, testRows)), `evaluate`, traffic))
    const labels = testRows.map((r) => input.labelHolder.labels[r]!)
    return {
      labelHolder: model,
      featureHolders: featureModels,
      grown: treeMs.length,
      validationLoss: a.validationLoss(),
      test: { ids, margins, metrics: Objective.metrics(hyper.objective, margins, labels) },
      counters: a.counters,
      traffic,
      treeMs,
      phases
    }
  })

/** A party's columns restricted to some rows, as prediction input. */
export const rowsOf = (p: PartyData, rows: ReadonlyArray<number>): Prediction.Values => {
  const byName = new Map(p.columns.map((c) => [c.name, Float64Array.from(rows, (r) => c.values[r]!)] as const))
  return { column: (name) => byName.get(name), records: rows.length }
}

/**
 * Joint prediction: `values[0]` are the label holder's records, `values[i]` feature holder i's, all in the
 * request's order (looked up by id by each party). Returns the margins, known to the label holder (and sent to
 * the requester by the host).
 */
export const predict = (
  labelHolder: LabelHolderModel,
  featureHolders: ReadonlyArray<FeatureHolderModel>,
  values: ReadonlyArray<Prediction.Values>,
  request: string,
  traffic: Traffic = {}
): Effect.Effect<Float64Array, SecureBoostError> =>
  Effect.gen(function*() {
    const walk = Prediction.walker(labelHolder, request, values[0]!)
    for (;;) {
      const queries = yield* walk.next()
      if (queries === undefined) break
      for (const [party, query] of queries) {
        const answer = yield* Prediction.answer(featureHolders[party - 1]!, values[party]!, wire(Spec.PredictQuery, traffic, "predict-query")(query))
        yield* walk.answer(party, wire(Spec.PredictAnswer, traffic, "predict-answer")(answer))
      }
      yield* walk.endRound()
    }
    return walk.margins()
  })
