import { Schema } from "effect"
import { defaultRoundTimeoutMs, participantsOf } from "../../task/TaskSpec.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { ckksSecurity } from "../../crypto/KeyMaterial.ts"
import { defaultParameters } from "./Ckks.ts"
import { kind, Params } from "./spec.ts"

export * as Ckks from "./Ckks.ts"
export * as Spec from "./spec.ts"

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

export const definition: ProtocolDefinition = {
  kind,
  describe: "scores the requester's rows with the owner's linear model under CKKS: the owner sees ciphertexts only, the requester alone decrypts",
  checkParams: (spec) => {
    const decoded = Schema.decodeUnknownExit(Params)(spec.params)
    if (decoded._tag === "Failure") return { ok: false, problem: `params: ${String(decoded.cause).replace(/^Error: /, "")}` }
    const p = decoded.value
    const parties = participantsOf(spec)
    if (parties.length !== 2) return { ok: false, problem: `encrypted inference runs between exactly 2 parties, got ${parties.length}` }
    if (same(p.requester, p.owner)) return { ok: false, problem: "the requester and the model owner must differ" }
    for (const [role, address] of [["requester", p.requester], ["owner", p.owner]] as const) {
      if (!parties.some((q) => same(q, address))) return { ok: false, problem: `${role} ${address} is not a party of the task` }
    }
    return { ok: true, params: p }
  },
  coordinator: (session, params, spec) => Coordinator.run(session, params as Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => Participant.handlers(party.dataset, params as Params),
  keyMaterial: (params) => ({ ckksSecurity: ckksSecurity((params as Params).ckks ?? defaultParameters) }),
  // The owner reads no rows; the requester reads the feature columns.
  columns: (params, party) => (party !== undefined && same(party.participant, (params as Params).owner) ? [] : [...(params as Params).features])
}
