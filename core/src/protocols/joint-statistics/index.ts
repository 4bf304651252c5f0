import { Schema } from "effect"
import { defaultRoundTimeoutMs } from "../../task/TaskSpec.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params, validate } from "./spec.ts"

export * as Aggregates from "./Aggregates.ts"
export * as Spec from "./spec.ts"

export const definition: ProtocolDefinition = {
  kind,
  describe: "count, sum, mean, variance, std and histograms over horizontally partitioned rows, by secure aggregation",
  checkParams: (spec) => {
    const decoded = Schema.decodeUnknownExit(Params)(spec.params)
    if (decoded._tag === "Failure") return { ok: false, problem: `params: ${String(decoded.cause).replace(/^Error: /, "")}` }
    const problem = validate(decoded.value, spec.parties.length)
    return problem ? { ok: false, problem: problem.message } : { ok: true, params: decoded.value }
  },
  coordinator: (session, params, spec) =>
    Coordinator.run(session, params as Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => Participant.handlers(party.dataset, params as Params),
  columns: (params) => {
    const p = params as Params
    return [...p.columns, ...(p.where ? [p.where.column] : [])]
  }
}
