/**
 * The abuse limits of the participants' socket (issue 12 item 3): how long a connection may stay
 * unauthenticated, how many connections an address may open, and how many events an account and an address
 * may send. Rates are token buckets (Effect's `RateLimiter` over its in-memory store): `limit` events at once,
 * refilled evenly over `windowMs`. Every refusal is counted under a `socket.*` name in the coordinator's Rejections.
 */
import { Duration, Effect } from "effect"
import { RateLimiter } from "effect/persistence"
import type { Kind, Rejections } from "../limits/Rejections.ts"

export interface Rate {
  /** Bucket size: events accepted at once. */
  readonly limit: number
  /** Time over which a full bucket refills. */
  readonly windowMs: number
}

export interface SocketLimits {
  /** An engine connection not admitted to an authenticated namespace within this time is closed. */
  readonly handshakeTimeoutMs: number
  /** New connections per client address. */
  readonly connectionsPerAddress: Rate
  readonly eventsPerAccount: Rate
  /** Per client address, across every account behind it (a NAT, a proxy's client). */
  readonly eventsPerAddress: Rate
  /** Refused events in a row after which the socket is dropped. */
  readonly disconnectAfter: number
}

/**
 * Generous for honest participants — a stage reply answers a coordinator request, so an honest account sends
 * at most as many events as it was asked for, a few hundred per task stage at the most (PSI chunks) — and far
 * below what a flood needs.
 */
export const defaults: SocketLimits = {
  handshakeTimeoutMs: 10_000,
  connectionsPerAddress: { limit: 30, windowMs: 60_000 },
  eventsPerAccount: { limit: 1_000, windowMs: 10_000 },
  eventsPerAddress: { limit: 2_000, windowMs: 10_000 },
  disconnectAfter: 200
}

export const counterNames = {
  connectionRefused: "socket.rate.connections",
  namespaceRefused: "socket.namespace",
  handshakeTimeout: "socket.timeout",
  eventAccount: "socket.rate.account",
  eventAddress: "socket.rate.ip",
  dropped: "socket.dropped",
  tooLarge: "socket.frame",
  malformedFrame: "socket.malformed"
} as const satisfies Record<string, Kind>

export type EventVerdict = "ok" | "account" | "address"

export const make = (limits: SocketLimits, rejections: Rejections) => {
  const limiter = Effect.runSync(RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory)))
  // The memory store answers synchronously, so a check never reorders the events it lets through.
  const take = (key: string, rate: Rate): boolean =>
    Effect.runSync(Effect.match(
      limiter.consume({ algorithm: "token-bucket", onExceeded: "fail", window: Duration.millis(rate.windowMs), limit: rate.limit, key }),
      { onFailure: () => false, onSuccess: () => true }
    ))
  return {
    limits,
    /** A new connection from `address`: false (and counted) when the address is over its rate. */
    connection: (address: string): boolean => {
      const ok = take(`connect|${address}`, limits.connectionsPerAddress)
      if (!ok) rejections.count(counterNames.connectionRefused)
      return ok
    },
    /** One event from `account` at `address`. */
    event: (account: string, address: string): EventVerdict => {
      if (!take(`account|${account}`, limits.eventsPerAccount)) {
        rejections.count(counterNames.eventAccount)
        return "account"
      }
      if (!take(`address|${address}`, limits.eventsPerAddress)) {
        rejections.count(counterNames.eventAddress)
        return "address"
      }
      return "ok"
    }
  }
}

export type Limiter = ReturnType<typeof make>
