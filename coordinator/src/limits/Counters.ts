/**
 * How often each abuse limit tripped since the coordinator started, by name (e.g. `socket.event.rateLimited`):
 * what the dashboard shows an operator beside the HTTP limits' counts. One instance per coordinator, shared by
 * every limit (socket hub and HTTP API alike); names are dotted, the transport first.
 */
export interface Counters {
  readonly increment: (name: string, by?: number) => void
  readonly get: (name: string) => number
  /** Every counter that tripped at least once, sorted by name. */
  readonly snapshot: () => Readonly<Record<string, number>>
}

export const make = (): Counters => {
  const counts = new Map<string, number>()
  return {
    increment: (name, by = 1) => void counts.set(name, (counts.get(name) ?? 0) + by),
    get: (name) => counts.get(name) ?? 0,
    snapshot: () => Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b)))
  }
}
