/** Encrypted top-K similarity retrieval, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { defineProtocol, initiatorAnd, speaks } from "../Define.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { answer, blind, keys, kind, output, Params, peers, prepare, probe, query, Result, select, validate } from "./spec.ts"

export * as Bfv from "./Bfv.ts"
export * as FeatureIndex from "./FeatureIndex.ts"
export * as Scores from "./Scores.ts"
export * as Spec from "./spec.ts"

export const protocol = defineProtocol({
  kind,
  describe: "encrypted top-K image similarity (BFV, blinded threshold search, OPRF records): the querier learns its K nearest, the owner nothing about the query",
  params: Params,
  check: (params, task) => validate(params, task.parties)?.message,
  stages: [
    speaks(keys, "both parties"),
    speaks(peers, "both parties"),
    speaks(query, "the querier"),
    speaks(prepare, "the owner"),
    speaks(probe, "the querier, once per round"),
    speaks(blind, "the owner, once per round"),
    speaks(select, "the querier"),
    speaks(answer, "the owner"),
    speaks(output, "the querier")
  ],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params, task.party.participant),
  columns: (params, party) => {
    const owner = party === undefined || party.participant === params.owner
    const querier = party === undefined || party.participant === params.querier
    return [
      ...params.features,
      ...(owner ? [params.idColumn, ...(params.labelColumn ? [params.labelColumn] : [])] : []),
      ...(querier && params.query ? [params.query.column] : [])
    ].filter((c, i, all) => all.indexOf(c) === i)
  },
  // The K records stay at the querier; the coordinator's receipt (rounds, index, digest) also answers the initiator.
  recipients: (params, task) => initiatorAnd(task, [params.querier])
})
