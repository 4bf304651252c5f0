/**
 * Runs the participant side of accepted tasks: finds the stage handler a request names, decodes the payload
 * with the stage's Schema, runs the handler next to the local data, and encodes the reply. A handler failure
 * goes back as a typed failure outcome; nothing about the local rows leaves except what the protocol sends.
 *
 * `inline` bundles it all (datasets loaded, tasks accepted, stages run) as a `Runner` on the calling thread;
 * the protocol worker (`worker/ProtocolWorkerHost.ts`) runs that same Runner in its own thread, and the agent
 * talks to either through the `Runner` interface.
 */
import { Cause, Effect, Exit, Layer, Schema } from "effect"
import type { BaseWallet } from "ethers"
import type { TabularData } from "@jointly/core/data/Tabular.ts"
import { LocalData } from "@jointly/core/data/Tabular.ts"
import type { ParticipantSession, StageHandler } from "@jointly/core/protocols/Protocol.ts"
import { ParticipantFailure } from "@jointly/core/protocols/Protocol.ts"
import { lookup, type ParticipantServices, type ProtocolDefinition } from "@jointly/core/protocols/registry.ts"
import type { Party, TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import type { StageOutcome, StageRequest } from "@jointly/core/wire/Messages.ts"
import * as CsvDataset from "../datasets/CsvDataset.ts"
import * as Compute from "../modeling/Compute.ts"
import * as QueryServices from "./QueryServices.ts"
import * as Backends from "@jointly/backends/Backends.ts"
import * as NodeBackends from "@jointly/backends/node"
import * as PoolRunner from "../worker/PoolRunner.ts"
import * as OwnedModels from "../he/OwnedModels.ts"
import * as PartialModelStore from "../modeling/vertical/PartialModelStore.ts"
import { type Dataset, type DatasetSpec, type DatasetSummary, summarize } from "../datasets/Dataset.ts"

export interface AcceptedTask {
  readonly taskId: string
  readonly spec: TaskSpec
  readonly party: Party
  readonly handlers: ReadonlyMap<string, StageHandler<any, any, ParticipantServices>>
}

export type Lookup = (kind: string) => ProtocolDefinition | undefined

export type Resolved =
  | { readonly ok: true; readonly definition: ProtocolDefinition; readonly params: unknown }
  | { readonly ok: false; readonly problem: string }

/** The protocol a spec names and its decoded params: what consent asks about and what a runner runs. */
export const resolve = (spec: TaskSpec, lookupKind: Lookup = lookup): Resolved => {
  const definition = lookupKind(spec.kind)
  if (!definition) return { ok: false, problem: `task kind ${spec.kind} is not supported here` }
  const checked = definition.checkParams(spec)
  return checked.ok ? { ok: true, definition, params: checked.params } : { ok: false, problem: checked.problem }
}

export const accept = (taskId: string, spec: TaskSpec, party: Party, definition: ProtocolDefinition, params: unknown): AcceptedTask => ({
  taskId,
  spec,
  party,
  handlers: new Map(definition.participant(params, party, spec).map((h) => [h.stage.name, h] as const))
})

/** `services`: the datasets (`localData`) merged with the compute the protocols need (`services` below). */
export const make = (wallet: BaseWallet, services: Layer.Layer<ParticipantServices>) => {
  const memories = new Map<string, Map<string, unknown>>()

  const memoryOf = (taskId: string, attempt: number) => {
    const key = `${taskId}#${attempt}`
    let memory = memories.get(key)
    if (!memory) {
      // A new attempt starts clean: secrets of an earlier attempt must never be reused.
      for (const k of memories.keys()) if (k.startsWith(`${taskId}#`)) memories.delete(k)
      memory = new Map()
      memories.set(key, memory)
    }
    return memory
  }

  const handle = async (task: AcceptedTask, request: StageRequest): Promise<StageOutcome> => {
    const handler = task.handlers.get(request.stage)
    if (!handler) return { ok: false, code: "UnknownStage", detail: `task ${task.taskId} has no stage ${request.stage}` }
    const decoded = Schema.decodeUnknownExit(handler.stage.request)(request.payload)
    if (decoded._tag === "Failure") return { ok: false, code: "MalformedRequest", detail: String(decoded.cause) }
    const session: ParticipantSession = {
      taskId: task.taskId,
      attempt: request.attempt,
      self: wallet.address,
      participants: request.participants,
      memory: memoryOf(task.taskId, request.attempt),
      sign: (message) => Effect.promise(() => wallet.signMessage(message))
    }
    const exit = await Effect.runPromiseExit(
      handler.handle(decoded.value, session).pipe(
        Effect.flatMap((reply) => Effect.try({
          try: () => Schema.encodeUnknownSync(handler.stage.reply)(reply),
          catch: (error) => new ParticipantFailure({ participant: wallet.address, stage: request.stage, code: "EncodeFailed", detail: String(error) })
        })),
        Effect.provide(services)
      )
    )
    if (Exit.isSuccess(exit)) return { ok: true, payload: exit.value }
    const error = Cause.squash(exit.cause)
    if (error instanceof ParticipantFailure) return { ok: false, code: error.code, detail: error.detail }
    return { ok: false, code: "Internal", detail: error instanceof Error ? error.message : String(error) }
  }

  return {
    handle,
    forget: (taskId: string) => {
      for (const k of memories.keys()) if (k.startsWith(`${taskId}#`)) memories.delete(k)
    }
  }
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
  readonly accept: (taskId: string, spec: TaskSpec, party: Party) => Promise<AcceptOutcome>
  /** Runs one stage; never rejects: every failure is a failure outcome. */
  readonly stage: (request: StageRequest) => Promise<StageOutcome>
  /** Drops the task and the secrets its stages kept. */
  readonly forget: (taskId: string) => Promise<void>
  readonly close: () => Promise<void>
}

export interface InlineOptions {
  readonly wallet: BaseWallet
  readonly datasets: ReadonlyArray<DatasetSpec>
  /** Where task kinds are found; the protocol registry by default. */
  readonly lookup?: Lookup
  /** Threads of the job pool protocols fan batch work out to (JobRunner); the core count by default. */
  readonly jobWorkers?: number
  /** Where predictions, query outputs, owned models and sealed partial models live; none: kept in task memory or refused. */
  readonly dataDir?: string
  /** The backend of each kernel family, on this thread and in the job pool's workers; the fastest Node ones by default. */
  readonly backends?: Backends.Choice
}

/** Loads every dataset (rejects with DatasetError naming file, line and column) and runs tasks on this thread. */
export const inline = async (options: InlineOptions): Promise<Runner> => {
  const loaded = await Promise.all(options.datasets.map((spec) => CsvDataset.loadPromise(spec)))
  // One job pool and one composition of backends per runner, i.e. per agent (inline) or per protocol worker
  // thread, built once: the services keep caches (OpenSSL contexts, imported keys, SEAL contexts) across stages.
  const { dataDir } = options
  const jobs = PoolRunner.make({ size: options.jobWorkers, backends: options.backends })
  const backends = NodeBackends.layer(options.backends)
  const services = await Backends.build(Layer.mergeAll(
    backends,
    localData(options.wallet.address, loaded),
    // After the backends: the pool's model runtime replaces their in-thread one.
    Compute.layer({ dataDir, runner: jobs.runner }),
    QueryServices.layer({ dataDir, backends: options.backends }).pipe(Layer.provide(backends)),
    jobs.layer,
    OwnedModels.layer(dataDir),
    PartialModelStore.layer({ dataDir, owner: options.wallet.address, secret: options.wallet.privateKey })
  ))
  const host = make(options.wallet, services.layer)
  const accepted = new Map<string, AcceptedTask>()
  return {
    datasets: loaded.map(summarize),
    accept: async (taskId, spec, party) => {
      const resolved = resolve(spec, options.lookup)
      if (!resolved.ok) return resolved
      accepted.set(taskId, accept(taskId, spec, party, resolved.definition, resolved.params))
      return { ok: true }
    },
    stage: async (request) => {
      const task = accepted.get(request.taskId)
      if (!task) return { ok: false, code: "UnknownTask", detail: `this participant has not accepted task ${request.taskId}` }
      // A handler that throws instead of failing its Effect still gets a failure outcome, not a dropped request.
      return host.handle(task, request).catch((error): StageOutcome => ({ ok: false, code: "Internal", detail: error instanceof Error ? error.message : String(error) }))
    },
    forget: async (taskId) => {
      accepted.delete(taskId)
      host.forget(taskId)
    },
    close: async () => {
      for (const taskId of accepted.keys()) host.forget(taskId)
      accepted.clear()
      await jobs.close()
      await services.close()
    }
  }
}
