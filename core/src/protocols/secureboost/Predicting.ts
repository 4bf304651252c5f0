/**
 * Joint prediction at one party (spec.ts "Prediction"; the stages: Stages.ts): for a prediction task, of the
 * requested ids with the model part each party reads back from its sealed store; for a training task, of the
 * test split with the parts just trained (the evaluation, requested by the label holder). The label holder
 * walks the trees (Prediction.walker), asking each feature holder, sealed, only about its own lookup records;
 * the margins go to the requester alone (sealed to it when it is not the label holder).
 */
import { Effect, Schema } from "effect"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler } from "../Protocol.ts"
import { rowsOf } from "./LocalRun.ts"
import * as Objective from "./Objective.ts"
import * as Parts from "./Parts.ts"
import * as Prediction from "./Prediction.ts"
import * as Roles from "./Roles.ts"
import * as S from "./Session.ts"
import * as Spec from "./spec.ts"
import * as Stages from "./Stages.ts"

/** What the label holder seals to a requester that is not itself. */
const Scores = Schema.Struct({ objective: Schema.Literals(Objective.objectives), margins: Schema.Array(Schema.Finite) })

export type Task =
  | { readonly kind: "train"; readonly params: Spec.TrainParams }
  | { readonly kind: "predict"; readonly params: Stages.PredictParams }

/** This party's model part and columns for a prediction task (loaded at its first pass). */
interface Source {
  readonly part: Parts.ModelPart
  readonly ids: ReadonlyArray<string>
  readonly columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }>
  readonly modelDigest: string
}
const SOURCE = "secureboost/predict-source"

/** The requester's scores of a batch's earlier passes. */
interface Kept {
  readonly ids: Array<string>
  readonly margins: Array<number>
  readonly predictions: Array<number>
}
const BATCH = "secureboost/predict-batch"

const predictState = (session: ParticipantSession, stage: string, request: string) => {
  const p = session.memory.get(S.PREDICT) as S.PredictState | undefined
  return p === undefined || p.request !== request ? S.fail(session, stage, "MissingState", `prediction ${request} was not opened`) : Effect.succeed(p)
}

export const handlers = (datasetName: string, task: Task) => {
  /** The training task's evaluation: the test rows of the parts just trained. */
  const openEvaluation = (session: ParticipantSession, stage: string, request: string, params: Spec.TrainParams) =>
    Effect.gen(function*() {
      const s = yield* S.trainState(session, stage)
      if (s.model === undefined || s.modelDigest === undefined) return yield* S.fail(session, stage, "MissingState", "the model is not finished")
      const test = Array.from(Roles.split(s.data.ids, Spec.fractionsOf(params)).test)
      const values = rowsOf(s.data, test)
      const ids = test.map((r) => s.data.ids[r]!)
      const base = { request, ids, values, modelDigest: s.modelDigest, labelHolderAddress: params.labelHolder }
      if (s.role === "label-holder") {
        return { ...base, labelHolder: { walk: Prediction.walker(s.model, request, values), round: 0, objective: s.model.objective, labels: Float64Array.from(test, (r) => s.data.labels[r]!) } }
      }
      return { ...base, featureHolder: s.model }
    })

  /**
   * This party's sealed part of the model and the columns it reads, loaded once per task (a batch prediction
   * opens many passes over the same part and dataset).
   */
  const loadSource = (session: ParticipantSession, stage: string, params: Stages.PredictParams) =>
    Effect.gen(function*() {
      const cached = session.memory.get(SOURCE) as Source | undefined
      if (cached !== undefined) return cached
      const part = yield* Effect.mapError(Parts.get(session.self, params.model), (e) =>
        S.failure(session, stage, e.reason === "Missing" ? "UnknownModel" : `ModelPart${e.reason}`, e.message))
      if (part.parties.length !== session.participants.length || part.parties.some((p, i) => p !== session.participants[i])) {
        return yield* S.fail(session, stage, "ModelMismatch", "the prediction task must name the training task's parties in the same order")
      }
      if (part.labelHolder !== params.labelHolder) return yield* S.fail(session, stage, "ModelMismatch", `the model's label holder is ${part.labelHolder}`)
      const data = yield* (yield* LocalData).dataset(datasetName)
      if (!data.columnNames.includes(params.idColumn)) return yield* S.fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${params.idColumn}`)
      const columns = []
      for (const c of part.columns) columns.push(yield* S.numericColumn(session, stage, data, c))
      const source: Source = { part, ids: data.strings(params.idColumn), columns, modelDigest: sha256Digest(Schema.encodeSync(Parts.ModelPart)(part)) }
      session.memory.set(SOURCE, source)
      return source
    })

  /** The dataset rows of a prediction pass: the requested ids (online), or a window of the aligned join (batch). */
  const rowsOfRequest = (session: ParticipantSession, stage: string, params: Stages.PredictParams, source: Source, window: Stages.PredictWindow | undefined) =>
    Effect.gen(function*() {
      if (params.ids === undefined) {
        if (window === undefined) return yield* S.fail(session, stage, "InvalidRequest", "a batch pass names its window of the aligned rows")
        const aligned = yield* S.aligned(session, stage)
        if (window.from + window.count > aligned.ids.length || window.count === 0) {
          return yield* S.fail(session, stage, "InvalidRequest", `rows ${window.from}…${window.from + window.count} are not within the ${aligned.ids.length} aligned rows`)
        }
        const to = window.from + window.count
        return { ids: aligned.ids.slice(window.from, to), rows: aligned.rows.slice(window.from, to) }
      }
      if (window !== undefined) return yield* S.fail(session, stage, "InvalidRequest", "an online prediction has no window")
      const rowOf = new Map<string, number>()
      source.ids.forEach((id, r) => {
        if (!rowOf.has(id)) rowOf.set(id, r)
      })
      const ids = [...params.ids]
      const missing = ids.filter((id) => !rowOf.has(id)).length
      if (missing > 0) return yield* S.fail(session, stage, "UnknownId", `${missing} requested id(s) are not in dataset ${datasetName}`)
      return { ids, rows: ids.map((id) => rowOf.get(id)!) }
    })

  /** A prediction task: this party's sealed part of the model and its rows of the requested ids or window. */
  const openStored = (session: ParticipantSession, stage: string, request: string, params: Stages.PredictParams, window: Stages.PredictWindow | undefined) =>
    Effect.gen(function*() {
      const source = yield* loadSource(session, stage, params)
      const part = source.part
      const { ids, rows } = yield* rowsOfRequest(session, stage, params, source, window)
      const values = rowsOf({ ids: source.ids, columns: source.columns }, rows)
      const base = { request, ids, values, modelDigest: source.modelDigest, labelHolderAddress: part.labelHolder }
      if (part.labelHolderModel !== undefined && part.labelHolder === session.self) {
        return { ...base, labelHolder: { walk: Prediction.walker(part.labelHolderModel, request, values), round: 0, objective: part.labelHolderModel.objective } }
      }
      if (part.featureHolderModel !== undefined) return { ...base, featureHolder: part.featureHolderModel }
      return yield* S.fail(session, stage, "ModelPartCorrupt", "the part holds neither trees nor a lookup table")
    })

  const predictOpen = handler(Stages.predictOpen, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.predictOpen.name
      if ((session.memory.get(S.PREDICT) as S.PredictState | undefined)?.request === request.request) return yield* S.fail(session, stage, "DuplicateStage", "already opened")
      if (task.kind === "train" && request.rows !== undefined) return yield* S.fail(session, stage, "InvalidRequest", "the evaluation has no window")
      const state: S.PredictState = task.kind === "train"
        ? yield* openEvaluation(session, stage, request.request, task.params)
        : yield* openStored(session, stage, request.request, task.params, request.rows)
      session.memory.set(S.PREDICT, state)
      return { records: state.ids.length, modelDigest: state.modelDigest }
    }))

  const predictWalk = handler(Stages.predictWalk, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.predictWalk.name
      const p = yield* predictState(session, stage, request.request)
      const a = p.labelHolder
      if (a === undefined) return yield* S.fail(session, stage, "NotLabelHolder", "only the label holder walks the trees")
      if (request.round !== a.round) return yield* S.fail(session, stage, "InvalidRequest", `round ${request.round} asked, round ${a.round} is next`)
      const holder = session.self
      if (request.round > 0) {
        for (const box of request.answers) {
          const party = S.indexOf(holder, session.participants, box.participant)
          if (party < 1) return yield* S.fail(session, stage, "InvalidRequest", `an answer from ${box.participant}`)
          const answer = yield* S.openMessage(session, stage, box.participant, `predict-answer|${request.request}|${request.round - 1}`, Spec.PredictAnswer, box.payload)
          yield* S.run(session, stage, a.walk.answer(party, answer))
        }
        yield* S.run(session, stage, a.walk.endRound())
      }
      a.round++
      const queries = yield* S.run(session, stage, a.walk.next())
      if (queries === undefined) {
        const requester = task.kind === "predict" ? task.params.requester : holder
        if (requester === holder) return { done: true, queries: [] }
        const sealed = yield* S.sealMessage(session, stage, requester, `predict-scores|${request.request}`, Scores, { objective: a.objective, margins: Array.from(a.walk.margins()) })
        return { done: true, queries: [], scores: sealed }
      }
      const out = []
      for (const [party, query] of queries) {
        const to = S.partyAt(holder, session.participants, party)!
        out.push({ participant: to, payload: yield* S.sealMessage(session, stage, to, `predict-query|${request.request}|${request.round}`, Spec.PredictQuery, query) })
      }
      return { done: false, queries: out }
    }))

  const predictAnswer = handler(Stages.predictAnswer, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.predictAnswer.name
      const p = yield* predictState(session, stage, request.request)
      const holder = p.labelHolderAddress
      if (p.featureHolder === undefined) return yield* S.fail(session, stage, "NotFeatureHolder", "only a feature holder answers queries")
      const query = yield* S.openMessage(session, stage, holder, `predict-query|${request.request}|${request.round}`, Spec.PredictQuery, request.query)
      if (query.request !== request.request) return yield* S.fail(session, stage, "InvalidRequest", "the query names another request")
      const answer = yield* S.run(session, stage, Prediction.answer(p.featureHolder, p.values, query))
      return { answer: yield* S.sealMessage(session, stage, holder, `predict-answer|${request.request}|${request.round}`, Spec.PredictAnswer, answer) }
    }))

  const predictOutput = handler(Stages.predictOutput, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.predictOutput.name
      const p = yield* predictState(session, stage, request.request)
      const holder = p.labelHolderAddress
      let scores: typeof Scores.Type
      if (p.labelHolder !== undefined) scores = { objective: p.labelHolder.objective, margins: Array.from(p.labelHolder.walk.margins()) }
      else if (request.scores !== undefined) scores = yield* S.openMessage(session, stage, holder, `predict-scores|${request.request}`, Scores, request.scores)
      else return yield* S.fail(session, stage, "InvalidRequest", "no scores for this requester")
      const predictions = scores.margins.map((m) => Objective.transform(scores.objective, m))
      const labels = p.labelHolder?.labels
      if (task.kind === "train" && labels !== undefined) {
        // The label holder's own record of the training task: its part's digest and the test split's scores.
        const metrics = Objective.metrics(scores.objective, scores.margins, labels)
        const output = { taskId: session.taskId, kind: Spec.kinds.train, role: "label-holder", modelDigest: p.modelDigest, evaluation: { ids: p.ids, margins: scores.margins, predictions }, metrics }
        const digest = sha256Digest(output)
        const location = yield* TaskOutput.deliver(session, { ...output, digest })
        return { count: p.ids.length, digest, location, metrics: { ...metrics } }
      }
      // A batch keeps each pass's scores here, and delivers them all with the last pass.
      const kept = (session.memory.get(BATCH) as Kept | undefined) ?? { ids: [], margins: [], predictions: [] }
      kept.ids.push(...p.ids)
      kept.margins.push(...scores.margins)
      kept.predictions.push(...predictions)
      if (request.more === true) {
        session.memory.set(BATCH, kept)
        return { count: kept.ids.length, digest: sha256Digest({ ids: p.ids, margins: scores.margins }), location: "pending" }
      }
      session.memory.delete(BATCH)
      const output = { taskId: session.taskId, kind: Spec.kinds.predict, modelId: task.kind === "predict" ? task.params.model : session.taskId, ids: kept.ids, margins: kept.margins, predictions: kept.predictions }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { count: kept.ids.length, digest, location }
    }))

  return [predictOpen, predictWalk, predictAnswer, predictOutput]
}
