/** Participant side of joint statistics: compute the local vector next to the data, then mask it. */
import { Effect } from "effect"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import { secureAggregationHandlers } from "../secure-aggregation/client.ts"
import { localVector } from "./Aggregates.ts"
import type { Params } from "./spec.ts"
import { prepare, ringBits } from "./spec.ts"

const failure = (session: ParticipantSession, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage: prepare.name, code, detail })

/** Checks the columns and filter against the dataset; numeric columns only. */
const check = (data: TabularData, params: Params, session: ParticipantSession) => {
  const columns = [...params.columns, ...(params.where ? [params.where.column] : [])]
  for (const column of columns) {
    if (!data.columnNames.includes(column)) {
      return failure(session, "MissingColumn", `dataset ${data.name} has no column ${column}`)
    }
  }
  for (const column of params.columns) {
    if (!data.isNumeric(column)) return failure(session, "NotNumeric", `column ${column} of dataset ${data.name} is not numeric`)
  }
  return undefined
}

/**
 * @param datasetName the dataset this participant contributes (named by the task's party entry)
 */
export const handlers = (datasetName: string, params: Params) => {
  const ring = FixedPoint.make({ scaleBits: 0, modulus: 1n << BigInt(ringBits) })
  const load = (session: ParticipantSession) =>
    Effect.gen(function* () {
      const data = yield* (yield* LocalData).dataset(datasetName)
      const problem = check(data, params, session)
      if (problem) return yield* Effect.fail(problem)
      return data
    })
  return [
    handler(prepare, (_request, session) => Effect.as(load(session), { ready: true as const })),
    ...secureAggregationHandlers((session: ParticipantSession) =>
      Effect.gen(function* () {
        const data = yield* load(session)
        return yield* Effect.try({
          try: () => localVector(data, params).map((x) => FixedPoint.wrap(ring, x)),
          catch: (error) => failure(session, "LocalComputation", error instanceof Error ? error.message : String(error))
        })
      })
    )
  ]
}
