/**
 * Participant side of horizontal federated learning: the rows stay here; the model runtime (a service, so it
 * may run on another thread) trains on them and only the update — masked in secure mode — leaves.
 */
import { Effect } from "effect"
import type { TabularData } from "../../data/Tabular.ts"
import * as Local from "../../data/Local.ts"
import { bytesToFloat32, float32ToBytes } from "../../models/ModelArtifact.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import { secureAggregationHandlers, settle } from "../secure-aggregation/client.ts"
import type * as RingVector from "../secure-aggregation/RingVector.ts"
import type { ValidationMetrics } from "./spec.ts"
import { defaults, evaluate, initialize, prepare, runAndRound, train, UnexpectedLabels } from "./spec.ts"
import type { Resolved, Split } from "./Updates.ts"
import { contribution, encodeContribution, encodeVector, localSplit, updateProblem } from "./Updates.ts"
import { ModelRuntime, type TrainingConfig } from "./ModelRuntime.ts"
import * as Privacy from "./Privacy.ts"
import * as CkksAggregation from "./CkksAggregation.ts"

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

const inputKey = (aggregationId: string) => `fl/input/${aggregationId}`

/**
 * The reply to the latest round this party trained in, one per federated run (a contribution task runs every
 * coalition as its own run, concurrently, in one session), kept so that a retried request of that round gets the
 * same update (never a second sample of noise). Only the latest: a round's request comes again only while the
 * coordinator still waits for that round, so an earlier round's reply of the same run is never asked for again — and
 * in plain mode a reply is the whole update, which one entry per round kept for the attempt grew the party's memory
 * by a model every round.
 */
const lastTrainKey = (aggregationId: string) => `fl/train/last/${runAndRound(aggregationId).run}`
interface LastTrain {
  readonly round: number
  readonly aggregationId: string
  readonly reply: typeof train.reply.Type
}

/** "Code: detail" of the first reason `data` cannot serve the recipe (a missing or non-numeric column), or undefined. */
export const datasetProblem = (data: TabularData, resolved: Resolved): string | undefined => {
  const { params } = resolved
  for (const column of [...params.featureColumns, params.labelColumn]) {
    if (!data.columnNames.includes(column)) return `MissingColumn: dataset ${data.name} has no column ${column}`
  }
  const text = params.featureColumns.find((c) => !data.isNumeric(c))
  return text === undefined ? undefined : `NotNumeric: column ${text} of dataset ${data.name} is not numeric`
}

/**
 * The party's train/validation split, built once per attempt and kept in memory (the runtime may cache it by key
 * as well). Also the rows of the contribution task's solo training (`../contribution/`).
 */
export const localRows = (datasetName: string, resolved: Resolved) => (session: ParticipantSession, stage: string) =>
  Effect.gen(function*() {
    const { params } = resolved
    const cached = session.memory.get("fl/split") as Split | undefined
    if (cached) return cached
    // Only the feature and label columns, read through the source's bounded batches.
    const data = yield* Effect.mapError(Local.columns(datasetName, [...params.featureColumns, params.labelColumn]), (error) =>
      error._tag === "DatasetError" ? fail(session, stage, error.reason, error.message) : error)
    const problem = datasetProblem(data, resolved)
    if (problem) {
      const [code, detail] = problem.split(/: (.*)/s)
      return yield* fail(session, stage, code!, detail!)
    }
    const built = yield* Effect.try({
      try: () => localSplit(data, resolved, `${session.taskId}#${session.attempt}`),
      catch: (error) =>
        error instanceof UnexpectedLabels
          ? fail(session, stage, "UnexpectedLabels", error.message)
          : fail(session, stage, "LocalData", error instanceof Error ? error.message : String(error))
    })
    if (built.train.rows === 0) return yield* fail(session, stage, "NoTrainingRows", `dataset ${data.name} leaves no rows to train on`)
    session.memory.set("fl/split", built)
    return built
  })

/** Local training in round `round` of the recipe: the step decays by round, the batch order is seeded by it. */
export const trainingConfig = (resolved: Resolved, round: number): TrainingConfig => {
  const { params, loss } = resolved
  return {
    optimizer: params.optimizer,
    learningRate: params.learningRate * (params.learningRateDecay ?? 1) ** (round - 1),
    epochs: params.localEpochs,
    batchSize: params.batchSize,
    loss,
    proximalMu: params.strategy === "fedprox" ? params.proximalMu ?? 0.01 : 0,
    seed: (params.seed ?? defaults.seed) * 1009 + round
  }
}

export const handlers = (datasetName: string, resolved: Resolved) => {
  const { params, summary, loss } = resolved
  const topology = params.model
  const aggregation = params.aggregation ?? defaults.aggregation
  const runtimeFailure = (session: ParticipantSession, stage: string) => (error: { readonly reason: string; readonly detail: string }) =>
    fail(session, stage, `Model${error.reason}`, error.detail)

  const split = localRows(datasetName, resolved)

  const globalWeights = (session: ParticipantSession, stage: string, bytes: Uint8Array) =>
    Effect.gen(function*() {
      const weights = yield* Effect.try({ try: () => bytesToFloat32(bytes), catch: (e) => fail(session, stage, "InvalidWeights", String(e)) })
      const problem = updateProblem(weights, summary.parameters)
      if (problem) return yield* fail(session, stage, "InvalidWeights", `global model: ${problem}`)
      return weights
    })

  const validate = (session: ParticipantSession, stage: string, weights: Float32Array, data: Split) =>
    Effect.gen(function*() {
      if (data.validation.rows === 0) return { lossSum: 0, correct: 0, samples: 0 } satisfies ValidationMetrics
      const runtime = yield* ModelRuntime
      const result = yield* Effect.mapError(runtime.evaluate({ topology, weights, loss, data: data.validation }), runtimeFailure(session, stage))
      // A diverged model evaluates to NaN: report it as the worst loss rather than poisoning the sums.
      return { lossSum: Number.isFinite(result.lossSum) ? result.lossSum : 1e6, correct: result.correct, samples: result.samples }
    })

  const store = (session: ParticipantSession, stage: string, aggregationId: string, vector: () => RingVector.RingVector) =>
    Effect.try({
      try: () => void session.memory.set(inputKey(aggregationId), vector()),
      catch: (error) => {
        const message = error instanceof Error ? error.message : String(error)
        const [code] = message.split(":")
        return fail(session, stage, code === "Overflow" || code === "NotFinite" ? `InvalidUpdate${code}` : "InvalidUpdate", message)
      }
    })

  return [
    handler(prepare, (_request, session) => Effect.as(split(session, prepare.name), { ready: true as const })),

    handler(initialize, ({ seed }, session) =>
      Effect.gen(function*() {
        const runtime = yield* ModelRuntime
        const weights = yield* Effect.mapError(runtime.initialize(topology, seed), runtimeFailure(session, initialize.name))
        const problem = updateProblem(weights, summary.parameters)
        if (problem) return yield* fail(session, initialize.name, "ModelShapeMismatch", problem)
        return { weights: float32ToBytes(weights) }
      })),

    handler(train, ({ round, aggregationId, weights: bytes, expectedContributors, weightScale, ringBits }, session) =>
      Effect.gen(function*() {
        const stage = train.name
        const lastKey = lastTrainKey(aggregationId)
        const last = session.memory.get(lastKey) as LastTrain | undefined
        if (last?.aggregationId === aggregationId) return last.reply // a retried request gets the same update
        // Rounds of a run are sequential: the coordinator asks for round r + 1 only after round r's aggregation
        // ended, so this party's state of it — for a party reported dropped after masking, its masked input, which
        // no unmask request ever releases — is dropped before this round's vectors are built.
        if (last !== undefined && last.round < round) settle(session, last.aggregationId)
        const remember = (reply: typeof train.reply.Type) => {
          // A straggler of an earlier round finishing late must not replace a later round's reply. An earlier round's
          // input that secure aggregation never read (this party was dropped from it) is not read any more either.
          const latest = session.memory.get(lastKey) as LastTrain | undefined
          if (latest !== undefined && latest.round > round) return void session.memory.delete(inputKey(aggregationId))
          if (latest !== undefined && latest.aggregationId !== aggregationId) session.memory.delete(inputKey(latest.aggregationId))
          session.memory.set(lastKey, { round, aggregationId, reply } satisfies LastTrain)
        }
        const data = yield* split(session, stage)
        const global = yield* globalWeights(session, stage, bytes)
        const before = yield* validate(session, stage, global, data)
        const runtime = yield* ModelRuntime
        const local = yield* Effect.mapError(
          runtime.train({
            topology,
            weights: global,
            data: data.train,
            config: trainingConfig(resolved, round)
          }),
          runtimeFailure(session, stage)
        )
        const cohort = Math.max(2, session.participants.length)
        if (aggregation === "secure" && params.privacy === undefined) {
          // Encoded straight from the two models (Updates.encodeContribution): no float64 update in between.
          yield* store(session, stage, aggregationId, () => encodeContribution(local, global, data.train.rows, weightScale, before, cohort, ringBits))
          const reply = { ready: true as const }
          remember(reply)
          return reply
        }
        // "ckks": the sample count travels in its own slot and the decrypting contributors divide by Σ n_i.
        const update = contribution(local, global, data.train.rows, aggregation === "ckks" ? 1 : weightScale, params.privacy !== undefined)
        if (params.privacy) {
          // Each contributor adds σ²/m of the variance, so any m or more contributors together carry (z·C)².
          Privacy.clip(update, params.privacy.clipNorm)
          Privacy.addGaussianNoise(update, (params.privacy.noiseMultiplier * params.privacy.clipNorm) / Math.sqrt(Math.max(1, expectedContributors)))
        }
        let reply: typeof train.reply.Type
        if (aggregation === "plain") {
          reply = { ready: true, update: { weights: float32ToBytes(Float32Array.from(update)), trainSamples: data.train.rows, validation: before } }
        } else if (aggregation === "ckks") {
          const values = CkksAggregation.slots(update, data.train.rows, before)
          reply = { ready: true, encrypted: yield* CkksAggregation.encryptContribution(session, stage, aggregationId, global, values) }
        } else {
          yield* store(session, stage, aggregationId, () => encodeVector(update, data.train.rows, before, cohort, ringBits))
          reply = { ready: true }
        }
        remember(reply)
        return reply
      })),

    handler(evaluate, ({ aggregationId, weights: bytes, ringBits }, session) =>
      Effect.gen(function*() {
        const data = yield* split(session, evaluate.name)
        const weights = yield* globalWeights(session, evaluate.name, bytes)
        const metrics = yield* validate(session, evaluate.name, weights, data)
        if (aggregation === "plain") return { ready: true as const, validation: metrics }
        if (aggregation === "ckks") {
          const values = CkksAggregation.slots([], 0, metrics)
          return { ready: true as const, encrypted: yield* CkksAggregation.encryptContribution(session, evaluate.name, aggregationId, undefined, values) }
        }
        yield* store(session, evaluate.name, aggregationId, () => encodeVector(new Float64Array(0), 0, metrics, Math.max(2, session.participants.length), ringBits))
        return { ready: true as const }
      })),

    ...(aggregation === "ckks" ? CkksAggregation.handlers((session) => params.keyHolder ?? session.participants[0]!, resolved.minUpdates) : []),

    ...secureAggregationHandlers((session, context) => {
      const vector = session.memory.get(inputKey(context.aggregationId)) as RingVector.RingVector | undefined
      // Read once, after every key check: the masked input copies it and is kept for retries, so the update
      // itself (a megabyte-sized vector per round) need not stay in memory for the rest of the attempt.
      session.memory.delete(inputKey(context.aggregationId))
      return vector === undefined
        ? Effect.fail(fail(session, "secagg.masked-input", "MissingUpdate", `no update for ${context.aggregationId} in attempt ${session.attempt}`))
        : Effect.succeed(vector)
    })
  ]
}
