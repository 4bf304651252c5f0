/**
 * The coordinator's parts as the API's handlers see them: Effect services whose failures are the API's tagged
 * errors (core/src/api/Errors.ts), typed per operation, so a handler states nothing about statuses — the endpoint
 * declarations do. The task store and the scheduler answer with Effects and tagged errors already: their refusals
 * pass through; a store that fails (its disk full, its server away past the store's retries) is the typed
 * Unavailable (503) naming what was not read or written, and nothing was changed. The model and artifact stores
 * answer the same way (ModelStoreFailed, ArtifactStoreFailed), and so do the chain index's reads (ChainIndexFailed).
 * A store failing is the coordinator's trouble, never a refusal of the caller's, and a later try may be answered.
 */
import { Context, Effect, Layer } from "effect"
import type * as E from "@jointly/core/internal/api/Errors"
import { Unavailable, UnknownModel, UnknownTask } from "@jointly/core/internal/api/Errors"
import type { Status } from "@jointly/core/internal/task/Lifecycle"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { ArtifactStore, ArtifactStoreFailed, Codec } from "../artifacts/ArtifactStore.ts"
import type { DidUnresolved } from "../auth/Auth.ts"
import type { ChainIndex, ChainIndexFailed } from "../governance/ChainIndex.ts"
import type { ModelStore, ModelStoreFailed, Prediction, StoredModel } from "../models/ModelStore.ts"
import type { SchedulerShape } from "../scheduler/Scheduler.ts"
import type { Consent, OutboxRow, StoreFailed, TaskEvent, TaskRow, TaskStoreShape } from "../store/TaskStore.ts"

/** A write the store could not make, answered as what it is for the caller: the service is unavailable, nothing changed. */
const storeUnavailable = (error: StoreFailed) => Effect.fail(new Unavailable({ message: `${error.message}; nothing was changed, try again later` }))

/** A read a store could not make (its message names it): 503 Unavailable, the same request may be answered later. */
const unread = <A, E>(read: Effect.Effect<A, E>): Effect.Effect<A, Exclude<E, StoreFailure> | Unavailable> =>
  Effect.mapError(read, (error) => (isStoreFailure(error) ? unavailable(error) : error as Exclude<E, StoreFailure>))

type StoreFailure = StoreFailed | ModelStoreFailed | ArtifactStoreFailed
const storeFailures: ReadonlySet<unknown> = new Set<StoreFailure["_tag"]>(["StoreFailed", "ModelStoreFailed", "ArtifactStoreFailed"])
const isStoreFailure = <E>(error: E): error is Extract<E, StoreFailure> => storeFailures.has((error as { readonly _tag?: unknown } | null)?._tag)

export class Tasks extends Context.Service<Tasks, {
  readonly get: (id: string) => Effect.Effect<TaskRow, E.UnknownTask | E.Unavailable>
  readonly events: (id: string) => Effect.Effect<ReadonlyArray<TaskEvent>, E.Unavailable>
  readonly consents: (id: string) => Effect.Effect<ReadonlyArray<Consent>, E.Unavailable>
  readonly outbox: (id: string) => Effect.Effect<ReadonlyArray<OutboxRow>, E.Unavailable>
  readonly list: (filter: { readonly status?: Status; readonly limit?: number; readonly visibleTo?: string }) => Effect.Effect<ReadonlyArray<TaskRow>, E.Unavailable>
  readonly openCount: (initiator: string) => Effect.Effect<number, E.Unavailable>
  readonly submit: (spec: TaskSpec, signature: string) => Effect.Effect<string, E.InvalidTask | E.DuplicateTask | E.Unavailable>
  readonly cancel: (id: string, reason: string) => Effect.Effect<Status, E.UnknownTask | E.Unavailable>
}>()("jointly/coordinator/Tasks") {
  static readonly layer = (store: TaskStoreShape, scheduler: SchedulerShape) =>
    Layer.succeed(Tasks, {
      get: (id) =>
        Effect.flatMap(unread(store.get(id)), (task) => (task === undefined ? Effect.fail(new UnknownTask({ message: `no task ${id}` })) : Effect.succeed(task))),
      events: (id) => unread(store.events(id)),
      consents: (id) => unread(store.consents(id)),
      outbox: (id) => unread(store.outbox(id)),
      list: (filter) => unread(store.list(filter)),
      openCount: (initiator) => unread(store.openCount(initiator)),
      submit: (spec, signature) => Effect.catchTag(scheduler.submit(spec, signature), "StoreFailed", storeUnavailable),
      cancel: (id, reason) => Effect.catchTag(scheduler.cancel(id, reason), "StoreFailed", storeUnavailable)
    })
}

export class Models extends Context.Service<Models, {
  readonly list: () => Effect.Effect<ReadonlyArray<Omit<StoredModel, "artifact">>, E.Unavailable>
  readonly get: (id: string) => Effect.Effect<StoredModel, E.UnknownModel | E.Unavailable>
  readonly featureColumns: (id: string) => Effect.Effect<ReadonlyArray<string>, E.UnknownModel | E.Tampered | E.Unavailable>
  readonly predict: (id: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>) => Effect.Effect<ReadonlyArray<Prediction>, E.UnknownModel | E.InvalidRows | E.Tampered | E.Unavailable>
}>()("jointly/coordinator/Models") {
  static readonly layer = (models: ModelStore | undefined) => {
    const none = <A>(): Effect.Effect<A, E.Unavailable> => Effect.fail(new Unavailable({ message: "this coordinator has no model store" }))
    return Layer.succeed(Models, models === undefined
      ? { list: () => Effect.succeed([]), get: none, featureColumns: none, predict: none }
      : {
        list: () => unread(models.list()),
        get: (id) =>
          Effect.flatMap(unread(models.get(id)), (model) => (model === undefined ? Effect.fail(new UnknownModel({ message: `no model ${id}` })) : Effect.succeed(model))),
        featureColumns: (id) => unread(Effect.map(models.artifact(id), (artifact) => artifact.featureColumns)),
        predict: (id, rows) => unread(models.predict(id, rows))
      })
  }
}

export class Artifacts extends Context.Service<Artifacts, {
  readonly putOwned: (bytes: Uint8Array, codec: Codec, owner: string, quotaBytes: number) => Effect.Effect<string, E.QuotaExceeded | E.Unavailable>
  readonly get: (cid: string) => Effect.Effect<{ readonly cid: string; readonly codec: Codec; readonly bytes: Uint8Array }, E.UnknownArtifact | E.Tampered | E.Unavailable>
}>()("jointly/coordinator/Artifacts") {
  static readonly layer = (artifacts: ArtifactStore | undefined) => {
    const none = Effect.fail(new Unavailable({ message: "this coordinator has no artifact store" }))
    return Layer.succeed(Artifacts, artifacts === undefined ? { putOwned: () => none, get: () => none } : {
      putOwned: (bytes, codec, owner, quotaBytes) =>
        Effect.catchTag(artifacts.putOwned(bytes, codec, owner, quotaBytes), "ArtifactStoreFailed", (error) => Effect.fail(new Unavailable({ message: `${error.message}; nothing was stored, try again later` }))),
      get: (cid) => unread(artifacts.get(cid))
    })
  }
}

/** The chain index (catalogue, grants, members, model requests); Unavailable on a deployment without governance. */
export class Index extends Context.Service<Index, Effect.Effect<ChainIndex, E.Unavailable>>()("jointly/coordinator/Index") {
  static readonly layer = (index: ChainIndex | undefined) =>
    Layer.succeed(Index, index === undefined ? Effect.fail(new Unavailable({ message: "this coordinator has no governance contracts (redeploy to add them)" })) : Effect.succeed(index))
}

/** A read the coordinator could not make (its message names it): 503 Unavailable where the endpoint declares it. */
export const unavailable = (error: { readonly message: string }) => new Unavailable({ message: `${error.message}; try again later` })

/**
 * Chain index queries: Unavailable without governance contracts, and Unavailable naming the read when the index's
 * store does not answer (its reads refuse nothing a caller could correct; a later try may be answered).
 */
export const querier = (index: Effect.Effect<ChainIndex, E.Unavailable>) => <A>(f: (index: ChainIndex) => Effect.Effect<A, ChainIndexFailed>): Effect.Effect<A, E.Unavailable> =>
  Effect.flatMap(index, (i) => Effect.mapError(f(i), unavailable))

/** The rest of what the handlers read: sign-in, roles, rules, the dashboard's views, the live feed, the limits. */
export interface PartsShape {
  readonly chain: typeof import("@jointly/core/internal/api/Schemas").ChainInfo.Type
  readonly socketNonce: () => { readonly nonce: string; readonly expiresAt: number }
  readonly sessions: import("./Sessions.ts").Sessions
  readonly roles: import("./Roles.ts").RoleReader
  readonly policy: import("./Policy.ts").Policy
  readonly dashboard: import("../dashboard/Dashboard.ts").Dashboard
  readonly humans: import("../dashboard/HumanConsents.ts").HumanConsents
  /** Asks the connected participant `account` to check a dashboard token sign-in and sign it; undefined if it is not connected. */
  /**
   * With client certificates bound to DIDs: the TLS client certificate keys an account's DID names now. A sign-in
   * for an account whose DID names any must come over a connection presenting one of them.
   */
  readonly tlsClientKeys?: (account: string) => Effect.Effect<ReadonlyArray<string>, DidUnresolved>
  readonly relaySignIn: (account: string, request: import("@jointly/core/internal/wire/Messages").DashboardSignIn) => Promise<import("@jointly/core/internal/wire/Messages").DashboardSignInAck | undefined>
  readonly bus: import("../dashboard/Live.ts").Bus
  readonly rejections: import("../limits/Rejections.ts").Rejections
  readonly limits: { readonly maxOpenTasks: number; readonly artifactQuotaBytes: number }
  readonly openApi: () => Record<string, unknown>
}
export class Parts extends Context.Service<Parts, PartsShape>()("jointly/coordinator/Parts") {}
