/**
 * Tasks, their events and consents, and the chain outbox, in one store. A state change and the chain event
 * that notarizes it are written in the same transaction, so neither can exist without the other after a crash.
 *
 * An Effect service (`TaskStore`, `layer`): every operation is an Effect whose failures are Schema tagged errors —
 * `StoreFailed` (the database did not answer or refused the statement), and for the writes that change a task or
 * the outbox under a claim or a lease, `LeaseLost` (another instance holds it now) and `StaleTransition` (another
 * path moved the task first). Nothing is thrown: a caller branches on `_tag`.
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Exit, Layer, Schedule, Schema } from "effect"
import type { Status } from "@jointly/core/internal/task/Lifecycle"
import { assertTransition } from "@jointly/core/internal/task/Lifecycle"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { Sql } from "./Sql.ts"
import { migrate } from "./schema.sql.ts"

export type LedgerOp =
  | { readonly op: "createTask"; readonly specHash: string; readonly kind: string; readonly initiator: string; readonly participants: ReadonlyArray<string> }
  | { readonly op: "recordConsent"; readonly participant: string; readonly approve: boolean; readonly reasonHash: string; readonly signature: string }
  | { readonly op: "transition"; readonly to: Status; readonly reasonHash: string }
  | { readonly op: "commitPhase"; readonly phase: string; readonly root: string }
  | { readonly op: "recordResult"; readonly digest: string }

export interface TaskRow {
  readonly id: string
  readonly kind: string
  readonly spec: TaskSpec
  readonly initiator: string
  readonly status: Status
  readonly attempt: number
  readonly result: unknown
  readonly resultDigest: string | null
  readonly reason: string | null
  readonly createdAt: string
  readonly updatedAt: string
  /** The coordinator instance that owns the task now (null: nobody, e.g. its owner left). */
  readonly owner: string | null
  /** The task's fencing token: bumped at every claim. */
  readonly fence: number
}

export interface TaskEvent {
  readonly id: number
  readonly type: string
  readonly data: unknown
  readonly at: string
}

export interface Consent {
  readonly participant: string
  readonly approve: boolean
  readonly reason: string
  readonly signature: string
  readonly at: string
}

/**
 * `pending`: to be sent; `sent`: mined, not yet final (fewer blocks than the chain's confirmations hold it);
 * `confirmed`: final; `failed`: refused by the contract for good.
 */
export type OutboxStatus = "pending" | "sent" | "confirmed" | "failed"

export interface OutboxRow {
  readonly id: number
  readonly eventId: string
  readonly taskId: string | null
  readonly op: LedgerOp
  readonly status: OutboxStatus
  readonly txHash: string | null
  readonly blockNumber: number | null
  readonly blockHash: string | null
  readonly attempts: number
  readonly lastError: string | null
}

/**
 * The right of one coordinator instance to change one task: the instance and the task's fencing token as it was
 * when the instance claimed the task. Every state change of the task checks both, in the store, in the same
 * transaction as the change (coordinator/src/cluster/Cluster.ts hands claims out).
 */
export interface Claim {
  readonly taskId: string
  readonly instance: string
  readonly fence: number
}

/** A named lease (the outbox drainer, the chain index) as its holder knows it. */
export interface LeaseToken {
  readonly name: string
  readonly holder: string
  readonly fence: number
}

/**
 * A write by an instance that no longer owns what it writes: another instance claimed the task (or the lease)
 * since, with a newer fencing token. Nothing was changed; the stale owner must stop working on it.
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  /** The task id, or the lease's name. */
  subject: Schema.String,
  instance: Schema.String,
  fence: Schema.Number,
  /** Who holds it now, and under which token (null: nobody, e.g. the task is gone). */
  holder: Schema.NullOr(Schema.String),
  current: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    return `${this.instance} lost ${this.subject} (token ${this.fence}): now held by ${this.holder ?? "nobody"} under token ${this.current ?? "none"}; nothing was written`
  }
}

/** A transition from a status the task has already left: another path (a cancel, a timeout) moved it first. Nothing was written. */
export class StaleTransition extends Schema.TaggedError<StaleTransition>()("StaleTransition", {
  taskId: Schema.String,
  /** The status the writer expected the task to be in. */
  expected: Schema.String
}) {
  override get message() {
    return `task ${this.taskId} is no longer ${this.expected}`
  }
}

/** The database did not answer, or refused a statement (a bug, a broken connection, a full disk). Nothing was written. */
export class StoreFailed extends Schema.TaggedError<StoreFailed>()("StoreFailed", {
  /** What the store was doing, e.g. "transition". */
  operation: Schema.String,
  detail: Schema.String,
  /**
   * The database could not be reached (a refused or dropped connection, a server shutting down or starting):
   * the statement did not run, or its transaction was rolled back. The store retries these (`reconnecting`)
   * before it reports one.
   */
  unavailable: Schema.optional(Schema.Boolean)
}) {
  override get message() {
    return `the task store failed (${this.operation}): ${this.detail}`
  }
}

const toTask = (r: any): TaskRow => ({
  id: r.id,
  kind: r.kind,
  spec: r.spec,
  initiator: r.initiator,
  status: r.status,
  attempt: r.attempt,
  result: r.result ?? null,
  resultDigest: r.result_digest ?? null,
  reason: r.reason ?? null,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
  owner: r.owner ?? null,
  fence: Number(r.fence ?? 0)
})

const toOutbox = (r: any): OutboxRow => ({
  id: Number(r.id),
  eventId: r.event_id,
  taskId: r.task_id,
  op: r.args,
  status: r.status,
  txHash: r.tx_hash,
  blockNumber: r.block_number === null ? null : Number(r.block_number),
  blockHash: r.block_hash ?? null,
  attempts: r.attempts,
  lastError: r.last_error
})

const toConsent = (r: any): Consent => ({
  participant: r.participant,
  approve: r.approve,
  reason: r.reason,
  signature: r.signature,
  at: new Date(r.at).toISOString()
})

const toEvent = (r: any): TaskEvent => ({ id: Number(r.id), type: r.type, data: r.data, at: new Date(r.at).toISOString() })

const newEventId = () => "0x" + randomBytes(32).toString("hex")

const unfinishedStatuses = `('Submitted', 'AwaitingConsent', 'Scheduled', 'Running')`

/** `sql` clause true when `lease` is still the current token of its named lease (or no lease is asked for). */
const leaseHeld = (holderParam: number) =>
  `($${holderParam}::text is null or exists (select 1 from leases l where l.name = 'outbox' and l.holder = $${holderParam} and l.fence = $${holderParam + 1}))`

/** A transaction body's failure, carried through the driver's rollback unchanged. */
class RolledBack {
  constructor(readonly exit: Exit.Exit<unknown, unknown>) {}
}

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** SQLSTATEs and socket errors of a server that is away: class 08 (connection exception) and 57P01–57P03 (shutting down, starting). */
const unreachableCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "57P01", "57P02", "57P03"])

/** Whether a driver error says the server could not be reached or went away, rather than refusing the statement. */
const unreachable = (cause: unknown): boolean => {
  const code = (cause as { code?: unknown } | null)?.code
  if (typeof code === "string" && (unreachableCodes.has(code) || code.startsWith("08"))) return true
  // node-postgres reports a socket that closed under a query by message only.
  return cause instanceof Error && /connection terminated|connection error|server closed the connection/i.test(cause.message)
}

const failed = (operation: string, cause: unknown) =>
  new StoreFailed({ operation, detail: describe(cause), ...(unreachable(cause) ? { unavailable: true } : {}) })

/**
 * How long an operation waits for a database that went away (a PostgreSQL restart or failover): tries again
 * after 100 ms, doubling to at most 2 s between tries, for 30 s in all; then the StoreFailed (`unavailable`) is
 * the caller's. Only a statement that did not run is sent again: an unreachable server ran nothing, and a
 * transaction that lost its connection before its commit was rolled back by the server.
 */
const reconnecting = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")]).pipe(Schedule.upTo({ duration: "30 seconds" }))

const retryUnavailable = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.retry(effect, { schedule: reconnecting, while: (error) => error instanceof StoreFailed && error.unavailable === true })

/** The connections of open transactions: a statement on one is not retried alone (its transaction is, whole). */
const inTransaction = new WeakSet<Sql>()

/** One statement on `db` (the pool, or a transaction's connection). */
const query = <T = any>(db: Sql, operation: string, text: string, params?: ReadonlyArray<unknown>): Effect.Effect<Array<T>, StoreFailed> => {
  const once = Effect.tryPromise({ try: () => db.query<T>(text, params), catch: (cause) => failed(operation, cause) })
  return inTransaction.has(db) ? once : retryUnavailable(once)
}

/**
 * Runs `body` in one transaction: committed when it succeeds; rolled back when it fails, with its failure (a
 * LeaseLost, a StaleTransition) returned as it was.
 */
const transaction = <A, E>(sql: Sql, operation: string, body: (tx: Sql) => Effect.Effect<A, E>): Effect.Effect<A, E | StoreFailed> =>
  retryUnavailable(Effect.flatten(Effect.tryPromise({
    try: () =>
      sql.transaction(async (tx) => {
        inTransaction.add(tx)
        const exit = await Effect.runPromiseExit(body(tx))
        if (Exit.isFailure(exit)) throw new RolledBack(exit)
        return exit
      }).catch((error: unknown) => (error instanceof RolledBack ? (error.exit as Exit.Exit<A, E>) : Promise.reject(error))),
    catch: (cause) => failed(operation, cause)
  })))

const enqueue = (tx: Sql, taskId: string, op: LedgerOp) =>
  query(tx, op.op, `insert into outbox(event_id, task_id, op, args) values ($1, $2, $3, $4)`, [newEventId(), taskId, op.op, JSON.stringify(op)])

const appendEvent = (tx: Sql, taskId: string, type: string, data: unknown) =>
  query(tx, "event", `insert into task_events(task_id, type, data) values ($1, $2, $3)`, [taskId, type, JSON.stringify(data)])

/**
 * The fencing check, first in every transaction that changes a task: the row is locked (so no claim can commit
 * in between) and must still name this claim's instance and token.
 */
const hold = (tx: Sql, claim: Claim) =>
  Effect.flatMap(
    query<{ owner: string | null; fence: string | number }>(tx, "hold", `select owner, fence from tasks where id = $1 for update`, [claim.taskId]),
    ([row]) =>
      row !== undefined && row.owner === claim.instance && Number(row.fence) === claim.fence
        ? Effect.void
        : Effect.fail(new LeaseLost({ subject: claim.taskId, instance: claim.instance, fence: claim.fence, holder: row?.owner ?? null, current: row === undefined ? null : Number(row.fence) }))
  )

/** An outbox write that changed no row under `lease`: LeaseLost when the lease is no longer its holder's. */
const checkLease = (sql: Sql, lease: LeaseToken | undefined, changed: number) => {
  if (lease === undefined || changed > 0) return Effect.void
  return Effect.flatMap(
    query<{ holder: string; fence: string | number }>(sql, "lease", `select holder, fence from leases where name = $1`, [lease.name]),
    ([row]) =>
      row !== undefined && row.holder === lease.holder && Number(row.fence) === lease.fence
        ? Effect.void
        : Effect.fail(new LeaseLost({ subject: lease.name, instance: lease.holder, fence: lease.fence, holder: row?.holder ?? null, current: row === undefined ? null : Number(row.fence) }))
  )
}

export const make = (sql: Sql) =>
  Effect.gen(function*() {
    yield* Effect.tryPromise({ try: () => migrate(sql), catch: (cause) => new StoreFailed({ operation: "migrate", detail: describe(cause) }) })

    const get = (id: string): Effect.Effect<TaskRow | undefined, StoreFailed> =>
      Effect.map(query(sql, "get", `select * from tasks where id = $1`, [id]), ([row]) => (row ? toTask(row) : undefined))

    const tasks = (operation: string, text: string, params?: ReadonlyArray<unknown>) => Effect.map(query(sql, operation, text, params), (rows) => rows.map(toTask))

    /** An outbox write under the drainer's lease (when several instances share the store): LeaseLost when it lost it. */
    const outboxWrite = (operation: string, text: string, params: ReadonlyArray<unknown>, lease: LeaseToken | undefined) =>
      Effect.tap(query(sql, operation, text, [...params, lease?.holder ?? null, lease?.fence ?? null]), (rows) => checkLease(sql, lease, rows.length))

    return {
      sql,
      get,

      /** Inserts a new task in `Submitted`, owned by `instance` (token 1), with its chain record queued. */
      insert: (id: string, spec: TaskSpec, specHash: string, participants: ReadonlyArray<string>, instance: string): Effect.Effect<Claim, StoreFailed> =>
        transaction(sql, "insert", (tx) =>
          Effect.gen(function*() {
            yield* query(tx, "insert", `insert into tasks(id, kind, spec, initiator, status, owner, fence) values ($1, $2, $3, $4, 'Submitted', $5, 1)`, [
              id,
              spec.kind,
              JSON.stringify(spec),
              spec.initiator,
              instance
            ])
            yield* appendEvent(tx, id, "Submitted", { initiator: spec.initiator })
            yield* enqueue(tx, id, { op: "createTask", specHash, kind: spec.kind, initiator: spec.initiator, participants })
            return { taskId: id, instance, fence: 1 }
          })),

      /**
       * Moves a task from `from` to `to` (checked against the lifecycle table) with an event, and queues the
       * chain transition. StaleTransition when another path moved the task first.
       */
      transition: (
        claim: Claim,
        from: Status,
        to: Status,
        details: { reason?: string; reasonHash: string; data?: Record<string, unknown>; bumpAttempt?: boolean }
      ): Effect.Effect<void, StoreFailed | LeaseLost | StaleTransition> =>
        transaction(sql, "transition", (tx) =>
          Effect.gen(function*() {
            assertTransition(from, to)
            const id = claim.taskId
            yield* hold(tx, claim)
            const rows = yield* query(tx, "transition",
              `update tasks set status = $3, reason = coalesce($4, reason), attempt = attempt + $5, updated_at = now()
                 where id = $1 and status = $2 returning id`,
              [id, from, to, details.reason ?? null, details.bumpAttempt ? 1 : 0])
            if (rows.length === 0) return yield* new StaleTransition({ taskId: id, expected: from })
            yield* appendEvent(tx, id, to, { from, reason: details.reason, ...details.data })
            yield* enqueue(tx, id, { op: "transition", to, reasonHash: details.reasonHash })
          })),

      /** Records a verified consent once; false when this participant already answered. */
      recordConsent: (claim: Claim, consent: Omit<Consent, "at">, reasonHash: string): Effect.Effect<boolean, StoreFailed | LeaseLost> =>
        transaction(sql, "recordConsent", (tx) =>
          Effect.gen(function*() {
            const id = claim.taskId
            yield* hold(tx, claim)
            const inserted = yield* query(tx, "recordConsent",
              `insert into consents(task_id, participant, approve, reason, signature) values ($1, $2, $3, $4, $5)
                 on conflict do nothing returning participant`,
              [id, consent.participant, consent.approve, consent.reason, consent.signature])
            if (inserted.length === 0) return false
            yield* appendEvent(tx, id, consent.approve ? "ConsentApproved" : "ConsentRejected", { participant: consent.participant, reason: consent.reason })
            yield* enqueue(tx, id, { op: "recordConsent", participant: consent.participant, approve: consent.approve, reasonHash, signature: consent.signature })
            return true
          })),

      consents: (id: string): Effect.Effect<Array<Consent>, StoreFailed> =>
        Effect.map(query(sql, "consents", `select * from consents where task_id = $1 order by at`, [id]), (rows) => rows.map(toConsent)),

      /** Stores the result and its digest, moves Running → Succeeded and queues both chain records. */
      succeed: (claim: Claim, result: unknown, resultDigest: string, reasonHash: string): Effect.Effect<void, StoreFailed | LeaseLost | StaleTransition> =>
        transaction(sql, "succeed", (tx) =>
          Effect.gen(function*() {
            assertTransition("Running", "Succeeded")
            const id = claim.taskId
            yield* hold(tx, claim)
            const rows = yield* query(tx, "succeed",
              `update tasks set status = 'Succeeded', result = $2, result_digest = $3, updated_at = now()
                 where id = $1 and status = 'Running' returning id`,
              [id, JSON.stringify(result), resultDigest])
            if (rows.length === 0) return yield* new StaleTransition({ taskId: id, expected: "Running" })
            yield* appendEvent(tx, id, "Succeeded", { resultDigest })
            yield* enqueue(tx, id, { op: "recordResult", digest: resultDigest })
            yield* enqueue(tx, id, { op: "transition", to: "Succeeded", reasonHash })
          })),

      commitPhase: (claim: Claim, phase: string, root: string): Effect.Effect<void, StoreFailed | LeaseLost> =>
        transaction(sql, "commitPhase", (tx) =>
          Effect.gen(function*() {
            yield* hold(tx, claim)
            yield* appendEvent(tx, claim.taskId, "PhaseCommitted", { phase, root })
            yield* enqueue(tx, claim.taskId, { op: "commitPhase", phase, root })
          })),

      event: (claim: Claim, type: string, data: unknown): Effect.Effect<void, StoreFailed | LeaseLost> =>
        transaction(sql, "event", (tx) => Effect.andThen(hold(tx, claim), appendEvent(tx, claim.taskId, type, data))),

      /**
       * Protocol checkpoint of a task (see CoordinatorSession.checkpoint); the last save wins. `sealed` names the
       * copy of this very value on IPFS: its `CheckpointSealed` event is written in the same transaction, so the
       * last such event is always the checkpoint a later attempt resumes from; `link` is its link block's CID in the
       * task's checkpoint chain (artifacts/CheckpointChain.ts).
       */
      saveCheckpoint: (claim: Claim, key: string, attempt: number, value: unknown, sealed?: { readonly cid: string; readonly root: string; readonly readers: ReadonlyArray<string>; readonly link?: string }): Effect.Effect<void, StoreFailed | LeaseLost> =>
        transaction(sql, "saveCheckpoint", (tx) =>
          Effect.gen(function*() {
            yield* hold(tx, claim)
            yield* query(tx, "saveCheckpoint",
              `insert into checkpoints(task_id, key, value, attempt) values ($1, $2, $3, $4)
                 on conflict (task_id, key) do update set value = excluded.value, attempt = excluded.attempt, at = now()`,
              [claim.taskId, key, JSON.stringify(value), attempt])
            if (sealed !== undefined) yield* appendEvent(tx, claim.taskId, "CheckpointSealed", { key, attempt, ...sealed })
          })),
      loadCheckpoint: (id: string, key: string): Effect.Effect<unknown, StoreFailed> =>
        Effect.map(query<{ value: unknown }>(sql, "loadCheckpoint", `select value from checkpoints where task_id = $1 and key = $2`, [id, key]), ([row]) => row?.value),

      events: (id: string): Effect.Effect<Array<TaskEvent>, StoreFailed> =>
        Effect.map(query(sql, "events", `select * from task_events where task_id = $1 order by id`, [id]), (rows) => rows.map(toEvent)),

      /** Newest first; with `visibleTo`, only the tasks that account initiated, takes part in or receives the result of. */
      list: (options: { status?: Status; limit?: number; visibleTo?: string } = {}): Effect.Effect<Array<TaskRow>, StoreFailed> =>
        tasks("list",
          `select * from tasks where ($1::text is null or status = $1)
             and ($3::text is null or lower(initiator) = $3
                  or exists (select 1 from jsonb_array_elements(spec->'parties') p where lower(p->>'participant') = $3)
                  or exists (select 1 from jsonb_array_elements_text(coalesce(spec->'recipients', '[]'::jsonb)) r where lower(r) = $3))
             order by created_at desc limit $2`,
          [options.status ?? null, options.limit ?? 100, options.visibleTo?.toLowerCase() ?? null]),

      /** Tasks of `initiator` that have not ended (the API's cap on concurrent tasks). */
      openCount: (initiator: string): Effect.Effect<number, StoreFailed> =>
        Effect.map(
          query<{ n: string }>(sql, "openCount", `select count(*) as n from tasks where lower(initiator) = $1 and status in ${unfinishedStatuses}`, [initiator.toLowerCase()]),
          ([row]) => Number(row!.n)
        ),

      unfinished: (): Effect.Effect<Array<TaskRow>, StoreFailed> => tasks("unfinished", `select * from tasks where status in ${unfinishedStatuses} order by created_at`),

      // --- ownership (coordinator/src/cluster/Cluster.ts) ---
      /** Unfinished tasks `instance` owns. */
      owned: (instance: string): Effect.Effect<Array<TaskRow>, StoreFailed> =>
        tasks("owned", `select * from tasks where owner = $1 and status in ${unfinishedStatuses} order by created_at`, [instance]),
      /** The instance that owns a task now (undefined: no such task, or nobody). */
      ownerOf: (id: string): Effect.Effect<string | undefined, StoreFailed> =>
        Effect.map(query<{ owner: string | null }>(sql, "ownerOf", `select owner from tasks where id = $1`, [id]), ([row]) => row?.owner ?? undefined),
      /** Unfinished tasks whose owner is no live instance (its lease expired, or it left). */
      orphans: (): Effect.Effect<Array<TaskRow>, StoreFailed> =>
        tasks("orphans",
          `select * from tasks t where status in ${unfinishedStatuses}
             and (owner is null or not exists (select 1 from coordinator_instances i where i.id = t.owner and i.expires_at > now()))
             order by created_at`),
      /**
       * Takes an unfinished task for `instance` under a new fencing token: only an orphan, unless `force` (a cancel
       * from an instance that does not own the task takes it from a live owner, whose next write is then refused);
       * `from`: only while the task still names that owner (an instance taking back its own tasks after its lease
       * lapsed leaves those another instance claimed meanwhile with it). Atomic: of two instances claiming one
       * orphan, one gets it.
       */
      claim: (id: string, instance: string, options: { readonly force?: boolean; readonly from?: string } = {}): Effect.Effect<Claim | undefined, StoreFailed> =>
        Effect.map(
          query<{ fence: string | number }>(sql, "claim",
            `update tasks t set owner = $2, fence = fence + 1
               where id = $1 and status in ${unfinishedStatuses}
                 and ($3 or owner is null or not exists (select 1 from coordinator_instances i where i.id = t.owner and i.expires_at > now()))
                 and ($4::text is null or owner = $4)
               returning fence`,
            [id, instance, options.force === true, options.from ?? null]),
          ([row]) => (row === undefined ? undefined : { taskId: id, instance, fence: Number(row.fence) })
        ),
      /** The claim `instance` holds on a task now, if any (its current token). */
      claimOf: (id: string, instance: string): Effect.Effect<Claim | undefined, StoreFailed> =>
        Effect.map(
          query<{ fence: string | number }>(sql, "claimOf", `select fence from tasks where id = $1 and owner = $2`, [id, instance]),
          ([row]) => (row === undefined ? undefined : { taskId: id, instance, fence: Number(row.fence) })
        ),
      /** A leaving instance hands its unfinished tasks back, so another claims them at once instead of after its lease. */
      releaseAll: (instance: string): Effect.Effect<void, StoreFailed> =>
        Effect.asVoid(query(sql, "releaseAll", `update tasks set owner = null where owner = $1 and status in ${unfinishedStatuses}`, [instance])),

      // --- chain outbox ---
      nextPending: (): Effect.Effect<OutboxRow | undefined, StoreFailed> =>
        Effect.map(query(sql, "nextPending", `select * from outbox where status = 'pending' order by id limit 1`), ([row]) => (row ? toOutbox(row) : undefined)),
      /**
       * Mined in `txHash` (by this send or an earlier one); final once enough blocks hold it. This and the other
       * outbox writes take the drainer's lease when several instances share the store: a drainer that lost it
       * writes nothing (LeaseLost).
       */
      markSent: (id: number, txHash: string, blockNumber: number, lease?: LeaseToken): Effect.Effect<unknown, StoreFailed | LeaseLost> =>
        outboxWrite("markSent",
          `update outbox set status = 'sent', tx_hash = $2, block_number = $3, sent_at = now(), attempts = attempts + 1 where id = $1 and ${leaseHeld(4)} returning id`,
          [id, txHash, blockNumber], lease),
      /** Entries mined but not yet final, oldest first. */
      sent: (): Effect.Effect<Array<OutboxRow>, StoreFailed> => Effect.map(query(sql, "sent", `select * from outbox where status = 'sent' order by id`), (rows) => rows.map(toOutbox)),
      /** Final: held by at least the chain's confirmations, in the canonical block `blockHash`. */
      confirm: (id: number, txHash: string, blockNumber: number | null, blockHash: string | null = null, lease?: LeaseToken): Effect.Effect<unknown, StoreFailed | LeaseLost> =>
        outboxWrite("confirm",
          `update outbox set status = 'confirmed', tx_hash = $2, block_number = $3, block_hash = $4, confirmed_at = now() where id = $1 and status <> 'confirmed' and ${leaseHeld(5)} returning id`,
          [id, txHash, blockNumber, blockHash], lease),
      /** Its transaction left the canonical chain: send it again (the contract's event-id check keeps it once). */
      requeue: (id: number, reason: string, lease?: LeaseToken): Effect.Effect<unknown, StoreFailed | LeaseLost> =>
        outboxWrite("requeue",
          `update outbox set status = 'pending', last_error = $2, block_number = null where id = $1 and status = 'sent' and ${leaseHeld(3)} returning id`,
          [id, reason], lease),
      retryLater: (id: number, error: string, giveUp: boolean, lease?: LeaseToken): Effect.Effect<unknown, StoreFailed | LeaseLost> =>
        outboxWrite("retryLater",
          `update outbox set attempts = attempts + 1, last_error = $2, status = $3 where id = $1 and ${leaseHeld(4)} returning id`,
          [id, error, giveUp ? "failed" : "pending"], lease),
      /** One entry, whatever its status (the live feed's chain events). */
      outboxEntry: (id: number): Effect.Effect<OutboxRow | undefined, StoreFailed> =>
        Effect.map(query(sql, "outboxEntry", `select * from outbox where id = $1`, [id]), ([row]) => (row ? toOutbox(row) : undefined)),
      outbox: (taskId?: string): Effect.Effect<Array<OutboxRow>, StoreFailed> =>
        Effect.map(query(sql, "outbox", `select * from outbox where ($1::text is null or task_id = $1) order by id`, [taskId ?? null]), (rows) => rows.map(toOutbox)),
      /** Entries not yet final: to send, or mined and waiting for confirmations. */
      pendingCount: (): Effect.Effect<number, StoreFailed> =>
        Effect.map(query<{ n: string }>(sql, "pendingCount", `select count(*) as n from outbox where status in ('pending', 'sent')`), ([row]) => Number(row!.n))
    }
  })

export type TaskStoreShape = Effect.Success<ReturnType<typeof make>>

export class TaskStore extends Context.Service<TaskStore, TaskStoreShape>()("jointly/coordinator/TaskStore") {}

/** The store over `sql` (migrated first); the caller owns and closes `sql`. */
export const layer = (sql: Sql): Layer.Layer<TaskStore, StoreFailed> => Layer.effect(TaskStore, make(sql))
