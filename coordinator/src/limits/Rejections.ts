/**
 * Requests and connections the coordinator refused to protect itself (rate limits, oversized bodies, slow
 * clients, task caps, quotas), counted by kind since start. The HTTP server and the socket hub feed it; the
 * dashboard and the supervisor's view show it; `onChange` lets the live feed announce a new refusal.
 */
export type Kind =
  | "http.rate.ip"
  | "http.rate.account"
  | "http.body"
  | "http.timeout"
  | "http.tasks"
  | "http.quota"
  | "http.token"
  | "socket.rate.connections"
  | "socket.rate.account"
  | "socket.rate.ip"
  | "socket.namespace"
  | "socket.timeout"
  | "socket.frame"
  | "socket.malformed"
  | "socket.dropped"
  | (string & {})

export const make = () => {
  const since = new Date().toISOString()
  const counts = new Map<string, number>()
  const listeners = new Set<(kind: string, total: number) => void>()
  let total = 0
  return {
    count: (kind: Kind) => {
      counts.set(kind, (counts.get(kind) ?? 0) + 1)
      total++
      for (const listener of listeners) listener(kind, total)
    },
    get: (kind: Kind): number => counts.get(kind) ?? 0,
    snapshot: () => ({ since, counts: Object.fromEntries(counts) as Record<string, number> }),
    total: () => total,
    onChange: (listener: (kind: string, total: number) => void) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    }
  }
}

export type Rejections = ReturnType<typeof make>
