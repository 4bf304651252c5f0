/** Joint statistics, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { defineProtocol, speaks } from "../Define.ts"
import * as SecureAggregation from "../secure-aggregation/spec.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params, prepare, Result, validate } from "./spec.ts"

export * as Aggregates from "./Aggregates.ts"
export * as Spec from "./spec.ts"

export const protocol = defineProtocol({
  kind,
  describe: "count, sum, mean, variance, std and histograms over horizontally partitioned rows, by secure aggregation",
  params: Params,
  check: (params, task) => validate(params, task.parties.length)?.message,
  stages: [speaks(prepare, "every party"), ...SecureAggregation.table],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params),
  columns: (params) => [...params.columns, ...(params.where ? [params.where.column] : [])]
})
