/** Coordinator side of encrypted linear inference: relays ciphertext bytes requester → owner → requester. */
import { Effect } from "effect"
import type { CoordinatorSession } from "../Protocol.ts"
import type { Params, Result } from "./spec.ts"
import * as Spec from "./spec.ts"

export const run = (session: CoordinatorSession, params: Params, options: { readonly timeoutMs?: number } = {}) =>
  Effect.gen(function*() {
    const { requester, owner } = params
    const one = { minReplies: 1, timeoutMs: options.timeoutMs }
    const features = (yield* session.round(Spec.encrypt, new Map([[requester, {}]]), one)).get(requester)!
    const scores = (yield* session.round(Spec.evaluate, new Map([[owner, { modelId: params.modelId, features }]]), one)).get(owner)!
    const done = (yield* session.round(Spec.decrypt, new Map([[requester, scores]]), one)).get(requester)!
    yield* session.commit("prediction/output", done.digest)
    return { kind: Spec.kind, modelId: params.modelId, requester, owner, rows: done.rows, digest: done.digest } satisfies Result
  })
