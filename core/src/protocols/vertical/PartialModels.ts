/**
 * Where a party keeps its partial model between the training task and later prediction tasks (PROTOCOLS.md
 * §6.6 "Ours": w^p never leaves its owner). The value holds secrets (the threshold key share), so a host that
 * persists it must encrypt it at rest like its other keys. Without a host service the models live in this
 * thread's memory (the participant's protocol worker runs every task of an agent in one thread), which is
 * what the in-memory tests and a long-running participant use; they are lost with the thread.
 */
import { Context, Effect, Option } from "effect"

export interface PartialModel {
  readonly modelId: string
  readonly kind: string
  readonly parties: ReadonlyArray<string>
  readonly labelHolder: string
  readonly idColumn: string
  readonly columns: ReadonlyArray<string>
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
  readonly weights: ReadonlyArray<number>
  readonly featureBound: number
  readonly scaleBits: number
  /** This party's ids in the common aligned order, and the positions of the test split. */
  readonly ids: ReadonlyArray<string>
  readonly test: ReadonlyArray<number>
  readonly publicKey: Uint8Array
  readonly share: Uint8Array
  readonly unsafeAllowTestKeySizes: boolean
}

export class PartialModels extends Context.Service<PartialModels, {
  readonly put: (owner: string, model: PartialModel) => Effect.Effect<void>
  readonly get: (owner: string, modelId: string) => Effect.Effect<PartialModel | undefined>
}>()("jointly/vertical/PartialModels") {}

const local = new Map<string, PartialModel>()

export const put = (owner: string, model: PartialModel): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.put(owner, model) : Effect.sync(() => void local.set(`${owner}|${model.modelId}`, model)))

export const get = (owner: string, modelId: string): Effect.Effect<PartialModel | undefined> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.get(owner, modelId) : Effect.sync(() => local.get(`${owner}|${modelId}`)))
