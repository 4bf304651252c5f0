/**
 * Participant side of `query.similar` (the protocol and its leakage: spec.ts): the querier's handlers
 * (`Querier.ts`), the owner's (`Owner.ts`), and the key check both run.
 */
import { Effect, Schema } from "effect"
import { handler } from "../Protocol.ts"
import * as Owner from "./Owner.ts"
import * as Party from "./Party.ts"
import * as Querier from "./Querier.ts"
import * as Spec from "./spec.ts"

const textDecoder = new TextDecoder()

export const handlers = (datasetName: string, params: Spec.Params, self: string) => {
  const peers = handler(Spec.peers, ({ advertisements }, session) =>
    Effect.gen(function*() {
      const stage = Spec.peers.name
      const s = session.memory.get(Party.MEMORY) as (Party.Common & { commitment?: Spec.IndexCommitment }) | undefined
      if (s === undefined) return yield* Party.fail(session, stage, "MissingState", "no keys yet")
      const peered = yield* Party.verifyPeers(session, stage, s, advertisements)
      if (session.self === params.querier) {
        // The owner's index commitment, signed with its account as part of its advertisement.
        const ad = peered.peers.get(params.owner)!
        const commitment = yield* Party.attempt(session, stage, "InvalidCommitment", () =>
          Schema.decodeUnknownSync(Spec.IndexCommitment)(JSON.parse(textDecoder.decode(ad.extra))))
        if (commitment.size !== ad.count) return yield* Party.fail(session, stage, "InvalidCommitment", `the index commits to ${commitment.size} entries, the owner announces ${ad.count}`)
        if (commitment.dimension !== params.features.length) return yield* Party.fail(session, stage, "InvalidCommitment", `the index has ${commitment.dimension} features, the task ${params.features.length}`)
        if (params.index !== undefined && (params.index.epoch !== commitment.epoch || params.index.root !== commitment.root)) {
          return yield* Party.fail(session, stage, "IndexMismatch", `the owner commits to epoch ${commitment.epoch} root ${commitment.root}, the task pins epoch ${params.index.epoch} root ${params.index.root}`)
        }
        s.commitment = commitment
      }
      return { ok: true as const }
    }))
  const own = self === params.querier ? Querier.handlers(datasetName, params) : self === params.owner ? Owner.handlers(datasetName, params) : []
  return [...own, peers]
}
