import { defaultRoundTimeoutMs } from "../../task/TaskSpec.ts"
import { decodeParams } from "../Params.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params, validate } from "./spec.ts"

export * as Aggregates from "./Aggregates.ts"
export * as Spec from "./spec.ts"

export const definition: ProtocolDefinition = {
  kind,
  describe: "count, sum, mean, variance, std and histograms over horizontally partitioned rows, by secure aggregation",
  checkParams: (spec) => decodeParams(Params, spec.params, (params) => validate(params, spec.parties.length)?.message),
  coordinator: (session, params, spec) =>
    Coordinator.run(session, params as Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => Participant.handlers(party.dataset, params as Params),
  columns: (params) => {
    const p = params as Params
    return [...p.columns, ...(p.where ? [p.where.column] : [])]
  }
}
