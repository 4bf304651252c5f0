/**
 * Task kinds Jointly knows how to run, by name. Each entry ties a protocol's coordinator side and participant
 * side to the params and result Schemas of its spec, so hosts can run any kind without knowing its internals.
 */
import type { Effect } from "effect"
import type { KeyMaterial } from "../crypto/KeyMaterial.ts"
import type { LocalData } from "../data/Tabular.ts"
import type { Party, TaskSpec } from "../task/TaskSpec.ts"
import * as FederatedLearning from "./federated-learning/index.ts"
import type { ModelFacts } from "./federated-learning/index.ts"
import type { ModelRuntime } from "./federated-learning/ModelRuntime.ts"
import * as JointQuery from "./joint-query/index.ts"
import * as JointStatistics from "./joint-statistics/index.ts"
import * as SecureSvm from "./secure-svm/index.ts"
import * as Vertical from "./vertical/index.ts"
import * as BatchPrediction from "./batch-prediction/index.ts"
import * as EncryptedLinear from "./encrypted-linear/index.ts"
import type { PredictionSink } from "./batch-prediction/spec.ts"
import type { CoordinatorSession, ParticipantFailure, ProtocolError, RoundError, StageHandler } from "./Protocol.ts"

/** Services a participant host provides to stage handlers: the data, the model runtime, the prediction sink. */
export type ParticipantServices = LocalData | ModelRuntime | PredictionSink

export interface ProtocolDefinition {
  readonly kind: string
  readonly describe: string
  /** Decodes and checks `spec.params`; the returned message names the first problem. */
  readonly checkParams: (spec: TaskSpec) => { readonly ok: true; readonly params: unknown } | { readonly ok: false; readonly problem: string }
  readonly coordinator: (
    session: CoordinatorSession,
    params: unknown,
    spec: TaskSpec
  ) => Effect.Effect<unknown, RoundError | ParticipantFailure | ProtocolError>
  readonly participant: (params: unknown, party: Party, spec: TaskSpec) => ReadonlyArray<StageHandler<any, any, ParticipantServices>>
  /** Columns of `party`'s dataset the task reads, for the consent policy. */
  readonly columns: (params: unknown, party?: Party) => ReadonlyArray<string>
  /** Model facts for the consent policy's `modeling` rules (model-training and prediction kinds). */
  readonly model?: (params: unknown, parties: number) => ModelFacts
  /** Keys the task makes its parties generate or trust; a participant refuses sizes below its minimum. */
  readonly keyMaterial?: (params: unknown) => KeyMaterial
}

export const protocols: ReadonlyMap<string, ProtocolDefinition> = new Map(
  [JointStatistics.definition, FederatedLearning.definition, BatchPrediction.definition, EncryptedLinear.definition, SecureSvm.definition, ...JointQuery.definitions, ...Vertical.definitions].map((d) => [d.kind, d] as const)
)

export const lookup = (kind: string): ProtocolDefinition | undefined => protocols.get(kind)
