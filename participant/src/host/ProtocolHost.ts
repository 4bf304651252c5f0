/**
 * Runs the participant side of accepted tasks next to the local data, through the round engine's participant
 * runtime (`@jointly/core/internal/runtime/ParticipantRuntime`: decode the payload with the stage's Schema, run the
 * handler, encode the reply; every failure a typed failure outcome). Nothing about the local rows leaves except
 * what the protocol sends.
 *
 * `inline` bundles it all (datasets loaded, tasks accepted, stages run) as a `Runner` on the calling thread;
 * the protocol worker (`worker/ProtocolWorkerHost.ts`) runs that same Runner in its own thread, and the agent
 * talks to either through the `Runner` interface. Tasks arrive decoded (`Protocols.decodeTask`): a runner never
 * decodes params again on the same side of a thread boundary.
 */
import { Effect, Layer } from "effect"
import type { BaseWallet } from "ethers"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import * as ParticipantRuntime from "@jointly/core/internal/runtime/ParticipantRuntime"
import type { StageOutcome, StageRequest } from "@jointly/core/internal/wire/Messages"
import * as Compute from "../modeling/Compute.ts"
import * as QueryServices from "./QueryServices.ts"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { TestKeySizes } from "@jointly/core/internal/crypto/KeyMaterial"
import * as PoolRunner from "../worker/PoolRunner.ts"
import * as OwnedModels from "../he/OwnedModels.ts"
import * as FeatureLogFile from "../similarity/FeatureLogFile.ts"
import * as PartialModelStore from "../modeling/vertical/PartialModelStore.ts"
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import { type DataSource, defaultMaxRows } from "@jointly/core/internal/data/Tabular"
import { createHash } from "node:crypto"
import { type Dataset, DatasetError, type DatasetSpec, type DatasetSummary } from "../datasets/Dataset.ts"
import type * as DuckDb from "../datasets/DuckDb.ts"
import * as Sources from "../datasets/Sources.ts"

/** OpenSSL's SHA-256 for content hashes (several times @noble/hashes' speed over millions of values). */
const nodeSha256 = (): ContentHash.Hasher => {
  const hash = createHash("sha256")
  return { update: (bytes) => void hash.update(bytes), digest: () => new Uint8Array(hash.digest()) }
}

/** The handler table a decoded task gives this participant (its party entry names the dataset). */
export const accept = (taskId: string, task: Protocols.Task, self: string): ParticipantRuntime.Accepted | { readonly problem: string } => {
  const party = Protocols.partyOf(task, self)
  if (party === undefined) return { problem: `${self} is not a party of task ${taskId}` }
  return ParticipantRuntime.accepted(taskId, task.protocol.participant(task.params, { ...task, party }), task.protocol.stages.map((s) => s.stage.name))
}

/** The in-memory view of a dataset loaded whole (`CsvDataset`): its table. */
export const tabular = (dataset: Dataset): TabularData => dataset.table

/**
 * LocalData over opened sources: `source` as opened (push-down, streams), `dataset` materialised on first use
 * and kept for the runner's life (capped at `maxRows`). `self` names this participant in failures.
 */
export const localData = (self: string, sources: ReadonlyArray<DataSource>, maxRows = defaultMaxRows): Layer.Layer<LocalData> => {
  const byName = new Map(sources.map((s) => [s.name, s] as const))
  const tables = new Map<string, Promise<TabularData>>()
  const unknown = (name: string) =>
    new ParticipantFailure({ participant: self, stage: "dataset", code: "UnknownDataset", detail: `no dataset named ${name} is registered here` })
  const find = (name: string) => {
    const source = byName.get(name)
    return source === undefined ? Effect.fail(unknown(name)) : Effect.succeed(source)
  }
  return Layer.succeed(LocalData, {
    source: find,
    maxRows,
    dataset: (name: string) =>
      Effect.flatMap(find(name), (source) => {
        let table = tables.get(name)
        if (table === undefined) {
          table = Effect.runPromise(source.materialize({ maxRows }))
          tables.set(name, table)
          table.catch(() => tables.delete(name))
        }
        const loading = table
        return Effect.tryPromise({
          try: () => loading,
          catch: (error) =>
            new ParticipantFailure({
              participant: self,
              stage: "dataset",
              code: error instanceof DatasetError ? error.reason : "Unreadable",
              detail: error instanceof Error ? error.message : String(error)
            })
        })
      })
  })
}

export type AcceptOutcome = { readonly ok: true } | { readonly ok: false; readonly problem: string }

/** Where accepted tasks run: on the calling thread (`inline`) or in the protocol worker (`ProtocolWorker.start`). */
export interface Runner {
  /** The datasets it opened, without their rows. */
  readonly datasets: ReadonlyArray<DatasetSummary>
  /** A dataset's content hash as it is now (a pass over its rows, column by column); rejects with DatasetError. */
  readonly contentHash: (name: string) => Promise<string>
  /** Builds the task's stage handlers; a task must be accepted before its stages run. */
  readonly accept: (taskId: string, task: Protocols.Task) => Promise<AcceptOutcome>
  /** Runs one stage; never rejects: every failure is a failure outcome. */
  readonly stage: (request: StageRequest) => Promise<StageOutcome>
  /** Drops the task and the secrets its stages kept. */
  readonly forget: (taskId: string) => Promise<void>
  readonly close: () => Promise<void>
}

export interface InlineOptions {
  readonly wallet: BaseWallet
  readonly datasets: ReadonlyArray<DatasetSpec>
  /** Threads of the job pool protocols fan batch work out to (JobRunner); the core count by default. */
  readonly jobWorkers?: number
  /** Rows a protocol may hold in memory when it reads a dataset whole (default 1M); streams are not capped. */
  readonly maxRows?: number
  /** The engine of CSV and Parquet sources. */
  readonly duckdb?: DuckDb.Options
  /** Where predictions, query outputs, owned models and sealed partial models live; none: kept in task memory or refused. */
  readonly dataDir?: string
  /** The backend of each kernel family, on this thread and in the job pool's workers; the fastest Node ones by default. */
  readonly backends?: Backends.Choice
  /** Test harness only: handlers may generate and accept keys below production sizes (crypto/KeyMaterial.ts). */
  readonly unsafeTestKeySizes?: boolean
}

/**
 * Opens every dataset (rejects with DatasetError naming the source, the line or row and the column) and runs
 * tasks on this thread.
 */
export const inline = async (options: InlineOptions): Promise<Runner> => {
  const sources = Sources.make({ ...(options.duckdb === undefined ? {} : { duckdb: options.duckdb }) })
  let opened: ReadonlyArray<Sources.Opened>
  try {
    opened = await Promise.all(options.datasets.map((spec) => sources.open(spec)))
  } catch (error) {
    await sources.close()
    throw error
  }
  const self = options.wallet.address
  const { dataDir } = options
  // One job pool and one composition of backends per runner, i.e. per agent (inline) or per protocol worker
  // thread, built once: the services keep caches (OpenSSL contexts, imported keys, SEAL contexts) across stages.
  const jobs = PoolRunner.make({ size: options.jobWorkers, backends: options.backends })
  const backends = NodeBackends.layer(options.backends)
  // Every service a declared protocol needs (`Protocols.ParticipantServices`): one missing fails to compile here.
  const layer: Layer.Layer<Protocols.ParticipantServices> = Layer.mergeAll(
    backends,
    localData(self, opened.map((o) => o.source), options.maxRows),
    // After the backends: the pool's model runtime replaces their in-thread one.
    Compute.layer({ dataDir, runner: jobs.runner }),
    QueryServices.layer({ dataDir, backends: options.backends }).pipe(Layer.provide(backends)),
    jobs.layer,
    OwnedModels.layer(dataDir),
    FeatureLogFile.layer(dataDir),
    PartialModelStore.layer({ dataDir, owner: self, secret: options.wallet.privateKey }),
    // False unless the test harness asks: keys below production sizes (crypto/KeyMaterial.ts).
    Layer.succeed(TestKeySizes, options.unsafeTestKeySizes === true)
  )
  const services = await Backends.build(layer)
  const runtime = ParticipantRuntime.make({ self, sign: (message) => Effect.promise(() => options.wallet.signMessage(message)) })
  const accepted = new Map<string, ParticipantRuntime.Accepted<Protocols.ParticipantServices>>()
  return {
    datasets: opened.map((o) => o.summary),
    contentHash: async (name) => {
      const found = opened.find((o) => o.source.name === name)
      if (found === undefined) throw new DatasetError({ reason: "MissingTable", source: name, detail: `no dataset named ${name} is registered here` })
      return Effect.runPromise(ContentHash.ofSource(found.source, nodeSha256))
    },
    accept: async (taskId, task) => {
      const table = accept(taskId, task, self)
      if ("problem" in table) return { ok: false, problem: table.problem }
      accepted.set(taskId, table)
      return { ok: true }
    },
    stage: async (request) => {
      const task = accepted.get(request.taskId)
      if (!task) return { ok: false, code: "UnknownTask", detail: `this participant has not accepted task ${request.taskId}` }
      // A handler that throws instead of failing its Effect still gets a failure outcome, not a dropped request.
      return Effect.runPromise(Effect.provide(runtime.handle(task, request), services.layer))
        .catch((error): StageOutcome => ({ ok: false, code: "Internal", detail: error instanceof Error ? error.message : String(error) }))
    },
    forget: async (taskId) => {
      accepted.delete(taskId)
      runtime.forget(taskId)
    },
    close: async () => {
      for (const taskId of accepted.keys()) runtime.forget(taskId)
      accepted.clear()
      await jobs.close()
      await sources.close()
      await services.close()
    }
  }
}
