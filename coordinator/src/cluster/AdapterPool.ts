/**
 * The socket.io Postgres adapter, built over a pool watched for the moment its LISTEN client listens (again): the
 * one module that knows the adapter's insides, checked against the installed release before it is used.
 *
 * The adapter hears the other instances over one client it checks out of the pool and LISTENs on; when that
 * connection ends (the database restarted, the backend was terminated) it takes a new one 1–3 s later and LISTENs
 * again. Whatever was NOTIFYed meanwhile is gone, and the adapter says nothing of it: its public API (createAdapter
 * and its options, socket.io's adapter) has no event for it and no recovery ("connection state recovery is not
 * supported"). So this module gives it the `onlisten` it lacks: the coordinator learns that its listener is back
 * and has what it may have missed looked at once (Coordinator.ts). It is the prompt path, not the only one: a
 * round's request without an acknowledgement is sent again on the round engine's schedule and an acknowledged one
 * is reminded of (RoundEngine.ts), so a lost NOTIFY costs seconds without this signal too.
 *
 * What it relies on, true of the 0.5 releases (read in their source) and of no public contract: the adapter checks
 * its LISTEN client out with the promise form of `pool.connect()` (publishing goes through `pool.query`), LISTENs
 * with the statement `LISTEN "<channelPrefix>#<namespace>"` through that client's `query`, and takes a new client
 * when its connection ends. A release that may change this (semver: any 0.x minor) is refused at start, naming
 * the release, rather than losing the signal silently; AdapterPool.test.ts holds the 0.5 behaviour against a real
 * PostgreSQL. (The dead client it never gives back is taken back by EndedClients.ts, through pg's public events.)
 */
import { createRequire } from "node:module"
import { Schema } from "effect"
import type { Pool, PoolClient } from "pg"
import type * as PostgresAdapter from "@socket.io/postgres-adapter"

/** The adapter's releases this module was written against: 0.5.x. */
export const supported = { major: 0, minor: 5 } as const
const supportedRange = `${supported.major}.${supported.minor}.x`

export class UnsupportedAdapterVersion extends Schema.TaggedError<UnsupportedAdapterVersion>()("UnsupportedAdapterVersion", {
  installed: Schema.String
}) {
  override get message() {
    return `@socket.io/postgres-adapter ${this.installed} is installed, but the coordinator's watch of its LISTEN connection (coordinator/src/cluster/AdapterPool.ts) relies on the insides of ${supportedRange}: install ${supportedRange}, or check that module against ${this.installed} and widen its range`
  }
}

const PackageJson = Schema.Struct({ version: Schema.String })

/** The version of the adapter this process loads (its package.json, found as Node resolves the package). */
export const installedVersion = (): string =>
  Schema.decodeUnknownSync(PackageJson)(createRequire(import.meta.url)("@socket.io/postgres-adapter/package.json")).version

/** Refuses any release but 0.5.x (pre-releases of it included) with UnsupportedAdapterVersion. */
export const check = (version: string): void => {
  const parsed = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version)
  if (parsed === null || Number(parsed[1]) !== supported.major || Number(parsed[2]) !== supported.minor) throw new UnsupportedAdapterVersion({ installed: version })
}

/** The channel the adapter LISTENs on for `namespace` (its `channelPrefix`, then `#` and the namespace). */
export const channelOf = (prefix: string, namespace: string) => `${prefix}#${namespace}`

const bound = (target: object, prop: string | symbol) => {
  const value: unknown = Reflect.get(target, prop, target)
  return typeof value === "function" ? value.bind(target) : value
}

/**
 * `pool` as the adapter should see it: `listening` is called each time a client it checked out has completed its
 * `LISTEN "<channel>"` — once at start, then once after every reconnection. Only the adapter's own view is
 * wrapped: `query` (how it publishes) and every other member are the pool's, and a client it checks out is the
 * pool's client with only its `query` watched.
 */
const watched = (pool: Pool, channel: string, listening: () => void): Pool => {
  const statement = `LISTEN "${channel}"`
  const watch = (client: PoolClient): PoolClient =>
    new Proxy(client, {
      get: (target, prop) => {
        if (prop !== "query") return bound(target, prop)
        return (...args: Array<unknown>) => {
          const result: unknown = (target.query as (...a: Array<unknown>) => unknown)(...args)
          if (args[0] === statement && result instanceof Promise) result.then(listening, () => {})
          return result
        }
      }
    })
  return new Proxy(pool, {
    get: (target, prop) => {
      // The callback form is the pool's own (its `query` checks clients out that way): only the adapter's promise
      // form hands out the LISTEN client.
      if (prop === "connect") return (...args: Array<unknown>) => (args.length === 0 ? target.connect().then(watch) : (target.connect as (...a: Array<unknown>) => unknown)(...args))
      return bound(target, prop)
    }
  })
}

export interface Options {
  readonly channelPrefix: string
  /** The socket.io namespace whose channel's LISTEN is watched. */
  readonly namespace: string
  readonly errorHandler: (error: Error) => void
  /** Called each time the adapter's LISTEN on the namespace's channel completed: at start, then after each reconnection. */
  readonly listening: () => void
}

/**
 * The adapter over `pool`, its listener watched; refused with UnsupportedAdapterVersion, before the pool is touched,
 * when `installed` (default: the release this process loads) is not one this module knows.
 */
export const make = async (pool: Pool, options: Options, installed: string = installedVersion()): Promise<ReturnType<typeof PostgresAdapter.createAdapter>> => {
  check(installed)
  const { createAdapter } = await import("@socket.io/postgres-adapter")
  return createAdapter(watched(pool, channelOf(options.channelPrefix, options.namespace), options.listening), {
    channelPrefix: options.channelPrefix,
    errorHandler: options.errorHandler
  })
}
