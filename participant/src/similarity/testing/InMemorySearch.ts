/**
 * `query.similar` in one process over real SEAL BFV (node-seal's Node build) and the real OPRF: both roles through
 * InMemoryHost (every message through its Schema and JSON), the querier's one-row dataset and the owner's
 * gallery as tables. The in-memory test and `npm run bench -- retrieval` run through it; handlers can be
 * replaced per role (a tampering owner, a greedy querier) and the owner given later index epochs.
 */
import { Effect, Layer, Result as Decoded } from "effect"
import type { Wallet } from "ethers"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import * as TaskOutput from "@jointly/core/internal/data/TaskOutput"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import * as Coordinator from "@jointly/core/internal/protocols/similarity/coordinator"
import * as FeatureIndex from "@jointly/core/internal/protocols/similarity/FeatureIndex"
import * as Spec from "@jointly/core/internal/protocols/similarity/spec"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as Gallery from "./DigitsGallery.ts"

export const wallets = { querier: InMemoryHost.randomWallet(), owner: InMemoryHost.randomWallet() }

export interface Output {
  readonly rounds: number
  readonly index: Spec.IndexCommitment
  readonly results: ReadonlyArray<{ readonly id: string; readonly label?: string; readonly features?: ReadonlyArray<number>; readonly distance?: number }>
}

export type Handlers = ReadonlyArray<InMemoryHost.AnyStageHandler>

const specOf = (gallery: Gallery.Gallery, params: Record<string, unknown>): TaskSpec =>
  ({
    kind: Spec.kind,
    initiator: wallets.querier.address,
    nonce: "n",
    parties: [{ participant: wallets.querier.address, dataset: "query" }, { participant: wallets.owner.address, dataset: "gallery" }],
    params: {
      querier: wallets.querier.address,
      owner: wallets.owner.address,
      features: gallery.columns,
      featureMax: gallery.featureMax,
      idColumn: "id",
      labelColumn: "label",
      k: 10,
      ...params
    }
  }) as unknown as TaskSpec

export const run = async (
  gallery: Gallery.Gallery,
  image: ReadonlyArray<number>,
  params: Record<string, unknown> = {},
  options: { readonly epochs?: ReadonlyArray<FeatureIndex.Epoch>; readonly querier?: (h: Handlers) => Handlers; readonly owner?: (h: Handlers) => Handlers } = {}
) => {
  const decoded = Protocols.decodeTask(specOf(gallery, params))
  if (Decoded.isFailure(decoded)) throw decoded.failure
  const task = decoded.success
  const tables: Record<string, TabularData> = { query: Gallery.queryTable(image, gallery.columns), gallery: Gallery.ownerTable(gallery) }
  // Built once per run, as a participant host builds its backends once: providing the Layer to every stage would
  // load a fresh SEAL module and rebuild its contexts each time.
  const bfv = await Backends.build(NodeBackends.bfv)
  const services = Layer.mergeAll(
    Layer.succeed(LocalData, {
      dataset: (name: string) => (tables[name] ? Effect.succeed(tables[name]) : Effect.fail(new ParticipantFailure({ participant: "?", stage: "dataset", code: "UnknownDataset", detail: name })))
    }),
    Layer.succeed(FeatureIndex.FeatureLog, { epochs: () => Effect.succeed(options.epochs ?? []) }),
    bfv.layer
  )
  const host = InMemoryHost.make(
    (["querier", "owner"] as const).map((role) => {
      const party = task.spec.parties.find((p) => p.participant === wallets[role].address)!
      const handlers = task.protocol.participant(task.params, { ...task, party })
      return {
        wallet: wallets[role] as Wallet,
        handlers: options[role]?.(handlers) ?? handlers,
        provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, services) as Effect.Effect<A, ParticipantFailure>
      }
    }),
    { stages: task.protocol.stages.map((s) => s.stage.name) }
  )
  const started = performance.now()
  const result = await Effect.runPromise(host.run((session) => Coordinator.run(session, task.params as Spec.Params, { timeoutMs: 120_000 }))).finally(bfv.close)
  const seconds = (performance.now() - started) / 1000
  return { host, result, seconds, output: host.memory(wallets.querier.address).get(TaskOutput.MEMORY_KEY) as Output }
}
