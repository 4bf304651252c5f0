/** Participant side of the hidden query (construction and leakage: `spec.ts`). */
import { sha256 } from "@noble/hashes/sha2.js"
import { concatBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Ecies from "../../../crypto/Ecies.ts"
import type { TabularData } from "../../../data/Tabular.ts"
import { LocalData } from "../../../data/Tabular.ts"
import * as TaskOutput from "../../../data/TaskOutput.ts"
import { sha256Digest } from "../../../wire/Canonical.ts"
import type { ParticipantSession } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import { MAX_CHUNK } from "../psi/spec.ts"
import * as Spec from "./spec.ts"

interface State {
  readonly set: Ids.IdSet
  readonly scalar: Uint8Array
  readonly channel: Channel.Keys["channel"]
  readonly reply: typeof Spec.keys.reply.Type
  peers?: ReadonlyMap<string, Channel.Advertisement>
  readonly seen: Set<string>
  /** Querier: one blinding scalar per query, then tag → query index. */
  blinds?: ReadonlyArray<Uint8Array>
  wanted?: Map<string, { readonly query: number; readonly key: Uint8Array }>
  readonly found: Map<number, unknown>
}

const MEMORY = "query/hidden"
const TAG_BYTES = 32

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  Effect.fail(new ParticipantFailure({ participant: session.self, stage, code, detail }))

const tagOf = (point: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), point))
const keyOf = (point: Uint8Array) => sha256(concatBytes(new Uint8Array([2]), point))
const recordAd = (taskId: string) => new TextEncoder().encode(`jointly/hidden/record/v1|${taskId}`)
const asKey = (bytes: Uint8Array) => String.fromCharCode.apply(null, bytes as unknown as Array<number>)

/** The row as JSON of the declared columns: numbers stay numbers, everything else is text. */
const rowJson = (data: TabularData, columns: ReadonlyArray<string>) => {
  const read = columns.map((c) => (data.isNumeric(c) ? data.numeric(c) : data.strings(c)))
  return (row: number) => JSON.stringify(Object.fromEntries(columns.map((c, j) => [c, read[j]![row]])))
}

export const handlers = (datasetName: string, params: Spec.Params) => {
  const chunkSize = params.chunkSize ?? MAX_CHUNK
  const domainOf = (session: ParticipantSession) => Group.domain("hidden", session.taskId)
  const other = (session: ParticipantSession) => session.participants.find((p) => p !== session.self)!
  const state = (session: ParticipantSession, stage: string) => {
    const s = session.memory.get(MEMORY) as State | undefined
    return s?.peers === undefined ? fail(session, stage, "MissingState", "keys not exchanged yet") : Effect.succeed(s as State & { peers: ReadonlyMap<string, Channel.Advertisement> })
  }
  const once = (session: ParticipantSession, s: State, stage: string, key: string) => {
    if (s.seen.has(key)) return fail(session, stage, "DuplicateChunk", `${key} was already received`)
    s.seen.add(key)
    return Effect.void
  }
  const role = (session: ParticipantSession, stage: string, want: "provider" | "querier") =>
    session.self === params[want] ? Effect.void : fail(session, stage, "WrongRole", `only the ${want} answers ${stage}`)
  const seal = (session: ParticipantSession, s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, stage: string, label: string, bytes: Uint8Array) =>
    Channel.seal(session, stage, s.channel.secretKey, other(session), s.peers.get(other(session))!.channelPublicKey, label, bytes)
  const open = (session: ParticipantSession, s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, stage: string, label: string, bytes: Uint8Array) =>
    Channel.open(session, stage, s.channel.secretKey, other(session), s.peers.get(other(session))!.channelPublicKey, label, bytes)
  const countOf = (s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, party: string) => s.peers.get(party)!.count

  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const existing = session.memory.get(MEMORY) as State | undefined
      if (existing !== undefined) return existing.reply
      const data = yield* (yield* LocalData).dataset(datasetName)
      const needed = session.self === params.provider ? [params.idColumn, ...params.columns] : [params.idColumn]
      const missing = needed.find((c) => !data.columnNames.includes(c))
      if (missing !== undefined) return yield* fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${missing}`)
      const set = Ids.load(data, params.idColumn)
      if (set.ids.length === 0) return yield* fail(session, stage, "EmptySet", `dataset ${data.name} has no ids in ${params.idColumn}`)
      if (session.self === params.querier && set.ids.length > params.maxQueries) {
        return yield* fail(session, stage, "TooManyQueries", `${set.ids.length} ids to look up exceed maxQueries ${params.maxQueries}`)
      }
      yield* Effect.promise(() => Group.ready())
      const { channel, advertisement } = yield* Channel.advertise(session, set.ids.length)
      session.memory.set(MEMORY, { set, scalar: Group.ristretto255.randomScalar(), channel, reply: advertisement, seen: new Set(), found: new Map() } satisfies State)
      return advertisement
    })
  )

  const peers = handler(Spec.peers, ({ advertisements }, session) =>
    Effect.gen(function*() {
      const stage = Spec.peers.name
      const s = session.memory.get(MEMORY) as State | undefined
      if (s === undefined) return yield* fail(session, stage, "MissingState", "no keys yet")
      if (s.peers !== undefined) return yield* fail(session, stage, "DuplicateChunk", "peer keys were already received")
      s.peers = yield* Channel.verify(session, stage, session.participants, advertisements, s.channel.publicKey)
      // The provider's policy cap: it refuses before evaluating anything.
      if (s.peers.get(params.querier)!.count > params.maxQueries) return yield* fail(session, stage, "TooManyQueries", `the querier announces more than ${params.maxQueries} queries`)
      return { ok: true as const }
    })
  )

  const query = handler(Spec.query, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.query.name
      yield* role(session, stage, "querier")
      const s = yield* state(session, stage)
      yield* once(session, s, stage, "query")
      // A fresh r_q per query: the provider cannot even tell two queries for the same id apart.
      const blinds = s.set.ids.map(() => Group.ristretto255.randomScalar())
      const points = new Uint8Array(s.set.ids.length * Group.POINT_BYTES)
      s.set.ids.forEach((id, i) => points.set(Group.ristretto255.hashBlindEncoded(domainOf(session), Group.encodeIds([id]), blinds[i]!), i * Group.POINT_BYTES))
      s.blinds = blinds
      return { payload: yield* seal(session, s, stage, "query", points) }
    })
  )

  const evaluate = handler(Spec.evaluate, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.evaluate.name
      yield* role(session, stage, "provider")
      const s = yield* state(session, stage)
      yield* once(session, s, stage, "evaluate")
      const points = yield* open(session, s, stage, "query", payload)
      const count = points.length / Group.POINT_BYTES
      if (!Number.isInteger(count) || count !== countOf(s, params.querier)) {
        return yield* fail(session, stage, "CountMismatch", `${count} queries arrived, ${countOf(s, params.querier)} announced`)
      }
      if (count > params.maxQueries) return yield* fail(session, stage, "TooManyQueries", `${count} queries exceed ${params.maxQueries}`)
      const compute = yield* Compute.QueryCompute
      const answered = yield* Effect.mapError(compute.blind("ristretto255", points, s.scalar), (e) =>
        new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: e.message }))
      return { payload: yield* seal(session, s, stage, "answer", answered) }
    })
  )

  const unblind = handler(Spec.unblind, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.unblind.name
      yield* role(session, stage, "querier")
      const s = yield* state(session, stage)
      if (s.blinds === undefined) return yield* fail(session, stage, "MissingState", "no queries were sent")
      yield* once(session, s, stage, "unblind")
      const points = yield* open(session, s, stage, "answer", payload)
      if (points.length !== s.blinds.length * Group.POINT_BYTES) {
        return yield* fail(session, stage, "CountMismatch", `${points.length / Group.POINT_BYTES} answers for ${s.blinds.length} queries`)
      }
      const wanted = new Map<string, { query: number; key: Uint8Array }>()
      for (let i = 0; i < s.blinds.length; i++) {
        const point = yield* Effect.try({
          try: () => Group.ristretto255.blind(points.subarray(i * Group.POINT_BYTES, (i + 1) * Group.POINT_BYTES), Group.invertScalar(s.blinds![i]!)),
          catch: () => new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: `answer ${i} is not a group element` })
        })
        wanted.set(asKey(tagOf(point)), { query: i, key: keyOf(point) })
      }
      s.wanted = wanted
      return { ok: true as const }
    })
  )

  const table = handler(Spec.table, ({ index }, session) =>
    Effect.gen(function*() {
      const stage = Spec.table.name
      yield* role(session, stage, "provider")
      const s = yield* state(session, stage)
      const length = Ids.chunkLength(s.set.ids.length, chunkSize, index)
      if (length === 0) return yield* fail(session, stage, "UnexpectedChunk", `there is no chunk ${index}`)
      yield* once(session, s, stage, `table/${index}`)
      const data = yield* (yield* LocalData).dataset(datasetName)
      const row = rowJson(data, params.columns)
      const compute = yield* Compute.QueryCompute
      const points = yield* compute.hashBlind("ristretto255", domainOf(session), s.set.ids.slice(index * chunkSize, index * chunkSize + length), s.scalar).pipe(
        Effect.catch((error) => fail(session, stage, "ComputeFailed", error.message))
      )
      const parts: Array<Uint8Array> = []
      const encoder = new TextEncoder()
      for (let i = 0; i < length; i++) {
        const point = points.subarray(i * Group.POINT_BYTES, (i + 1) * Group.POINT_BYTES)
        const ct = Ecies.seal(keyOf(point), encoder.encode(row(s.set.rows[index * chunkSize + i]!)), recordAd(session.taskId))
        const head = new Uint8Array(TAG_BYTES + 4)
        head.set(tagOf(point))
        new DataView(head.buffer).setUint32(TAG_BYTES, ct.length)
        parts.push(head, ct)
      }
      return { payload: yield* seal(session, s, stage, `table|${index}`, concatBytes(...parts)) }
    })
  )

  const match = handler(Spec.match, ({ index, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.match.name
      yield* role(session, stage, "querier")
      const s = yield* state(session, stage)
      if (s.wanted === undefined) return yield* fail(session, stage, "MissingState", "answers not unblinded yet")
      const expected = Ids.chunkLength(countOf(s, params.provider), chunkSize, index)
      if (expected === 0) return yield* fail(session, stage, "CountMismatch", `the provider announced ${countOf(s, params.provider)} records: there is no chunk ${index}`)
      yield* once(session, s, stage, `match/${index}`)
      const bytes = yield* open(session, s, stage, `table|${index}`, payload)
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      let at = 0
      let records = 0
      while (at < bytes.length) {
        if (at + TAG_BYTES + 4 > bytes.length) return yield* fail(session, stage, "MalformedPayload", "truncated record")
        const tag = asKey(bytes.subarray(at, at + TAG_BYTES))
        const length = view.getUint32(at + TAG_BYTES)
        const ct = bytes.subarray(at + TAG_BYTES + 4, at + TAG_BYTES + 4 + length)
        at += TAG_BYTES + 4 + length
        records++
        const hit = s.wanted.get(tag)
        if (hit === undefined) continue
        if (s.found.has(hit.query)) return yield* fail(session, stage, "DuplicateChunk", "a record was sent twice")
        const row = yield* Effect.try({
          try: () => JSON.parse(new TextDecoder().decode(Ecies.open(hit.key, ct, recordAd(session.taskId)))) as unknown,
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "UndecryptablePayload", detail: String(error) })
        })
        s.found.set(hit.query, row)
      }
      if (records !== expected) return yield* fail(session, stage, "CountMismatch", `chunk ${index} holds ${records} records, ${expected} announced`)
      return { ok: true as const }
    })
  )

  const outputHandler = handler(Spec.output, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.output.name
      yield* role(session, stage, "querier")
      const s = yield* state(session, stage)
      yield* once(session, s, stage, "output")
      const order = s.set.ids.map((_, i) => i).sort((a, b) => s.set.rows[a]! - s.set.rows[b]!)
      const found = order.filter((i) => s.found.has(i)).map((i) => ({ id: s.set.ids[i]!, row: s.found.get(i) }))
      const missing = order.filter((i) => !s.found.has(i)).map((i) => s.set.ids[i]!)
      const output = { taskId: session.taskId, kind: Spec.kind, idColumn: params.idColumn, columns: params.columns, queries: s.set.ids.length, duplicates: s.set.duplicates, emptyIds: s.set.empty, found, missing }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { digest, location }
    })
  )

  return [keys, peers, query, evaluate, unblind, table, match, outputHandler]
}
