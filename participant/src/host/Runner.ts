/**
 * The platform-neutral part of a participant's task runner (ProtocolHost.ts on Node, browser/BrowserRunner.ts in
 * a page): the handler table of an accepted task, the LocalData over opened sources, the `Runner` interface the
 * agent talks to, and `over`, which runs accepted tasks' stages through the round engine's participant runtime
 * on services a platform composed. Nothing here knows where the rows, the keys or the kernels come from.
 */
import { Effect, Layer, Result } from "effect"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { DatasetError } from "@jointly/core/internal/data/DatasetError"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import * as ParticipantRuntime from "@jointly/core/internal/runtime/ParticipantRuntime"
import type { KeyMaterial } from "@jointly/core/internal/crypto/KeyMaterial"
import type { ModelFacts } from "@jointly/core/internal/protocols/Define"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { StageOutcome, StageRequest } from "@jointly/core/internal/wire/Messages"
import { type DataSource, defaultMaxRows } from "@jointly/core/internal/data/Tabular"
import type { DatasetSummary } from "../datasets/Dataset.ts"

/** The handler table a decoded task gives this participant (its party entry names the dataset). */
export const accept = (taskId: string, task: Protocols.Task, self: string): ParticipantRuntime.Accepted | { readonly problem: string } => {
  const party = Protocols.partyOf(task, self)
  if (party === undefined) return { problem: `${self} is not a party of task ${taskId}` }
  return ParticipantRuntime.accepted(taskId, task.protocol.participant(task.params, { ...task, party }), task.protocol.stages.map((s) => s.stage.name))
}

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

/**
 * An offered task as its kind's declaration reads it for this participant: what the session checks (key sizes,
 * columns) and asks the consent policy about. Plain data, so it crosses a worker boundary by structured clone.
 */
export type OfferReading =
  | {
    readonly ok: true
    readonly keyMaterial: KeyMaterial
    /** The columns of this participant's dataset the task reads. */
    readonly columns: ReadonlyArray<string>
    readonly params: unknown
    readonly model?: ModelFacts
    readonly recipients: ReadonlyArray<string>
  }
  | { readonly ok: false; readonly problem: string }

type Declarations = ReadonlyArray<Protocols.Task["protocol"]>

/** Decodes `spec` by its kind's declaration (among `protocols`) and reads it for `self`. */
export const readOffer = (spec: TaskSpec, self: string, protocols: Declarations = Protocols.all): OfferReading => {
  const decoded = Protocols.decodeTask(spec, protocols)
  if (Result.isFailure(decoded)) return { ok: false, problem: decoded.failure.message }
  const task = decoded.success
  const party = Protocols.partyOf(task, self)
  if (party === undefined) return { ok: false, problem: `${self} is not a party of the task` }
  const model = task.protocol.model?.(task.params, spec.parties.length)
  return {
    ok: true,
    keyMaterial: task.protocol.keyMaterial?.(task.params) ?? {},
    columns: task.protocol.columns(task.params, party),
    params: task.params,
    ...(model === undefined ? {} : { model }),
    recipients: Protocols.resultRecipients(task)
  }
}

/** Where accepted tasks run: on the calling thread (`inline`) or in the protocol worker (`ProtocolWorker.start`). */
export interface Runner {
  /** The datasets it opened, without their rows. */
  readonly datasets: ReadonlyArray<DatasetSummary>
  /** A dataset's content hash as it is now (a pass over its rows, column by column); rejects with DatasetError. */
  readonly contentHash: (name: string) => Promise<string>
  /**
   * Reads an offered spec by its kind's declaration (OfferReading), where the protocols are: the page of a browser
   * participant holds no protocol code and asks its protocol worker.
   */
  readonly read: (spec: TaskSpec) => Promise<OfferReading>
  /** Decodes the spec again on its side and builds the task's stage handlers; a task must be accepted before its stages run. */
  readonly accept: (taskId: string, spec: TaskSpec) => Promise<AcceptOutcome>
  /** Runs one stage; never rejects: every failure is a failure outcome. */
  readonly stage: (request: StageRequest) => Promise<StageOutcome>
  /** Drops the task and the secrets its stages kept. */
  readonly forget: (taskId: string) => Promise<void>
  readonly close: () => Promise<void>
}


export interface RunnerParts {
  /** This participant's address. */
  readonly self: string
  /** Signs a message as this participant (the runtime signs what a stage commits to). */
  readonly sign: (message: Uint8Array) => Promise<string>
  readonly datasets: ReadonlyArray<DatasetSummary>
  /** The declarations tasks are decoded by (default: every declared kind; tests add misbehaving ones). */
  readonly protocols?: Declarations
  /** Every service a declared protocol needs, built once for the runner's life. */
  readonly services: Layer.Layer<Protocols.ParticipantServices>
  readonly contentHash: (name: string) => Promise<string>
  /** Releases what the platform opened (pools, sources, the built services). */
  readonly close: () => Promise<void>
}

/** A Runner over services a platform composed: accepts tasks, runs their stages, forgets them. */
export const over = (parts: RunnerParts): Runner => {
  const runtime = ParticipantRuntime.make({ self: parts.self, sign: ParticipantRuntime.signWith(parts.sign) })
  const accepted = new Map<string, ParticipantRuntime.Accepted<Protocols.ParticipantServices>>()
  return {
    datasets: parts.datasets,
    contentHash: parts.contentHash,
    read: async (spec) => readOffer(spec, parts.self, parts.protocols),
    accept: async (taskId, spec) => {
      const decoded = Protocols.decodeTask(spec, parts.protocols)
      if (Result.isFailure(decoded)) return { ok: false, problem: decoded.failure.message }
      const table = accept(taskId, decoded.success, parts.self)
      if ("problem" in table) return { ok: false, problem: table.problem }
      accepted.set(taskId, table)
      return { ok: true }
    },
    stage: async (request) => {
      const task = accepted.get(request.taskId)
      if (!task) return { ok: false, code: "UnknownTask", detail: `this participant has not accepted task ${request.taskId}` }
      // A handler that throws instead of failing its Effect still gets a failure outcome, not a dropped request.
      return Effect.runPromise(Effect.provide(runtime.handle(task, request), parts.services))
        .catch((error): StageOutcome => ({ ok: false, code: "Internal", detail: error instanceof Error ? error.message : String(error) }))
    },
    forget: async (taskId) => {
      accepted.delete(taskId)
      runtime.forget(taskId)
    },
    close: async () => {
      // Stopping this host does not end its tasks: what they keep for a resume after a restart stays.
      for (const taskId of accepted.keys()) runtime.forget(taskId, "attempt")
      accepted.clear()
      await parts.close()
    }
  }
}

/** A DatasetError naming a dataset this runner does not serve. */
export const unknownDataset = (name: string) =>
  new DatasetError({ reason: "MissingTable", source: name, detail: `no dataset named ${name} is registered here` })
