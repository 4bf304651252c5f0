/** SecureSVM, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import * as Keys from "../../crypto/paillier/Keys.ts"
import { defineProtocol, speaks } from "../Define.ts"
import * as SecureAggregation from "../secure-aggregation/spec.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import * as Spec from "./spec.ts"

export * as Model from "./Model.ts"
export { Spec }

export const protocol = defineProtocol({
  kind: Spec.kind,
  describe: "linear SVM by gradient descent over horizontally partitioned rows (SecureSVM, PROTOCOLS §5): mode A shares the model and aggregates totals securely; mode B keeps it under the analyst's Paillier key",
  params: Spec.Params,
  check: (params, task) => Spec.validate(params, task.parties)?.message,
  stages: [
    speaks(Spec.prepare, "every provider"),
    speaks(Spec.roundModel, "the providers still answering (mode A, and the joint scaling)"),
    ...SecureAggregation.table,
    speaks(Spec.setup, "the analyst (mode B)"),
    speaks(Spec.compare, "the providers (mode B)"),
    speaks(Spec.decide, "the analyst (mode B)"),
    speaks(Spec.indicators, "the providers (mode B)"),
    speaks(Spec.update, "the analyst (mode B)"),
    speaks(Spec.finish, "the analyst (mode B)"),
    speaks(Spec.report, "the providers (mode B)")
  ],
  result: Spec.Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params),
  // Mode B keeps the model under the analyst's Paillier key; mode A uses none.
  keyMaterial: (params) => (params.mode === "B" ? { paillierBits: params.keyBits ?? Keys.DEFAULT_BITS } : {}),
  columns: (params) => [...params.features, params.label.column],
  // Mode B keeps the model from the providers: only the analyst reads it.
  recipients: (params, task) => (params.analyst !== undefined && params.mode === "B" ? [params.analyst] : [task.spec.initiator, ...task.parties])
})
