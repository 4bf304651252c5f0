/**
 * Coordinator side of the SecureBoost kinds (Stages.ts): schedules the stages in LocalRun.ts's order and relays
 * the boxes the label holder and the feature holders seal to each other. It never holds the Paillier key, a
 * gradient, a histogram, a threshold, a row set or a score: its result is the run's shape (rows per role, trees
 * grown and kept, per-tree wall time), the test metrics the label holder reports, the model parts' digests and
 * one Merkle root of its round digests per phase (`session.commit`, notarized like every kind).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Merkle from "../federated-learning/Merkle.ts"
import * as PsiCoordinator from "../joint-query/psi/coordinator.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import type { CoordinatorSession, Stage } from "../Protocol.ts"
import { ProtocolError } from "../Protocol.ts"
import * as Spec from "./spec.ts"
import * as Stages from "./Stages.ts"

export interface Options {
  readonly timeoutMs?: number
  /** The label holder draws the Paillier key's primes (seconds at 2048 bits): its own, longer timeout. */
  readonly keyTimeoutMs?: number
  /**
   * The rounds of a tree encrypt, sum or decrypt once per training row (hidden-instances mode: per row and node),
   * so their time grows with the rows, not with the network: default `timeoutMs` or 20 ms per training row,
   * whichever is longer (a 2048-bit encryption costs ≈ 5–10 ms on one core).
   */
  readonly treeTimeoutMs?: number
}

interface Run {
  readonly session: CoordinatorSession
  readonly kind: string
  readonly timeoutMs: number | undefined
  readonly counters: { rounds: number; levels: number; splitRounds: number; predictRounds: number }
  /** Round digests of the current phase (its Merkle leaves). */
  readonly digests: Array<string>
  readonly commitments: Record<string, string>
}

const protocolError = (kind: string, reason: string, detail: string) => new ProtocolError({ protocol: kind, reason, detail })

/** One round: its replies hashed into the phase's Merkle leaves (Merkle.roundDigest). */
const round = <Req, Rep>(r: Run, stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>, timeoutMs = r.timeoutMs) =>
  Effect.gen(function*() {
    const replies = yield* r.session.round(stage, requests, { minReplies: requests.size, timeoutMs })
    r.counters.rounds++
    r.digests.push(Merkle.roundDigest(stage.name, replies))
    return replies
  })

const one = <Req, Rep>(r: Run, stage: Stage<Req, Rep>, party: string, request: Req, timeoutMs?: number) =>
  Effect.map(round(r, stage, new Map([[party, request]]), timeoutMs), (replies) => replies.get(party)!)

const commitPhase = (r: Run, phase: string) =>
  Effect.gen(function*() {
    if (r.digests.length === 0) return
    const root = Merkle.root(r.digests)
    r.digests.length = 0
    r.commitments[phase] = root
    yield* r.session.commit(phase, root)
  })

/** Relays each sealed box to its recipient with the rest of its request. */
const relay = <Req>(boxes: ReadonlyArray<Stages.Sealed>, make: (payload: Uint8Array) => Req) => new Map(boxes.map((b) => [b.participant, make(b.payload)] as const))
/** The replies' boxes, named by their sender. */
const boxesOf = <Rep>(replies: ReadonlyMap<string, Rep>, payload: (reply: Rep) => Uint8Array): Array<Stages.Sealed> =>
  [...replies].map(([participant, reply]) => ({ participant, payload: payload(reply) }))

const checkRecipients = (r: Run, boxes: ReadonlyArray<Stages.Sealed>, allowed: ReadonlyArray<string>) => {
  const stray = boxes.find((b) => !allowed.includes(b.participant))
  return stray === undefined ? Effect.void : Effect.fail(protocolError(r.kind, "InvalidRecipient", `the label holder addressed a box to ${stray.participant}, not a feature holder`))
}

interface Pass {
  /** Batch prediction: the window of the aligned rows this pass scores. */
  readonly rows?: { readonly from: number; readonly count: number }
  /** Not the last pass: the requester keeps the scores for the last one's output. */
  readonly more?: boolean
}

/** Joint prediction of `request` (the evaluation, a prediction task's ids, or one batch pass) for `requester`. */
const predictFlow = (r: Run, labelHolder: string, requester: string, request: string, pass: Pass = {}) =>
  Effect.gen(function*() {
    const parties = r.session.participants
    const featureHolders = parties.filter((p) => p !== labelHolder)
    const open = { request, ...(pass.rows === undefined ? {} : { rows: pass.rows }) }
    const opened = yield* round(r, Stages.predictOpen, new Map(parties.map((p) => [p, open] as const)))
    const counts = new Set([...opened.values()].map((o) => o.records))
    if (counts.size !== 1) return yield* protocolError(r.kind, "CountMismatch", "parties opened different numbers of records")
    if (pass.rows !== undefined && !counts.has(pass.rows.count)) return yield* protocolError(r.kind, "CountMismatch", `parties opened ${[...counts][0]} records of a ${pass.rows.count}-record pass`)
    let answers: Array<Stages.Sealed> = []
    let scores: Uint8Array | undefined
    for (let step = 0;; step++) {
      const walked = yield* one(r, Stages.predictWalk, labelHolder, { request, round: step, answers })
      if (walked.done) {
        scores = walked.scores
        break
      }
      yield* checkRecipients(r, walked.queries, featureHolders)
      r.counters.predictRounds++
      const answered = yield* round(r, Stages.predictAnswer, relay(walked.queries, (query) => ({ request, round: step, query })))
      answers = boxesOf(answered, (a) => a.answer)
    }
    return yield* one(r, Stages.predictOutput, requester, { request, ...(scores === undefined ? {} : { scores }), ...(pass.more === true ? { more: true } : {}) })
  })

const runOf = (session: CoordinatorSession, kind: string, options: Options): Run => ({
  session,
  kind,
  timeoutMs: options.timeoutMs,
  counters: { rounds: 0, levels: 0, splitRounds: 0, predictRounds: 0 },
  digests: [],
  commitments: {}
})

/** The tree boundary a restarted coordinator resumes from (saved after every party sealed its progress there). */
const CHECKPOINT = "secureboost/train"
/** The finished task's result, checkpointed before the parties are told to remove their progress. */
const RESULT_CHECKPOINT = "secureboost/result"
const CLEANUP_TIMEOUT_MS = 30_000

interface Checkpoint {
  /** Trees finished (and sealed by every party). */
  readonly trees: number
  readonly treeMs: ReadonlyArray<number>
  readonly curve: Stages.TrainResult["curve"]
  /** Round digests of the train phase so far: its Merkle root covers every tree, resumed or not. */
  readonly digests: ReadonlyArray<string>
  readonly counters: Run["counters"]
  /** The label holder said to stop after this tree (early stopping, or the last tree). */
  readonly stopped: boolean
}

/** Every party removes its sealed progress around `trees`; best effort (a party that does not answer keeps it). */
const cleanup = (session: CoordinatorSession, trees: number, timeoutMs: number | undefined) =>
  trees === 0
    ? Effect.void
    : Effect.ignore(session.round(Stages.cleanup, new Map(session.participants.map((p) => [p, { trees }] as const)), { minReplies: 0, timeoutMs: Math.min(timeoutMs ?? CLEANUP_TIMEOUT_MS, CLEANUP_TIMEOUT_MS) }))

/**
 * Training with the parties' progress managed around it: a restarted coordinator resumes after the last tree
 * every party sealed; the progress is removed once the result is checkpointed, or right away when the task fails
 * (a failed task is never resumed: only a coordinator restart reschedules a task, and a restart does not run
 * this error path).
 */
export const runTraining = (session: CoordinatorSession, params: Spec.TrainParams, options: Options = {}) =>
  Effect.gen(function*() {
    const done = (yield* session.checkpoint.load(RESULT_CHECKPOINT)) as Stages.TrainResult | undefined
    if (done !== undefined) {
      // The previous attempt died between checkpointing its result and the cleanup: repeat only that.
      yield* cleanup(session, done.grown, options.timeoutMs)
      return done
    }
    const result = yield* trainOnce(session, params, options)
    yield* session.checkpoint.save(RESULT_CHECKPOINT, result)
    yield* cleanup(session, result.grown, options.timeoutMs)
    return result
  }).pipe(Effect.tapError(() =>
    Effect.flatMap(session.checkpoint.load(CHECKPOINT), (saved) => cleanup(session, (saved as Checkpoint | undefined)?.trees ?? 0, options.timeoutMs))))

const trainOnce = (session: CoordinatorSession, params: Spec.TrainParams, options: Options) =>
  Effect.gen(function*() {
    const kind = Spec.kinds.train
    const r = runOf(session, kind, options)
    const parties = session.participants
    const labelHolder = parties.find((p) => p === params.labelHolder)
    if (labelHolder === undefined) return yield* protocolError(kind, "InvalidParams", "the label holder is not a party")
    const featureHolders = parties.filter((p) => p !== labelHolder)
    const hyper = Spec.hyperOf(params)

    // align: the aligned PSI join, every party a receiver; its channel keys seal everything after it.
    const psi = yield* PsiCoordinator.run(session, "aligned", PsiSpec.alignedJoin(params.idColumn, parties, params.maxIds), { timeoutMs: options.timeoutMs })

    // A restarted coordinator resumes after the last tree it checkpointed: every party restores its sealed
    // progress there (the label holder its trees and margins by id, feature holders their lookup records).
    const saved = (yield* session.checkpoint.load(CHECKPOINT)) as Checkpoint | undefined
    const resumeAt = saved?.trees

    // prepare: the same rows in the same order everywhere, and the same role split.
    const prepared = yield* round(r, Stages.prepare, new Map(parties.map((p) => [p, resumeAt === undefined ? {} : { resumeAt }] as const)))
    const reference = prepared.get(labelHolder)!
    const mismatched = parties.filter((p) => {
      const x = prepared.get(p)!
      return x.alignment !== psi.alignment || x.rows !== reference.rows || x.trainRows !== reference.trainRows || x.testRows !== reference.testRows
    })
    if (mismatched.length > 0) return yield* protocolError(kind, "AlignmentMismatch", `the aligned rows or role split of ${mismatched.join(", ")} differ from the join's`)
    const missing = featureHolders.filter((p) => prepared.get(p)!.summary === undefined)
    if (missing.length > 0) return yield* protocolError(kind, "MissingSummary", `no feature summary from ${missing.join(", ")}`)
    const unresumed = parties.filter((p) => prepared.get(p)!.resumed !== resumeAt)
    if (unresumed.length > 0) return yield* protocolError(kind, "ResumeMismatch", `${unresumed.join(", ")} did not restore the progress after ${resumeAt ?? 0} trees`)
    yield* commitPhase(r, "secureboost.prepare")

    // key: the label holder's Paillier key; every feature holder checks its size and keeps it.
    const summaries = featureHolders.map((p) => ({ participant: p, payload: prepared.get(p)!.summary! }))
    const keyed = yield* one(r, Stages.key, labelHolder, { summaries }, options.keyTimeoutMs ?? Math.max(options.timeoutMs ?? 0, 300_000))
    const accepted = yield* round(r, Stages.acceptKey, new Map(featureHolders.map((p) => [p, { publicKey: keyed.publicKey }] as const)))
    const keyDigest = "0x" + bytesToHex(sha256(keyed.publicKey))
    const disagree = featureHolders.filter((p) => accepted.get(p)!.keyDigest !== keyDigest)
    if (disagree.length > 0) return yield* protocolError(kind, "KeyMismatch", `${disagree.join(", ")} accepted another key`)
    yield* commitPhase(r, "secureboost.key")

    // train: tree by tree, level by level, as LocalRun.ts.
    const work = options.treeTimeoutMs ?? Math.max(options.timeoutMs ?? 0, 20 * reference.trainRows)
    const treeMs: Array<number> = [...(saved?.treeMs ?? [])]
    const curve: Array<Stages.TrainResult["curve"][number]> = [...(saved?.curve ?? [])]
    if (saved !== undefined) {
      r.digests.push(...saved.digests)
      for (const k of Object.keys(r.counters) as Array<keyof Run["counters"]>) r.counters[k] += saved.counters[k]
    }
    // An attempt that died after the last tree's checkpoint has nothing left to grow.
    const grownBefore = saved?.stopped === true
    for (let tree = resumeAt ?? 0; !grownBefore; tree++) {
      const started = performance.now()
      const start = yield* one(r, Stages.treeStart, labelHolder, { tree }, work)
      // Every feature holder hears of every tree, a local one too (its TreeStart says so and carries nothing).
      yield* checkRecipients(r, start.messages, featureHolders)
      yield* round(r, Stages.tree, relay(start.messages, (message) => ({ tree, message })), work)
      for (;;) {
        const level = yield* one(r, Stages.level, labelHolder, { tree }, work)
        if (level.kind === "done") break
        r.counters.levels++
        let replies: Array<Stages.Sealed> = []
        if (level.kind === "remote") {
          yield* checkRecipients(r, level.messages, featureHolders)
          replies = boxesOf(yield* round(r, Stages.histograms, relay(level.messages, (message) => ({ tree, message })), work), (h) => h.reply)
        }
        const search = yield* one(r, Stages.splitSearch, labelHolder, { tree, replies }, work)
        let splitReplies: Array<Stages.Sealed> = []
        if (search.messages.length > 0) {
          yield* checkRecipients(r, search.messages, featureHolders)
          r.counters.splitRounds++
          splitReplies = boxesOf(yield* round(r, Stages.split, relay(search.messages, (message) => ({ tree, message })), work), (s) => s.reply)
        }
        yield* one(r, Stages.partition, labelHolder, { tree, replies: splitReplies }, work)
      }
      const end = yield* one(r, Stages.endTree, labelHolder, { tree })
      treeMs.push(performance.now() - started)
      curve.push({ tree, ...(end.trainLoss === undefined ? {} : { trainLoss: end.trainLoss }), ...(end.validationLoss === undefined ? {} : { validationLoss: end.validationLoss }) })
      // Every party seals its progress after this tree before the coordinator records that it may resume here.
      yield* round(r, Stages.checkpoint, new Map(parties.map((p) => [p, { trees: tree + 1 }] as const)), work)
      yield* session.checkpoint.save(CHECKPOINT, { trees: tree + 1, treeMs: [...treeMs], curve: [...curve], digests: [...r.digests], counters: { ...r.counters }, stopped: end.stop } satisfies Checkpoint)
      yield* session.progress({ stage: "secureboost.train", done: tree + 1, total: hyper.trees })
      if (end.stop) break
      if (tree + 1 >= hyper.trees) return yield* protocolError(kind, "TooManyTrees", `the label holder did not stop after ${hyper.trees} trees`)
    }
    yield* commitPhase(r, "secureboost.train")

    // finish: the label holder says how many trees are kept; every party seals its part at rest.
    const kept = yield* one(r, Stages.finish, labelHolder, {})
    const finished = yield* round(r, Stages.finish, new Map(featureHolders.map((p) => [p, { trees: kept.trees }] as const)))
    yield* commitPhase(r, "secureboost.finish")
    const order = Stages.orderOf(labelHolder, parties)
    if (kept.importance !== undefined && kept.importance.length !== order.length) return yield* protocolError(kind, "InvalidReply", `the label holder reported the importance of ${kept.importance.length} parties, not ${order.length}`)
    const importance = (kept.importance ?? []).map((x, i) => ({ party: order[i]!, ...x }))
    const parts: Record<string, string> = { [labelHolder]: kept.digest, ...Object.fromEntries([...finished].map(([p, f]) => [p, f.digest])) }

    // evaluate: joint prediction of the test split for the label holder, who reports the metrics only.
    const evaluation = yield* predictFlow(r, labelHolder, labelHolder, "evaluate")
    yield* commitPhase(r, "secureboost.evaluate")
    const result: Stages.TrainResult = {
      kind,
      modelId: session.taskId,
      parties: [...parties],
      labelHolder,
      rows: reference.rows,
      trainRows: reference.trainRows,
      validationRows: reference.validationRows,
      testRows: reference.testRows,
      alignment: psi.alignment ?? reference.alignment,
      keyBits: keyed.keyBits,
      keyDigest,
      objective: hyper.objective,
      mode: params.mode ?? Spec.defaults.mode,
      grown: treeMs.length,
      kept: kept.trees,
      ...(resumeAt === undefined ? {} : { resumedFromTree: resumeAt }),
      treeMs: treeMs.map((ms) => Math.round(ms)),
      curve,
      importance,
      test: evaluation.metrics ?? { rows: evaluation.count },
      parts,
      counters: { ...r.counters },
      commitments: r.commitments
    }
    return result
  })

export const runPrediction = (session: CoordinatorSession, params: Stages.PredictParams, options: Options = {}) =>
  Effect.gen(function*() {
    const kind = Spec.kinds.predict
    const r = runOf(session, kind, options)
    const parties = session.participants
    const requester = parties.find((p) => p === params.requester)
    if (requester === undefined) return yield* protocolError(kind, "InvalidParams", "the requester is not a party")
    const labelHolder = parties.find((p) => p === params.labelHolder)
    if (labelHolder === undefined) return yield* protocolError(kind, "InvalidParams", "the label holder is not a party")
    const base = { kind, modelId: params.model, requester }
    if (params.ids !== undefined) {
      // Online: signed channel keys (the PSI family's first two stages) seal queries, answers and scores.
      const keys = yield* round(r, PsiSpec.keys, new Map(parties.map((p) => [p, {}] as const)))
      const advertisements = parties.map((participant) => ({ participant, ...keys.get(participant)! }))
      yield* round(r, PsiSpec.peers, new Map(parties.map((p) => [p, { advertisements }] as const)))
      const out = yield* predictFlow(r, labelHolder, requester, session.taskId)
      yield* commitPhase(r, "secureboost.predict")
      const result: Stages.PredictResult = { ...base, count: out.count, digest: out.digest, counters: { ...r.counters }, commitments: r.commitments }
      return result
    }
    // Batch: the aligned join of every id the parties share (the coordinator learns how many), then one pass per
    // window of `batchSize` aligned rows, so no message grows with the set; the requester delivers at the end.
    const psi = yield* PsiCoordinator.run(session, "aligned", PsiSpec.alignedJoin(params.idColumn, parties, params.maxIds ?? Stages.batchDefaults.maxIds), { timeoutMs: options.timeoutMs })
    const total = psi.cardinality ?? 0
    if (total === 0) return yield* protocolError(kind, "EmptyIntersection", "the parties share no id to predict")
    const size = params.batchSize ?? Stages.batchDefaults.batchSize
    let out: Stages.PredictOutputReply | undefined
    let batches = 0
    for (let from = 0; from < total; from += size, batches++) {
      const count = Math.min(size, total - from)
      out = yield* predictFlow(r, labelHolder, requester, `${session.taskId}#${batches}`, { rows: { from, count }, more: from + count < total })
      yield* session.progress({ stage: "secureboost.predict", done: from + count, total })
    }
    yield* commitPhase(r, "secureboost.predict")
    const result: Stages.PredictResult = { ...base, count: out!.count, batches, digest: out!.digest, counters: { ...r.counters }, commitments: r.commitments }
    return result
  })

