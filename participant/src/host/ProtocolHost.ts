/**
 * Runs the participant side of accepted tasks next to the local data, through the round engine's participant
 * runtime (`@jointly/core/runtime/ParticipantRuntime.ts`: decode the payload with the stage's Schema, run the
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
import type { TabularData } from "@jointly/core/data/Tabular.ts"
import { LocalData } from "@jointly/core/data/Tabular.ts"
import { ParticipantFailure } from "@jointly/core/protocols/Protocol.ts"
import * as Protocols from "@jointly/core/protocols/Protocols.ts"
import * as ParticipantRuntime from "@jointly/core/runtime/ParticipantRuntime.ts"
import type { StageOutcome, StageRequest } from "@jointly/core/wire/Messages.ts"
import * as CsvDataset from "../datasets/CsvDataset.ts"
import * as Compute from "../modeling/Compute.ts"
import * as QueryServices from "./QueryServices.ts"
import * as SelectKernels from "@jointly/core/compute/SelectKernels.ts"
import * as PoolRunner from "../worker/PoolRunner.ts"
import * as OwnedModels from "../he/OwnedModels.ts"
import * as PartialModelStore from "../modeling/vertical/PartialModelStore.ts"
import * as SealBfv from "../he/SealBfv.ts"
import * as SealCkks from "../he/SealCkks.ts"
import { type Dataset, type DatasetSpec, type DatasetSummary, summarize } from "../datasets/Dataset.ts"

/** The handler table a decoded task gives this participant (its party entry names the dataset). */
export const accept = (taskId: string, task: Protocols.Task, self: string): ParticipantRuntime.Accepted | { readonly problem: string } => {
  const party = Protocols.partyOf(task, self)
  if (party === undefined) return { problem: `${self} is not a party of task ${taskId}` }
  return ParticipantRuntime.accepted(taskId, task.protocol.participant(task.params, { ...task, party }), task.protocol.stages.map((s) => s.stage.name))
}

/** Protocols read datasets through this view; `strings` also serves numeric columns as text. */
export const tabular = (dataset: Dataset): TabularData => ({
  name: dataset.name,
  rowCount: dataset.rowCount,
  columnNames: dataset.columns.map((c) => c.name),
  isNumeric: (column) => {
    const type = dataset.typeOf(column)
    return type === "number" || type === "integer"
  },
  numeric: (column) => dataset.numeric(column),
  strings: (column) => {
    const type = dataset.typeOf(column)
    return type === "number" || type === "integer" ? Array.from(dataset.numeric(column), String) : dataset.strings(column)
  }
})

/** LocalData over loaded datasets; `self` names this participant in the failure for an unknown dataset. */
export const localData = (self: string, datasets: ReadonlyArray<Dataset>): Layer.Layer<LocalData> => {
  const byName = new Map(datasets.map((d) => [d.name, tabular(d)] as const))
  return Layer.succeed(LocalData, {
    dataset: (name: string) => {
      const data = byName.get(name)
      return data
        ? Effect.succeed(data)
        : Effect.fail(new ParticipantFailure({ participant: self, stage: "dataset", code: "UnknownDataset", detail: `no dataset named ${name} is registered here` }))
    }
  })
}

export type AcceptOutcome = { readonly ok: true } | { readonly ok: false; readonly problem: string }

/** Where accepted tasks run: on the calling thread (`inline`) or in the protocol worker (`ProtocolWorker.start`). */
export interface Runner {
  /** The datasets it loaded, without their rows. */
  readonly datasets: ReadonlyArray<DatasetSummary>
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
}

/** Loads every dataset (rejects with DatasetError naming file, line and column) and runs tasks on this thread. */
export const inline = async (options: InlineOptions): Promise<Runner> => {
  const loaded = await Promise.all(options.datasets.map((spec) => CsvDataset.loadPromise(spec)))
  const self = options.wallet.address
  // One job pool and one kernel choice per runner, i.e. per agent (inline) or per protocol worker thread.
  const jobs = PoolRunner.make({ size: options.jobWorkers })
  const kernels = Layer.succeed(SelectKernels.Kernels, await SelectKernels.select({ wasm: () => import("@jointly/wasm").then((m) => m.loadWasmKernels()) }))
  // Every service a declared protocol needs (`Protocols.ParticipantServices`): one missing fails to compile here.
  const services: Layer.Layer<Protocols.ParticipantServices> = Layer.mergeAll(
    localData(self, loaded),
    Compute.layer({ runner: jobs.runner }),
    QueryServices.layer(),
    jobs.layer,
    kernels,
    SealCkks.layer,
    SealBfv.layer,
    OwnedModels.layer(),
    PartialModelStore.layer({ dataDir: process.env.JOINTLY_DATA_DIR, owner: self, secret: options.wallet.privateKey })
  )
  const runtime = ParticipantRuntime.make({ self, sign: (message) => Effect.promise(() => options.wallet.signMessage(message)) })
  const accepted = new Map<string, ParticipantRuntime.Accepted<Protocols.ParticipantServices>>()
  return {
    datasets: loaded.map(summarize),
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
      return Effect.runPromise(Effect.provide(runtime.handle(task, request), services))
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
    }
  }
}
