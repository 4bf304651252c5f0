/** Batch prediction, declared once (the protocol: spec.ts; the roles: coordinator.ts, participant.ts). */
import { artifactId, parameterCount, problem } from "../../models/ModelArtifact.ts"
import { defineProtocol, speaks } from "../Define.ts"
import * as Topology from "../federated-learning/Topology.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params, predict, Result } from "./spec.ts"

export * as Spec from "./spec.ts"

export const protocol = defineProtocol({
  kind,
  describe: "applies a stored model to one participant's rows; predictions stay there, only their digest and count leave",
  params: Params,
  check: (params, task) => {
    if (task.parties.length !== 1) return `batch prediction runs at exactly one participant, got ${task.parties.length}`
    const invalid = problem(params.model)
    if (invalid) return `model: ${invalid}`
    if (artifactId(params.model) !== params.modelId) return `model: the artifact does not hash to ${params.modelId}`
    return undefined
  },
  stages: [speaks(predict, "the one party")],
  result: Result,
  coordinator: (session, params, task) => Coordinator.run(session, params, { timeoutMs: task.roundTimeoutMs }),
  participant: (params, task) => Participant.handlers(task.party.dataset, params),
  columns: (params) => [...params.model.featureColumns],
  model: (params) => {
    const model = params.model
    const layerTypes = model.format === "linear" ? ["Linear"] : (() => {
      try {
        return [...new Set(Topology.summarize(model.topology).layerTypes)]
      } catch {
        return ["Unknown"]
      }
    })()
    return {
      parameters: model.format === "linear" ? model.weights.length + 1 : parameterCount(model.weightShapes),
      layerTypes,
      rounds: 0,
      minParticipantsPerRound: 1,
      aggregation: "none",
      differentialPrivacy: false
    }
  }
})
