/**
 * Coordinator side of the ECDH-PSI family: relays sealed chunks around the ring and to the receivers, then
 * collects only the digests (and cardinalities) of the receivers' outputs. It never holds more than one chunk
 * per party at a time, and it cannot read any: every payload is sealed between participants (`Channel.ts`).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import type { CoordinatorSession } from "../../Protocol.ts"
import { ProtocolError } from "../../Protocol.ts"
import * as Ids from "../Ids.ts"
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
    yield* session.round(Spec.peers, all(() => ({ advertisements })), every)
    const protocol = Spec.protocolOf(mode, params, n, Math.max(...counts.values()))
    const outputs = yield* (protocol === "ot" ? otPath(session, params, options) : ring(session, mode, params, counts, options))
    return yield* results(session, mode, params, outputs)
  })

/** Stages 3–5 of the ECDH engine: the blinding ring, the relays, matching and the variant's last exchange. */
const ring = (session: CoordinatorSession, mode: Spec.Mode, params: Spec.Params, counts: ReadonlyMap<string, number>, options: Options) =>
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
    for (let index = 0; index < maxChunks; index++) {
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
      yield* session.progress({ stage: Spec.blind.name, done: index + 1, total: maxChunks })
      if (interleaved) yield* relay(index)
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
 * then asks the receivers for their outputs. A pump round in which neither party sent anything while one still
 * runs would repeat forever: it fails as Stalled.
 */
const otPath = (session: CoordinatorSession, params: Spec.Params, options: Options) =>
  Effect.gen(function*() {
    const parties = session.participants
    const only = (size: number) => ({ minReplies: size, timeoutMs: options.timeoutMs })
    const peerOf = (party: string) => parties.find((p) => p !== party)!
    // What each party is sent next, and how many of its peer's messages it has been sent before (the `from` it checks).
    let inbound = new Map<string, ReadonlyArray<Uint8Array>>(parties.map((p) => [p, []]))
    const delivered = new Map<string, number>(parties.map((p) => [p, 0]))
    const done = new Set<string>()
    for (let round = 0; done.size < parties.length; round++) {
      const requests = new Map(parties.filter((p) => !done.has(p) || inbound.get(p)!.length > 0).map((p) => [p, { from: delivered.get(p)!, inbound: inbound.get(p)! }] as const))
      const replies = yield* session.round(Spec.ot, requests, only(requests.size))
      for (const party of requests.keys()) delivered.set(party, delivered.get(party)! + inbound.get(party)!.length)
      inbound = new Map(parties.map((p) => [p, replies.get(peerOf(p))?.outbound ?? []]))
      let moved = 0
      for (const [party, reply] of replies) {
        moved += reply.outbound.length
        if (reply.done) done.add(party)
      }
      if (moved === 0 && done.size < parties.length) {
        return yield* new ProtocolError({ protocol: Spec.kinds.intersection, reason: "Stalled", detail: `OT engine: no party sent a message in pump round ${round} and ${parties.filter((p) => !done.has(p)).join(", ")} still runs` })
      }
      const progress = [...replies.values()].map((r) => r.progress).find((p) => p !== undefined)
      if (progress !== undefined) yield* session.progress({ stage: Spec.ot.name, done: progress.done, total: progress.total })
    }
    return yield* session.round(Spec.output, new Map(params.receivers.map((r) => [r, {}] as const)), only(params.receivers.length))
  })

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
