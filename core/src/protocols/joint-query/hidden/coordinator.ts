/** Coordinator side of the hidden query: relays sealed queries, answers and record chunks; keeps the count. */
import { Effect } from "effect"
import type { CoordinatorSession } from "../../Protocol.ts"
import * as Ids from "../Ids.ts"
import { MAX_CHUNK } from "../psi/spec.ts"
import * as Spec from "./spec.ts"

export const run = (session: CoordinatorSession, params: Spec.Params, options: { readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const parties = session.participants
    const both = { minReplies: 2, timeoutMs: options.timeoutMs }
    const one = { minReplies: 1, timeoutMs: options.timeoutMs }
    const { provider, querier } = params
    const keys = yield* session.round(Spec.keys, new Map(parties.map((p) => [p, {}] as const)), both)
    const advertisements = parties.map((participant) => ({ participant, ...keys.get(participant)! }))
    yield* session.round(Spec.peers, new Map(parties.map((p) => [p, { advertisements }] as const)), both)

    const asked = yield* session.round(Spec.query, new Map([[querier, {}]]), one)
    const answered = yield* session.round(Spec.evaluate, new Map([[provider, { payload: asked.get(querier)!.payload }]]), one)
    yield* session.round(Spec.unblind, new Map([[querier, { payload: answered.get(provider)!.payload }]]), one)

    const chunks = Ids.chunks(keys.get(provider)!.count, params.chunkSize ?? MAX_CHUNK)
    for (let index = 0; index < chunks; index++) {
      const part = yield* session.round(Spec.table, new Map([[provider, { index }]]), one)
      yield* session.round(Spec.match, new Map([[querier, { index, payload: part.get(provider)!.payload }]]), one)
      yield* session.progress({ stage: Spec.table.name, done: index + 1, total: chunks })
    }
    const out = (yield* session.round(Spec.output, new Map([[querier, {}]]), one)).get(querier)!
    const result: Spec.Result = { kind: Spec.kind, queries: keys.get(querier)!.count, outputs: [{ receiver: querier, digest: out.digest, location: out.location }] }
    yield* session.commit("query.outputs", out.digest)
    return result
  })
