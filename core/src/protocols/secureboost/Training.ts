/**
 * The training stages of a SecureBoost task at one party (the order and what each carries: Stages.ts), over the
 * engine: the label holder's stages drive LabelHolder.ts, the feature holders' FeatureHolder.ts, exactly as
 * LocalRun.ts calls them; every engine message between the two roles is sealed to its recipient (Session.ts).
 * At `finish` each party seals its model part at rest (Parts.ts); the evaluation is Predicting.ts's.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, type Schema } from "effect"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler } from "../Protocol.ts"
import { guard } from "./Errors.ts"
import * as FeatureHolder from "./FeatureHolder.ts"
import * as LabelHolder from "./LabelHolder.ts"
import * as Parts from "./Parts.ts"
import * as Roles from "./Roles.ts"
import * as S from "./Session.ts"
import * as Spec from "./spec.ts"
import * as Stages from "./Stages.ts"

export interface Options {
  /** Tests only, never a task parameter: Paillier keys below 2048 bits (the label holder's `keyBits`). */
  readonly unsafeAllowTestKeySizes?: boolean
  /** Tests only: the key size the label holder generates (with `unsafeAllowTestKeySizes` below 2048). */
  readonly keyBits?: number
}

const labelsOf = (session: ParticipantSession, stage: string, data: TabularData, params: Spec.TrainParams, rows: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const column = params.label.column
    if (!data.columnNames.includes(column)) return yield* S.fail(session, stage, "MissingColumn", `dataset ${data.name} has no label column ${column}`)
    const objective = params.objective ?? Spec.defaults.objective
    if (objective === "reg:squarederror") {
      if (!data.isNumeric(column)) return yield* S.fail(session, stage, "InvalidLabel", `label column ${column} is not numeric`)
      const values = data.numeric(column)
      const labels = Float64Array.from(rows, (r) => values[r]!)
      const bad = labels.filter((x) => !Number.isFinite(x)).length
      if (bad > 0) return yield* S.fail(session, stage, "InvalidLabel", `${bad} aligned row(s) have no finite label`)
      return labels
    }
    const text = data.strings(column)
    const positive = params.label.positive!
    const numeric = typeof positive === "number" && data.isNumeric(column) ? data.numeric(column) : undefined
    const empty = rows.filter((r) => text[r] === undefined || text[r]!.trim() === "").length
    if (empty > 0) return yield* S.fail(session, stage, "InvalidLabel", `${empty} aligned row(s) have no label`)
    return Float64Array.from(rows, (r) => ((numeric ? numeric[r] === positive : text[r]!.trim() === String(positive)) ? 1 : 0))
  })

const resumed = (request: { readonly resumeAt?: number | undefined }) => (request.resumeAt === undefined ? {} : { resumed: request.resumeAt })

export const handlers = (datasetName: string, params: Spec.TrainParams, options: Options = {}) => {
  const hyper = Spec.hyperOf(params)
  const fractions = Spec.fractionsOf(params)
  const mode = params.mode ?? Spec.defaults.mode
  const policy = { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }
  const holder = params.labelHolder
  const to = (session: ParticipantSession, index: number) => S.partyAt(holder, session.participants, index)!

  /** A resumed attempt: this party's sealed progress after `trees` trees, checked against this attempt's bins. */
  const loadProgress = (session: ParticipantSession, stage: string, trees: number, bins: string) =>
    Effect.gen(function*() {
      const progress = yield* Effect.mapError(Parts.loadProgress(session.self, session.taskId, trees), (e) =>
        S.failure(session, stage, e.reason === "Missing" ? "NoProgress" : `Progress${e.reason}`, e.message))
      if (progress.taskId !== session.taskId || progress.trees !== trees) return yield* S.fail(session, stage, "ResumeMismatch", `the saved progress is of ${progress.taskId} after ${progress.trees} trees`)
      if (progress.bins !== bins) return yield* S.fail(session, stage, "ResumeMismatch", "this party's bins differ from the interrupted run's (its data changed)")
      return progress
    })

  const prepare = handler(Stages.prepare, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.prepare.name
      if (session.memory.has(S.TRAIN)) return yield* S.fail(session, stage, "DuplicateStage", "already prepared")
      const rows = yield* S.aligned(session, stage)
      const data = yield* (yield* LocalData).dataset(datasetName)
      const columns = []
      for (const c of params.features.find((f) => f.party === session.self)?.columns ?? []) columns.push(yield* S.numericColumn(session, stage, data, c))
      const own = { ids: rows.ids, columns: columns.map((c) => ({ name: c.name, values: Float64Array.from(rows.rows, (r) => c.values[r]!) })) }
      const index = S.indexOf(holder, session.participants, session.self)
      if (index === 0) {
        const labels = yield* labelsOf(session, stage, data, params, rows.rows)
        const input = { ...own, labels, hyper, fractions, mode, featureHolders: session.participants.length - 1 }
        const engine = yield* S.run(session, stage, guard(0, "InvalidData", () =>
          LabelHolder.make(input, { ...policy, keyBits: options.keyBits ?? params.keyBits ?? Spec.defaults.keyBits })))
        if (request.resumeAt !== undefined) {
          const progress = yield* loadProgress(session, stage, request.resumeAt, engine.bins())
          if (progress.labelHolder === undefined || progress.labelHolder.trees.length !== request.resumeAt) return yield* S.fail(session, stage, "ResumeMismatch", "the saved progress holds no trees of the label holder")
          yield* S.run(session, stage, engine.restore(progress.labelHolder))
        }
        session.memory.set(S.TRAIN, { role: "label-holder", engine, data: { ...own, labels } } satisfies S.LabelHolderState)
        const split = engine.split
        return { alignment: rows.digest, rows: rows.ids.length, trainRows: split.train.length, validationRows: split.validation.length, testRows: split.test.length, ...resumed(request) }
      }
      const engine = yield* S.run(session, stage, guard(index, "InvalidData", () =>
        FeatureHolder.make({ ...own, party: index, maxBins: hyper.maxBins, fractions, mode }, policy)))
      if (request.resumeAt !== undefined) {
        const progress = yield* loadProgress(session, stage, request.resumeAt, engine.bins())
        yield* S.run(session, stage, engine.restore(request.resumeAt, progress.entries ?? []))
      }
      session.memory.set(S.TRAIN, { role: "feature-holder", engine, data: own, index } satisfies S.FeatureHolderState)
      const summary = yield* S.sealMessage(session, stage, holder, "summary", Spec.FeatureSummary, engine.summary())
      const roles = Roles.split(rows.ids, fractions)
      return { alignment: rows.digest, rows: rows.ids.length, trainRows: roles.train.length, validationRows: roles.validation.length, testRows: roles.test.length, summary, ...resumed(request) }
    }))

  const key = handler(Stages.key, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.key.name
      const a = yield* S.labelHolderState(session, stage)
      const summaries: Array<Spec.FeatureSummary> = []
      for (let i = 1; i < session.participants.length; i++) {
        const from = to(session, i)
        const box = request.summaries.find((s) => s.participant === from)
        if (box === undefined) return yield* S.fail(session, stage, "InvalidRequest", `no feature summary of ${from}`)
        summaries.push(yield* S.openMessage(session, stage, from, "summary", Spec.FeatureSummary, box.payload))
      }
      const announced = yield* S.run(session, stage, a.engine.start(summaries))
      return { publicKey: announced.publicKey, keyBits: a.engine.publicKey()!.bits }
    }))

  const acceptKey = handler(Stages.acceptKey, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.acceptKey.name
      const p = yield* S.featureHolderState(session, stage)
      // The engine refuses a key below 2048 bits unless this party's own host allows test sizes.
      yield* Effect.mapError(p.engine.acceptKey({ publicKey: request.publicKey }), (e) => S.failure(session, stage, "InvalidKey", e.message))
      return { keyDigest: "0x" + bytesToHex(sha256(request.publicKey)) }
    }))

  const treeStart = handler(Stages.treeStart, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.treeStart.name
      const a = yield* S.labelHolderState(session, stage)
      const message = yield* S.run(session, stage, a.engine.startTree())
      if (message.tree !== request.tree) return yield* S.fail(session, stage, "InvalidRequest", `tree ${request.tree} asked, tree ${message.tree} is next`)
      const messages = []
      for (let i = 1; i < session.participants.length; i++) {
        messages.push({ participant: to(session, i), payload: yield* S.sealMessage(session, stage, to(session, i), `tree-start|${message.tree}`, Spec.TreeStart, message) })
      }
      return { local: message.local, messages }
    }))

  const tree = handler(Stages.tree, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.tree.name
      const p = yield* S.featureHolderState(session, stage)
      const message = yield* S.openMessage(session, stage, holder, `tree-start|${request.tree}`, Spec.TreeStart, request.message)
      yield* S.run(session, stage, p.engine.startTree(message))
      return {}
    }))

  const level = handler(Stages.level, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.level.name
      const a = yield* S.labelHolderState(session, stage)
      const next = yield* S.run(session, stage, a.engine.nextLevel())
      if (next.kind !== "remote") return { kind: next.kind, messages: [] }
      const messages = []
      for (let i = 1; i < session.participants.length; i++) {
        messages.push({ participant: to(session, i), payload: yield* S.sealMessage(session, stage, to(session, i), `histogram-request|${request.tree}`, Spec.HistogramRequest, next.request) })
      }
      return { kind: next.kind, messages }
    }))

  const histograms = handler(Stages.histograms, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.histograms.name
      const p = yield* S.featureHolderState(session, stage)
      const message = yield* S.openMessage(session, stage, holder, `histogram-request|${request.tree}`, Spec.HistogramRequest, request.message)
      const reply = yield* S.run(session, stage, p.engine.histograms(message))
      return { reply: yield* S.sealMessage(session, stage, holder, `histogram-reply|${request.tree}`, Spec.HistogramReply, reply) }
    }))

  /** Opens one box of every feature holder (in engine order) or of the named ones. */
  const openAll = <A, I>(session: ParticipantSession, stage: string, boxes: ReadonlyArray<Stages.Sealed>, label: string, schema: Schema.Codec<A, I>, every: boolean) =>
    Effect.gen(function*() {
      const out: Array<{ party: number; message: A }> = []
      const seen = new Set<string>()
      for (const box of boxes) {
        const party = S.indexOf(holder, session.participants, box.participant)
        if (party < 1 || seen.has(box.participant)) return yield* S.fail(session, stage, "InvalidRequest", `an unexpected box from ${box.participant}`)
        seen.add(box.participant)
        out.push({ party, message: yield* S.openMessage(session, stage, box.participant, label, schema, box.payload) })
      }
      if (every && out.length !== session.participants.length - 1) return yield* S.fail(session, stage, "InvalidRequest", `${out.length} replies for ${session.participants.length - 1} feature holders`)
      return out.sort((x, y) => x.party - y.party)
    })

  const splitSearch = handler(Stages.splitSearch, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.splitSearch.name
      const a = yield* S.labelHolderState(session, stage)
      // A local level (the label holder's own tree) has no replies; a remote one has every feature holder's.
      const replies = request.replies.length === 0 ? [] : yield* openAll(session, stage, request.replies, `histogram-reply|${request.tree}`, Spec.HistogramReply, true)
      const requests = yield* S.run(session, stage, a.engine.chooseSplits(replies.map((r) => r.message)))
      const messages = []
      for (const r of requests) {
        messages.push({ participant: to(session, r.party), payload: yield* S.sealMessage(session, stage, to(session, r.party), `split-request|${request.tree}`, Spec.SplitRequest, r.request) })
      }
      return { messages }
    }))

  const split = handler(Stages.split, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.split.name
      const p = yield* S.featureHolderState(session, stage)
      const message = yield* S.openMessage(session, stage, holder, `split-request|${request.tree}`, Spec.SplitRequest, request.message)
      const reply = yield* S.run(session, stage, p.engine.split(message))
      return { reply: yield* S.sealMessage(session, stage, holder, `split-reply|${request.tree}`, Spec.SplitReply, reply) }
    }))

  const partition = handler(Stages.partition, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.partition.name
      const a = yield* S.labelHolderState(session, stage)
      const replies = yield* openAll(session, stage, request.replies, `split-reply|${request.tree}`, Spec.SplitReply, false)
      yield* S.run(session, stage, a.engine.applySplits(replies.map((r) => ({ party: r.party, reply: r.message }))))
      return {}
    }))

  const endTree = handler(Stages.endTree, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.endTree.name
      const a = yield* S.labelHolderState(session, stage)
      const end = yield* S.run(session, stage, a.engine.endTree())
      if (end.tree !== request.tree) return yield* S.fail(session, stage, "InvalidRequest", `tree ${request.tree} asked, tree ${end.tree} ended`)
      const finite = (x: number | undefined) => x !== undefined && Number.isFinite(x)
      return { stop: end.stop, ...(finite(end.trainLoss) ? { trainLoss: end.trainLoss } : {}), ...(finite(end.validationLoss) ? { validationLoss: end.validationLoss } : {}) }
    }))

  const checkpoint = handler(Stages.checkpoint, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.checkpoint.name
      const s = yield* S.trainState(session, stage)
      const base = { taskId: session.taskId, trees: request.trees, bins: s.engine.bins() }
      const progress: Parts.Progress = s.role === "label-holder"
        ? { ...base, labelHolder: s.engine.snapshot() }
        : { ...base, entries: s.engine.snapshot(request.trees) }
      if (progress.labelHolder !== undefined && progress.labelHolder.trees.length !== request.trees) {
        return yield* S.fail(session, stage, "InvalidRequest", `checkpoint after ${request.trees} trees asked, ${progress.labelHolder.trees.length} are finished`)
      }
      yield* Effect.mapError(Parts.saveProgress(session.self, progress), (e) => S.failure(session, stage, "ProgressNotSaved", e.message))
      return { trees: request.trees }
    }))

  const cleanup = handler(Stages.cleanup, (request, session) =>
    Effect.as(
      Effect.mapError(Parts.removeProgress(session.self, session.taskId, request.trees), (e) => S.failure(session, Stages.cleanup.name, "ProgressNotRemoved", e.message)),
      {}
    ))

  const finish = handler(Stages.finish, (request, session) =>
    Effect.gen(function*() {
      const stage = Stages.finish.name
      const s = yield* S.trainState(session, stage)
      if (s.model !== undefined) return yield* S.fail(session, stage, "DuplicateStage", "already finished")
      const base = { modelId: session.taskId, parties: [...session.participants], labelHolder: holder, idColumn: params.idColumn, columns: s.data.columns.map((c) => c.name) }
      const store = (part: Parts.ModelPart) => Effect.mapError(Parts.put(session.self, part), (e) => S.failure(session, stage, "ModelNotStored", e.message))
      if (s.role === "label-holder") {
        const { model, message, importance } = s.engine.finish()
        s.model = model
        s.modelDigest = (yield* store({ ...base, labelHolderModel: model })).digest
        return { trees: message.trees, digest: s.modelDigest, importance }
      }
      if (request.trees === undefined) return yield* S.fail(session, stage, "InvalidRequest", "a feature holder is told how many trees are kept")
      const model = s.engine.finish({ trees: request.trees })
      s.model = model
      s.modelDigest = (yield* store({ ...base, featureHolderModel: model })).digest
      // The owner's own record of its part (never sent anywhere).
      const output = { taskId: session.taskId, kind: Spec.kinds.train, role: "feature-holder", columns: base.columns, lookupRecords: model.entries.length, modelDigest: s.modelDigest }
      yield* TaskOutput.deliver(session, { ...output, digest: sha256Digest(output) })
      return { trees: request.trees, digest: s.modelDigest }
    }))

  return [prepare, key, acceptKey, treeStart, tree, level, histograms, splitSearch, split, partition, endTree, checkpoint, finish, cleanup]
}
