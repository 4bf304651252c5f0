/**
 * Live updates for the dashboard: a minimal in-process pub/sub fed by the scheduler's status changes and the
 * store's writes (consents, progress, phase commitments, chain confirmations), streamed to browsers as
 * Server-Sent Events on `GET /api/events`. Messages only say *what* changed; the dashboard fetches the details
 * through the ordinary API, so a missed message costs a refresh, never a wrong view.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { TaskStore } from "../store/TaskStore.ts"

export type LiveEvent =
  | { readonly type: "status"; readonly taskId: string; readonly status: string }
  | { readonly type: "event"; readonly taskId: string; readonly event: string }
  | { readonly type: "chain"; readonly taskId: string | null; readonly op: string }
  | { readonly type: "human"; readonly taskId: string; readonly participant: string; readonly pending: boolean }

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
  recordConsent: async (id, consent, reasonHash) => {
    const fresh = await store.recordConsent(id, consent, reasonHash)
    if (fresh) bus.publish({ type: "event", taskId: id, event: consent.approve ? "ConsentApproved" : "ConsentRejected" })
    return fresh
  },
  commitPhase: async (id, phase, root) => {
    await store.commitPhase(id, phase, root)
    bus.publish({ type: "event", taskId: id, event: "PhaseCommitted" })
  },
  event: async (id, type, data) => {
    const rows = await store.event(id, type, data)
    bus.publish({ type: "event", taskId: id, event: type })
    return rows
  },
  markSent: async (id, txHash, blockNumber) => {
    const rows = await store.markSent(id, txHash, blockNumber)
    await publishChain(store, bus, id)
    return rows
  },
  confirm: async (id, txHash, blockNumber, blockHash) => {
    const rows = await store.confirm(id, txHash, blockNumber, blockHash)
    await publishChain(store, bus, id)
    return rows
  }
})

/** An outbox entry moved (mined, or final): the dashboard refreshes the task's chain trail. */
const publishChain = async (store: TaskStore, bus: Bus, id: number) => {
  const [row] = await store.sql.query<{ task_id: string | null; op: string }>(`select task_id, op from outbox where id = $1`, [id])
  bus.publish({ type: "chain", taskId: row?.task_id ?? null, op: row?.op ?? "" })
}

/** `GET /api/events`: one SSE stream per browser; `close` ends them all so the HTTP server can stop. */
export const sse = (bus: Bus) => {
  const open = new Set<ServerResponse>()
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no"
    })
    res.write("retry: 1000\n\n")
    open.add(res)
    const unsubscribe = bus.subscribe((event) => res.write(`data: ${JSON.stringify(event)}\n\n`))
    // A comment line now and then keeps proxies from closing an idle stream.
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000)
    const done = () => {
      clearInterval(heartbeat)
      unsubscribe()
      open.delete(res)
    }
    req.on("close", done)
    res.on("close", done)
  }
  return {
    handle,
    close: () => {
      for (const res of open) res.end()
      open.clear()
    }
  }
}
