/**
 * Handlers of the `tasks` group. The guard has already applied each endpoint's rule; here lists and the live feed
 * are narrowed to what the caller may see (Policy.seesTask), a submission must come from its initiator, and an
 * initiator may keep only so many tasks open at once.
 */
import { Effect, Queue, Semaphore, Stream } from "effect"
import { getAddress } from "ethers"
import { HttpApiBuilder } from "effect/http-api"
import { Api, Caller, type CallerShape } from "@jointly/core/internal/api/Api"
import { Forbidden, TooManyTasks } from "@jointly/core/internal/api/Errors"
import type { LiveEvent } from "@jointly/core/internal/api/Schemas"
import type { TaskRow } from "../../store/TaskStore.ts"
import { seesTask } from "../Policy.ts"
import { AuthorizedTask } from "../Middleware.ts"
import { Parts, Tasks, unavailable } from "../Services.ts"

/** A task's metadata: never its result, which only `GET /api/tasks/{id}/result` serves, to the recipients. */
export const metadata = ({ result: _result, ...row }: TaskRow) => row

/** Sees everything (metadata) without being named in it. */
const overseer = (caller: CallerShape) => caller.roles.supervisor || caller.roles.operator

/**
 * The live feed for one caller: events of the tasks it may see; chain events without a task for overseers; the
 * abuse-limit counter for all. Ends when the caller's token expires or its roles lapse (the page signs in again).
 */
const liveFeed = (caller: CallerShape, parts: typeof Parts.Service, tasks: typeof Tasks.Service): Stream.Stream<LiveEvent> => {
  const visible = new Map<string, boolean>()
  const sees = (taskId: string) =>
    visible.has(taskId)
      ? Effect.succeed(visible.get(taskId)!)
      : tasks.get(taskId).pipe(
        Effect.map((task) => seesTask(caller, task.spec)),
        Effect.catchTag("UnknownTask", () => Effect.succeed(false)),
        Effect.tap((ok) => Effect.sync(() => visible.set(taskId, ok))),
        // A store that cannot say now withholds this event, and is asked again for the next one (not remembered).
        Effect.catchTag("Unavailable", () => Effect.succeed(false))
      )
  // A chain that cannot say ends the feed as a lapsed role does: the page signs in again, and is told why there.
  const stillAllowed = parts.roles.of(caller.address).pipe(Effect.map((r) => r.member || r.supervisor || r.operator), Effect.orElseSucceed(() => false))
  const events = Stream.callback<LiveEvent>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => parts.bus.subscribe((event) => void Queue.offerUnsafe(queue, event))),
      (unsubscribe) => Effect.sync(unsubscribe)
    ))
  // A count now and then: the dashboard's refusal counter, and a heartbeat that keeps proxies from closing the stream.
  const heartbeat = Stream.map(Stream.tick("15 seconds"), (): LiveEvent => ({ type: "limits", rejected: parts.rejections.total() }))
  return Stream.merge(events, heartbeat).pipe(
    Stream.filterEffect((event) => {
      if (event.type === "limits") return Effect.succeed(true)
      if (event.taskId === null) return Effect.succeed(overseer(caller))
      return sees(event.taskId)
    }),
    Stream.mapEffect((event) => Effect.map(stillAllowed, (ok) => ({ event, ok }))),
    Stream.takeWhile(({ ok }) => ok),
    Stream.map(({ event }) => event),
    Stream.interruptWhen(Effect.sleep(Math.max(0, Date.parse(caller.expiresAt) - Date.now())))
  )
}

export const tasks = HttpApiBuilder.group(Api, "tasks", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    const store = yield* Tasks
    // One submission at a time per initiator, so two concurrent ones cannot both slip under the cap.
    const locks = new Map<string, Semaphore.Semaphore>()
    const lockOf = (initiator: string) => {
      let lock = locks.get(initiator)
      if (lock === undefined) locks.set(initiator, (lock = Semaphore.makeUnsafe(1)))
      return lock
    }

    /** The task the guard already read to authorise this request, else from the store. */
    const authorized = (id: string) =>
      Effect.flatMap(Effect.serviceOption(AuthorizedTask), (task) => (task._tag === "Some" && task.value.id === id ? Effect.succeed(task.value) : store.get(id)))

    return handlers
      .handle("submit", ({ payload }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          if (getAddress(payload.spec.initiator) !== caller.address) {
            return yield* new Forbidden({ reason: "NotInitiator", message: `signed in as ${caller.address}, but the spec's initiator is ${payload.spec.initiator}` })
          }
          return yield* lockOf(caller.address).withPermits(1)(Effect.gen(function*() {
            const open = yield* store.openCount(caller.address)
            if (open >= parts.limits.maxOpenTasks) {
              parts.rejections.count("http.tasks")
              return yield* new TooManyTasks({ limit: parts.limits.maxOpenTasks, open, message: `${caller.address} already has ${open} tasks that have not ended (at most ${parts.limits.maxOpenTasks})` })
            }
            const taskId = yield* store.submit(payload.spec, payload.signature)
            const task = yield* Effect.option(store.get(taskId))
            return task._tag === "Some" ? { taskId, status: task.value.status } : { taskId }
          }))
        }))
      .handle("list", ({ query }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const rows = yield* store.list({ status: query.status, limit: query.limit ?? 100, visibleTo: overseer(caller) ? undefined : caller.address })
          return { tasks: rows.map(metadata) }
        }))
      .handle("get", ({ params }) =>
        Effect.gen(function*() {
          const task = yield* authorized(params.id)
          const [events, consents, outbox] = yield* Effect.all([store.events(task.id), store.consents(task.id), store.outbox(task.id)], { concurrency: 3 })
          return {
            ...metadata(task),
            events,
            consents,
            chain: outbox.map((o) => ({ eventId: o.eventId, op: o.op.op, status: o.status, txHash: o.txHash, blockNumber: o.blockNumber, lastError: o.lastError }))
          }
        }))
      .handle("result", ({ params }) => Effect.map(authorized(params.id), (task) => ({ taskId: task.id, result: task.result, resultDigest: task.resultDigest })))
      .handle("cancel", ({ params, payload }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const status = yield* store.cancel(params.id, payload.reason ?? `cancelled by ${caller.address}`)
          return { taskId: params.id, status }
        }))
      .handle("verify", ({ params }) =>
        // An unknown task is the API's refusal; a store or chain that cannot be read is Unavailable (503), naming it.
        parts.dashboard.verify(params.id).pipe(Effect.catchTags({ StoreFailed: (e) => Effect.fail(unavailable(e)), DashboardReadFailed: (e) => Effect.fail(unavailable(e)) })))
      .handle("events", () => Effect.map(Effect.service(Caller), (caller) => liveFeed(caller, parts, store)))
  }))
