/**
 * Coordinator side of a contribution task (spec.ts): commit the valuer's test-set hash and the recipe, train the
 * coalitions' models through federated learning (or one federated run whose rounds rebuild them), send every
 * model to the valuer to score, and ask it for the values. Each coalition's run checkpoints like any federated
 * run and every finished model is checkpointed, so a restarted coordinator trains only what was unfinished.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"
import { Base64 } from "effect/encoding"
import * as Shapley from "../../incentives/Shapley.ts"
import { bytesToFloat32, float32ToBytes } from "../../models/ModelArtifact.ts"
import * as FederatedLearning from "../federated-learning/coordinator.ts"
import * as Merkle from "../federated-learning/Merkle.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { ProtocolError } from "../Protocol.ts"
import * as Recipes from "./Recipe.ts"
import type { Recipe } from "./Recipe.ts"
import { membersOf, sizeOf } from "./Recipe.ts"
import type { Result } from "./spec.ts"
import { kind, prepare, score, solo, value } from "./spec.ts"

export interface Options {
  readonly timeoutMs?: number
  /** Coalitions trained at once (each a federated run among its members). */
  readonly concurrency?: number
}

/** A model to score: coalition `coalition` of round `round` (0: a whole training). */
interface Model {
  readonly round: number
  readonly coalition: number
  readonly weights: Float32Array
}

/** Weight bytes per scoring request, well under the wire's 16 MiB message limit once in base64. */
const scoreChunkBytes = 4 * 1024 * 1024

const protocolError = (reason: string, detail: string) => new ProtocolError({ protocol: kind, reason, detail })

const encode = (weights: Float32Array) => Base64.encode(float32ToBytes(weights))
const decode = (text: string) => {
  const bytes = Base64.decode(text)
  if (bytes._tag === "Failure") throw new Error(`checkpoint: ${bytes.failure.message}`)
  return bytesToFloat32(bytes.success)
}

/** sha256 over the model's round, coalition and float32 bytes: a leaf of the `shapley/models` Merkle tree. */
export const modelDigest = (model: Model): string =>
  "0x" + bytesToHex(sha256(concatBytes(utf8ToBytes(`jointly/shapley/model|${model.round}|${model.coalition}|`), float32ToBytes(model.weights))))

export const run = (session: CoordinatorSession, recipe: Recipe, options: Options = {}) =>
  Effect.gen(function*() {
    const { owners, valuer, method } = recipe
    const n = owners.length
    const full = (1 << n) - 1
    const timeoutMs = options.timeoutMs
    const everyone = session.participants

    // 1. Everyone checks its rows; the valuer's test-set hash and the recipe go on chain before any training.
    const ready = yield* session.round(prepare, new Map(everyone.map((p) => [p, {}] as const)), { minReplies: everyone.length, timeoutMs })
    const { testSetHash, testRows } = ready.get(valuer)!
    if (testSetHash === undefined || testRows === undefined) return yield* protocolError("NoTestSet", `the valuer ${valuer} named no test set`)
    yield* session.progress({ stage: prepare.name, done: everyone.length, total: everyone.length })
    const recipeHash = Recipes.recipeHash(recipe.params)
    yield* session.commit("shapley/test-set", testSetHash)
    yield* session.commit("shapley/recipe", recipeHash)

    /** The session of a federated run among `members`: its own participants, no commitments, its progress only when asked. */
    const among = (members: ReadonlyArray<string>, rounds = false): CoordinatorSession => ({
      ...session,
      participants: members,
      commit: () => Effect.void,
      progress: (event) => (rounds && event.stage === "fl.round" ? session.progress(event) : Effect.void)
    })
    const start = yield* FederatedLearning.initialWeights(among(owners), recipe.training, timeoutMs)

    // 2. The models.
    let models: Array<Model>
    let orders: ReadonlyArray<ReadonlyArray<number>> | undefined
    let ordersPerRound: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>> | undefined
    let rounds = 0
    if (method === "round-reconstruction") {
      const rebuilt = yield* reconstruct(session, recipe, among(owners, true), start, timeoutMs)
      models = rebuilt.models
      ordersPerRound = rebuilt.ordersPerRound
      rounds = recipe.training.params.rounds
    } else {
      if (method === "monte-carlo") orders = yield* stable(session, "shapley/orders", () => Shapley.samplePermutations(n, recipe.permutations, { guided: true }))
      const masks = orders ? Shapley.prefixCoalitions(orders) : Array.from({ length: full }, (_, i) => i + 1)
      models = yield* trainCoalitions(session, recipe, masks, start, among, { timeoutMs, concurrency: options.concurrency ?? 16 })
    }

    // 3. Scores stay with the valuer; values come back.
    const perChunk = Math.max(1, Math.floor(scoreChunkBytes / (4 * recipe.training.summary.parameters)))
    for (let i = 0; i < models.length; i += perChunk) {
      const chunk = models.slice(i, i + perChunk).map((m) => ({ round: m.round, coalition: m.coalition, weights: float32ToBytes(m.weights) }))
      yield* session.round(score, new Map([[valuer, { models: chunk }]]), { minReplies: 1, timeoutMs })
      yield* session.progress({ stage: score.name, done: Math.min(models.length, i + perChunk), total: models.length })
    }
    const digests = models.map(modelDigest)
    const valued = yield* session.round(value, new Map([[valuer, {
      method,
      owners: n,
      ownerIds: owners,
      ...(orders ? { orders } : {}),
      ...(ordersPerRound ? { ordersPerRound } : {}),
      rounds,
      ...(recipe.params.truncation !== undefined ? { truncation: recipe.params.truncation } : {}),
      modelHashes: digests
    }]]), { minReplies: 1, timeoutMs })
    const v = valued.get(valuer)!
    if (v.phi.length !== n || v.shares.length !== n) return yield* protocolError("InvalidValues", `the valuer answered ${v.phi.length} values for ${n} owners`)
    const modelsRoot = Merkle.root(digests)
    yield* session.commit("shapley/scores", v.scoresHash)
    yield* session.commit("shapley/models", modelsRoot)

    const result: Result = {
      kind,
      method,
      metric: recipe.metric,
      owners,
      valuer,
      phi: v.phi,
      shares: v.shares,
      clamped: v.clamped,
      ...(v.standardError ? { standardError: v.standardError } : {}),
      ...(orders ? { permutations: orders.length } : {}),
      ...(v.skippedRounds ? { skippedRounds: v.skippedRounds } : {}),
      models: models.length,
      rounds: recipe.training.params.rounds,
      grand: v.grand,
      testRows,
      testSetHash,
      recipeHash,
      scoresHash: v.scoresHash,
      modelsRoot,
      ...(method === "exact" ? { modelHashes: digests } : {}),
      scoreTable: v.location,
      log: v.log
    }
    return result
  })

/** A value drawn once per task and kept in its checkpoints, so every attempt uses the same one. */
const stable = <A>(session: CoordinatorSession, name: string, draw: () => A) =>
  Effect.gen(function*() {
    const saved = (yield* session.checkpoint.load(name)) as A | undefined
    if (saved !== undefined) return saved
    const drawn = draw()
    yield* session.checkpoint.save(name, drawn)
    return drawn
  })

/**
 * Exact and monte-carlo: every coalition in `masks` trains its own model from `start` — alone for a single owner
 * (`shapley.solo`), as a federated run among its members otherwise — in mask order in the result.
 */
const trainCoalitions = (
  session: CoordinatorSession,
  recipe: Recipe,
  masks: ReadonlyArray<number>,
  start: Float32Array,
  among: (members: ReadonlyArray<string>, rounds?: boolean) => CoordinatorSession,
  options: { readonly timeoutMs?: number; readonly concurrency: number }
) =>
  Effect.gen(function*() {
    const { owners } = recipe
    const full = (1 << owners.length) - 1
    const trained = new Map<number, Float32Array>()
    for (const mask of masks) {
      const saved = (yield* session.checkpoint.load(`shapley/model/${mask}`)) as string | undefined
      if (saved !== undefined) trained.set(mask, decode(saved))
    }
    let done = trained.size
    const finished = (mask: number, weights: Float32Array) =>
      Effect.gen(function*() {
        trained.set(mask, weights)
        yield* session.checkpoint.save(`shapley/model/${mask}`, encode(weights))
        yield* session.progress({ stage: "shapley.coalitions", done: ++done, total: masks.length })
      })

    const singles = masks.filter((m) => sizeOf(m) === 1 && !trained.has(m))
    if (singles.length > 0) {
      const requests = new Map(singles.map((m) => [membersOf(m, owners)[0]!, { weights: float32ToBytes(start) }] as const))
      const replies = yield* session.round(solo, requests, { minReplies: requests.size, timeoutMs: options.timeoutMs })
      for (const mask of singles) yield* finished(mask, bytesToFloat32(replies.get(membersOf(mask, owners)[0]!)!.weights))
    }

    const groups = masks.filter((m) => sizeOf(m) > 1 && !trained.has(m))
    yield* Effect.forEach(groups, (mask) =>
      Effect.gen(function*() {
        const members = membersOf(mask, owners)
        // The whole coalition's rounds reach the task's progress: the dashboard draws its training curves.
        const federated = yield* FederatedLearning.run(among(members, mask === full), recipe.forCoalition(members.length), {
          timeoutMs: options.timeoutMs,
          namespace: `c${mask}/`,
          initialWeights: start
        })
        const model = federated.model as { readonly weights: string }
        yield* finished(mask, decode(model.weights))
      }), { concurrency: options.concurrency, discard: true })

    return masks.map((mask): Model => ({ round: 0, coalition: mask, weights: trained.get(mask)! }))
  })

interface RoundSteps {
  readonly start: string
  readonly steps: Record<string, { readonly delta: string; readonly trainSamples: number }>
}

/**
 * Round reconstruction: one federated run of every owner (plain aggregation, spec.ts); each round's start model
 * and each owner's step are kept, and after training every coalition of every round is rebuilt as
 * w_S = w_start + Σ_{i∈S} n_i·Δ_i / Σ_{i∈S} n_i — the model FedAvg would have produced from S's updates alone.
 */
const reconstruct = (session: CoordinatorSession, recipe: Recipe, all: CoordinatorSession, start: Float32Array, timeoutMs: number | undefined) =>
  Effect.gen(function*() {
    const { owners } = recipe
    const n = owners.length
    const full = (1 << n) - 1
    yield* FederatedLearning.run(all, recipe.forCoalition(n), {
      timeoutMs,
      initialWeights: start,
      namespace: "all/",
      observe: (round, weights, steps) =>
        session.checkpoint.save(`shapley/round/${round}`, {
          start: encode(weights),
          steps: Object.fromEntries([...steps].map(([p, s]) => [p, { delta: encode(s.delta), trainSamples: s.trainSamples }]))
        } satisfies RoundSteps)
    })
    const rounds = recipe.training.params.rounds
    // Beyond the exact limit each round scores the prefixes of its own sampled orderings.
    const ordersPerRound = n > 10
      ? yield* stable(session, "shapley/orders-per-round", () => Array.from({ length: rounds }, () => Shapley.samplePermutations(n, recipe.permutations, { guided: true })))
      : undefined
    const models: Array<Model> = []
    for (let round = 1; round <= rounds; round++) {
      const saved = (yield* session.checkpoint.load(`shapley/round/${round}`)) as RoundSteps | undefined
      if (saved === undefined) return yield* protocolError("MissingRound", `round ${round}'s updates were not kept`)
      const absent = owners.find((o) => saved.steps[o] === undefined)
      if (absent !== undefined) return yield* protocolError("MissingRound", `round ${round} has no step from ${absent}`)
      const base = decode(saved.start)
      const steps = owners.map((o) => ({ delta: decode(saved.steps[o]!.delta), trainSamples: saved.steps[o]!.trainSamples }))
      models.push({ round, coalition: 0, weights: base })
      const masks = ordersPerRound ? Shapley.prefixCoalitions(ordersPerRound[round - 1]!) : Array.from({ length: full }, (_, i) => i + 1)
      for (const mask of masks) {
        const weights = Float32Array.from(base)
        let rows = 0
        for (let i = 0; i < n; i++) if (mask & (1 << i)) rows += steps[i]!.trainSamples
        for (let i = 0; i < n; i++) {
          if (!(mask & (1 << i))) continue
          const { delta, trainSamples } = steps[i]!
          const w = trainSamples / rows
          for (let k = 0; k < weights.length; k++) weights[k]! += w * delta[k]!
        }
        models.push({ round, coalition: mask, weights })
      }
    }
    return { models, ordersPerRound }
  })
