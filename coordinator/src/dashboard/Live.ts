/**
 * Live updates for the dashboard: a minimal in-process pub/sub fed by the scheduler's status changes and the
 * store's writes (consents, progress, phase commitments, chain confirmations) and the abuse limits' refusals,
 * streamed to browsers as Server-Sent Events on `GET /api/events` (http/handlers/Tasks.ts, filtered per viewer).
 * Messages only say *what* changed; the dashboard fetches the details through the ordinary API, so a missed
 * message costs a refresh, never a wrong view.
 */
import type { LiveEvent } from "@jointly/core/internal/api/Schemas"
import { Effect } from "effect"
import type { TaskStoreShape } from "../store/TaskStore.ts"

export type { LiveEvent }

export const makeBus = () => {
  const listeners = new Set<(event: LiveEvent) => void>()
  return {
    publish: (event: LiveEvent) => {
      for (const listener of listeners) {
        try {
          listener(event)
        } catch {
          /* a broken listener must not stop the others */
        }
      }
    },
    subscribe: (listener: (event: LiveEvent) => void) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    }
  }
}

export type Bus = ReturnType<typeof makeBus>

/**
 * The store with its event-writing methods reporting to the bus once their transaction has committed. Status
 * transitions are reported by the scheduler (`onStatus`), so they are not repeated here.
 */
export const observe = (store: TaskStoreShape, bus: Bus): TaskStoreShape => {
  const publish = (event: LiveEvent) => Effect.sync(() => bus.publish(event))
  /** An outbox entry moved (mined, or final): the dashboard refreshes the task's chain trail. */
  const chainMoved = (id: number) =>
    Effect.flatMap(Effect.orElseSucceed(store.outboxEntry(id), () => undefined), (row) => publish({ type: "chain", taskId: row?.taskId ?? null, op: row?.op.op ?? "" }))
  return {
    ...store,
    recordConsent: (claim, consent, reasonHash) =>
      Effect.tap(store.recordConsent(claim, consent, reasonHash), (fresh) =>
        fresh ? publish({ type: "event", taskId: claim.taskId, event: consent.approve ? "ConsentApproved" : "ConsentRejected" }) : Effect.void),
    commitPhase: (claim, phase, root) => Effect.tap(store.commitPhase(claim, phase, root), () => publish({ type: "event", taskId: claim.taskId, event: "PhaseCommitted" })),
    event: (claim, type, data) => Effect.tap(store.event(claim, type, data), () => publish({ type: "event", taskId: claim.taskId, event: type })),
    markSent: (id, txHash, blockNumber, lease) => Effect.tap(store.markSent(id, txHash, blockNumber, lease), () => chainMoved(id)),
    confirm: (id, txHash, blockNumber, blockHash, lease) => Effect.tap(store.confirm(id, txHash, blockNumber, blockHash, lease), () => chainMoved(id))
  }
}
