/**
 * Participant side of joint statistics: the local vector is pushed down to the dataset's source (counts, exact
 * fixed-point sums and squares, histograms, the filter — computed by PostgreSQL, DuckDB or the in-memory
 * engine where the rows live), then masked.
 */
import { Effect } from "effect"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import * as Local from "../../data/Local.ts"
import type { DataSource } from "../../data/Tabular.ts"
import { isNumericType } from "../../data/Tabular.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import { secureAggregationHandlers } from "../secure-aggregation/client.ts"
import { request, vectorOf } from "./Aggregates.ts"
import type { Params } from "./spec.ts"
import { prepare, ringBits } from "./spec.ts"

const failure = (session: ParticipantSession, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage: prepare.name, code, detail })

/** Checks the columns and filter against the dataset's declared schema; numeric columns only. */
const check = (source: DataSource, params: Params, session: ParticipantSession) => {
  const columns = [...params.columns, ...(params.where ? [params.where.column] : [])]
  const typeOf = (name: string) => source.columns.find((c) => c.name === name)?.type
  for (const column of columns) {
    if (typeOf(column) === undefined) return failure(session, "MissingColumn", `dataset ${source.name} has no column ${column}`)
  }
  for (const column of params.columns) {
    if (!isNumericType(typeOf(column))) return failure(session, "NotNumeric", `column ${column} of dataset ${source.name} is not numeric`)
  }
  return undefined
}

/**
 * @param datasetName the dataset this participant contributes (named by the task's party entry)
 */
export const handlers = (datasetName: string, params: Params) => {
  const ring = FixedPoint.make({ scaleBits: 0, modulus: 1n << BigInt(ringBits) })
  const load = (session: ParticipantSession) =>
    Effect.gen(function*() {
      const source = yield* Local.source(datasetName)
      const problem = check(source, params, session)
      if (problem) return yield* Effect.fail(problem)
      return source
    })
  return [
    handler(prepare, (_request, session) => Effect.as(load(session), { ready: true as const })),
    // One aggregation, the task's last round: nothing follows it that could settle it earlier (secure-aggregation
    // client.ts `settle`), so what a party dropped after masking holds of it goes when the task ends (TaskEnded
    // drops the task's memory) — the moment it can no longer be asked for.
    ...secureAggregationHandlers((session: ParticipantSession) =>
      Effect.gen(function*() {
        const source = yield* load(session)
        // A bad value, an unreachable database: the failure's code is the DatasetError's reason, its detail names
        // the source, the row and the column.
        const summary = yield* Effect.mapError(source.summarize(request(params)), (error) => failure(session, error.reason, error.message))
        return yield* Effect.try({
          try: () => vectorOf(summary, params).map((x) => FixedPoint.wrap(ring, x)),
          catch: (error) => failure(session, "LocalComputation", error instanceof Error ? error.message : String(error))
        })
      })
    )
  ]
}
