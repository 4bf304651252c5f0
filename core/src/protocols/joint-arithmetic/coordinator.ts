/**
 * Coordinator side of private arithmetic (spec.ts): channel keys, the aligned PSI between the operand holders
 * (per id), then encrypt → combine → output, relaying sealed payloads it cannot read. It keeps the count and the
 * recipient's output digest, never a value.
 */
import { Effect } from "effect"
import type { CoordinatorSession } from "../Protocol.ts"
import * as PsiCoordinator from "../joint-query/psi/coordinator.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Spec from "./spec.ts"

export const run = (session: CoordinatorSession, params: Spec.Params, options: { readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const parties = session.participants
    const roles = Spec.rolesOf(params, parties)
    const every = { minReplies: parties.length, timeoutMs: options.timeoutMs }
    const one = { minReplies: 1, timeoutMs: options.timeoutMs }

    const keys = yield* session.round(Spec.keys, new Map(parties.map((p) => [p, {}] as const)), every)
    const advertisements = parties.map((participant) => ({ participant, ...keys.get(participant)! }))
    yield* session.round(Spec.peers, new Map(parties.map((p) => [p, { advertisements }] as const)), every)

    if (params.over === "per-id") {
      // The recipient takes no part in the join: the ring is the two holders.
      yield* PsiCoordinator.run({ ...session, participants: roles.holders }, "aligned", PsiSpec.alignedJoin(params.idColumn!, roles.holders, params.maxIds!), options)
    }

    const encrypted = (yield* session.round(Spec.encrypt, new Map([[roles.other, {}]]), one)).get(roles.other)!
    yield* session.progress({ stage: Spec.encrypt.name, done: 1, total: 3 })
    const combined = (yield* session.round(Spec.combine, new Map([[roles.combiner, { payload: encrypted.payload }]]), one)).get(roles.combiner)!
    yield* session.progress({ stage: Spec.combine.name, done: 2, total: 3 })
    const out = (yield* session.round(Spec.output, new Map([[roles.recipient, { payload: combined.payload }]]), one)).get(roles.recipient)!
    yield* session.progress({ stage: Spec.output.name, done: 3, total: 3 })
    yield* session.commit("arithmetic/output", out.digest)
    return {
      kind: Spec.kind,
      operation: params.operation,
      over: params.over,
      recipient: roles.recipient,
      count: out.count,
      divisionsByZero: out.divisionsByZero,
      digest: out.digest,
      location: out.location
    } satisfies Spec.Result
  })
