/**
 * Leases in the store, timed by the database's clock (never an instance's own, so clock skew between machines
 * cannot make two instances both believe they hold something):
 *
 *   - an **instance lease** per running coordinator (`coordinator_instances`): renewed every third of the lease
 *     period; an instance that misses its renewal by a whole period is dead to the others, which claim its tasks
 *     (each claim bumps the task's fencing token, TaskStore.claim);
 *   - **named leases** (`leases`) for work exactly one instance may do at a time — draining the chain outbox,
 *     following the chain index. Taking an expired lease bumps its fencing token; the holder's writes carry the
 *     token, and a write under an old token changes nothing (TaskStore.LeaseLost).
 */
import type { LeaseToken } from "../store/TaskStore.ts"
import type { Sql } from "../store/Sql.ts"

const ms = (n: number) => `${Math.max(1, Math.round(n))} milliseconds`

export const make = (sql: Sql) => ({
  /** Starts an instance's lease. */
  register: (id: string, url: string | null, leaseMs: number) =>
    sql.query(`insert into coordinator_instances(id, url, expires_at) values ($1, $2, now() + $3::interval)`, [id, url, ms(leaseMs)]).then(() => undefined),

  /** Extends the lease; false when it had already expired (the instance is dead to the others and must stop). */
  renew: async (id: string, leaseMs: number): Promise<boolean> =>
    (await sql.query(`update coordinator_instances set expires_at = now() + $2::interval where id = $1 and expires_at > now() returning id`, [id, ms(leaseMs)])).length > 0,

  /** A graceful exit: the lease ends now, so the others need not wait for it to expire. */
  leave: (id: string) => sql.query(`update coordinator_instances set expires_at = now() where id = $1`, [id]).then(() => undefined),

  /** Instances whose lease has expired. */
  dead: async (): Promise<Array<string>> =>
    (await sql.query<{ id: string }>(`select id from coordinator_instances where expires_at <= now()`)).map((r) => r.id),

  /** Live instances (id and URL). */
  live: async (): Promise<Array<{ readonly id: string; readonly url: string | null }>> =>
    sql.query<{ id: string; url: string | null }>(`select id, url from coordinator_instances where expires_at > now() order by started_at`),

  /** Forgets instances dead for long: nothing refers to them any more once their tasks were claimed. */
  prune: (olderThanMs: number) =>
    sql.query(
      `delete from coordinator_instances i where expires_at < now() - $1::interval
         and not exists (select 1 from tasks t where t.owner = i.id and t.status in ('Submitted', 'AwaitingConsent', 'Scheduled', 'Running'))`,
      [ms(olderThanMs)]
    ).then(() => undefined),

  /** Takes the named lease when nobody holds it or its holder's time ran out; undefined when someone holds it. */
  acquire: async (name: string, holder: string, leaseMs: number): Promise<LeaseToken | undefined> => {
    const [row] = await sql.query<{ fence: string | number }>(
      `insert into leases(name, holder, fence, expires_at) values ($1, $2, 1, now() + $3::interval)
         on conflict (name) do update set holder = excluded.holder, fence = leases.fence + 1, expires_at = excluded.expires_at
           where leases.expires_at <= now()
         returning fence`,
      [name, holder, ms(leaseMs)]
    )
    return row === undefined ? undefined : { name, holder, fence: Number(row.fence) }
  },

  /** Extends a held lease; false when another instance took it meanwhile (or it expired and was taken). */
  extend: async (token: LeaseToken, leaseMs: number): Promise<boolean> =>
    (await sql.query(`update leases set expires_at = now() + $4::interval where name = $1 and holder = $2 and fence = $3 returning name`, [token.name, token.holder, token.fence, ms(leaseMs)]))
      .length > 0,

  /** Gives a lease up at once (a graceful exit). */
  release: (token: LeaseToken) =>
    sql.query(`update leases set expires_at = now() where name = $1 and holder = $2 and fence = $3`, [token.name, token.holder, token.fence]).then(() => undefined),

  /** Whether `token` is still the lease's current token (its holder may go on writing under it). */
  holds: async (token: LeaseToken): Promise<boolean> =>
    (await sql.query(`select 1 from leases where name = $1 and holder = $2 and fence = $3`, [token.name, token.holder, token.fence])).length > 0
})

export type Leases = ReturnType<typeof make>
