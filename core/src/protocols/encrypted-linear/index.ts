/** Encrypted linear inference, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { defineProtocol, initiatorAnd, speaks } from "../Define.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { ckksSecurity } from "../../crypto/KeyMaterial.ts"
import { defaultParameters } from "./Ckks.ts"
import { decrypt, encrypt, evaluate, kind, Params, Result } from "./spec.ts"

export * as Ckks from "./Ckks.ts"
export * as Spec from "./spec.ts"

export const protocol = defineProtocol({
  kind,
  describe: "scores the requester's rows with the owner's linear model under CKKS: the owner sees ciphertexts only, the requester alone decrypts",
  params: Params,
  check: (params, task) => {
    if (task.parties.length !== 2) return `encrypted inference runs between exactly 2 parties, got ${task.parties.length}`
    if (params.requester === params.owner) return "the requester and the model owner must differ"
    for (const [role, address] of [["requester", params.requester], ["owner", params.owner]] as const) {
      if (!task.parties.includes(address)) return `${role} ${address} is not a party of the task`
    }
    return undefined
  },
  stages: [speaks(encrypt, "the requester"), speaks(evaluate, "the model owner"), speaks(decrypt, "the requester")],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params),
  keyMaterial: (params) => ({ ckksSecurity: ckksSecurity(params.ckks ?? defaultParameters) }),
  // The owner reads no rows; the requester reads the feature columns.
  columns: (params, party) => (party?.participant === params.owner ? [] : [...params.features]),
  recipients: (params, task) => initiatorAnd(task, [params.requester])
})
