/** Horizontal federated learning, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { ckksSecurity } from "../../crypto/KeyMaterial.ts"
import { defaultParameters } from "../encrypted-linear/Ckks.ts"
import { defineProtocol, type ModelFacts, speaks } from "../Define.ts"
import * as SecureAggregation from "../secure-aggregation/spec.ts"
import * as CkksAggregation from "./CkksAggregation.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { defaults, evaluate, initialize, InvalidParams, kind, Params, prepare, Result, train } from "./spec.ts"
import type { Resolved } from "./Updates.ts"
import { resolve } from "./Updates.ts"

export * as Spec from "./spec.ts"
export * as Topology from "./Topology.ts"
export type { ModelFacts }

export const modelFacts = (resolved: Resolved): ModelFacts => ({
  parameters: resolved.summary.parameters,
  layerTypes: [...new Set(resolved.summary.layerTypes)],
  rounds: resolved.params.rounds,
  minParticipantsPerRound: resolved.minUpdates,
  aggregation: resolved.params.aggregation ?? defaults.aggregation,
  differentialPrivacy: resolved.params.privacy !== undefined
})

/** The settings of params that passed the declaration's check. @throws InvalidParams when they did not. */
export const resolved = (params: Params, parties: number): Resolved => {
  const settings = resolve(params, parties)
  if (settings instanceof InvalidParams) throw settings
  return settings
}

export const protocol = defineProtocol({
  kind,
  describe: "trains a tfjs Sequential model over horizontally partitioned rows (FedAvg/FedProx, secure or CKKS aggregation, optional DP)",
  params: Params,
  check: (params, task) => {
    const settings = resolve(params, task.parties.length)
    return settings instanceof InvalidParams ? settings.message : undefined
  },
  stages: [
    speaks(prepare, "every party"),
    speaks(initialize, "the first party (it builds the seeded initial weights)"),
    speaks(CkksAggregation.advertise, "every party (ckks aggregation)"),
    speaks(CkksAggregation.keys, "the key holder (ckks aggregation)"),
    speaks(CkksAggregation.install, "every other party (ckks aggregation)"),
    speaks(train, "the round's cohort"),
    ...SecureAggregation.table,
    speaks(CkksAggregation.decrypt, "a contributor (ckks aggregation)"),
    speaks(evaluate, "every party")
  ],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, resolved(params, task.parties.length), { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, resolved(params, task.parties.length)),
  columns: (params) => [...params.featureColumns, params.labelColumn],
  model: (params, parties) => modelFacts(resolved(params, parties)),
  // "ckks" aggregation encrypts under keys made with the default CKKS parameters (CkksAggregation.ts).
  keyMaterial: (params) => (params.aggregation === "ckks" ? { ckksSecurity: ckksSecurity(defaultParameters) } : {})
})
