/**
 * Participant side of the ECDH-PSI family (the protocol, its variants and their leakage: `spec.ts`).
 *
 * Secrets (the PSI key, the channel key, the Paillier secret key) and the chunks in transit stay in
 * `session.memory` under `query/psi`. Every chunk coordinate is accepted once: a repeated (source, hop, index)
 * fails with DuplicateChunk, so a party (or the coordinator) sending twice cannot double-count an element.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { BigIntKernels } from "../../../compute/Kernels.ts"
import { Primes } from "../../../compute/Primes.ts"
import * as FixedPoint from "../../../crypto/FixedPoint.ts"
import * as Keys from "../../../crypto/paillier/Keys.ts"
import * as Paillier from "../../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../../crypto/paillier/Serialization.ts"
import { LocalData } from "../../../data/Tabular.ts"
import * as TaskOutput from "../../../data/TaskOutput.ts"
import { sha256Digest } from "../../../wire/Canonical.ts"
import type { ParticipantSession } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as ElementSet from "../ElementSet.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import * as Spec from "./spec.ts"

interface Sum {
  /** Value holder: its key pair. */
  readonly keyPair?: Keys.KeyPair
  /** Matcher: the holder's public key. */
  publicKey?: Keys.PublicKey
  encryptedSum?: Paillier.Ciphertext
}

interface State {
  readonly set: Ids.IdSet
  readonly scalar: Uint8Array
  readonly channel: Channel.Keys["channel"]
  readonly reply: typeof Spec.KeysReply.Type
  readonly sum: Sum
  peers?: ReadonlyMap<string, Channel.Advertisement>
  readonly seen: Set<string>
  /** Own hop-0 chunks being hashed ahead of their request (`prepare`). */
  readonly prepared: Map<number, Promise<Uint8Array>>
  /** source → chunk index → fully-blinded points (and, from the value holder, its ciphertexts). */
  readonly inbox: Map<string, Map<number, { readonly points: Uint8Array; readonly extra: Uint8Array }>>
  /** Fully-blinded chunks of the set this party completes, to relay to the other matchers. */
  outbox: Map<number, Uint8Array>
  outboxShuffled: boolean
  /** After `finish`: own positions (in `set` order) that are in the intersection, or only their number. */
  matched?: ReadonlyArray<number>
  cardinality?: number
  /** Alignment: own positions in ascending fully-blinded order, and the digest of that order. */
  aligned?: { readonly positions: ReadonlyArray<number>; readonly digest: string }
  /** Union: ids of the other party this one outputs (receiver) or sends (B). */
  remainder?: ReadonlyArray<string>
  readonly received: Map<number, ReadonlyArray<string>>
}

const MEMORY = "query/psi"

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  Effect.fail(new ParticipantFailure({ participant: session.self, stage, code, detail }))

const ring = (session: ParticipantSession) => {
  const parties = session.participants
  const n = parties.length
  const at = (i: number) => parties[((i % n) + n) % n]!
  const me = parties.indexOf(session.self)
  return { parties, n, me, next: at(me + 1), prev: at(me - 1), sourceAt: (hop: number) => at(me - hop), lastHopOf: (source: string) => at(parties.indexOf(source) - 1) }
}

/** Chunk payload: u32 length of points ‖ points ‖ extra (the value holder's ciphertexts). */
const pack = (points: Uint8Array, extra: Uint8Array = new Uint8Array(0)) => {
  const head = new Uint8Array(4)
  new DataView(head.buffer).setUint32(0, points.length)
  return concatBytes(head, points, extra)
}
const unpack = (payload: Uint8Array) => {
  if (payload.length < 4) return undefined
  const length = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0)
  if (4 + length > payload.length) return undefined
  return { points: payload.subarray(4, 4 + length), extra: payload.subarray(4 + length) }
}

export const handlers = (datasetName: string, mode: Spec.Mode, params: Spec.Params) => {
  const chunkSize = Spec.chunkSizeOf(mode, params)
  const hiding = mode === "cardinality" || mode === "sum"
  const holder = params.receivers[0]!
  const group = Spec.groupOf(params)
  const domainOf = (session: ParticipantSession) => Group.domain("psi", session.taskId)

  const state = (session: ParticipantSession, stage: string) => {
    const found = session.memory.get(MEMORY) as State | undefined
    return found === undefined ? fail(session, stage, "MissingState", `no joint-query state in attempt ${session.attempt}`) : Effect.succeed(found)
  }
  const withPeers = (session: ParticipantSession, stage: string) =>
    Effect.flatMap(state(session, stage), (s) => (s.peers === undefined ? fail(session, stage, "MissingState", "peer keys not received yet") : Effect.succeed(s as State & { peers: ReadonlyMap<string, Channel.Advertisement> })))
  const once = (session: ParticipantSession, s: State, stage: string, key: string) => {
    if (s.seen.has(key)) return fail(session, stage, "DuplicateChunk", `${key} was already received`)
    s.seen.add(key)
    return Effect.void
  }
  const countOf = (s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, party: string) => s.peers.get(party)!.count
  const matchers = (session: ParticipantSession) => Spec.matchers(mode, params, session.participants)

  /**
   * Starts hashing own chunk `index` (hop 0) before its request comes: the coordinator's rounds are barriers,
   * and while this party's and its peers' messages are sealed, encoded and relayed a pool would otherwise idle.
   * One chunk ahead keeps the pool's queue non-empty (issue 4: ~10% of a 100k PSI was idle workers) while
   * holding at most two chunks of own points.
   */
  const prepare = (compute: Compute.QueryComputeService, session: ParticipantSession, s: State, index: number) => {
    const length = Ids.chunkLength(s.set.ids.length, chunkSize, index)
    if (length === 0 || s.prepared.has(index)) return
    const ids = s.set.ids.slice(index * chunkSize, index * chunkSize + length)
    const points = Effect.runPromise(compute.hashBlind(group, domainOf(session), ids, s.scalar))
    points.catch(() => {}) // surfaced by the hop-0 request of that chunk, which awaits it
    s.prepared.set(index, points)
  }

  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const existing = session.memory.get(MEMORY) as State | undefined
      if (existing !== undefined) return existing.reply
      if (!session.participants.includes(session.self)) return yield* fail(session, stage, "NotAParty", `${session.self} is not a party`)
      const data = yield* (yield* LocalData).dataset(datasetName)
      if (!data.columnNames.includes(params.idColumn)) return yield* fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${params.idColumn}`)
      const set = Ids.load(data, params.idColumn)
      if (set.ids.length === 0) return yield* fail(session, stage, "EmptySet", `dataset ${data.name} has no ids in ${params.idColumn}`)
      if (set.ids.length > params.maxIds) return yield* fail(session, stage, "TooManyIds", `${set.ids.length} distinct ids exceed maxIds ${params.maxIds}`)
      let sum: Sum = {}
      if (mode === "sum" && session.self === holder) {
        const column = params.valueColumn!
        if (!data.columnNames.includes(column) || !data.isNumeric(column)) return yield* fail(session, stage, "NotNumeric", `column ${column} of dataset ${data.name} is missing or not numeric`)
        const values = data.numeric(column)
        if (set.rows.some((row) => !Number.isFinite(values[row]!))) return yield* fail(session, stage, "InvalidValue", `column ${column} has an empty or non-finite value`)
        const primes = (yield* Primes).generate
        const kernels = yield* BigIntKernels
        sum = { keyPair: yield* Effect.promise(() => Keys.generateKeyPair({ bits: Keys.DEFAULT_BITS, primes, kernels })) }
      }
      yield* Effect.promise(() => Group.ready())
      const extra = sum.keyPair ? Serialization.encodePublicKey(sum.keyPair.publicKey) : new Uint8Array(0)
      const { channel, advertisement } = yield* Channel.advertise(session, set.ids.length, extra)
      const s: State = {
        set, scalar: Group.groups[group].randomScalar(), channel, reply: advertisement, sum, seen: new Set(), prepared: new Map(),
        inbox: new Map(), outbox: new Map(), outboxShuffled: false, received: new Map()
      }
      // Counted locally only: the receiver's output file reports them; nothing about them leaves.
      session.memory.set("query/input-report", { duplicates: set.duplicates, empty: set.empty, distinct: set.ids.length })
      session.memory.set(MEMORY, s)
      return advertisement
    })
  )

  const peers = handler(Spec.peers, ({ advertisements }, session) =>
    Effect.gen(function*() {
      const stage = Spec.peers.name
      const s = yield* state(session, stage)
      if (s.peers !== undefined) return yield* fail(session, stage, "DuplicateChunk", "peer keys were already received")
      s.peers = yield* Channel.verify(session, stage, session.participants, advertisements, s.channel.publicKey)
      for (const [party, ad] of s.peers) {
        if (ad.count > params.maxIds) return yield* fail(session, stage, "TooManyIds", `${party} announces ${ad.count} ids, above maxIds ${params.maxIds}`)
        if (ad.count === 0) return yield* fail(session, stage, "EmptySet", `${party} announces an empty set`)
      }
      prepare(yield* Compute.current, session, s, 0)
      if (mode === "sum" && session.self !== holder) {
        const extra = s.peers.get(holder)!.extra
        s.sum.publicKey = yield* Effect.try({
          try: () => Serialization.decodePublicKey(extra),
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidPublicKey", detail: String(error) })
        })
      }
      return { ok: true as const }
    })
  )

  const blindHandler = handler(Spec.blind, ({ source, hop, index, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.blind.name
      const s = yield* withPeers(session, stage)
      const r = ring(session)
      if (hop >= r.n || r.sourceAt(hop) !== source) return yield* fail(session, stage, "UnexpectedChunk", `hop ${hop} of ${source} is not this party's`)
      const expected = Ids.chunkLength(countOf(s, source), chunkSize, index)
      if (expected === 0) return yield* fail(session, stage, "CountMismatch", `${source} announced ${countOf(s, source)} elements: there is no chunk ${index}`)
      yield* once(session, s, stage, `blind/${source}/${hop}/${index}`)
      const compute = yield* Compute.current
      let points: Uint8Array
      let extra: Uint8Array = new Uint8Array(0)
      if (hop === 0) {
        prepare(compute, session, s, index)
        prepare(compute, session, s, index + 1)
        const prepared = s.prepared.get(index)!
        points = yield* Effect.promise(() => prepared)
        s.prepared.delete(index)
        if (s.sum.keyPair !== undefined) {
          const data = yield* (yield* LocalData).dataset(datasetName)
          const values = data.numeric(params.valueColumn!)
          const pk = s.sum.keyPair.publicKey
          const codec = Paillier.fixedPointCodec(pk, params.scaleBits ?? 16)
          const rows = s.set.rows.slice(index * chunkSize, index * chunkSize + expected)
          extra = yield* Effect.try({
            try: () => Serialization.encodeCiphertexts(pk, rows.map((row) => Paillier.encryptReal(pk, codec, values[row]!))),
            catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidValue", detail: String(error) })
          })
        }
      } else {
        if (payload === undefined) return yield* fail(session, stage, "MissingPayload", `hop ${hop} needs the previous party's chunk`)
        const opened = yield* Channel.open(session, stage, s.channel.secretKey, r.prev, s.peers.get(r.prev)!.channelPublicKey, `blind|${source}|${hop}|${index}`, payload)
        const parts = unpack(opened)
        if (parts === undefined) return yield* fail(session, stage, "MalformedPayload", "chunk header does not match its length")
        if (parts.points.length !== expected * Group.POINT_BYTES) {
          return yield* fail(session, stage, "CountMismatch", `chunk ${index} of ${source} holds ${parts.points.length / Group.POINT_BYTES} elements, ${expected} announced`)
        }
        points = yield* Effect.mapError(compute.blind(group, parts.points, s.scalar), (e) =>
          new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: `chunk ${index} of ${source}: ${e.message}` }))
        extra = parts.extra
      }
      if (hop < r.n - 1) {
        const sealed = yield* Channel.seal(session, stage, s.channel.secretKey, r.next, s.peers.get(r.next)!.channelPublicKey, `blind|${source}|${hop + 1}|${index}`, pack(points, extra))
        return { payload: sealed }
      }
      // Last hop: `points` is a chunk of the fully-blinded F_source.
      const targets = matchers(session)
      if (targets.includes(session.self)) {
        let chunks = s.inbox.get(source)
        if (chunks === undefined) s.inbox.set(source, (chunks = new Map()))
        chunks.set(index, { points, extra })
      }
      if (targets.some((t) => t !== session.self)) s.outbox.set(index, points)
      return {}
    })
  )

  /** Cardinality and sum: F is shuffled across all its chunks before anyone who could map it back sees it. */
  const shuffleOutbox = (s: State, count: number) => {
    const all = new Uint8Array(count * Group.POINT_BYTES)
    for (let i = 0; i < Ids.chunks(count, chunkSize); i++) all.set(s.outbox.get(i)!, i * chunkSize * Group.POINT_BYTES)
    const order = Ids.permutation(count)
    const shuffled = new Uint8Array(all.length)
    for (let i = 0; i < count; i++) shuffled.set(all.subarray(order[i]! * Group.POINT_BYTES, (order[i]! + 1) * Group.POINT_BYTES), i * Group.POINT_BYTES)
    s.outbox = new Map()
    for (let i = 0; i < Ids.chunks(count, chunkSize); i++) s.outbox.set(i, shuffled.subarray(i * chunkSize * Group.POINT_BYTES, Math.min(count, (i + 1) * chunkSize) * Group.POINT_BYTES))
    s.outboxShuffled = true
  }

  const relay = handler(Spec.relay, ({ index }, session) =>
    Effect.gen(function*() {
      const stage = Spec.relay.name
      const s = yield* withPeers(session, stage)
      const r = ring(session)
      const source = r.next
      const count = countOf(s, source)
      const chunks = Ids.chunks(count, chunkSize)
      if (index >= chunks) return yield* fail(session, stage, "UnexpectedChunk", `no chunk ${index} of ${source}`)
      // Hiding modes shuffle the whole set first, so they wait for all of it; the others relay each chunk as soon
      // as its last hop is done (coordinator.ts interleaves those relays with the blinding).
      const needed = hiding ? Array.from({ length: chunks }, (_, i) => i) : [index]
      const missing = needed.filter((i) => !s.outbox.has(i))
      if (missing.length > 0) return yield* fail(session, stage, "CountMismatch", `fully-blinded chunks ${missing.join(", ")} of ${source} never arrived`)
      yield* once(session, s, stage, `relay/${index}`)
      if (hiding && !s.outboxShuffled) shuffleOutbox(s, count)
      const points = s.outbox.get(index)!
      if (!hiding) s.outbox.delete(index) // relayed once (`once` above): no need to hold it
      const deliveries = []
      for (const recipient of matchers(session).filter((t) => t !== session.self)) {
        deliveries.push({ recipient, payload: yield* Channel.seal(session, stage, s.channel.secretKey, recipient, s.peers.get(recipient)!.channelPublicKey, `deliver|${source}|${index}`, points) })
      }
      return { deliveries }
    })
  )

  const deliver = handler(Spec.deliver, ({ deliveries }, session) =>
    Effect.gen(function*() {
      const stage = Spec.deliver.name
      const s = yield* withPeers(session, stage)
      const r = ring(session)
      if (!matchers(session).includes(session.self)) return yield* fail(session, stage, "UnexpectedChunk", "this party receives no fully-blinded sets")
      yield* Effect.promise(() => Group.ready())
      for (const { sender, source, index, payload } of deliveries) {
        if (!r.parties.includes(source) || r.lastHopOf(source) !== sender || sender === session.self) {
          return yield* fail(session, stage, "UnexpectedChunk", `${sender} does not complete the set of ${source}`)
        }
        const expected = Ids.chunkLength(countOf(s, source), chunkSize, index)
        if (expected === 0) return yield* fail(session, stage, "CountMismatch", `${source} announced ${countOf(s, source)} elements: there is no chunk ${index}`)
        yield* once(session, s, stage, `deliver/${source}/${index}`)
        const points = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, `deliver|${source}|${index}`, payload)
        if (points.length !== expected * Group.POINT_BYTES) {
          return yield* fail(session, stage, "CountMismatch", `chunk ${index} of ${source} holds ${points.length / Group.POINT_BYTES} elements, ${expected} announced`)
        }
        const groups = yield* Compute.Groups
        yield* Effect.try({ try: () => groups[group].validate(points), catch: (e) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: `chunk ${index} of ${source}: ${String(e)}` }) })
        let chunks = s.inbox.get(source)
        if (chunks === undefined) s.inbox.set(source, (chunks = new Map()))
        chunks.set(index, { points, extra: new Uint8Array(0) })
      }
      return { ok: true as const }
    })
  )

  /** All chunks of `source` in order, or a CountMismatch failure naming the first missing one. */
  const assembled = (session: ParticipantSession, s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, stage: string, source: string) => {
    const count = countOf(s, source)
    const chunks = s.inbox.get(source) ?? new Map()
    const points = new Uint8Array(count * Group.POINT_BYTES)
    const extras: Array<Uint8Array> = []
    for (let i = 0; i < Ids.chunks(count, chunkSize); i++) {
      const chunk = chunks.get(i)
      if (chunk === undefined) return fail(session, stage, "CountMismatch", `chunk ${i} of ${source}'s fully-blinded set never arrived`)
      points.set(chunk.points, i * chunkSize * Group.POINT_BYTES)
      extras.push(chunk.extra)
    }
    return Effect.succeed({ points, extras })
  }

  const finish = handler(Spec.finish, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.finish.name
      const s = yield* withPeers(session, stage)
      if (!matchers(session).includes(session.self)) return {}
      if (s.cardinality !== undefined) return yield* fail(session, stage, "DuplicateChunk", "already finished")
      const own = yield* assembled(session, s, stage, session.self)
      const others: Array<(i: number) => boolean> = []
      for (const party of session.participants) {
        if (party === session.self) continue
        const { points } = yield* assembled(session, s, stage, party)
        others.push(ElementSet.of(points).within(own.points))
      }
      const matched: Array<number> = []
      for (let i = 0; i < Group.count(own.points); i++) {
        if (others.every((has) => has(i))) matched.push(i)
      }
      s.cardinality = matched.length
      if (mode === "sum") {
        // Google's intersection-sum: add the holder's ciphertexts of the elements in F_holder ∩ F_self.
        const theirs = yield* assembled(session, s, stage, holder)
        const pk = s.sum.publicKey!
        const ciphertexts = yield* Effect.try({
          try: () => theirs.extras.flatMap((bytes) => Serialization.decodeCiphertexts(pk, bytes)),
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidCiphertext", detail: String(error) })
        })
        if (ciphertexts.length !== Group.count(theirs.points)) return yield* fail(session, stage, "CountMismatch", `${ciphertexts.length} ciphertexts for ${Group.count(theirs.points)} elements`)
        const mine = ElementSet.of(own.points).within(theirs.points)
        const picked = ciphertexts.filter((_, i) => mine(i))
        const total = picked.length === 0 ? Paillier.encrypt(pk, 0n) : Paillier.sum(picked)
        s.sum.encryptedSum = Paillier.rerandomize(total)
        return {}
      }
      if (hiding) return {}
      s.matched = matched
      if (mode === "aligned") {
        const positions = [...matched].sort((a, b) => ElementSet.compare(own.points, a, b))
        const ordered = concatBytes(...positions.map((i) => own.points.subarray(i * Group.POINT_BYTES, (i + 1) * Group.POINT_BYTES)))
        s.aligned = { positions, digest: "0x" + bytesToHex(sha256(concatBytes(Group.domain("psi-alignment", session.taskId), ordered))) }
      }
      if (mode === "union" && session.self !== params.receivers[0]) {
        const inside = new Set(matched)
        s.remainder = s.set.ids.filter((_, i) => !inside.has(i))
        return { remainder: s.remainder.length }
      }
      return {}
    })
  )

  const sumHandler = handler(Spec.sum, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.sum.name
      const s = yield* withPeers(session, stage)
      if (s.sum.encryptedSum === undefined) return yield* fail(session, stage, "MissingState", "no encrypted sum: finish first")
      yield* once(session, s, stage, "sum")
      const count = new Uint8Array(4)
      new DataView(count.buffer).setUint32(0, s.cardinality!)
      const plaintext = concatBytes(count, Serialization.encodeCiphertext(s.sum.encryptedSum))
      return { payload: yield* Channel.seal(session, stage, s.channel.secretKey, holder, s.peers.get(holder)!.channelPublicKey, "sum", plaintext) }
    })
  )

  const transfer = handler(Spec.transfer, ({ index }, session) =>
    Effect.gen(function*() {
      const stage = Spec.transfer.name
      const s = yield* withPeers(session, stage)
      if (s.remainder === undefined) return yield* fail(session, stage, "MissingState", "nothing to transfer: finish first")
      yield* once(session, s, stage, `transfer/${index}`)
      const receiver = params.receivers[0]!
      const ids = s.remainder.slice(index * chunkSize, (index + 1) * chunkSize)
      const plaintext = new TextEncoder().encode(JSON.stringify(ids))
      return { payload: yield* Channel.seal(session, stage, s.channel.secretKey, receiver, s.peers.get(receiver)!.channelPublicKey, `transfer|${index}`, plaintext) }
    })
  )

  const take = handler(Spec.take, ({ index, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.take.name
      const s = yield* withPeers(session, stage)
      const sender = session.participants.find((p) => p !== session.self)!
      yield* once(session, s, stage, `take/${index}`)
      const opened = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, `transfer|${index}`, payload)
      const ids = yield* Effect.try({
        try: () => {
          const parsed: unknown = JSON.parse(new TextDecoder().decode(opened))
          if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error("not a list of ids")
          return parsed as Array<string>
        },
        catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "MalformedPayload", detail: String(error) })
      })
      s.received.set(index, ids)
      return { ok: true as const }
    })
  )

  const outputHandler = handler(Spec.output, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.output.name
      const s = yield* withPeers(session, stage)
      if (!params.receivers.includes(session.self)) return yield* fail(session, stage, "NotAReceiver", "this party receives no output")
      yield* once(session, s, stage, "output")
      const data = yield* (yield* LocalData).dataset(datasetName)
      const base = { taskId: session.taskId, kind: Spec.kinds[mode], dataset: data.name, idColumn: params.idColumn, setSize: s.set.ids.length, duplicates: s.set.duplicates, emptyIds: s.set.empty }
      const byRow = (positions: ReadonlyArray<number>) => [...positions].sort((a, b) => s.set.rows[a]! - s.set.rows[b]!)
      let output: Record<string, unknown>
      let cardinality: number | undefined
      let alignment: string | undefined
      switch (mode) {
        case "intersection": {
          const positions = byRow(s.matched ?? [])
          output = { ...base, cardinality: positions.length, ids: positions.map((i) => s.set.ids[i]!), rows: positions.map((i) => s.set.rows[i]!) }
          cardinality = positions.length
          break
        }
        case "cardinality":
          output = { ...base, cardinality: s.cardinality }
          cardinality = s.cardinality
          break
        case "aligned": {
          const positions = s.aligned?.positions ?? []
          alignment = s.aligned?.digest
          output = { ...base, cardinality: positions.length, alignment, ids: positions.map((i) => s.set.ids[i]!), rows: positions.map((i) => s.set.rows[i]!) }
          cardinality = positions.length
          break
        }
        case "difference": {
          const inside = new Set(s.matched ?? [])
          const positions = byRow(s.set.ids.map((_, i) => i).filter((i) => !inside.has(i)))
          output = { ...base, ids: positions.map((i) => s.set.ids[i]!), rows: positions.map((i) => s.set.rows[i]!) }
          cardinality = positions.length
          break
        }
        case "union": {
          const received: Array<string> = []
          for (let i = 0; i < s.received.size; i++) {
            const part = s.received.get(i)
            if (part === undefined) return yield* fail(session, stage, "CountMismatch", `union part ${i} never arrived`)
            received.push(...part)
          }
          const own = byRow(s.set.ids.map((_, i) => i)).map((i) => s.set.ids[i]!)
          const mine = new Set(own)
          if (received.some((id) => mine.has(id))) return yield* fail(session, stage, "InconsistentPayload", "the other party sent an id of the intersection")
          const ids = [...own, ...received]
          output = { ...base, cardinality: ids.length, ids }
          cardinality = ids.length
          break
        }
        case "sum": {
          if (payload === undefined || s.sum.keyPair === undefined) return yield* fail(session, stage, "MissingPayload", "the encrypted sum did not arrive")
          const sender = session.participants.find((p) => p !== session.self)!
          const opened = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, "sum", payload)
          const { keyPair } = s.sum
          const decoded = yield* Effect.try({
            try: () => {
              const count = new DataView(opened.buffer, opened.byteOffset, 4).getUint32(0)
              const c = Serialization.decodeCiphertext(keyPair.publicKey, opened.subarray(4))
              const codec = Paillier.fixedPointCodec(keyPair.publicKey, params.scaleBits ?? 16)
              return { count, sum: FixedPoint.decode(codec, Paillier.decrypt(keyPair.privateKey, c)) }
            },
            catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidCiphertext", detail: String(error) })
          })
          output = { ...base, valueColumn: params.valueColumn, cardinality: decoded.count, sum: decoded.sum }
          cardinality = decoded.count
          break
        }
      }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { cardinality, digest, location, alignment }
    })
  )

  return [keys, peers, blindHandler, relay, deliver, finish, sumHandler, transfer, take, outputHandler]
}
