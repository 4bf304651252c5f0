import { defaultRoundTimeoutMs } from "../../task/TaskSpec.ts"
import { decodeParams } from "../Params.ts"
import type { ProtocolDefinition } from "../registry.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import { kind, Params } from "./spec.ts"
import { artifactId, parameterCount, problem } from "../../models/ModelArtifact.ts"
import * as Topology from "../federated-learning/Topology.ts"

export * as Spec from "./spec.ts"

export const definition: ProtocolDefinition = {
  kind,
  describe: "applies a stored model to one participant's rows; predictions stay there, only their digest and count leave",
  checkParams: (spec) => {
    return decodeParams(Params, spec.params, (params) => {
      if (spec.parties.length !== 1) return `batch prediction runs at exactly one participant, got ${spec.parties.length}`
      const invalid = problem(params.model)
      if (invalid) return `model: ${invalid}`
      if (artifactId(params.model) !== params.modelId) return `model: the artifact does not hash to ${params.modelId}`
      return undefined
    })
  },
  coordinator: (session, params, spec) => Coordinator.run(session, params as Params, { timeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs }),
  participant: (params, party) => Participant.handlers(party.dataset, params as Params),
  columns: (params) => [...(params as Params).model.featureColumns],
  model: (params) => {
    const model = (params as Params).model
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
}
