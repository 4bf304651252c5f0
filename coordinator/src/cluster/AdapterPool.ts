/**
 * The pool the socket.io Postgres adapter is given, watched for the moment its LISTEN client listens (again).
 *
 * The adapter (0.5) hears the other instances over one client it checks out of this pool with `connect()` and
 * LISTENs on; when that connection ends (the database restarted, the backend was terminated) it takes a new one
 * 1–3 s later and LISTENs again. Whatever was NOTIFYed meanwhile is gone, and the adapter says nothing of it: no
 * event, no recovery ("connection state recovery is not currently supported"). This is its `onlisten`: the
 * coordinator learns that its listener is back, so it can have what it may have missed sent again at once
 * (Coordinator.ts). It is no longer the only way back: a round's request without an acknowledgement is sent again
 * on the round engine's schedule and an acknowledged one is reminded of (RoundEngine.ts), so a lost NOTIFY costs
 * seconds without this signal too; with it, the look comes as soon as the listener is back.
 *
 * Only the adapter's own view is wrapped: the pool's `query` (how the adapter publishes) and every other member are
 * the pool's, and a client the adapter checks out is the pool's client, with only its `query` watched for the
 * LISTEN on `channel` to complete — and given back to the pool, as broken, once its connection has ended.
 */
import type { Pool, PoolClient } from "pg"

/** The channel the adapter LISTENs on for `namespace` (its `channelPrefix`, then `#` and the namespace). */
export const channelOf = (prefix: string, namespace: string) => `${prefix}#${namespace}`

const bound = (target: object, prop: string | symbol) => {
  const value: unknown = Reflect.get(target, prop, target)
  return typeof value === "function" ? value.bind(target) : value
}

/**
 * `pool` as the adapter should see it: `listening` is called each time a client it checked out has completed its
 * `LISTEN "<channel>"` — once at start, then once after every reconnection.
 */
export const watched = (pool: Pool, channel: string, listening: () => void): Pool => {
  const statement = `LISTEN "${channel}"`
  const watch = (client: PoolClient): PoolClient => {
    // The adapter takes a new client when this one's connection ends, but never gives the dead one back: the pool
    // counted it checked out for good, and after a few reconnections (a database restart each, or a terminated
    // backend) it had no connection left to publish with — every message between the instances waited forever.
    client.once("end", () => {
      try {
        client.release(new Error("the adapter's LISTEN connection ended"))
      } catch {
        // Released already (the adapter closing).
      }
    })
    return new Proxy(client, {
      get: (target, prop) => {
        if (prop !== "query") return bound(target, prop)
        return (...args: Array<unknown>) => {
          const result: unknown = (target.query as (...a: Array<unknown>) => unknown)(...args)
          if (args[0] === statement && result instanceof Promise) result.then(listening, () => {})
          return result
        }
      }
    })
  }
  return new Proxy(pool, {
    get: (target, prop) => {
      // The callback form is the pool's own (its `query` checks clients out that way): only the adapter's promise
      // form hands out the LISTEN client.
      if (prop === "connect") return (...args: Array<unknown>) => (args.length === 0 ? target.connect().then(watch) : (target.connect as (...a: Array<unknown>) => unknown)(...args))
      return bound(target, prop)
    }
  })
}
