/**
 * Coordinator side of horizontal federated learning: sample a cohort, send the global model, aggregate the
 * updates (securely by default), record the round, checkpoint, repeat; then evaluate the final model, commit
 * one Merkle root over all round digests and return the model as a content-addressed artifact.
 *
 * Stragglers and dropouts: every stage waits at most `roundTimeoutMs` and proceeds with the updates it has when
 * there are at least `minUpdatesPerRound`; in secure mode the secure-aggregation dropout recovery removes the
 * masks of those that vanish after training; in ckks mode a missing ciphertext is left out of the sum. A
 * restarted coordinator (attempt > 1) resumes from the last checkpointed round.
 */
import { Effect } from "effect"
import { artifactId, bytesToFloat32, float32ToBytes, type TfjsLayersArtifact } from "../../models/ModelArtifact.ts"
import type { CoordinatorSession, SessionStateFailed, Stage } from "../Protocol.ts"
import { ProtocolError } from "../Protocol.ts"
import { runSecureAggregation } from "../secure-aggregation/server.ts"
import * as CkksAggregation from "./CkksAggregation.ts"
import * as Merkle from "./Merkle.ts"
import * as Privacy from "./Privacy.ts"
import type { Result, RoundMetrics, ValidationMetrics } from "./spec.ts"
import type { RingBits } from "./spec.ts"
import { defaults, evaluate, initialize, kind, narrowRing, prepare, roundAggregationId, train, wideRing } from "./spec.ts"
import type { Decoded, Resolved } from "./Updates.ts"
import { decodeVector, roundDigest, sampleCohort, updateProblem, vectorLength, weightScale } from "./Updates.ts"

export interface Options {
  readonly timeoutMs?: number
  /**
   * Prefix of this run's aggregation ids and checkpoint key, so several runs can share one task attempt (the
   * contribution task trains one model per coalition: participants key their memory by aggregation id).
   */
  readonly namespace?: string
  /** Start from these weights instead of asking a participant to build the seeded ones. */
  readonly initialWeights?: Float32Array
  /**
   * "plain" aggregation only: each round's start weights w_g and every contributor's local step w_i − w_g with its
   * row count, before they are averaged — what round reconstruction rebuilds coalition models from.
   */
  readonly observe?: (round: number, start: Float32Array, steps: ReadonlyMap<string, { readonly delta: Float32Array; readonly trainSamples: number }>) => Effect.Effect<void, SessionStateFailed>
}

interface Checkpoint {
  readonly round: number
  readonly weights: string
  readonly rounds: ReadonlyArray<RoundMetrics>
}

const CHECKPOINT = "fl/state"
const protocolError = (reason: string, detail: string) => new ProtocolError({ protocol: kind, reason, detail })
const toBase64 = (bytes: Uint8Array) => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))

export const run = (session: CoordinatorSession, resolved: Resolved, options: Options = {}) =>
  Effect.gen(function*() {
    const { params, summary, clientsPerRound, minUpdates } = resolved
    const P = summary.parameters
    const parties = session.participants
    const aggregation = params.aggregation ?? defaults.aggregation
    const strategy = params.strategy ?? defaults.strategy
    const timeoutMs = params.roundTimeoutMs ?? options.timeoutMs
    const dp = params.privacy
    const delta = dp?.delta ?? defaults.delta
    const q = clientsPerRound / parties.length
    // secure-aggregation commits each aggregation's transcript digest; we fold rounds into one root instead,
    // so the chain sees one commitment per phase however many rounds run (DESIGN.md §3).
    const quiet: CoordinatorSession = { ...session, commit: () => Effect.void }
    const namespace = options.namespace ?? ""
    const checkpointKey = `${namespace}${CHECKPOINT}`

    const everyone = new Map(parties.map((p) => [p, { round: 0 }] as const))
    yield* session.round(prepare, everyone, { minReplies: parties.length, timeoutMs })
    yield* session.progress({ stage: prepare.name, done: parties.length, total: parties.length })

    // CkksAggregation.ts: fresh keys every attempt (participant memory does not outlive one).
    const ckks = aggregation === "ckks" ? yield* CkksAggregation.setup(session, params.keyHolder ?? parties[0]!, timeoutMs) : undefined

    const saved = (yield* session.checkpoint.load(checkpointKey)) as Checkpoint | undefined
    let weights: Float32Array
    const history: Array<RoundMetrics> = [...(saved?.rounds ?? [])]
    const resumedFromRound = saved?.round ?? 0
    if (saved) {
      weights = bytesToFloat32(fromBase64(saved.weights))
    } else {
      weights = options.initialWeights ?? (yield* initialWeights(session, resolved, timeoutMs))
    }

    /** Sums the updates of a round, in the clear or through secure aggregation. */
    const aggregate = <Req>(stage: Stage<Req, any>, cohort: ReadonlyArray<string>, request: (p: string) => Req, aggregationId: string, parameters: number, bits: RingBits, observed?: (updates: ReadonlyMap<string, { readonly update: Float32Array; readonly trainSamples: number }>) => Effect.Effect<void, SessionStateFailed>) =>
      Effect.gen(function*() {
        const replies = yield* session.round(stage, new Map(cohort.map((p) => [p, request(p)] as const)), { minReplies: minUpdates, timeoutMs })
        const rejected: Array<{ participant: string; reason: string }> = cohort
          .filter((p) => !replies.has(p))
          .map((participant) => ({ participant, reason: "no update in time (dropped, timed out or failed locally)" }))
        if (ckks) {
          const encrypted = new Map(cohort.filter((p) => replies.has(p)).map((p) => [p, (replies.get(p) as { encrypted?: ReadonlyArray<Uint8Array> }).encrypted] as const))
          const result = yield* CkksAggregation.aggregate(session, ckks, aggregationId, parameters, encrypted, minUpdates, timeoutMs)
          return {
            decoded: { update: new Float64Array(0), trainSamples: result.trainSamples, validation: result.validation } as Decoded,
            model: result.model,
            contributors: result.contributors,
            rejected: [...rejected, ...result.rejected]
          }
        }
        if (aggregation === "plain") {
          const sum = new Float64Array(parameters)
          let trainSamples = 0
          const validation = { lossSum: 0, correct: 0, samples: 0 }
          const contributors: Array<string> = []
          // Each usable update, decoded once (for the observer, when there is one).
          const used = new Map<string, { readonly update: Float32Array; readonly trainSamples: number }>()
          for (const participant of cohort) {
            const reply = replies.get(participant) as { update?: { weights: Uint8Array; trainSamples: number; validation: ValidationMetrics }; validation?: ValidationMetrics } | undefined
            if (!reply) continue
            const metrics = reply.update?.validation ?? reply.validation
            if (parameters > 0) {
              const update = reply.update
              const decoded = update === undefined ? "no update in the reply" : (() => {
                try {
                  const values = bytesToFloat32(update.weights)
                  return updateProblem(values, parameters) ?? values
                } catch (error) {
                  return `WrongShape: ${String(error)}`
                }
              })()
              if (typeof decoded === "string") {
                rejected.push({ participant, reason: decoded })
                continue
              }
              for (let i = 0; i < parameters; i++) sum[i]! += decoded[i]!
              trainSamples += update!.trainSamples
              if (observed) used.set(participant, { update: decoded, trainSamples: update!.trainSamples })
            }
            if (metrics) {
              validation.lossSum += metrics.lossSum
              validation.correct += metrics.correct
              validation.samples += metrics.samples
            }
            contributors.push(participant)
          }
          if (observed) yield* observed(used)
          if (contributors.length < minUpdates) {
            return yield* protocolError("TooFewUpdates", `${aggregationId}: ${contributors.length} usable updates, ${minUpdates} needed (${rejected.map((r) => `${r.participant}: ${r.reason}`).join("; ")})`)
          }
          return { decoded: { update: sum, trainSamples, validation } as Decoded, contributors, rejected }
        }
        const ready = cohort.filter((p) => replies.has(p))
        const result = yield* runSecureAggregation(quiet, {
          participants: ready,
          vectorLength: vectorLength(parameters),
          bits,
          aggregationId,
          dropoutTolerance: Math.max(0, Math.min(ready.length - minUpdates, Math.floor((ready.length - 1) / 2))),
          timeoutMs,
          ...(params.secagg?.neighbours === undefined ? {} : { neighbours: params.secagg.neighbours }),
          ...(params.secagg?.prg === undefined ? {} : { prg: params.secagg.prg })
        })
        for (const p of ready) if (!result.contributors.includes(p)) rejected.push({ participant: p, reason: "dropped during secure aggregation (masks removed)" })
        return { decoded: decodeVector(result.vector, parameters), contributors: [...result.contributors], rejected }
      })

    for (let round = resumedFromRound + 1; round <= params.rounds; round++) {
      const cohort = sampleCohort(session.taskId, round, parties, clientsPerRound)
      const aggregationId = roundAggregationId(namespace, round)
      const bytes = float32ToBytes(weights)
      // Updates.ts module doc: S from the last round's row counts, and with it the 32-bit ring; DP keeps 64 bits.
      const previous = history.at(-1)
      const scale = dp || ckks ? 1 : weightScale(previous, cohort.length)
      const ringBits = !dp && previous !== undefined ? narrowRing.bits : wideRing.bits
      const { decoded, contributors, rejected, model } = yield* aggregate(
        train,
        cohort,
        () => ({ round, aggregationId, weights: bytes, expectedContributors: minUpdates, weightScale: scale, ringBits }),
        aggregationId,
        P,
        ringBits,
        options.observe && aggregation === "plain"
          ? (updates) => options.observe!(round, weights, new Map([...updates].map(([p, u]) => [p, { delta: u.update.map((x) => (x * scale) / u.trainSamples), trainSamples: u.trainSamples }] as const)))
          : undefined
      )
      let next: Float32Array = new Float32Array(P)
      if (model) {
        next = model
      } else if (dp) {
        // Noisy clipped deltas, averaged with equal weights: sample counts would break the sensitivity bound.
        for (let i = 0; i < P; i++) next[i] = weights[i]! + decoded.update[i]! / contributors.length
      } else {
        if (decoded.trainSamples <= 0) return yield* protocolError("NoSamples", `${aggregationId}: the contributors report no training rows`)
        const factor = scale / decoded.trainSamples
        for (let i = 0; i < P; i++) next[i] = weights[i]! + decoded.update[i]! * factor
      }
      const bad = updateProblem(next, P)
      if (bad) return yield* protocolError("Diverged", `${aggregationId}: aggregated model ${bad}`)
      weights = next
      const v = decoded.validation
      const metrics: RoundMetrics = {
        round,
        contributors,
        rejected,
        trainSamples: decoded.trainSamples,
        validationSamples: v.samples,
        ...(v.samples > 0 ? { loss: v.lossSum / v.samples } : {}),
        ...(v.samples > 0 && resolved.classes ? { accuracy: v.correct / v.samples } : {}),
        digest: roundDigest(round, weights),
        ...(dp ? { epsilon: Privacy.epsilon(q, dp.noiseMultiplier, round, delta).epsilon } : {})
      }
      history.push(metrics)
      yield* session.checkpoint.save(checkpointKey, { round, weights: toBase64(float32ToBytes(weights)), rounds: history } satisfies Checkpoint)
      yield* session.progress({ stage: "fl.round", done: round, total: params.rounds, detail: JSON.stringify(metrics) })
    }

    const finalBytes = float32ToBytes(weights)
    const final = yield* aggregate(evaluate, parties, () => ({ aggregationId: `${namespace}evaluate`, weights: finalBytes, ringBits: narrowRing.bits }), `${namespace}evaluate`, 0, narrowRing.bits)
    const v = final.decoded.validation
    const roundsRoot = Merkle.root(history.map((r) => r.digest))
    yield* session.commit("fl/rounds", roundsRoot)

    const artifact: TfjsLayersArtifact = {
      format: "tfjs-layers",
      topology: params.model,
      weightShapes: summary.weightShapes.map((s) => [...s]),
      weights: finalBytes,
      featureColumns: [...params.featureColumns],
      ...(params.scaling ? { scaling: params.scaling } : {}),
      ...(resolved.classes ? { classes: [...resolved.classes] } : {})
    }
    const result: Result = {
      kind,
      modelId: artifactId(artifact),
      rounds: history,
      final: {
        validationSamples: v.samples,
        ...(v.samples > 0 ? { loss: v.lossSum / v.samples } : {}),
        ...(v.samples > 0 && resolved.classes ? { accuracy: v.correct / v.samples } : {})
      },
      roundsRoot,
      aggregation,
      strategy,
      resumedFromRound,
      ...(dp
        ? {
          privacy: {
            ...Privacy.epsilon(q, dp.noiseMultiplier, params.rounds, delta),
            accountant: `RDP of the sampled Gaussian mechanism (Mironov et al. 2019), q = ${q.toFixed(3)} as Poisson rate, z = ${dp.noiseMultiplier}`
          }
        }
        : {}),
      model: { ...artifact, weights: toBase64(finalBytes) }
    }
    return result
  })

/** Seeded initial weights from the first participant that answers (the coordinator runs no tfjs). */
export const initialWeights = (session: CoordinatorSession, resolved: Resolved, timeoutMs: number | undefined) =>
  Effect.gen(function*() {
    const seed = resolved.params.seed ?? defaults.seed
    for (const participant of session.participants) {
      const replies = yield* Effect.orElseSucceed(
        session.round(initialize, new Map([[participant, { seed }]]), { minReplies: 1, timeoutMs }),
        () => new Map<string, { weights: Uint8Array }>()
      )
      const reply = replies.get(participant)
      if (!reply) continue
      const weights = bytesToFloat32(reply.weights)
      if (updateProblem(weights, resolved.summary.parameters) === undefined) return weights
    }
    return yield* protocolError("NoInitialModel", "no participant could build the initial model")
  })
