/** Contribution valuation by Shapley values, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { defineProtocol, speaks } from "../Define.ts"
import * as FederatedLearning from "../federated-learning/index.ts"
import * as SecureAggregation from "../secure-aggregation/spec.ts"
import * as FlSpec from "../federated-learning/spec.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { InvalidParams } from "./spec.ts"
import { kind, Params, prepare, Result, score, solo, value } from "./spec.ts"
import * as Recipe from "./Recipe.ts"

export * as Spec from "./spec.ts"

type OwnerHandler = ReturnType<typeof Participant.ownerHandlers>[number]
type ValuerHandler = ReturnType<typeof Participant.valuerHandlers>[number]
export * as Recipe from "./Recipe.ts"

export const protocol = defineProtocol({
  kind,
  describe: "values each data owner's contribution to a jointly trained model by Shapley values, every coalition trained by federated learning and scored on the valuer's committed test set",
  params: Params,
  check: (params, task) => {
    const recipe = Recipe.resolve(params, task.parties)
    return recipe instanceof InvalidParams ? recipe.message : undefined
  },
  stages: [
    speaks(prepare, "every party (the valuer answers its test-set hash)"),
    speaks(FlSpec.prepare, "the members of each coalition"),
    speaks(FlSpec.initialize, "the first owner (the seeded initial weights)"),
    speaks(solo, "each owner, alone (its single-owner coalition)"),
    speaks(FlSpec.train, "the members of each coalition, every round"),
    ...SecureAggregation.table,
    speaks(FlSpec.evaluate, "the members of each coalition"),
    speaks(score, "the valuer"),
    speaks(value, "the valuer")
  ],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, Recipe.resolved(params, task.parties), { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task): ReadonlyArray<OwnerHandler | ValuerHandler> => {
    const recipe = Recipe.resolved(params, task.parties)
    return task.party.participant === recipe.valuer
      ? Participant.valuerHandlers(task.party.dataset, recipe)
      : Participant.ownerHandlers(task.party.dataset, recipe)
  },
  columns: (params) => [...params.training.featureColumns, params.training.labelColumn],
  // A single owner's coalition trains alone and its model is scored: one contributor per round, said plainly.
  model: (params, parties) => ({
    ...FederatedLearning.modelFacts(FederatedLearning.resolved(params.training, Math.max(2, parties - 1))),
    minParticipantsPerRound: 1
  })
})
