/**
 * What an account is, read from the chain: an audited member (its org's state in the consortium registry), the
 * supervisor (an account holding the registry's SUPERVISOR_ROLE) or an operator (an account the task ledger accepts as coordinator).
 * Answers are cached per account and re-read in the background once `ttlMs` old — requests never wait on the
 * chain for an account they have seen within `maxStaleMs` — and dropped at once when the chain index sees the
 * account's org change state (Coordinator.ts), so a suspension takes effect on the next request.
 */
import { Effect, type Exit, Schema } from "effect"
import { getAddress } from "ethers"
import type { Roles } from "@jointly/core/internal/api/Schemas"

export type AccountRoles = typeof Roles.Type

/** The chain did not answer one of the role reads for `address` (nothing is cached for it; the next call reads again). */
export class RolesUnreadable extends Schema.TaggedError<RolesUnreadable>()("RolesUnreadable", {
  address: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the roles of ${this.address} could not be read from the chain: ${this.detail}`
  }
}

/** The chain's role reads; one the chain does not answer fails as RolesUnreadable naming the account. */
export interface Chain {
  /** The org the account is bound to and its state (`None` when unbound). */
  readonly orgOf: (address: string) => Effect.Effect<{ readonly state: string; readonly name: string }, RolesUnreadable>
  readonly isSupervisor: (address: string) => Effect.Effect<boolean, RolesUnreadable>
  readonly isOperator: (address: string) => Effect.Effect<boolean, RolesUnreadable>
}

/** One role read over a Promise (a contract call): its rejection is RolesUnreadable naming the account. */
export const chainRead = <A>(address: string, read: () => Promise<A>): Effect.Effect<A, RolesUnreadable> =>
  Effect.tryPromise({ try: read, catch: (cause) => new RolesUnreadable({ address, detail: cause instanceof Error ? cause.message : String(cause) }) })

export const make = (chain: Chain, options: { readonly ttlMs?: number; readonly maxStaleMs?: number; readonly now?: () => number } = {}) => {
  const ttlMs = options.ttlMs ?? 2_000
  const maxStaleMs = options.maxStaleMs ?? 10_000
  const now = options.now ?? Date.now
  /** The last answer per account and when it was read; a read in flight, if any (its outcome, never rejected). */
  const cache = new Map<string, { at: number; value?: AccountRoles; reading?: Promise<Exit.Exit<AccountRoles, RolesUnreadable>> }>()

  const read = (address: string): Effect.Effect<AccountRoles, RolesUnreadable> =>
    Effect.map(
      Effect.all([chain.orgOf(address), chain.isSupervisor(address), chain.isOperator(address)], { concurrency: "unbounded" }),
      ([org, supervisor, operator]) => ({
        member: org.state === "Audited",
        supervisor,
        operator,
        orgState: org.state,
        org: org.state === "None" ? null : org.name
      })
    )

  /** The read in flight for `key`, or a new one, shared by its callers (a Promise, so a background refresh outlives its caller). */
  const refresh = (key: string): Promise<Exit.Exit<AccountRoles, RolesUnreadable>> => {
    const entry = cache.get(key) ?? { at: 0 }
    if (entry.reading !== undefined) return entry.reading
    const reading = Effect.runPromiseExit(read(key)).then((exit) => {
      // Not if the entry was invalidated meanwhile: that read may predate the change.
      if (exit._tag === "Success" && cache.get(key) === entry) Object.assign(entry, { at: now(), value: exit.value, reading: undefined })
      if (exit._tag === "Failure") entry.reading = undefined
      return exit
    })
    entry.reading = reading
    cache.set(key, entry)
    if (cache.size > 10_000) for (const [k, v] of cache) if (now() - v.at >= maxStaleMs && v.reading === undefined) cache.delete(k)
    return reading
  }

  /** The cached roles when fresh enough to answer without waiting (a stale one is re-read meanwhile). */
  const cached = (address: string): AccountRoles | undefined => {
    // A token's address is already in checksum form: look it up as given before paying for a checksum (keccak in JS,
    // about 50 µs — the largest part of the guard's cost per request).
    const given = cache.get(address)
    const key = given === undefined ? getAddress(address) : address
    const entry = given ?? cache.get(key)
    if (entry?.value === undefined) return undefined
    const age = now() - entry.at
    if (age >= maxStaleMs) return undefined
    if (age >= ttlMs) void refresh(key)
    return entry.value
  }

  return {
    cached,
    /** The roles, cached or read now (one read in flight per account, shared by its callers). */
    of: (address: string): Effect.Effect<AccountRoles, RolesUnreadable> => {
      const hit = cached(address)
      if (hit !== undefined) return Effect.succeed(hit)
      const key = getAddress(address)
      // `refresh` never rejects: it resolves with the read's Exit, whose typed failure is answered here.
      return Effect.flatMap(Effect.promise(() => refresh(key)), (exit) => exit)
    },
    /** Forget what is known of these accounts (their org changed state on chain). */
    invalidate: (addresses: ReadonlyArray<string>) => {
      for (const a of addresses) cache.delete(getAddress(a))
    }
  }
}

export type RoleReader = ReturnType<typeof make>
