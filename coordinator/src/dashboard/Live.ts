/**
 * Live updates for the dashboard: a minimal in-process pub/sub fed by the scheduler's status changes and the
 * store's writes (consents, progress, phase commitments, chain confirmations) and the abuse limits' refusals,
 * streamed to browsers as Server-Sent Events on `GET /api/events` (http/handlers/Tasks.ts, filtered per viewer).
 * Messages only say *what* changed; the dashboard fetches the details through the ordinary API, so a missed
 * message costs a refresh, never a wrong view.
 */
import type { LiveEvent } from "@jointly/core/internal/api/Schemas"
import type { TaskStore } from "../store/TaskStore.ts"

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
export const observe = (store: TaskStore, bus: Bus): TaskStore => ({
  ...store,
  recordConsent: async (claim, consent, reasonHash) => {
    const fresh = await store.recordConsent(claim, consent, reasonHash)
    if (fresh) bus.publish({ type: "event", taskId: claim.taskId, event: consent.approve ? "ConsentApproved" : "ConsentRejected" })
    return fresh
  },
  commitPhase: async (claim, phase, root) => {
    await store.commitPhase(claim, phase, root)
    bus.publish({ type: "event", taskId: claim.taskId, event: "PhaseCommitted" })
  },
  event: async (claim, type, data) => {
    await store.event(claim, type, data)
    bus.publish({ type: "event", taskId: claim.taskId, event: type })
  },
  markSent: async (id, txHash, blockNumber, lease) => {
    const rows = await store.markSent(id, txHash, blockNumber, lease)
    await publishChain(store, bus, id)
    return rows
  },
  confirm: async (id, txHash, blockNumber, blockHash, lease) => {
    const rows = await store.confirm(id, txHash, blockNumber, blockHash, lease)
    await publishChain(store, bus, id)
    return rows
  }
})

/** An outbox entry moved (mined, or final): the dashboard refreshes the task's chain trail. */
const publishChain = async (store: TaskStore, bus: Bus, id: number) => {
  const [row] = await store.sql.query<{ task_id: string | null; op: string }>(`select task_id, op from outbox where id = $1`, [id])
  bus.publish({ type: "chain", taskId: row?.task_id ?? null, op: row?.op ?? "" })
}
