/**
 * What an account is, read from the chain: an audited member (its org's state in the consortium registry), the
 * supervisor (the registry's `supervisor`) or an operator (an account the task ledger accepts as coordinator).
 * Answers are cached briefly per account — a burst of requests costs one chain read — and dropped at once when the
 * chain index sees the account's org change state (Coordinator.ts), so a suspension takes effect on the next request.
 */
import { getAddress } from "ethers"
import type { Roles } from "@jointly/core/api/Schemas.ts"

export type AccountRoles = typeof Roles.Type

export interface Chain {
  /** The org the account is bound to and its state (`None` when unbound). */
  readonly orgOf: (address: string) => Promise<{ readonly state: string; readonly name: string }>
  readonly supervisor: () => Promise<string | undefined>
  readonly isOperator: (address: string) => Promise<boolean>
}

export const make = (chain: Chain, options: { readonly ttlMs?: number; readonly now?: () => number } = {}) => {
  const ttlMs = options.ttlMs ?? 2_000
  const now = options.now ?? Date.now
  const cache = new Map<string, { readonly at: number; readonly roles: Promise<AccountRoles> }>()
  let supervisor: Promise<string | undefined> | undefined

  const read = async (address: string): Promise<AccountRoles> => {
    supervisor ??= chain.supervisor().then((s) => (s === undefined ? undefined : getAddress(s)), (error) => {
      supervisor = undefined
      throw error
    })
    const [org, sup, operator] = await Promise.all([chain.orgOf(address), supervisor, chain.isOperator(address)])
    return {
      member: org.state === "Audited",
      supervisor: sup === address,
      operator,
      orgState: org.state,
      org: org.state === "None" ? null : org.name
    }
  }

  return {
    of: (address: string): Promise<AccountRoles> => {
      const key = getAddress(address)
      const hit = cache.get(key)
      if (hit !== undefined && now() - hit.at < ttlMs) return hit.roles
      const roles = read(key)
      cache.set(key, { at: now(), roles })
      // A failed read is not cached: the next request asks the chain again.
      roles.catch(() => cache.delete(key))
      if (cache.size > 10_000) for (const [k, v] of cache) if (now() - v.at >= ttlMs) cache.delete(k)
      return roles
    },
    /** Forget what is known of these accounts (their org changed state on chain). */
    invalidate: (addresses: ReadonlyArray<string>) => {
      for (const a of addresses) cache.delete(getAddress(a))
    }
  }
}

export type RoleReader = ReturnType<typeof make>
