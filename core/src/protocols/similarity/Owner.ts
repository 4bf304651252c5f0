/**
 * The owner's side of `query.similar` (spec.ts): its index (the dataset and its committed epochs), the query's
 * rotations, one blinded round per threshold probe, and the OPRF record table of the final round's lane.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { concatBytes } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"
import * as Ecies from "../../crypto/Ecies.ts"
import { frames, unframe } from "../../crypto/paillier/Bytes.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import { canonicalJson } from "../../wire/Canonical.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler } from "../Protocol.ts"
import * as Channel from "../joint-query/Channel.ts"
import * as Compute from "../joint-query/Compute.ts"
import * as Group from "../joint-query/Group.ts"
import * as FeatureIndex from "./FeatureIndex.ts"
import * as Party from "./Party.ts"
import * as Scores from "./Scores.ts"
import * as Spec from "./spec.ts"

interface OwnerState extends Party.Common {
  readonly snapshot: FeatureIndex.Snapshot
  readonly commitment: Spec.IndexCommitment
  readonly oprfKey: Uint8Array
  prepared?: {
    readonly parameters: Uint8Array
    readonly rotations: ReadonlyArray<Uint8Array>
    readonly collection: Scores.Collection
    readonly rhoMax: bigint
  }
  /** Round → per-lane permutations (position → rank), for the table of the round the querier picks. */
  readonly rounds: Map<number, ReadonlyArray<Uint32Array>>
}

const textEncoder = new TextEncoder()

/** The seed of the index's salts: from a signature only this owner can make, stable across tasks (RFC 6979). */
const seedOf = (session: ParticipantSession, dataset: string) =>
  Effect.map(session.sign(textEncoder.encode(`jointly/similar/index-seed/v1|${dataset}`)), (signature) => sha256(textEncoder.encode(signature)))

/** The dataset's rows as epoch-0 entries. */
const baseEntries = (session: ParticipantSession, stage: string, data: TabularData, params: Spec.Params) =>
  Effect.gen(function*() {
    const needed = [params.idColumn, ...params.features, ...(params.labelColumn ? [params.labelColumn] : [])]
    const missing = needed.find((c) => !data.columnNames.includes(c))
    if (missing !== undefined) return yield* Party.fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${missing}`)
    const notNumeric = params.features.find((c) => !data.isNumeric(c))
    if (notNumeric !== undefined) return yield* Party.fail(session, stage, "NotNumeric", `column ${notNumeric} of dataset ${data.name} is not numeric`)
    const ids = data.strings(params.idColumn)
    const labels = params.labelColumn ? data.strings(params.labelColumn) : undefined
    const columns = params.features.map((c) => data.numeric(c))
    return ids.map((id, row) => ({ id, features: columns.map((c) => c[row]!), label: labels?.[row] }))
  })

export const handlers = (datasetName: string, params: Spec.Params) => {
  const state = (session: ParticipantSession, stage: string) => Party.state<OwnerState>(session, stage)

  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const existing = session.memory.get(Party.MEMORY) as Party.Common | undefined
      if (existing !== undefined) return existing.reply
      const data = yield* (yield* LocalData).dataset(datasetName)
      const base = yield* baseEntries(session, stage, data, params)
      const log = yield* Effect.flatMap(Effect.serviceOption(FeatureIndex.FeatureLog), (found) => (found._tag === "Some" ? found.value.epochs(datasetName) : Effect.succeed([])))
      const seed = yield* seedOf(session, datasetName)
      const snapshot = yield* Party.attempt(session, stage, "InvalidIndex", () =>
        FeatureIndex.build(base, log, { seed, dimension: params.features.length, featureMax: params.featureMax }))
      const commitment: Spec.IndexCommitment = { epoch: snapshot.epoch, root: snapshot.root, size: snapshot.entries.length, dimension: params.features.length }
      if (params.index !== undefined && (params.index.epoch !== commitment.epoch || params.index.root !== commitment.root)) {
        return yield* Party.fail(session, stage, "IndexMismatch", `the task pins epoch ${params.index.epoch} root ${params.index.root}; this index is at epoch ${commitment.epoch} root ${commitment.root}`)
      }
      const { channel, advertisement } = yield* Channel.advertise(session, commitment.size, textEncoder.encode(canonicalJson(commitment)))
      yield* Effect.promise(() => Group.ready())
      session.memory.set(Party.MEMORY, { channel, reply: advertisement, seen: new Set(), snapshot, commitment, oprfKey: Group.ristretto255.randomScalar(), rounds: new Map() } satisfies OwnerState)
      return advertisement
    }))

  const prepare = handler(Spec.prepare, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.prepare.name
      yield* Party.role(session, stage, params, "owner")
      const s = yield* state(session, stage)
      yield* Party.once(session, s, stage, stage)
      const opened = yield* Party.open(session, s, stage, "query", payload)
      const parts = yield* Party.attempt(session, stage, "MalformedPayload", () => unframe(opened, "similarity query"))
      if (parts.length !== 3) return yield* Party.fail(session, stage, "MalformedPayload", `${parts.length} parts, expected parameters, Galois keys and the query`)
      const [parameters, galoisKeys, ciphertext] = parts as [Uint8Array, Uint8Array, Uint8Array]
      const bfv = yield* Party.bfv(session, stage)
      const layout = yield* Effect.mapError(bfv.layout(parameters), Party.bfvFailure(session, stage))
      const n = s.snapshot.entries.length
      const geometry = yield* Party.attempt(session, stage, "CollectionTooLarge", () => Scores.geometry(params.features.length, n, layout.slots))
      // The blinding range this t leaves for this collection: the owner's floor, whatever the querier chose.
      const rhoMax = Scores.maxBlindFor(layout.plainModulus, geometry, params.featureMax)
      if (rhoMax < 1n << BigInt(Spec.MIN_BLIND_BITS)) {
        return yield* Party.fail(session, stage, "WeakParameters", `a ${layout.plainModulus.toString(2).length}-bit plaintext modulus leaves ${rhoMax.toString(2).length - 1} blinding bits for ${n} entries; at least ${Spec.MIN_BLIND_BITS} are required`)
      }
      const rotations = yield* Effect.mapError(bfv.rotations(parameters, galoisKeys, ciphertext, geometry.period), Party.bfvFailure(session, stage))
      const features = new Int32Array(n * geometry.dimension)
      s.snapshot.entries.forEach((e, rank) => features.set(e.features, rank * geometry.dimension))
      s.prepared = { parameters, rotations, collection: { features, geometry }, rhoMax }
      return { lanes: geometry.lanes }
    }))

  const blind = handler(Spec.blind, ({ round, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.blind.name
      yield* Party.role(session, stage, params, "owner")
      const s = yield* state(session, stage)
      const prepared = s.prepared
      if (prepared === undefined) return yield* Party.fail(session, stage, "MissingState", "the query was not prepared")
      const maxRounds = params.maxRounds ?? Spec.DEFAULT_MAX_ROUNDS
      if (round >= maxRounds) return yield* Party.fail(session, stage, "TooManyRounds", `round ${round}: this owner answers at most ${maxRounds} rounds`)
      if (round !== s.rounds.size) return yield* Party.fail(session, stage, "RoundOutOfOrder", `round ${round} after ${s.rounds.size} rounds`)
      yield* Party.once(session, s, stage, `${stage}/${round}`)
      const thresholds = yield* Party.open(session, s, stage, `probe|${round}`, payload)
      const plan = Scores.roundPlan(prepared.collection, prepared.rhoMax)
      const bfv = yield* Party.bfv(session, stage)
      const terms = [
        ...prepared.rotations.map((ciphertext, i) => ({ ciphertext, plain: plan.terms[i]! })),
        { ciphertext: thresholds, plain: plan.threshold }
      ]
      const z = yield* Effect.mapError(bfv.linearCombination(prepared.parameters, terms, plan.constant), Party.bfvFailure(session, stage))
      s.rounds.set(round, plan.permutations)
      return { payload: yield* Party.seal(session, s, stage, `blind|${round}`, z) }
    }))

  const answer = handler(Spec.answer, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.answer.name
      yield* Party.role(session, stage, params, "owner")
      const s = yield* state(session, stage)
      yield* Party.once(session, s, stage, stage)
      const opened = yield* Party.open(session, s, stage, "select", payload)
      const [head, points] = yield* Party.attempt(session, stage, "MalformedPayload", () => {
        const parts = unframe(opened, "similarity selection")
        if (parts.length !== 2) throw new Error(`${parts.length} parts, expected the round and the blinded labels`)
        return [Schema.decodeUnknownSync(Selection)(JSON.parse(new TextDecoder().decode(parts[0]))), parts[1]!] as const
      })
      const permutation = s.rounds.get(head.round)?.[head.lane]
      if (permutation === undefined) return yield* Party.fail(session, stage, "UnknownRound", `no lane ${head.lane} in round ${head.round}`)
      const count = Group.count(points)
      if (!Number.isInteger(count) || count > params.k) {
        return yield* Party.fail(session, stage, "TooManyRecords", `${points.length / Group.POINT_BYTES} labels asked, at most k = ${params.k} records are released`)
      }
      const compute = yield* Compute.QueryCompute
      const evaluated = yield* Effect.mapError(compute.blind("ristretto255", points, s.oprfKey), (e) => Party.failure(session, stage, "InvalidPoint", e.message))
      // The whole lane, so the owner cannot tell which K positions the querier opens.
      const labels = Array.from(permutation, (_, j) => Party.labelOf(head.round, head.lane, j))
      const tags = yield* Effect.mapError(compute.hashBlind("ristretto255", Group.domain("similar", session.taskId), labels, s.oprfKey), (e) => Party.failure(session, stage, "ComputeFailed", e.message))
      const proofs = FeatureIndex.proofs(s.snapshot)
      const parts: Array<Uint8Array> = []
      for (let j = 0; j < permutation.length; j++) {
        const rank = permutation[j]!
        const entry = s.snapshot.entries[rank]!
        const leaf = s.snapshot.leaves[rank]!
        const record: Spec.Record = {
          id: entry.id,
          rank,
          ...(params.labelColumn !== undefined && entry.label !== undefined ? { label: entry.label } : {}),
          ...(entry.location !== undefined ? { location: entry.location } : {}),
          ...(params.revealFeatures === true ? { features: [...entry.features] } : {}),
          salt: leaf.salt,
          featuresDigest: leaf.featuresDigest,
          proof: proofs[rank]!
        }
        const point = tags.subarray(j * Group.POINT_BYTES, (j + 1) * Group.POINT_BYTES)
        const sealed = Ecies.seal(Party.keyOf(point), textEncoder.encode(JSON.stringify(record)), Party.recordAd(session.taskId))
        const prefix = new Uint8Array(Party.TAG_BYTES + 4)
        prefix.set(Party.tagOf(point))
        new DataView(prefix.buffer).setUint32(Party.TAG_BYTES, sealed.length)
        parts.push(prefix, sealed)
      }
      return { payload: yield* Party.seal(session, s, stage, "answer", frames([evaluated, concatBytes(...parts)])) }
    }))

  return [keys, prepare, blind, answer]
}

/** The querier's choice of round and lane (inside its sealed selection). */
export const Selection = Schema.Struct({ round: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), lane: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) })
