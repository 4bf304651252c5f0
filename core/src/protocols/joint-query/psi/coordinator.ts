/**
 * Coordinator side of the ECDH-PSI family: relays sealed chunks around the ring and to the receivers, then
 * collects only the digests (and cardinalities) of the receivers' outputs. It never holds more than one chunk
 * per party at a time, and it cannot read any: every payload is sealed between participants (`Channel.ts`).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Clock, Deferred, Effect } from "effect"
import type { CoordinatorSession } from "../../Protocol.ts"
import { ProtocolError, suspendIfLeft } from "../../Protocol.ts"
import * as Ids from "../Ids.ts"
import * as IdSpill from "../IdSpill.ts"
import * as Spec from "./spec.ts"

export interface Options {
  readonly timeoutMs?: number
}

export const run = (session: CoordinatorSession, mode: Spec.Mode, params: Spec.Params, options: Options = {}) =>
  Effect.gen(function*() {
    const parties = session.participants
    const n = parties.length
    const all = <A>(make: (party: string) => A) => new Map(parties.map((p) => [p, make(p)] as const))
    const every = { minReplies: n, timeoutMs: options.timeoutMs }

    // Stage 1–2: signed channel keys and set sizes, then everyone checks everyone's.
    const keys = yield* session.round(Spec.keys, all(() => ({})), every)
    const advertisements = parties.map((participant) => ({ participant, ...keys.get(participant)! }))
    const counts = new Map(advertisements.map((a) => [a.participant, a.count] as const))
    const checked = yield* session.round(Spec.peers, all(() => ({ advertisements })), every)
    const protocol = Spec.protocolOf(mode, params, n, Math.max(...counts.values()))
    // The OT engine in buckets starts after those both parties kept from an earlier attempt (spec.ts "Resume").
    const resume = Math.min(...parties.map((p) => checked.get(p)?.resumable ?? 0))
    // The ECDH ring on disk records each unit when every party can (RingProgress.ts): a party that leaves then
    // suspends the attempt, and the next one resumes after the units every party kept.
    const recorded = protocol === "ecdh" && parties.every((p) => checked.get(p)?.resumable !== undefined)
    const outputs = yield* (protocol === "ot"
      ? otPath(session, params, counts, resume, options)
      : recorded
      ? ring(session, mode, params, counts, options, resume).pipe(Effect.catchTag("RoundError", (error) => Effect.fail(suspendIfLeft(Spec.kinds[mode], error))))
      : ring(session, mode, params, counts, options))
    return yield* results(session, mode, params, outputs)
  })

/** Stages 3–5 of the ECDH engine: the blinding ring, the relays, matching and the variant's last exchange. */
/** `resume`: set when the parties record the ring, the units they all kept (the loop starts after them). */
const ring = (session: CoordinatorSession, mode: Spec.Mode, params: Spec.Params, counts: ReadonlyMap<string, number>, options: Options, resume?: number) =>
  Effect.gen(function*() {
    const parties = session.participants
    const n = parties.length
    const at = (i: number) => parties[((i % n) + n) % n]!
    const only = (size: number) => ({ minReplies: size, timeoutMs: options.timeoutMs })
    const chunkSize = Spec.chunkSizeOf(mode, params)
    const matchers = Spec.matchers(mode, params, parties)
    const chunksOf = (party: string) => Ids.chunks(counts.get(party)!, chunkSize)

    // Stage 4 (below): each last hop relays the fully-blinded set it completed to the other receivers.
    const relayers = parties.filter((p) => matchers.some((m) => m !== p))
    const relayChunks = (p: string) => chunksOf(at(parties.indexOf(p) + 1))
    const maxRelay = Math.max(0, ...relayers.map(relayChunks))
    const relay = (index: number) =>
      Effect.gen(function*() {
        const requests = new Map(relayers.filter((p) => index < relayChunks(p)).map((p) => [p, { index }] as const))
        if (requests.size === 0) return
        const replies = yield* session.round(Spec.relay, requests, only(requests.size))
        const inbound = new Map<string, Array<typeof Spec.Delivered.Type>>()
        for (const [sender, reply] of replies) {
          for (const { recipient, payload } of reply.deliveries) {
            if (!inbound.has(recipient)) inbound.set(recipient, [])
            inbound.get(recipient)!.push({ sender, source: at(parties.indexOf(sender) + 1), index, payload })
          }
        }
        const deliveries = new Map([...inbound].map(([recipient, list]) => [recipient, { deliveries: list }] as const))
        yield* session.round(Spec.deliver, deliveries, only(deliveries.size))
        yield* session.progress({ stage: Spec.relay.name, done: index + 1, total: maxRelay })
      })
    // Cardinality and sum shuffle a whole set before relaying it; the other modes relay each chunk right after its
    // last hop, while the parties already hash their next chunk (psi/participant.ts `prepare`), instead of
    // leaving the relays as a tail after all the blinding.
    const interleaved = mode !== "cardinality" && mode !== "sum"

    // Stage 3: every set around the ring, chunk by chunk; in each round every party blinds a different set.
    const maxChunks = Math.max(...parties.map(chunksOf))
    const everyone = <A>(request: A) => new Map(parties.map((p) => [p, request] as const))
    if (resume !== undefined) {
      yield* session.round(Spec.resume, everyone({ units: resume }), only(n))
      if (resume > 0) yield* session.progress({ stage: Spec.blind.name, done: resume, total: maxChunks, detail: `resumed: ${resume} units kept from an earlier attempt` })
    }
    // Records are sparse (spec.ts `checkpointDue`): a unit is recorded every k units or T seconds, and the last one.
    let recorded = resume ?? 0
    let recordedAt = yield* Clock.currentTimeMillis
    for (let index = resume ?? 0; index < maxChunks; index++) {
      let pending = new Map<string, Uint8Array>()
      for (let hop = 0; hop < n; hop++) {
        const requests = new Map<string, typeof Spec.blind.request.Type>()
        parties.forEach((party, i) => {
          const source = at(i - hop)
          if (index < chunksOf(source)) requests.set(party, { source, hop, index, payload: hop === 0 ? undefined : pending.get(party) })
        })
        const replies = yield* session.round(Spec.blind, requests, only(requests.size))
        pending = new Map()
        parties.forEach((party, i) => {
          const payload = replies.get(party)?.payload
          if (payload !== undefined) pending.set(at(i + 1), payload)
        })
      }
      if (interleaved) yield* relay(index)
      if (resume !== undefined && Spec.checkpointDue(params, index + 1, maxChunks, recorded, (yield* Clock.currentTimeMillis) - recordedAt)) {
        yield* session.round(Spec.checkpoint, everyone({ units: index + 1 }), only(n))
        recorded = index + 1
        recordedAt = yield* Clock.currentTimeMillis
      }
      yield* session.progress({ stage: Spec.blind.name, done: index + 1, total: maxChunks })
    }

    // Stage 4, hiding modes: the relays once every set is complete.
    if (!interleaved) for (let index = 0; index < maxRelay; index++) yield* relay(index)

    // Stage 5: matching, then the variant's last exchange, then the receivers' outputs.
    const finished = yield* session.round(Spec.finish, new Map(matchers.map((m) => [m, {}] as const)), only(matchers.length))
    const outputRequests = new Map<string, { payload?: Uint8Array }>(params.receivers.map((r) => [r, {}] as const))
    const receiver = params.receivers[0]!
    if (mode === "sum") {
      const worker = matchers[0]!
      const summed = yield* session.round(Spec.sum, new Map([[worker, {}]]), only(1))
      outputRequests.set(receiver, { payload: summed.get(worker)!.payload })
    }
    if (mode === "union") {
      const other = parties.find((p) => p !== receiver)!
      const remainder = finished.get(other)?.remainder ?? 0
      for (let index = 0; index < Ids.chunks(remainder, chunkSize); index++) {
        const part = yield* session.round(Spec.transfer, new Map([[other, { index }]]), only(1))
        yield* session.round(Spec.take, new Map([[receiver, { index, payload: part.get(other)!.payload }]]), only(1))
      }
    }
    return yield* session.round(Spec.output, outputRequests, only(outputRequests.size))
  })

/**
 * The OT engine (OtPath.ts): pumps each party's sealed engine messages to the other until both engines finished,
 * then asks the receivers for their outputs. Each party is pumped by its own loop, so one party's reply is relayed
 * while the other still works on the previous one (a lockstep round for both would leave the faster party and the
 * coordinator idle at every barrier). A party is pumped again at once while it keeps sending — unless the peer
 * already has `QUEUE_BYTES` waiting, which holds the coordinator's buffer to a few megabytes — and otherwise when
 * the peer's messages arrive. When both wait with nothing on the way, nobody can ever send: Stalled.
 */
const otPath = (session: CoordinatorSession, params: Spec.Params, counts: ReadonlyMap<string, number>, resume: number, options: Options) =>
  Effect.gen(function*() {
    const parties = session.participants
    if (resume > 0) {
      const buckets = IdSpill.bucketCount(Math.max(...counts.values()), Spec.bucketIdsOf(params))
      yield* session.progress({ stage: Spec.ot.name, done: resume, total: buckets, detail: `resumed: ${resume} buckets kept from an earlier attempt` })
    }
    const peerOf = (party: string) => parties.find((p) => p !== party)!
    /** Boxes on their way to each party, how many it was sent before (the `from` it checks), and its state. */
    const queued = new Map(parties.map((p) => [p, [] as Array<Uint8Array>]))
    const queuedBytes = new Map(parties.map((p) => [p, 0]))
    const delivered = new Map(parties.map((p) => [p, 0]))
    const done = new Set<string>()
    const blocked = new Set<string>()
    let changed = Deferred.makeUnsafe<void>()
    const notify = () => {
      const previous = changed
      changed = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(previous, Effect.void)
    }
    const stalled = (round: number) =>
      new ProtocolError({ protocol: Spec.kinds.intersection, reason: "Stalled", detail: `OT engine: every party waits for the other after pump ${round} and ${parties.filter((p) => !done.has(p)).join(", ")} still runs` })
    /** Up to a message's worth of the boxes waiting for `party` (at least one; Spec.RELAY_BYTES, Spec.RELAY_BOXES). */
    const take = (party: string) => {
      const queue = queued.get(party)!
      let bytes = 0
      let count = 0
      while (count < queue.length && (count === 0 || (count < Spec.RELAY_BOXES && bytes + queue[count]!.length <= Spec.RELAY_BYTES))) bytes += queue[count++]!.length
      queuedBytes.set(party, queuedBytes.get(party)! - bytes)
      return queue.splice(0, count)
    }
    let rounds = 0
    const pump = (party: string) =>
      Effect.gen(function*() {
        const peer = peerOf(party)
        let sending = true
        while (!done.has(party) || queued.get(party)!.length > 0) {
          // Wait while this party has nothing to do: it waits for the peer and nothing came, or the peer is behind.
          for (;;) {
            const hasInbound = queued.get(party)!.length > 0
            const backlog = queuedBytes.get(peer)! >= QUEUE_BYTES && !done.has(peer)
            if ((hasInbound || sending) && !backlog) break
            if (!hasInbound && !backlog && (done.has(peer) || (blocked.has(peer) && queued.get(peer)!.length === 0))) return yield* stalled(rounds)
            blocked.add(party)
            yield* Deferred.await(changed)
            blocked.delete(party)
          }
          const inbound = take(party)
          notify()
          const request = { from: delivered.get(party)!, inbound, ...(resume > 0 && { resume }) }
          // Parties leaving while the engines run suspend the attempt: what they finished is kept for the next one.
          const replies = yield* session.round(Spec.ot, new Map([[party, request]]), { minReplies: 1, timeoutMs: options.timeoutMs }).pipe(
            Effect.catchTag("RoundError", (error) => Effect.fail(suspendIfLeft(Spec.kinds.intersection, error)))
          )
          rounds++
          const reply = replies.get(party)!
          delivered.set(party, delivered.get(party)! + inbound.length)
          queued.get(peer)!.push(...reply.outbound)
          queuedBytes.set(peer, queuedBytes.get(peer)! + reply.outbound.reduce((sum, box) => sum + box.length, 0))
          sending = reply.outbound.length > 0
          if (reply.done) done.add(party)
          if (reply.progress !== undefined) yield* session.progress({ stage: Spec.ot.name, done: reply.progress.done, total: reply.progress.total })
          notify()
        }
      })
    yield* Effect.all(parties.map(pump), { concurrency: "unbounded", discard: true })
    return yield* session.round(Spec.output, new Map(params.receivers.map((r) => [r, {}] as const)), { minReplies: params.receivers.length, timeoutMs: options.timeoutMs })
  })

/** A party is not pumped for more while this much of its output still waits for its peer. */
const QUEUE_BYTES = 2 * Spec.RELAY_BYTES

/** Checks the receivers agree, and the result the coordinator stores and notarizes (no ids). */
const results = (session: CoordinatorSession, mode: Spec.Mode, params: Spec.Params, outputs: ReadonlyMap<string, typeof Spec.output.reply.Type>) =>
  Effect.gen(function*() {
    const n = session.participants.length
    const receiver = params.receivers[0]!

    const alignments = new Set([...outputs.values()].map((o) => o.alignment))
    if (mode === "aligned" && alignments.size !== 1) {
      return yield* new ProtocolError({ protocol: Spec.kinds[mode], reason: "AlignmentMismatch", detail: "receivers report different alignment digests" })
    }
    const cardinalities = new Set([...outputs.values()].map((o) => o.cardinality))
    if ((mode === "intersection" || mode === "cardinality" || mode === "aligned") && cardinalities.size !== 1) {
      return yield* new ProtocolError({ protocol: Spec.kinds[mode], reason: "CardinalityMismatch", detail: "receivers report different intersection sizes" })
    }
    const result: Spec.Result = {
      kind: Spec.kinds[mode],
      parties: n,
      receivers: params.receivers,
      cardinality: outputs.get(receiver)!.cardinality,
      alignment: mode === "aligned" ? outputs.get(receiver)!.alignment : undefined,
      outputs: params.receivers.map((r) => ({ receiver: r, digest: outputs.get(r)!.digest, location: outputs.get(r)!.location }))
    }
    yield* session.commit("query.outputs", "0x" + bytesToHex(sha256(utf8ToBytes(result.outputs.map((o) => o.digest).join(",")))))
    return result
  })
