/** Coordinator side of batch prediction: ask the one party, keep its count and digest. */
import { Effect } from "effect"
import type { CoordinatorSession } from "../Protocol.ts"
import type { Params, Result } from "./spec.ts"
import { kind, predict } from "./spec.ts"

export const run = (session: CoordinatorSession, params: Params, options: { readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const participant = session.participants[0]!
    const replies = yield* session.round(predict, new Map([[participant, { modelId: params.modelId }]]), { minReplies: 1, timeoutMs: options.timeoutMs })
    const reply = replies.get(participant)!
    yield* session.commit("prediction/output", reply.digest)
    return { kind, modelId: params.modelId, participant, count: reply.count, digest: reply.digest } satisfies Result
  })
