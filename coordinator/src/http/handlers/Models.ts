/**
 * Handlers of the `models` and `artifacts` groups. Listing shows the models of the tasks the caller may see;
 * a prediction by someone who did not train the model is served under a grant found on chain and counted here;
 * an upload is charged to the member that makes it.
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api, Caller } from "@jointly/core/internal/api/Api"
import { participantsOf } from "@jointly/core/internal/task/TaskSpec"
import { isParty, seesTask } from "../Policy.ts"
import { Artifacts, Models, Parts, Tasks, unavailable } from "../Services.ts"

export const models = HttpApiBuilder.group(Api, "models", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    const repo = yield* Models
    const tasks = yield* Tasks
    // A model whose task is gone has no task; a store that cannot say is Unavailable, not "no task".
    const taskOf = (taskId: string | null) => (taskId === null ? Effect.succeed(undefined) : Effect.catchTag(tasks.get(taskId), "UnknownTask", () => Effect.succeed(undefined)))

    return handlers
      .handle("list", () =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const visible = []
          for (const model of yield* repo.list()) {
            const task = yield* taskOf(model.taskId)
            if (caller.roles.supervisor || caller.roles.operator || (task !== undefined && seesTask(caller, task.spec))) visible.push(model)
          }
          return { models: visible }
        }))
      .handle("get", ({ params }) =>
        Effect.gen(function*() {
          const { artifact: _weights, ...model } = yield* repo.get(params.modelId)
          const task = yield* taskOf(model.taskId)
          const featureColumns = yield* repo.featureColumns(params.modelId)
          return { ...model, featureColumns, trainers: task === undefined ? [] : participantsOf(task.spec) }
        }))
      .handle("weights", ({ params }) => repo.get(params.modelId))
      .handle("predict", ({ params, payload }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const model = yield* repo.get(params.modelId)
          const task = yield* taskOf(model.taskId)
          // The guard let a non-trainer through only for a grant; find it again to count this use against it. A grant
          // read (chain, index) or the use's record not made is the coordinator's failure: 503 Unavailable, the
          // prediction not served and no use counted.
          const grant = task !== undefined && isParty(caller, task.spec)
            ? undefined
            : yield* Effect.mapError(parts.policy.modelGrant(caller.address, params.modelId, task === undefined ? [] : participantsOf(task.spec)), unavailable)
          const predictions = yield* repo.predict(params.modelId, payload.rows)
          if (grant !== undefined) yield* Effect.mapError(parts.policy.countUse(grant, params.modelId, caller.address, payload.rows.length), unavailable)
          return { modelId: params.modelId, predictions }
        }))
  }))

export const artifacts = HttpApiBuilder.group(Api, "artifacts", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    const store = yield* Artifacts
    return handlers
      .handle("put", ({ payload }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const bytes = new Uint8Array(Buffer.from(payload.base64, "base64"))
          const cid = yield* store.putOwned(bytes, payload.codec, caller.address, parts.limits.artifactQuotaBytes).pipe(
            Effect.tapError(() => Effect.sync(() => parts.rejections.count("http.quota")))
          )
          return { cid }
        }))
      .handle("get", ({ params }) =>
        Effect.map(store.get(params.cid), (a) => ({ cid: a.cid, codec: a.codec, base64: Buffer.from(a.bytes).toString("base64") })))
  }))
