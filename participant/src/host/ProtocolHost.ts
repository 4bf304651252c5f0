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
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import * as Compute from "../modeling/Compute.ts"
import * as QueryServices from "./QueryServices.ts"
import * as Runner from "./Runner.ts"
import { localData, type Runner as RunnerApi } from "./Runner.ts"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { TestKeySizes } from "@jointly/core/internal/crypto/KeyMaterial"
import * as PoolRunner from "../worker/PoolRunner.ts"
import * as OwnedModels from "../he/OwnedModels.ts"
import * as FeatureLogFile from "../similarity/FeatureLogFile.ts"
import * as PartialModelStore from "../modeling/vertical/PartialModelStore.ts"
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import { createHash } from "node:crypto"
import type { Dataset, DatasetSpec } from "../datasets/Dataset.ts"
import type * as DuckDb from "../datasets/DuckDb.ts"
import * as Sources from "../datasets/Sources.ts"

/** OpenSSL's SHA-256 for content hashes (several times @noble/hashes' speed over millions of values). */
const nodeSha256 = (): ContentHash.Hasher => {
  const hash = createHash("sha256")
  return { update: (bytes) => void hash.update(bytes), digest: () => new Uint8Array(hash.digest()) }
}

export { accept, type AcceptOutcome, localData, type Runner } from "./Runner.ts"

/** The in-memory view of a dataset loaded whole (`CsvDataset`): its table. */
export const tabular = (dataset: Dataset): TabularData => dataset.table

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
  /** The declarations tasks are decoded by (default: every declared kind; the protocol thread adds test ones). */
  readonly protocols?: ReadonlyArray<Protocols.Task["protocol"]>
}

/**
 * Opens every dataset (rejects with DatasetError naming the source, the line or row and the column) and runs
 * tasks on this thread.
 */
export const inline = async (options: InlineOptions): Promise<RunnerApi> => {
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
  return Runner.over({
    self,
    ...(options.protocols === undefined ? {} : { protocols: options.protocols }),
    sign: (message) => options.wallet.signMessage(message),
    datasets: opened.map((o) => o.summary),
    services: services.layer,
    contentHash: async (name) => {
      const found = opened.find((o) => o.source.name === name)
      if (found === undefined) throw Runner.unknownDataset(name)
      return Effect.runPromise(ContentHash.ofSource(found.source, nodeSha256))
    },
    close: async () => {
      await jobs.close()
      await sources.close()
      await services.close()
    }
  })
}
