import { Schema } from "effect"
import { ckksSecurity } from "../../crypto/KeyMaterial.ts"
import { defaultParameters } from "../encrypted-linear/Ckks.ts"
import { defaultRoundTimeoutMs } from "../../task/TaskSpec.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { defaults, kind, Params } from "./spec.ts"
import type { Resolved } from "./Updates.ts"
import { resolve } from "./Updates.ts"

export * as Spec from "./spec.ts"
export * as Topology from "./Topology.ts"

/** What a consent policy's `modeling` rules judge (participant/src/policy/ConsentPolicy.ts). */
export interface ModelFacts {
  readonly parameters: number
  readonly layerTypes: ReadonlyArray<string>
  readonly rounds: number
  readonly minParticipantsPerRound: number
  readonly aggregation: string
  readonly differentialPrivacy: boolean
}

export const modelFacts = (resolved: Resolved): ModelFacts => ({
  parameters: resolved.summary.parameters,
  layerTypes: [...new Set(resolved.summary.layerTypes)],
  rounds: resolved.params.rounds,
  minParticipantsPerRound: resolved.minUpdates,
  aggregation: resolved.params.aggregation ?? defaults.aggregation,
  differentialPrivacy: resolved.params.privacy !== undefined
})

export const definition: ProtocolDefinition = {
  kind,
  describe: "trains a tfjs Sequential model over horizontally partitioned rows (FedAvg/FedProx, secure or CKKS aggregation, optional DP)",
  checkParams: (spec) => {
    const decoded = Schema.decodeUnknownExit(Params)(spec.params)
    if (decoded._tag === "Failure") return { ok: false, problem: `params: ${String(decoded.cause).replace(/^Error: /, "")}` }
    const resolved = resolve(decoded.value, spec.parties.length)
    // The decoded params (plain JSON) travel on, so consent limits read `rounds` etc. directly.
    return "_tag" in resolved ? { ok: false, problem: resolved.message } : { ok: true, params: decoded.value }
  },
  coordinator: (session, params, spec) =>
    Coordinator.run(session, resolved(params, spec.parties.length), { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party, spec) => Participant.handlers(party.dataset, resolved(params, spec.parties.length)),
  columns: (params) => {
    const p = params as Params
    return [...p.featureColumns, p.labelColumn]
  },
  model: (params, parties) => modelFacts(resolved(params, parties)),
  // "ckks" aggregation encrypts under keys made with the default CKKS parameters (CkksAggregation.ts).
  keyMaterial: (params) => ((params as Params).aggregation === "ckks" ? { ckksSecurity: ckksSecurity(defaultParameters) } : {})
}

/** Params already accepted by `checkParams`. @throws InvalidParams when they were not. */
export const resolved = (params: unknown, parties: number): Resolved => {
  const r = resolve(params as Params, parties)
  if ("_tag" in r) throw r
  return r
}
