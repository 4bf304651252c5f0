/**
 * Coordinator side of `query.similar` (spec.ts): relays sealed payloads between querier and owner, commits the
 * owner's index root to the task ledger before any score is computed, runs the threshold rounds until the
 * querier has its K, and keeps only the round count, the index commitment and the output digest.
 */
import { Effect, Schema } from "effect"
import type { CoordinatorSession, Stage } from "../Protocol.ts"
import { ProtocolError } from "../Protocol.ts"
import * as Spec from "./spec.ts"

export const run = (session: CoordinatorSession, params: Spec.Params, options: { readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const { querier, owner } = params
    const both = { minReplies: 2, timeoutMs: options.timeoutMs }
    const one = { minReplies: 1, timeoutMs: options.timeoutMs }
    const ask = <Req, Rep>(stage: Stage<Req, Rep>, who: string, request: Req) =>
      Effect.map(session.round(stage, new Map([[who, request]]), one), (replies) => replies.get(who)!)

    const keys = yield* session.round(Spec.keys, new Map([[querier, {}], [owner, {}]]), both)
    const advertisements = [querier, owner].map((participant) => ({ participant, ...keys.get(participant)! }))
    yield* session.round(Spec.peers, new Map([[querier, { advertisements }], [owner, { advertisements }]]), both)
    // The querier checked the signature over this commitment in `peers`; the root goes on the ledger now.
    const index = yield* Effect.try({
      try: () => Schema.decodeUnknownSync(Spec.IndexCommitment)(JSON.parse(new TextDecoder().decode(keys.get(owner)!.extra))),
      catch: (e) => new ProtocolError({ protocol: Spec.kind, reason: "InvalidCommitment", detail: String(e) })
    })
    yield* session.commit("similar/index", index.root)

    const encrypted = yield* ask(Spec.query, querier, {})
    yield* ask(Spec.prepare, owner, { payload: encrypted.payload })
    const maxRounds = params.maxRounds ?? Spec.DEFAULT_MAX_ROUNDS
    let answer: Uint8Array | undefined
    let rounds = 0
    for (;;) {
      const probe = yield* ask(Spec.probe, querier, { round: rounds, payload: answer })
      if (!probe.next) break
      if (rounds >= maxRounds || probe.payload === undefined) {
        return yield* new ProtocolError({ protocol: Spec.kind, reason: "TooManyRounds", detail: `no threshold with exactly k = ${params.k} entries within ${maxRounds} rounds` })
      }
      answer = (yield* ask(Spec.blind, owner, { round: rounds, payload: probe.payload })).payload
      rounds++
      yield* session.progress({ stage: Spec.blind.name, done: rounds, total: maxRounds, detail: "threshold rounds (the search stops early)" })
    }
    const selection = yield* ask(Spec.select, querier, {})
    const records = yield* ask(Spec.answer, owner, { payload: selection.payload })
    const out = yield* ask(Spec.output, querier, { payload: records.payload })
    yield* session.commit("similar/output", out.digest)
    return { kind: Spec.kind, querier, owner, k: params.k, rounds, index, digest: out.digest, location: out.location } satisfies Spec.Result
  })
