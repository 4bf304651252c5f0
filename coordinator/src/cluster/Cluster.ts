/**
 * One coordinator instance's membership of its cluster: several instances over one PostgreSQL, or one alone over
 * an embedded PGlite store (the default, where the same rules simply always find it the owner).
 *
 * Every third of a lease period the instance, in two loops of their own:
 *   1. (lease keeping, on the lease connection only) renews its own lease — if it had expired (a long pause, the
 *      database away), the others may have claimed its tasks already: it stops every task it ran (`lost`), joins
 *      again, and has the other loop claim back whatever is still orphaned — and holds or tries to take each named
 *      lease it has a role for (the outbox drainer, the chain index), starting the role when it takes the lease and
 *      stopping it when the lease is lost;
 *   2. (housekeeping, on the store's pool) claims the orphans — unfinished tasks whose owner's lease expired — and
 *      hands each to `adopt`, which resumes it. An owner that died is therefore replaced within two lease periods:
 *      its lease runs out at most one period after its last renewal, and a survivor looks within a third of a
 *      period after that.
 * The loops are apart so that nothing the store's pool waits for — a hundred tasks' queries ahead in its queue, a
 * lock held on the tasks table — can hold up a renewal: one loop did both, and a claim waiting in the pool kept the
 * next renewal from running at all, whatever connection it had.
 *
 * It also keeps presence: which instance holds which participant's socket (Bridge.ts), so the hub can reach a
 * participant connected elsewhere and the scheduler knows who is online in the whole cluster.
 */
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { Cause, Effect, Fiber, Schedule } from "effect"
import type { Log } from "../Log.ts"
import type { Sql } from "../store/Sql.ts"
import type { Claim, LeaseToken, TaskRow, TaskStoreShape } from "../store/TaskStore.ts"
import type { Bridge } from "./Bridge.ts"
import * as Leases from "./Leases.ts"

export const defaultLeaseMs = 10_000

export interface Role {
  /**
   * This instance took the lease: begin the work (writes carry `token`). A start that fails (its own tagged error,
   * e.g. ChainIndexFailed: the chain not answering its first pass) is logged and the lease given up, so that this
   * instance or another takes it again — and starts the role again — a third of a lease period later.
   */
  readonly start: (token: LeaseToken) => Effect.Effect<void, RoleFailure>
  /** The lease was lost or given up: stop at once. */
  readonly stop: Effect.Effect<void>
}

/** How a role's start fails: its own tagged error, logged by name. */
export interface RoleFailure {
  readonly _tag: string
  readonly message: string
}

export type Adoption = "restarted" | "takeover" | "rejoined"

export interface Hooks {
  /**
   * A task this instance just claimed: resume it. `why` says whose work it continues — this process's predecessor
   * over an exclusive store (`restarted`), a dead instance's (`takeover`), or its own after its lease had expired
   * (`rejoined`).
   */
  readonly adopt: (task: TaskRow, claim: Claim, why: Adoption) => Effect.Effect<void, unknown>
  /** This instance's lease had expired: every task it ran may be someone else's now. Stop them all. */
  readonly lost: Effect.Effect<void>
  /** A participant connected to some instance of the cluster. */
  readonly online: (account: string) => void
  /** A participant's socket closed on some instance (or that instance died). */
  readonly offline: (account: string) => void
}

export interface Options {
  /** The connection the leases are kept over (the coordinator gives it one of its own). */
  readonly sql: Sql
  /** The store's pool, for the housekeeping that reads the tasks (default `sql`). */
  readonly storeSql?: Sql
  readonly store: TaskStoreShape
  readonly bridge: Bridge
  readonly log: Log
  /** The instance id (default: host, pid and random bytes). */
  readonly instance: string
  /** Lease period (default 10 s). */
  readonly leaseMs?: number
  /**
   * The store can be opened by this process only (an embedded PGlite directory): whoever owned a task before is
   * gone, so every unfinished task is claimed at start instead of after its owner's lease.
   */
  readonly exclusive: boolean
  /** This instance's URL, recorded for operators. */
  readonly url?: string
  /** Participants connected to this instance now. */
  readonly local: () => ReadonlyArray<string>
}

export const newInstanceId = () => `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`

export const make = (options: Options) => {
  const { sql, store, bridge, log, instance } = options
  const leaseMs = options.leaseMs ?? defaultLeaseMs
  const leases = Leases.make(sql)
  // Pruning reads the tasks table: on the lease connection, a lock or a long query there would hold up renewals.
  const housekeeping = Leases.make(options.storeSql ?? sql)
  /** account → the instance holding its socket (other instances only; local sockets are the hub's). */
  const presence = new Map<string, string>()
  const dead = new Set<string>()
  const roles = new Map<string, { readonly role: Role; token: LeaseToken | undefined }>()
  let hooks: Hooks | undefined
  let fibers: Array<Fiber.Fiber<unknown, unknown>> = []
  let ticks = 0
  /** The instance lease had expired and was taken again: the tasks still naming this instance are to be claimed back. */
  let reclaim = false
  const key = (account: string) => account.toLowerCase()

  const setRemote = (account: string, at: string | undefined) => {
    const before = presence.get(key(account))
    if (at === undefined) presence.delete(key(account))
    else presence.set(key(account), at)
    return before
  }

  bridge.on("presence", (m) => {
    if (m.instance === instance) return
    dead.delete(m.instance)
    if (m.online) {
      setRemote(m.account, m.instance)
      hooks?.online(m.account)
    } else {
      if (presence.get(key(m.account)) === m.instance) setRemote(m.account, undefined)
      hooks?.offline(m.account)
    }
  })
  bridge.on("snapshot", (m) => {
    if (m.instance === instance) return
    dead.delete(m.instance)
    const now = new Set(m.accounts.map(key))
    for (const [account, at] of [...presence]) {
      if (at === m.instance && !now.has(account)) {
        presence.delete(account)
        hooks?.offline(account)
      }
    }
    for (const account of m.accounts) {
      if (setRemote(account, m.instance) !== m.instance) hooks?.online(account)
    }
  })
  // A new instance asks for everyone's presence.
  bridge.on("hello", (m) => {
    if (m.instance !== instance) bridge.broadcast({ type: "snapshot", instance, accounts: [...options.local()] })
  })

  const announce = () => {
    bridge.broadcast({ type: "hello", instance })
    bridge.broadcast({ type: "snapshot", instance, accounts: [...options.local()] })
  }

  /** The other instances that hold `account`'s socket are gone: it is offline until it reconnects. */
  const forgetInstance = (gone: string) => {
    if (dead.has(gone)) return
    dead.add(gone)
    for (const [account, at] of [...presence]) {
      if (at !== gone) continue
      presence.delete(account)
      hooks?.offline(account)
    }
  }

  /** A step that failed is logged and left to the next tick. */
  const logged = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
    Effect.tapError(effect, (error) => Effect.sync(() => log.warn(`cluster: ${what} failed`, { error: String(error) })))
  const db = <A>(what: string, f: () => Promise<A>) => logged(what, Effect.tryPromise({ try: f, catch: (error) => error }))

  /** A claimed task resumed by the scheduler; whatever went wrong (a defect too) is logged and left to the next tick. */
  const resume = (task: TaskRow, claim: Claim, why: Adoption) =>
    logged("resuming a task", Effect.catchCause(hooks!.adopt(task, claim, why), (cause) => Effect.fail(Cause.squash(cause))))

  const claimOrphans = Effect.gen(function*() {
    const orphans = yield* logged("looking for orphaned tasks", store.orphans())
    for (const task of orphans) {
      const claim = yield* logged("claiming a task", store.claim(task.id, instance))
      if (claim === undefined) continue // another instance was faster
      log.info("claimed task", { taskId: task.id, previousOwner: task.owner, fence: claim.fence })
      yield* resume(task, claim, "takeover")
    }
  })

  /** `settle`: wait for a role's start (at join); in the loop it runs on its own. */
  const holdRoles = (settle: boolean) => Effect.gen(function*() {
    for (const [name, entry] of roles) {
      if (entry.token !== undefined) {
        const kept = yield* db(`extending the ${name} lease`, () => leases.extend(entry.token!, leaseMs)).pipe(Effect.orElseSucceed(() => true))
        if (kept) continue
        log.warn("lease lost", { lease: name, fence: entry.token.fence })
        entry.token = undefined
        yield* entry.role.stop
      }
      const token = yield* db(`taking the ${name} lease`, () => leases.acquire(name, instance, leaseMs)).pipe(Effect.orElseSucceed(() => undefined))
      if (token === undefined) continue
      log.info("lease taken", { lease: name, fence: token.fence })
      entry.token = token
      const started = Effect.catchCause(entry.role.start(token), (cause) => giveUp(name, entry, token, cause))
      // In the loop not waited for: a role's start may catch up on work in the store (the chain index's first
      // pass), and the lease-keeping loop must be back in time for the next renewal.
      if (settle) yield* started
      else yield* Effect.forkDetach(started)
    }
  })

  /**
   * A role that did not start gives its lease up (still the one it started under: not one lost or taken again
   * meanwhile), so the lease loop takes it again and starts the role again: holding it without the work running
   * would leave the role undone until this instance died.
   */
  const giveUp = (name: string, entry: { readonly role: Role; token: LeaseToken | undefined }, token: LeaseToken, cause: Cause.Cause<RoleFailure>) =>
    Effect.gen(function*() {
      const error = Cause.squash(cause)
      log.warn(`cluster: starting the ${name} role failed; its lease is given up and taken again`, {
        error: error instanceof Error ? `${(error as Partial<RoleFailure>)._tag ?? error.name}: ${error.message}` : String(error)
      })
      if (entry.token !== token) return
      entry.token = undefined
      yield* entry.role.stop
      yield* Effect.ignore(db(`giving up the ${name} lease`, () => leases.release(token)))
    })

  /** The lease-keeping loop's step: touches the lease connection only (`sql`), never the store's pool. */
  const keep = Effect.gen(function*() {
    const alive = yield* db("renewing the instance lease", () => leases.renew(instance, leaseMs)).pipe(Effect.orElseSucceed(() => true))
    if (!alive) {
      log.warn("instance lease had expired: stopping every task and joining again", { instance })
      for (const entry of roles.values()) {
        if (entry.token === undefined) continue
        entry.token = undefined
        yield* entry.role.stop
      }
      yield* hooks!.lost
      yield* db("joining again", () => sql.query(`update coordinator_instances set expires_at = now() + $2::interval where id = $1`, [instance, `${leaseMs} milliseconds`]))
      reclaim = true
    }
    yield* Effect.ignore(holdRoles(false))
  })

  /** What still names this instance after its lease lapsed and nobody claimed meanwhile: taken back under new tokens. */
  const claimBack = Effect.gen(function*() {
    reclaim = false
    // Only while it still names this instance: a task another instance claimed since the listing is that
    // instance's now — forced back here, it would go on believing it holds the task (it learns of the loss only at
    // its next write) and swallow the task's consents and replies.
    for (const task of yield* Effect.orElseSucceed(logged("listing own tasks", store.owned(instance)), () => [] as Array<TaskRow>)) {
      const claim = yield* Effect.orElseSucceed(logged("claiming back a task", store.claim(task.id, instance, { force: true, from: instance })), () => undefined)
      if (claim !== undefined) yield* Effect.ignore(resume(task, claim, "rejoined"))
    }
  })

  /** The housekeeping loop's step: the store's work, which may wait on the store's pool as long as it takes. */
  const tick = Effect.gen(function*() {
    ticks++
    if (reclaim) yield* claimBack
    const gone = yield* Effect.orElseSucceed(db("listing dead instances", () => leases.dead()), () => [] as Array<string>)
    for (const id of gone) if (id !== instance) forgetInstance(id)
    yield* Effect.ignore(claimOrphans)
    // Every lease period: the presence snapshot (heals a missed NOTIFY) and old instance rows pruned.
    if (ticks % 3 === 0) {
      bridge.broadcast({ type: "snapshot", instance, accounts: [...options.local()] })
      yield* Effect.ignore(db("pruning instances", () => housekeeping.prune(60 * leaseMs)))
    }
  })

  return {
    instance,
    leaseMs,
    /** Whether `account` is connected to another live instance. */
    remote: (account: string) => {
      const at = presence.get(key(account))
      return at !== undefined && at !== instance && !dead.has(at)
    },
    /** Accounts (lower case) connected to other live instances (to `at` only, when given). */
    remoteAccounts: (at?: string) => [...presence].filter(([, held]) => (at === undefined ? held !== instance : held === at) && !dead.has(held)).map(([account]) => account),
    /** Asks every other instance for its presence and tells it this one's (at start, and when the cluster's messages to it may have been lost). */
    announce: () => announce(),
    /** A participant connected to (or left) this instance: the others learn it. */
    localOnline: (account: string) => bridge.broadcast({ type: "presence", instance, account, online: true }),
    localOffline: (account: string) => bridge.broadcast({ type: "presence", instance, account, online: false }),
    /** Work only one instance may do at a time, under the named lease. Register before `start`. */
    role: (name: string, role: Role) => void roles.set(name, { role, token: undefined }),
    /** The lease `name` as this instance holds it now (undefined: another instance has it). */
    token: (name: string) => roles.get(name)?.token,

    /**
     * Joins: registers the lease, claims (exclusive store) every unfinished task or (shared store) the orphans,
     * then keeps renewing in the background.
     */
    start: async (h: Hooks) => {
      hooks = h
      await leases.register(instance, options.url ?? null, leaseMs)
      announce()
      if (options.exclusive) {
        for (const task of await Effect.runPromise(store.unfinished())) {
          const claim = await Effect.runPromise(store.claim(task.id, instance, { force: true }))
          if (claim !== undefined) await Effect.runPromise(h.adopt(task, claim, "restarted"))
        }
      }
      await Effect.runPromise(Effect.ignore(holdRoles(true)))
      await Effect.runPromise(Effect.ignore(claimOrphans))
      const every = Schedule.spaced(`${Math.max(50, Math.floor(leaseMs / 3))} millis`)
      fibers = [keep, tick].map((step) => Effect.runFork(step.pipe(Effect.ignore, Effect.repeat(every))))
    },

    /** A graceful exit: named leases given up, tasks handed back and the instance lease ended, so others take over at once. */
    stop: async () => {
      await Effect.runPromise(Effect.forEach(fibers, Fiber.interrupt, { discard: true }))
      for (const entry of roles.values()) {
        if (entry.token === undefined) continue
        await Effect.runPromise(entry.role.stop)
        await leases.release(entry.token).catch(() => {})
        entry.token = undefined
      }
      await Effect.runPromise(Effect.ignore(store.releaseAll(instance)))
      await leases.leave(instance).catch(() => {})
    }
  }
}

export type Cluster = ReturnType<typeof make>
