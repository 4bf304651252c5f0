/** Coordinator side of joint statistics: check every party is ready, aggregate securely, read the totals. */
import { Effect } from "effect"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { runSecureAggregation } from "../secure-aggregation/server.ts"
import { statistics } from "./Aggregates.ts"
import type { Params } from "./spec.ts"
import { layout, maxDropoutTolerance, prepare, ringBits } from "./spec.ts"

export interface Options {
  readonly timeoutMs?: number
}

export const run = (session: CoordinatorSession, params: Params, options: Options = {}) =>
  Effect.gen(function* () {
    const parties = session.participants
    const requests = new Map(parties.map((p) => [p, {}] as const))
    // Every party must be able to compute its share before anyone masks anything.
    yield* session.round(prepare, requests, { minReplies: parties.length, timeoutMs: options.timeoutMs })
    yield* session.progress({ stage: prepare.name, done: parties.length, total: parties.length })

    const aggregate = yield* runSecureAggregation(session, {
      participants: parties,
      dropoutTolerance: params.dropoutTolerance ?? maxDropoutTolerance(parties.length),
      vectorLength: layout(params).length,
      bits: ringBits,
      timeoutMs: options.timeoutMs
    })
    const ring = FixedPoint.make({ scaleBits: 0, modulus: 1n << BigInt(ringBits) })
    const total = aggregate.sum.map((x: bigint) => FixedPoint.unwrap(ring, x))
    return statistics(total, params, aggregate.contributors)
  })
