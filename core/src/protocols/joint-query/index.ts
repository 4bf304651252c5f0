/**
 * Joint query (PROTOCOLS.md §3 items 1–2): the PSI family (`psi/`, one declaration per variant, on the ECDH ring or
 * the OT-extension engine of `ot-psi/` by `params.protocol`) and the
 * OPRF hidden query (`hidden/`).
 */
import * as Keys from "../../crypto/paillier/Keys.ts"
import { defineProtocol, initiatorAnd, speaks } from "../Define.ts"
import * as HiddenCoordinator from "./hidden/coordinator.ts"
import * as HiddenParticipant from "./hidden/participant.ts"
import * as HiddenSpec from "./hidden/spec.ts"
import * as PsiCoordinator from "./psi/coordinator.ts"
import * as PsiParticipant from "./psi/participant.ts"
import * as PsiSpec from "./psi/spec.ts"

const psi = (mode: PsiSpec.Mode, describe: string) =>
  defineProtocol({
    kind: PsiSpec.kinds[mode],
    describe,
    params: PsiSpec.Params,
    check: (params, task) => PsiSpec.validate(mode, params, task.parties)?.message,
    stages: [
      speaks(PsiSpec.keys, "every party"),
      speaks(PsiSpec.peers, "every party"),
      speaks(PsiSpec.ot, "both parties (OT engine), one pump of the sealed engine messages per round"),
      speaks(PsiSpec.resume, "every party (the ECDH ring on disk, when all can resume)"),
      speaks(PsiSpec.checkpoint, "every party (the ECDH ring on disk, after each unit)"),
      speaks(PsiSpec.blind, "every party, one hop of the ring per round"),
      speaks(PsiSpec.relay, "the last hop of a set a matcher needs"),
      speaks(PsiSpec.deliver, "the matchers"),
      speaks(PsiSpec.finish, "the matchers"),
      speaks(PsiSpec.sum, "the matcher (intersection-sum)"),
      speaks(PsiSpec.transfer, "the party that is not the receiver (union)"),
      speaks(PsiSpec.take, "the receiver (union)"),
      speaks(PsiSpec.output, "the receivers")
    ],
    result: PsiSpec.Result,
    coordinator: (session, params, task) => PsiCoordinator.run(session, mode, params, { timeoutMs: task.roundTimeoutMs }),
    participant: (params, task) => PsiParticipant.taskHandlers(task.party.dataset, mode, params),
    // Intersection-sum adds the values under the value holder's Paillier key (psi/participant.ts).
    keyMaterial: () => (mode === "sum" ? { paillierBits: Keys.DEFAULT_BITS } : {}),
    // The value column is read by the value holder only; without a party, every column the task may read.
    columns: (params, party) => {
      const holder = party === undefined || party.participant === params.receivers[0]
      return [params.idColumn, ...(params.valueColumn && holder ? [params.valueColumn] : [])]
    },
    // The receivers get the ids in their own output files; the coordinator's result (cardinality and the
    // outputs' digests) also answers the initiator who asked.
    recipients: (params, task) => initiatorAnd(task, params.receivers)
  })

export const hidden = defineProtocol({
  kind: HiddenSpec.kind,
  describe: "hidden query (OPRF keyword PIR): the querier fetches records by id; the provider learns only how many",
  params: HiddenSpec.Params,
  check: (params, task) => HiddenSpec.validate(params, task.parties)?.message,
  stages: [
    speaks(HiddenSpec.keys, "both parties"),
    speaks(HiddenSpec.peers, "both parties"),
    speaks(HiddenSpec.query, "the querier"),
    speaks(HiddenSpec.evaluate, "the provider"),
    speaks(HiddenSpec.unblind, "the querier"),
    speaks(HiddenSpec.table, "the provider"),
    speaks(HiddenSpec.match, "the querier"),
    speaks(HiddenSpec.output, "the querier")
  ],
  result: HiddenSpec.Result,
  coordinator: (session, params, task) => HiddenCoordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => HiddenParticipant.handlers(task.party.dataset, params),
  columns: (params, party) => {
    const provider = party === undefined || party.participant === params.provider
    return [params.idColumn, ...(provider ? params.columns : [])]
  },
  recipients: (params, task) => initiatorAnd(task, [params.querier])
})

export const protocols = [
  psi("intersection", "private set intersection (ECDH over x25519 or ristretto255, or KKRT OT extension between 2 parties, by params.protocol): receivers learn the shared ids"),
  psi("cardinality", "private set intersection cardinality: receivers learn only how many ids are shared"),
  psi("aligned", "private record alignment: every receiver gets its rows of the intersection in one common order"),
  psi("difference", "private set difference A\\B for the receiver A (2 parties)"),
  psi("union", "private set union for the receiver (2 parties; the other party learns the intersection)"),
  psi("sum", "private intersection-sum: the value holder learns the sum of its values over the intersection and its size"),
  hidden
] as const
