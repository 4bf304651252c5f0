/** Private arithmetic between parties, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { defineProtocol, initiatorAnd, speaks } from "../Define.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { combine, defaults, encrypt, keys, kind, output, Params, peers, Result, validate } from "./spec.ts"

export * as Arithmetic from "./Arithmetic.ts"
export * as Spec from "./spec.ts"

export const protocol = defineProtocol({
  kind,
  describe: "left − right, + , × or ÷ of two parties' values, per aligned id or over totals, on Paillier: only the recipient learns the result",
  params: Params,
  check: (params, task) => validate(params, task.parties)?.message,
  stages: [
    speaks(keys, "every party"),
    speaks(peers, "every party"),
    // per id: the aligned PSI between the two operand holders.
    speaks(PsiSpec.keys, "the operand holders (per id)"),
    speaks(PsiSpec.peers, "the operand holders (per id)"),
    speaks(PsiSpec.blind, "the operand holders, one hop of the ring per round"),
    speaks(PsiSpec.relay, "the last hop of each set"),
    speaks(PsiSpec.deliver, "the operand holders"),
    speaks(PsiSpec.finish, "the operand holders"),
    speaks(PsiSpec.output, "the operand holders"),
    speaks(encrypt, "the operand holder that does not combine"),
    speaks(combine, "the combiner (an operand holder that is not the recipient)"),
    speaks(output, "the recipient")
  ],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params, task),
  // Consent refuses a recipient key below the participant's minimum (the params allow 2048 and 3072 bits only).
  keyMaterial: (params) => ({ paillierBits: params.keyBits ?? defaults.keyBits }),
  columns: (params, party) => {
    const operands = [params.left, params.right].filter((o) => party === undefined || o.party === party.participant)
    const ids = params.over === "per-id" && operands.length > 0 ? [params.idColumn!] : []
    return [...ids, ...operands.map((o) => o.column)]
  },
  // The output stays at the recipient; the coordinator's receipt (count and digest) also answers the initiator.
  recipients: (params, task) => initiatorAnd(task, [params.recipient])
})
