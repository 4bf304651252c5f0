/**
 * Where a participant's message about a task (its consent, a stage reply) is handled: by the instance that owns
 * the task — this one, or another one the cluster bridge forwards it to. A store that does not answer (the owner's
 * read, a consent's own writes) is refused to the sender as `Unavailable`, as the HTTP routes answer 503: the
 * message was not acted on, and it is asked for again (a task's next offer, a stage request sent again). A consent
 * kept whose task's move then failed is not refused: the task's holder makes the move again (Scheduler `reoffer`).
 */
import { Effect } from "effect"
import type { TaskConsent } from "@jointly/core/internal/wire/Messages"
import { WireRefusal } from "@jointly/core/internal/wire/Messages"
import type { StoreFailed } from "../store/TaskStore.ts"

export interface Deps {
  readonly instance: string
  /** Whether another instance may own the task: never outside a cluster, nor for a task this instance holds. */
  readonly mayBeElsewhere: (taskId: string) => boolean
  readonly ownerOf: (taskId: string) => Effect.Effect<string | undefined, StoreFailed>
  /** Takes a consent on this instance (the scheduler's `consent`). */
  readonly consent: (account: string, message: TaskConsent) => Effect.Effect<void, WireRefusal | StoreFailed>
  /** Once a consent was handled here, taken or refused. */
  readonly consented: (taskId: string, account: string) => void
}

const unavailable = (error: StoreFailed) =>
  Effect.fail(new WireRefusal({ code: "Unavailable", detail: `${error.message}; the message was not acted on, it is asked for again` }))

export const make = (deps: Deps) => {
  const ownerElsewhere = (taskId: string): Effect.Effect<string | undefined, WireRefusal> =>
    deps.mayBeElsewhere(taskId)
      ? deps.ownerOf(taskId).pipe(
        Effect.catchTag("StoreFailed", unavailable),
        Effect.map((owner) => (owner !== undefined && owner !== deps.instance ? owner : undefined))
      )
      : Effect.succeed(undefined)
  return {
    /** Takes a consent on this instance (one received here, or forwarded by another). */
    consentHere: (account: string, message: TaskConsent): Effect.Effect<void, WireRefusal> =>
      deps.consent(account, message).pipe(
        Effect.catchTag("StoreFailed", unavailable),
        Effect.ensuring(Effect.sync(() => deps.consented(message.taskId, account)))
      ),
    /** A message from a participant connected here: `here` when this instance may hold its task, else `forward` to its owner. */
    route: <M extends { readonly taskId: string }>(
      here: (account: string, message: M) => Effect.Effect<void, WireRefusal>,
      forward: (owner: string, account: string, message: M) => void
    ) =>
    (account: string, message: M): Effect.Effect<void, WireRefusal> =>
      Effect.flatMap(ownerElsewhere(message.taskId), (owner) => (owner === undefined ? here(account, message) : Effect.sync(() => forward(owner, account, message))))
  }
}
