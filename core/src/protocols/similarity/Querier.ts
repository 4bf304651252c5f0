/**
 * The querier's side of `query.similar` (spec.ts): its query row, its BFV keys, the threshold search over the
 * owner's blinded answers, the OPRF selection of the K records and their checks against the owner's signed
 * index root.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"
import * as Ecies from "../../crypto/Ecies.ts"
import { frames, unframe } from "../../crypto/paillier/Bytes.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import * as Channel from "../joint-query/Channel.ts"
import * as Group from "../joint-query/Group.ts"
import { defaultParameters, type Layout, type QuerierKeys } from "./Bfv.ts"
import * as FeatureIndex from "./FeatureIndex.ts"
import * as Party from "./Party.ts"
import * as Scores from "./Scores.ts"
import * as Search from "./Search.ts"
import * as Spec from "./spec.ts"

interface QuerierState extends Party.Common {
  readonly q: ReadonlyArray<number>
  /** The owner's signed index commitment (`similar.peers`). */
  commitment?: Spec.IndexCommitment
  session?: {
    readonly keys: QuerierKeys
    readonly layout: Layout
    readonly geometry: Scores.Geometry
    readonly search: Search.Search
    /** The thresholds sent in the last round, one per lane. */
    thresholds?: ReadonlyArray<bigint>
    /** The final round's positions at or below the threshold, in its successful lane. */
    selected?: ReadonlyArray<number>
    blinds?: ReadonlyArray<Uint8Array>
    rounds: number
  }
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The query row: integer features in [0, featureMax]. */
const queryRow = (session: ParticipantSession, stage: string, data: TabularData, params: Spec.Params) =>
  Effect.gen(function*() {
    const missing = [...params.features, ...(params.query ? [params.query.column] : [])].find((c) => !data.columnNames.includes(c))
    if (missing !== undefined) return yield* Party.fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${missing}`)
    const rows = params.query === undefined
      ? Array.from({ length: data.rowCount }, (_, i) => i)
      : data.strings(params.query.column).flatMap((v, i) => (v === params.query!.value ? [i] : []))
    if (rows.length !== 1) {
      return yield* Party.fail(session, stage, "QueryNotUnique", params.query === undefined
        ? `dataset ${data.name} holds ${rows.length} rows; name the query row with params.query`
        : `${rows.length} rows of ${data.name} have ${params.query.column} = ${params.query.value}`)
    }
    const q = params.features.map((c) => data.numeric(c)[rows[0]!]!)
    const bad = q.findIndex((v) => !Number.isInteger(v) || v < 0 || v > params.featureMax)
    if (bad >= 0) return yield* Party.fail(session, stage, "BadFeatures", `feature ${params.features[bad]} of the query is ${q[bad]}, outside the integers 0…${params.featureMax}`)
    return q
  })

export const handlers = (datasetName: string, params: Spec.Params) => {
  const state = (session: ParticipantSession, stage: string) => Party.state<QuerierState>(session, stage)
  const running = (session: ParticipantSession, stage: string) =>
    Effect.flatMap(state(session, stage), (s) =>
      s.session === undefined || s.commitment === undefined
        ? Party.fail(session, stage, "MissingState", "the query was not encrypted yet")
        : Effect.succeed({ s, run: s.session, commitment: s.commitment }))

  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const existing = session.memory.get(Party.MEMORY) as Party.Common | undefined
      if (existing !== undefined) return existing.reply
      const data = yield* (yield* LocalData).dataset(datasetName)
      const q = yield* queryRow(session, Spec.keys.name, data, params)
      const { channel, advertisement } = yield* Channel.advertise(session, 1)
      session.memory.set(Party.MEMORY, { channel, reply: advertisement, seen: new Set(), q } satisfies QuerierState)
      return advertisement
    }))

  const query = handler(Spec.query, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.query.name
      yield* Party.role(session, stage, params, "querier")
      const s = yield* state(session, stage)
      yield* Party.once(session, s, stage, stage)
      const commitment = s.commitment
      if (commitment === undefined) return yield* Party.fail(session, stage, "MissingState", "no index commitment from the owner")
      const bfv = yield* Party.bfv(session, stage)
      const generated = yield* Effect.mapError(bfv.generateKeys(params.bfv ?? defaultParameters, [1]), Party.bfvFailure(session, stage))
      const geometry = yield* Party.attempt(session, stage, "CollectionTooLarge", () => Scores.geometry(params.features.length, commitment.size, generated.layout.slots))
      const ciphertext = yield* Effect.mapError(bfv.encrypt(generated.keys, Scores.queryVector(geometry, s.q)), Party.bfvFailure(session, stage))
      s.session = {
        keys: generated.keys,
        layout: generated.layout,
        geometry,
        search: Search.start(commitment.size, params.k, Scores.queryRange(s.q, params.featureMax, commitment.size)),
        rounds: 0
      }
      return { payload: yield* Party.seal(session, s, stage, "query", frames([generated.keys.parameters, generated.galoisKeys, ciphertext])) }
    }))

  const probe = handler(Spec.probe, ({ round, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.probe.name
      yield* Party.role(session, stage, params, "querier")
      const { s, run } = yield* running(session, stage)
      if (round !== run.rounds) return yield* Party.fail(session, stage, "RoundOutOfOrder", `round ${round} after ${run.rounds} rounds`)
      yield* Party.once(session, s, stage, `${stage}/${round}`)
      const bfv = yield* Party.bfv(session, stage)
      if (round > 0) {
        if (payload === undefined || run.thresholds === undefined) return yield* Party.fail(session, stage, "MissingPayload", `round ${round - 1}'s answer did not arrive`)
        const sealed = yield* Party.open(session, s, stage, `blind|${round - 1}`, payload)
        const z = yield* Effect.mapError(bfv.decrypt(run.keys, sealed, run.geometry.slots), Party.bfvFailure(session, stage))
        const below = Scores.below(run.geometry, z)
        Search.observe(run.search, round - 1, run.thresholds, below.map((b) => b.length))
        const found = run.search.found
        if (found !== undefined) {
          run.selected = below[found.lane]!
          return { next: false }
        }
      }
      const thresholds = Search.next(run.search, run.geometry.lanes)
      const ciphertext = yield* Effect.mapError(bfv.encrypt(run.keys, Scores.thresholdVector(run.geometry, thresholds)), Party.bfvFailure(session, stage))
      run.thresholds = thresholds
      run.rounds = round + 1
      return { next: true, payload: yield* Party.seal(session, s, stage, `probe|${round}`, ciphertext) }
    }))

  const select = handler(Spec.select, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.select.name
      yield* Party.role(session, stage, params, "querier")
      const { s, run } = yield* running(session, stage)
      yield* Party.once(session, s, stage, stage)
      const found = run.search.found
      if (found === undefined || run.selected === undefined) return yield* Party.fail(session, stage, "SearchIncomplete", "no threshold with exactly k entries was found")
      yield* Effect.promise(() => Group.ready())
      const domain = Group.domain("similar", session.taskId)
      // A fresh blind per label: the owner cannot even tell two labels apart.
      const blinds = run.selected.map(() => Group.ristretto255.randomScalar())
      const points = new Uint8Array(run.selected.length * Group.POINT_BYTES)
      run.selected.forEach((j, i) => points.set(Group.ristretto255.hashBlindEncoded(domain, Group.encodeIds([Party.labelOf(found.round, found.lane, j)]), blinds[i]!), i * Group.POINT_BYTES))
      run.blinds = blinds
      const head = textEncoder.encode(JSON.stringify({ round: found.round, lane: found.lane }))
      return { payload: yield* Party.seal(session, s, stage, "select", frames([head, points])) }
    }))

  const output = handler(Spec.output, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.output.name
      yield* Party.role(session, stage, params, "querier")
      const { s, run, commitment } = yield* running(session, stage)
      yield* Party.once(session, s, stage, stage)
      const found = run.search.found
      if (found === undefined || run.blinds === undefined) return yield* Party.fail(session, stage, "MissingState", "no selection was sent")
      const opened = yield* Party.open(session, s, stage, "answer", payload)
      const parts = yield* Party.attempt(session, stage, "MalformedPayload", () => unframe(opened, "similarity answer"))
      if (parts.length !== 2 || parts[0]!.length !== run.blinds.length * Group.POINT_BYTES) {
        return yield* Party.fail(session, stage, "CountMismatch", `the answer does not hold ${run.blinds.length} evaluated labels and a table`)
      }
      const wanted = new Map<string, Uint8Array>()
      for (let i = 0; i < run.blinds.length; i++) {
        const point = yield* Party.attempt(session, stage, "InvalidPoint", () =>
          Group.ristretto255.blind(parts[0]!.subarray(i * Group.POINT_BYTES, (i + 1) * Group.POINT_BYTES), Group.invertScalar(run.blinds![i]!)))
        wanted.set(bytesToHex(Party.tagOf(point)), Party.keyOf(point))
      }
      const table = parts[1]!
      const view = new DataView(table.buffer, table.byteOffset, table.byteLength)
      const records: Array<Spec.Record> = []
      let at = 0
      let size = 0
      while (at < table.length) {
        if (at + Party.TAG_BYTES + 4 > table.length) return yield* Party.fail(session, stage, "MalformedPayload", "truncated record")
        const tag = bytesToHex(table.subarray(at, at + Party.TAG_BYTES))
        const length = view.getUint32(at + Party.TAG_BYTES)
        const sealed = table.subarray(at + Party.TAG_BYTES + 4, at + Party.TAG_BYTES + 4 + length)
        at += Party.TAG_BYTES + 4 + length
        size++
        const key = wanted.get(tag)
        if (key === undefined) continue
        records.push(yield* Party.attempt(session, stage, "UndecryptablePayload", () =>
          Schema.decodeUnknownSync(Spec.Record)(JSON.parse(textDecoder.decode(Ecies.open(key, sealed, Party.recordAd(session.taskId)))))))
      }
      if (size !== commitment.size) return yield* Party.fail(session, stage, "CountMismatch", `the table holds ${size} records, the index ${commitment.size}`)
      yield* checkRecords(session, stage, params, records, { commitment, q: s.q, threshold: found.threshold, target: run.search.target })
      const results = records
        .map((r) => ({
          id: r.id,
          ...(r.label !== undefined ? { label: r.label } : {}),
          ...(r.location !== undefined ? { location: r.location } : {}),
          ...(r.features !== undefined ? { features: r.features, distance: Scores.score(r.features, s.q) + s.q.reduce((a, v) => a + v * v, 0) } : {}),
          // Kept so the record can be checked against the root again later (Originals, an auditor).
          salt: r.salt,
          featuresDigest: r.featuresDigest,
          proof: r.proof
        }))
        // Only set membership is revealed; with features the querier ranks the K itself.
        .sort((a, b) => ((a as { distance?: number }).distance ?? 0) - ((b as { distance?: number }).distance ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      const out = { taskId: session.taskId, kind: Spec.kind, owner: params.owner, k: params.k, rounds: run.rounds, index: commitment, results }
      const digest = sha256Digest(out)
      const location = yield* TaskOutput.deliver(session, { ...out, digest })
      return { found: results.length, digest, location }
    }))

  return [keys, query, probe, select, output]
}

/**
 * The querier's integrity checks (§11 item 33): exactly K distinct records, each in the owner's signed index
 * (its salted leaf and Merkle proof against the root), and — when features are revealed — each at or below the
 * final threshold, i.e. consistent with the encrypted comparison the owner answered.
 */
const checkRecords = (
  session: ParticipantSession,
  stage: string,
  params: Spec.Params,
  records: ReadonlyArray<Spec.Record>,
  context: { readonly commitment: Spec.IndexCommitment; readonly q: ReadonlyArray<number>; readonly threshold: bigint; readonly target: number }
) =>
  Effect.gen(function*() {
    const violation = (detail: string) => Effect.fail(new ParticipantFailure({ participant: session.self, stage, code: "IntegrityViolation", detail }))
    if (records.length !== context.target) return yield* violation(`${records.length} records opened, ${context.target} expected`)
    if (new Set(records.map((r) => r.id)).size !== records.length) return yield* violation("a record was returned twice")
    for (const r of records) {
      if (r.features !== undefined && FeatureIndex.featuresDigestOf(r.salt, r.features) !== r.featuresDigest) {
        return yield* violation(`the features of ${r.id} do not match their committed digest`)
      }
      if (!FeatureIndex.verify(FeatureIndex.leafOf(r, r.salt, r.featuresDigest), r.proof, context.commitment.root)) {
        return yield* violation(`${r.id} is not in the index the owner committed to (root ${context.commitment.root})`)
      }
      if (params.revealFeatures === true) {
        if (r.features === undefined || r.features.length !== params.features.length) return yield* violation(`${r.id} came without its features`)
        if (Scores.tieBroken(Scores.score(r.features, context.q), r.rank, context.commitment.size) > context.threshold) {
          return yield* violation(`${r.id} scores above the threshold its lane was compared with`)
        }
      }
    }
  })
