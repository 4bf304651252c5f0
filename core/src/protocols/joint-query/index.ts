/**
 * Joint query (PROTOCOLS.md §3 items 1–2): the ECDH-PSI family (`psi/`) and the OPRF hidden query (`hidden/`),
 * registered as one task kind each.
 */
import { Schema } from "effect"
import { getAddress } from "ethers"
import * as Keys from "../../crypto/paillier/Keys.ts"
import { defaultRoundTimeoutMs, participantsOf } from "../../task/TaskSpec.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as HiddenCoordinator from "./hidden/coordinator.ts"
import * as HiddenParticipant from "./hidden/participant.ts"
import * as HiddenSpec from "./hidden/spec.ts"
import * as PsiCoordinator from "./psi/coordinator.ts"
import * as PsiParticipant from "./psi/participant.ts"
import * as PsiSpec from "./psi/spec.ts"

const problemOf = (cause: unknown) => `params: ${String(cause).replace(/^Error: /, "")}`

const psi = (mode: PsiSpec.Mode, describe: string): ProtocolDefinition => ({
  kind: PsiSpec.kinds[mode],
  describe,
  checkParams: (spec) => {
    const decoded = Schema.decodeUnknownExit(PsiSpec.Params)(spec.params)
    if (decoded._tag === "Failure") return { ok: false, problem: problemOf(decoded.cause) }
    const params = { ...decoded.value, receivers: decoded.value.receivers.map((r) => getAddress(r)) as unknown as PsiSpec.Params["receivers"] }
    const problem = PsiSpec.validate(mode, params, participantsOf(spec))
    return problem ? { ok: false, problem: problem.message } : { ok: true, params }
  },
  coordinator: (session, params, spec) =>
    PsiCoordinator.run(session, mode, params as PsiSpec.Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => PsiParticipant.handlers(party.dataset, mode, params as PsiSpec.Params),
  // Intersection-sum adds the values under the value holder's Paillier key (psi/participant.ts).
  keyMaterial: () => (mode === "sum" ? { paillierBits: Keys.DEFAULT_BITS } : {}),
  // The value column is read by the value holder only; without a party, every column the task may read.
  columns: (params, party) => {
    const p = params as PsiSpec.Params
    const holder = party === undefined || getAddress(party.participant) === p.receivers[0]
    return [p.idColumn, ...(p.valueColumn && holder ? [p.valueColumn] : [])]
  }
})

export const definitions: ReadonlyArray<ProtocolDefinition> = [
  psi("intersection", "private set intersection (ECDH over x25519, or ristretto255 by params.group): receivers learn the shared ids"),
  psi("cardinality", "private set intersection cardinality: receivers learn only how many ids are shared"),
  psi("aligned", "private record alignment: every receiver gets its rows of the intersection in one common order"),
  psi("difference", "private set difference A\\B for the receiver A (2 parties)"),
  psi("union", "private set union for the receiver (2 parties; the other party learns the intersection)"),
  psi("sum", "private intersection-sum: the value holder learns the sum of its values over the intersection and its size"),
  {
    kind: HiddenSpec.kind,
    describe: "hidden query (OPRF keyword PIR): the querier fetches records by id; the provider learns only how many",
    checkParams: (spec) => {
      const decoded = Schema.decodeUnknownExit(HiddenSpec.Params)(spec.params)
      if (decoded._tag === "Failure") return { ok: false, problem: problemOf(decoded.cause) }
      const params = { ...decoded.value, provider: getAddress(decoded.value.provider), querier: getAddress(decoded.value.querier) }
      const problem = HiddenSpec.validate(params, participantsOf(spec))
      return problem ? { ok: false, problem: problem.message } : { ok: true, params }
    },
    coordinator: (session, params, spec) =>
      HiddenCoordinator.run(session, params as HiddenSpec.Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
    participant: (params, party) => HiddenParticipant.handlers(party.dataset, params as HiddenSpec.Params),
    columns: (params, party) => {
      const p = params as HiddenSpec.Params
      const provider = party === undefined || getAddress(party.participant) === p.provider
      return [p.idColumn, ...(provider ? p.columns : [])]
    }
  }
]
