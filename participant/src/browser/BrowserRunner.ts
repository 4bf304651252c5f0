/**
 * The browser participant's Runner (host/Runner.ts), run in the protocol worker (ProtocolWorker.ts; on the page's
 * thread only with `protocolThread: "page"`): the page's datasets held in memory (TableInput.ts, served by core's
 * in-memory engine), the portable backends on the calling thread, and one pool of Web Workers
 * (WebWorkers.ts, sized by `navigator.hardwareConcurrency`) that serves both the protocols' batch jobs
 * (JobRunner: Paillier, threshold decryptions, SecureBoost histograms, federated training) and the joint
 * query's hashing and blinding (PoolCompute.ts). The pool starts on the first batch, so a task that runs no
 * jobs never starts a worker.
 *
 * Batch predictions and query outputs go to the page (`onOutput`); vertical partial models, training progress and
 * the linear models this org owns for encrypted inference (OwnedModelStore.ts, handed over with `keepModel`) are
 * sealed in IndexedDB (IndexedDbModels.ts).
 */
import { Effect, Layer } from "effect"
import * as Backends from "@jointly/backends/internal/Backends"
import * as PortableBackends from "@jointly/backends/portable"
import { TestKeySizes } from "@jointly/core/internal/crypto/KeyMaterial"
import * as MemorySource from "@jointly/core/internal/data/MemorySource"
import { TaskOutput } from "@jointly/core/internal/data/TaskOutput"
import { PredictionSink, PredictionSinkError } from "@jointly/core/internal/protocols/batch-prediction/spec"
import { OwnedModels } from "@jointly/core/internal/protocols/encrypted-linear/spec"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import type * as Protocols from "@jointly/core/internal/protocols/Protocols"
import { PartialModels } from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as PoolCompute from "../host/PoolCompute.ts"
import * as Runner from "../host/Runner.ts"
import { poolRuntime } from "../modeling/PoolRuntime.ts"
import type * as Pool from "../worker/Pool.ts"
import * as IndexedDbModels from "./IndexedDbModels.ts"
import type { KeptModel } from "./KeptModel.ts"
import * as OwnedModelStore from "./OwnedModelStore.ts"
import * as TableInput from "./TableInput.ts"
import * as WebWorkers from "./WebWorkers.ts"

/** Something a task left this participant, handed to the page (never sent anywhere by the runner). */
export type Output =
  | { readonly kind: "predictions"; readonly taskId: string; readonly csv: Uint8Array }
  | { readonly kind: "query"; readonly taskId: string; readonly output: unknown }

export interface Options {
  /** This participant's address. */
  readonly self: string
  /** Signs a message as this participant (EIP-191; what a stage commits to), wherever the key is. */
  readonly sign: (message: Uint8Array) => Promise<string>
  readonly datasets: ReadonlyArray<TableInput.TableInput>
  readonly workers: WebWorkers.WebWorkerOptions
  /** Receives what tasks leave this participant (query outputs, predictions); without it they are refused. */
  readonly onOutput?: (output: Output) => void
  /** Rows a protocol may hold in memory (default 1M). */
  readonly maxRows?: number
  /** Test harness only: keys below production sizes (crypto/KeyMaterial.ts). */
  readonly unsafeTestKeySizes?: boolean
  /** Name prefix of the IndexedDB database of sealed models (IndexedDbModels.ts; default "jointly-models"). */
  readonly storage?: string
}

/** The runner of a page: a Runner, and where the page hands over a model it owns for encrypted inference. */
export interface BrowserRunner extends Runner.Runner {
  /** Checks and seals a `linear` artifact in IndexedDB; rejects with ModelNotKept. */
  readonly keepModel: (artifact: unknown) => Promise<KeptModel>
}

/** Reads every dataset (rejects with DatasetError) and builds the services; the worker pool starts on first use. */
export const start = async (options: Options): Promise<BrowserRunner> => {
  const opened = await Promise.all(options.datasets.map(TableInput.open))
  const self = options.self
  let pool: Promise<Pool.WorkerPoolHandle> | undefined
  let closed = false
  const openPool = () => {
    if (closed) return Promise.reject(new Error("the participant is closed"))
    if (pool === undefined) {
      const opening = WebWorkers.open(options.workers)
      // A pool that failed to start is retried by the next batch, not cached as failed.
      opening.catch(() => {
        if (pool === opening) pool = undefined
      })
      pool = opening
    }
    return pool
  }
  const size = options.workers.size ?? WebWorkers.defaultSize()
  const jobs = WebWorkers.jobRunner(openPool, size)
  const backends = PortableBackends.layer({
    bigintWasm: new URL("jointly-bigint.wasm", options.workers.assets),
    tfjsWasmPaths: options.workers.assets
  })
  const onOutput = options.onOutput
  const models = await IndexedDbModels.openOrNone({ owner: self, ...(options.storage === undefined ? {} : { prefix: options.storage }) })
  const layer: Layer.Layer<Protocols.ParticipantServices> = Layer.mergeAll(
    backends,
    Runner.localData(self, opened.map((o) => MemorySource.make(o.table, { columns: o.summary.columns, origin: o.table.name })), options.maxRows),
    // The query's hashing and blinding share the job pool, whose life is the runner's: its idle close is a no-op.
    Layer.effect(Compute.QueryCompute, Effect.map(Compute.Groups, (groups) =>
      PoolCompute.make({ open: async () => ({ ...(await openPool()), close: async () => {} }), groups }))).pipe(Layer.provide(backends)),
    jobs.layer,
    // After the backends: local training runs as the pool's `fl.*` jobs, never on the page's main thread.
    Layer.succeed(ModelRuntime, poolRuntime(jobs.runner)),
    Layer.succeed(PredictionSink, {
      write: (taskId: string, csv: Uint8Array) =>
        onOutput === undefined
          ? Effect.fail(new PredictionSinkError({ detail: "this page takes no predictions (no onOutput)" }))
          : Effect.sync(() => onOutput({ kind: "predictions", taskId, csv }))
    }),
    onOutput === undefined ? Layer.empty : Layer.succeed(TaskOutput, {
      write: (taskId: string, output: unknown) => Effect.sync(() => {
        onOutput({ kind: "query", taskId, output })
        return `page output of task ${taskId}`
      })
    }),
    // Vertical models and progress, and owned linear models, sealed under this profile's non-extractable key (as
    // Node seals partial models on disk).
    Layer.succeed(PartialModels, models.store),
    Layer.succeed(OwnedModels, OwnedModelStore.service(models.store, self)),
    Layer.succeed(TestKeySizes, options.unsafeTestKeySizes === true)
  )
  const services = await Backends.build(layer)
  const runner = Runner.over({
    self,
    sign: options.sign,
    datasets: opened.map((o) => o.summary),
    services: services.layer,
    contentHash: async (name) => {
      const found = opened.find((o) => o.summary.name === name)
      if (found === undefined) throw Runner.unknownDataset(name)
      return found.contentHash
    },
    close: async () => {
      closed = true
      const opening = pool
      pool = undefined
      if (opening !== undefined) await (await opening.catch(() => undefined))?.close()
      await services.close()
      models.close()
    }
  })
  return { ...runner, keepModel: (artifact) => Effect.runPromise(OwnedModelStore.keep(models.store, self, artifact)) }
}
