import * as Keys from "../../crypto/paillier/Keys.ts"
import { defaultRoundTimeoutMs } from "../../task/TaskSpec.ts"
import { participantsOf } from "../../task/TaskSpec.ts"
import { decodeParams } from "../Params.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params, validate } from "./spec.ts"

export * as Model from "./Model.ts"
export * as Spec from "./spec.ts"

export const definition: ProtocolDefinition = {
  kind,
  describe: "linear SVM by gradient descent over horizontally partitioned rows (SecureSVM, PROTOCOLS §5): mode A shares the model and aggregates totals securely; mode B keeps it under the analyst's Paillier key",
  checkParams: (spec) => decodeParams(Params, spec.params, (params) => validate(params, participantsOf(spec))?.message),
  coordinator: (session, params, spec) =>
    Coordinator.run(session, params as Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => Participant.handlers(party.dataset, params as Params),
  // Mode B keeps the model under the analyst's Paillier key; mode A uses none.
  keyMaterial: (params) => ((params as Params).mode === "B" ? { paillierBits: (params as Params).keyBits ?? Keys.DEFAULT_BITS } : {}),
  columns: (params) => {
    const p = params as Params
    return [...p.features, p.label.column]
  }
}
