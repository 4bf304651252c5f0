/**
 * The two roles of a contribution task. An owner runs federated learning's own handlers (every coalition it
 * belongs to is a federated run under its own aggregation ids) and trains its single-owner coalition alone. The
 * valuer scores every model on its test set, keeps the scores, and turns them into values itself, so the score
 * table never leaves it (spec.ts, "Who learns what").
 */
import { Effect } from "effect"
import { keccak256 } from "ethers"
import * as Contribution from "../../incentives/Contribution.ts"
import * as Shapley from "../../incentives/Shapley.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as Metrics from "../../models/Metrics.ts"
import { bytesToFloat32, float32ToBytes } from "../../models/ModelArtifact.ts"
import type { LocalMatrix } from "../federated-learning/ModelRuntime.ts"
import { ModelRuntime } from "../federated-learning/ModelRuntime.ts"
import * as FederatedLearning from "../federated-learning/participant.ts"
import { UnexpectedLabels } from "../federated-learning/spec.ts"
import { localSplit, updateProblem } from "../federated-learning/Updates.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import type { Recipe } from "./Recipe.ts"
import { recipeHash } from "./Recipe.ts"
import type { ModelMetrics, ValueReply } from "./spec.ts"
import { prepare, score, scoreScale, solo, value } from "./spec.ts"

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

const runtimeFailure = (session: ParticipantSession, stage: string) => (error: { readonly reason: string; readonly detail: string }) =>
  fail(session, stage, `Model${error.reason}`, error.detail)

const weightsOf = (session: ParticipantSession, stage: string, bytes: Uint8Array, parameters: number) =>
  Effect.gen(function*() {
    const weights = yield* Effect.try({ try: () => bytesToFloat32(bytes), catch: (e) => fail(session, stage, "InvalidWeights", String(e)) })
    const problem = updateProblem(weights, parameters)
    if (problem) return yield* fail(session, stage, "InvalidWeights", problem)
    return weights
  })

// ------------------------------------------------------------------ owner

const SOLO = "shapley/solo"

export const ownerHandlers = (datasetName: string, recipe: Recipe) => {
  const { training } = recipe
  const rows = FederatedLearning.localRows(datasetName, training)
  return [
    handler(prepare, (_request, session) => Effect.as(rows(session, prepare.name), {})),

    // FedAvg over one member is its local training, round after round: only the final model leaves. One per
    // attempt, whatever start weights a later request names, so no one can collect solo updates from chosen models.
    handler(solo, ({ weights: bytes }, session) =>
      Effect.gen(function*() {
        const done = session.memory.get(SOLO) as { weights: Uint8Array } | undefined
        if (done) return done
        const start = yield* weightsOf(session, solo.name, bytes, training.summary.parameters)
        const data = yield* rows(session, solo.name)
        const runtime = yield* ModelRuntime
        let weights = start
        for (let round = 1; round <= training.params.rounds; round++) {
          weights = yield* Effect.mapError(
            runtime.train({ topology: training.params.model, weights, data: data.train, config: FederatedLearning.trainingConfig(training, round) }),
            runtimeFailure(session, solo.name)
          )
        }
        const problem = updateProblem(weights, training.summary.parameters)
        if (problem) return yield* fail(session, solo.name, "Diverged", `solo model: ${problem}`)
        const reply = { weights: float32ToBytes(weights) }
        session.memory.set(SOLO, reply)
        return reply
      })),

    ...FederatedLearning.handlers(datasetName, training)
  ]
}

// ------------------------------------------------------------------ valuer

interface TestSet {
  readonly matrix: LocalMatrix
  readonly hash: string
}

interface Scored {
  readonly confusion: Metrics.Confusion
  /** Kept for the whole coalition's models: its ROC curve is part of the result. */
  readonly roc?: Metrics.Roc
}

const TEST = "shapley/test-set"
const SCORES = "shapley/scores"
const key = (round: number, coalition: number) => `${round}:${coalition}`

export const valuerHandlers = (datasetName: string, recipe: Recipe) => {
  const { training, classes, positive } = recipe
  const columns = [...training.params.featureColumns, training.params.labelColumn]
  const full = (1 << recipe.owners.length) - 1
  const worthOf = (c: Metrics.Confusion) => (recipe.metric === "f1" ? Metrics.f1(c, positive) : Metrics.accuracy(c))

  /** Every row of the test set as the model reads it, and the hash of its used columns as the file holds them. */
  const testSet = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      const cached = session.memory.get(TEST) as TestSet | undefined
      if (cached) return cached
      const data = yield* (yield* LocalData).dataset(datasetName)
      const problem = FederatedLearning.datasetProblem(data, training)
      if (problem) {
        const [code, detail] = problem.split(/: (.*)/s)
        return yield* fail(session, stage, code!, detail!)
      }
      if (data.rowCount === 0) return yield* fail(session, stage, "EmptyTestSet", `dataset ${data.name} has no rows`)
      const all = { ...training, params: { ...training.params, validationSplit: 0 } }
      const matrix = yield* Effect.try({
        try: () => localSplit(data, all, `${session.taskId}#${session.attempt}/test`).train,
        catch: (error) =>
          error instanceof UnexpectedLabels ? fail(session, stage, "UnexpectedLabels", error.message) : fail(session, stage, "LocalData", String(error))
      })
      const text = columns.map((c) => data.strings(c))
      const hash = Contribution.testSetHash(columns, Array.from({ length: data.rowCount }, (_, i) => text.map((column) => column[i]!)))
      const built = { matrix, hash }
      session.memory.set(TEST, built)
      return built
    })

  const table = (session: ParticipantSession) => {
    let scores = session.memory.get(SCORES) as Map<string, Scored> | undefined
    if (scores === undefined) session.memory.set(SCORES, (scores = new Map()))
    return scores
  }

  const metricsOf = (scored: Scored): ModelMetrics => {
    const { precision, recall } = Metrics.precisionRecall(scored.confusion, positive)
    return {
      worth: worthOf(scored.confusion),
      accuracy: Metrics.accuracy(scored.confusion),
      f1: Metrics.f1(scored.confusion, positive),
      precision,
      recall,
      confusion: scored.confusion,
      ...(scored.roc ? { roc: scored.roc, auc: Metrics.auc(scored.roc) } : {})
    }
  }

  return [
    handler(prepare, (_request, session) =>
      Effect.map(testSet(session, prepare.name), (t) => ({ testSetHash: t.hash, testRows: t.matrix.rows }))),

    handler(score, ({ models }, session) =>
      Effect.gen(function*() {
        const test = yield* testSet(session, score.name)
        const runtime = yield* ModelRuntime
        const scores = table(session)
        for (const model of models) {
          if (model.coalition > full) return yield* fail(session, score.name, "UnknownCoalition", `coalition ${model.coalition} names owners beyond the ${recipe.owners.length}`)
          const weights = yield* weightsOf(session, score.name, model.weights, training.summary.parameters)
          const outputs = yield* Effect.mapError(
            runtime.predict({ topology: training.params.model, weights, features: test.matrix.features, rows: test.matrix.rows }),
            runtimeFailure(session, score.name)
          )
          const actual = Uint32Array.from(test.matrix.labels)
          const confusion = Metrics.confusion(classes, actual, Metrics.predictedClasses(outputs, test.matrix.rows))
          const roc = model.coalition === full
            ? Metrics.roc(Metrics.positiveScores(outputs, test.matrix.rows, positive), Array.from(actual, (a) => a === positive), positive)
            : undefined
          scores.set(key(model.round, model.coalition), { confusion, ...(roc ? { roc } : {}) })
        }
        return { scored: models.length }
      })),

    handler(value, (request, session) =>
      Effect.gen(function*() {
        const test = yield* testSet(session, value.name)
        const scores = table(session)
        const n = recipe.owners.length
        if (request.owners !== n) return yield* fail(session, value.name, "InvalidRequest", `${request.owners} owners named, the task has ${n}`)
        const missing: Array<string> = []
        const worth = (round: number) => (coalition: number) => {
          if (coalition === 0 && round === 0) return 0
          const scored = scores.get(key(round, coalition))
          if (scored === undefined) {
            missing.push(key(round, coalition))
            return 0
          }
          return worthOf(scored.confusion)
        }
        const log: Array<string> = []
        let raw: ReadonlyArray<number>
        let standardError: ReadonlyArray<number> | undefined
        let skippedRounds: Array<number> | undefined
        if (request.method === "exact") {
          raw = Shapley.exact(n, worth(0))
        } else if (request.method === "monte-carlo") {
          if (request.orders === undefined || request.orders.length === 0) return yield* fail(session, value.name, "InvalidRequest", "monte-carlo needs the orderings")
          const estimate = Shapley.monteCarloOver(n, worth(0), request.orders)
          raw = estimate.phi
          standardError = estimate.standardError
        } else {
          const rounds = Array.from({ length: request.rounds }, (_, r) => ({
            base: worth(r + 1)(0),
            worth: worth(r + 1),
            ...(request.ordersPerRound ? { orders: request.ordersPerRound[r]! } : {})
          }))
          const estimate = Shapley.roundReconstruction(n, rounds, request.truncation === undefined ? {} : { truncation: request.truncation })
          raw = estimate.phi
          standardError = estimate.standardError
          skippedRounds = estimate.perRound.flatMap((values, r) => (values === undefined ? [r + 1] : []))
          if (skippedRounds.length > 0) log.push(`rounds ${skippedRounds.join(", ")} gained at most ${request.truncation} and were skipped (truncation)`)
        }
        if (missing.length > 0) return yield* fail(session, value.name, "MissingScores", `no score for ${[...new Set(missing)].slice(0, 10).join(", ")}`)
        const { shares, clamped } = Shapley.clampShares(raw, (message) => log.push(message))

        // The table, salted and hashed in the settlement contract's form, stays here (TaskOutput).
        const grandRound = request.method === "round-reconstruction" ? request.rounds : 0
        const grand = scores.get(key(grandRound, full))
        if (grand === undefined) return yield* fail(session, value.name, "MissingScores", `no score for the whole coalition (${key(grandRound, full)})`)
        const salt = keccak256(crypto.getRandomValues(new Uint8Array(32)))
        const entries = [...scores.entries()]
          .map(([k, s]) => {
            const [round, coalition] = k.split(":").map(Number) as [number, number]
            return { round, coalition, worth: worthOf(s.confusion), confusion: s.confusion }
          })
          .sort((a, b) => a.round - b.round || a.coalition - b.coalition)
        const fixed = request.method === "exact"
          ? Array.from({ length: full + 1 }, (_, mask) => (mask === 0 ? 0n : Contribution.fixedPoint(worth(0)(mask), scoreScale)))
          : undefined
        const scoresHash = fixed
          ? Contribution.tableHash(salt, fixed)
          : Contribution.entriesHash(salt, entries.map((e) => ({ round: e.round, coalition: e.coalition, score: Contribution.fixedPoint(e.worth, scoreScale) })))
        const record: Contribution.ScoreTable = {
          taskId: session.taskId,
          method: request.method,
          metric: recipe.metric,
          owners: request.ownerIds,
          scale: scoreScale,
          salt,
          ...(fixed ? { scores: fixed.map(String) } : {}),
          entries,
          scoresHash,
          testSetHash: test.hash,
          recipeHash: recipeHash(recipe.params),
          modelHashes: request.modelHashes
        }
        const location = yield* TaskOutput.deliver(session, record)
        const reply: ValueReply = {
          phi: raw,
          shares,
          clamped,
          ...(standardError ? { standardError } : {}),
          ...(skippedRounds ? { skippedRounds } : {}),
          log,
          scoresHash,
          grand: metricsOf(grand),
          location
        }
        return reply
      }))
  ]
}
