/**
 * Vertical joint modeling and prediction (PROTOCOLS.md §6, §3 items 1 and 6), registered as four task kinds:
 * threshold-Paillier SVM and logistic regression, online and batch joint prediction (spec.ts).
 */
import { Schema } from "effect"
import { getAddress } from "ethers"
import { defaultRoundTimeoutMs, participantsOf } from "../../task/TaskSpec.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import type * as Linear from "./Linear.ts"
import * as Participant from "./participant.ts"
import * as Spec from "./spec.ts"

export * as Linear from "./Linear.ts"
export * as Spec from "./spec.ts"

const problemOf = (cause: unknown) => `params: ${String(cause).replace(/^Error: /, "")}`

const training = (model: Linear.ModelKind, describe: string): ProtocolDefinition => ({
  kind: Spec.kinds[model],
  describe,
  checkParams: (spec) => {
    const decoded = Schema.decodeUnknownExit(Spec.TrainParams)(spec.params)
    if (decoded._tag === "Failure") return { ok: false, problem: problemOf(decoded.cause) }
    const v = decoded.value
    const params = {
      ...v,
      labelHolder: getAddress(v.labelHolder),
      dealer: v.dealer === undefined ? undefined : getAddress(v.dealer),
      features: v.features.map((f) => ({ ...f, party: getAddress(f.party) }))
    } as unknown as Spec.TrainParams
    const problem = Spec.validate(params, participantsOf(spec))
    return problem ? { ok: false, problem: problem.message } : { ok: true, params }
  },
  coordinator: (session, params, spec) =>
    Coordinator.runTraining(session, model, params as Spec.TrainParams, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party, spec) => Participant.handlers(party.dataset, { kind: "train", model, params: params as Spec.TrainParams }, participantsOf(spec)),
  keyMaterial: (params) => ({ paillierBits: (params as Spec.TrainParams).keyBits ?? Spec.defaults.keyBits }),
  columns: (params, party) => {
    const p = params as Spec.TrainParams
    const own = party === undefined ? p.features.flatMap((f) => f.columns) : p.features.find((f) => f.party.toLowerCase() === party.participant.toLowerCase())?.columns ?? []
    const holder = party === undefined || party.participant.toLowerCase() === p.labelHolder.toLowerCase()
    return [p.idColumn, ...own, ...(holder ? [p.label.column] : [])]
  }
})

const prediction = (which: "online" | "batch", describe: string): ProtocolDefinition => {
  const schema = which === "online" ? Spec.OnlineParams : Spec.BatchParams
  return {
    kind: Spec.kinds[which],
    describe,
    checkParams: (spec) => {
      const decoded = Schema.decodeUnknownExit(schema as Schema.Codec<Spec.OnlineParams | Spec.BatchParams, unknown>)(spec.params)
      if (decoded._tag === "Failure") return { ok: false, problem: problemOf(decoded.cause) }
      const params = { ...decoded.value, requester: getAddress(decoded.value.requester) }
      if (!participantsOf(spec).includes(params.requester)) return { ok: false, problem: "requester: not a party of the task" }
      return { ok: true, params }
    },
    coordinator: (session, params, spec) =>
      Coordinator.runPrediction(session, Spec.kinds[which], params as Spec.OnlineParams, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
    participant: (params, party, spec) =>
      Participant.handlers(party.dataset, which === "online" ? { kind: "online", params: params as Spec.OnlineParams } : { kind: "batch", params: params as Spec.BatchParams }, participantsOf(spec)),
    // Prediction reads the columns of the stored partial model; the id column is what the task names.
    columns: (params) => [(params as Spec.OnlineParams).idColumn]
  }
}

export const definitions: ReadonlyArray<ProtocolDefinition> = [
  training("svm", "linear SVM over vertically partitioned data (PROTOCOLS §6): aligned PSI, threshold Paillier, private blinded gradient judge; partial models stay with their owners"),
  training("logistic", "logistic regression over vertically partitioned data: aligned PSI, threshold Paillier, Taylor sigmoid ½ + z/4, masked gradients"),
  prediction("online", "joint prediction of given ids with a vertical model: the requester alone learns the scores"),
  prediction("batch", "joint prediction of all aligned ids (or the test split) of a vertical model's training task, for the requester")
]
