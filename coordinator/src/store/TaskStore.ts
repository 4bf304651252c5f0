/**
 * Tasks, their events and consents, and the chain outbox, in one store. A state change and the chain event
 * that notarizes it are written in the same transaction, so neither can exist without the other after a crash.
 */
import { randomBytes } from "node:crypto"
import { Schema } from "effect"
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

const newEventId = () => "0x" + randomBytes(32).toString("hex")

const enqueue = (tx: Sql, taskId: string, op: LedgerOp) =>
  tx.query(`insert into outbox(event_id, task_id, op, args) values ($1, $2, $3, $4)`, [newEventId(), taskId, op.op, JSON.stringify(op)])

const appendEvent = (tx: Sql, taskId: string, type: string, data: unknown) =>
  tx.query(`insert into task_events(task_id, type, data) values ($1, $2, $3)`, [taskId, type, JSON.stringify(data)])

const unfinishedStatuses = `('Submitted', 'AwaitingConsent', 'Scheduled', 'Running')`

/**
 * The fencing check, first in every transaction that changes a task: the row is locked (so no claim can commit
 * in between) and must still name this claim's instance and token.
 */
const hold = async (tx: Sql, claim: Claim) => {
  const [row] = await tx.query<{ owner: string | null; fence: string | number }>(`select owner, fence from tasks where id = $1 for update`, [claim.taskId])
  if (row === undefined || row.owner !== claim.instance || Number(row.fence) !== claim.fence) {
    throw new LeaseLost({ subject: claim.taskId, instance: claim.instance, fence: claim.fence, holder: row?.owner ?? null, current: row === undefined ? null : Number(row.fence) })
  }
}

/** `sql` clause true when `lease` is still the current token of its named lease (or no lease is asked for). */
const leaseHeld = (holderParam: number) =>
  `($${holderParam}::text is null or exists (select 1 from leases l where l.name = 'outbox' and l.holder = $${holderParam} and l.fence = $${holderParam + 1}))`

const checkLease = async (sql: Sql, lease: LeaseToken | undefined, changed: number) => {
  if (lease === undefined || changed > 0) return
  const [row] = await sql.query<{ holder: string; fence: string | number }>(`select holder, fence from leases where name = $1`, [lease.name])
  if (row === undefined || row.holder !== lease.holder || Number(row.fence) !== lease.fence) {
    throw new LeaseLost({ subject: lease.name, instance: lease.holder, fence: lease.fence, holder: row?.holder ?? null, current: row === undefined ? null : Number(row.fence) })
  }
}

export const make = async (sql: Sql) => {
  await migrate(sql)

  const get = async (id: string): Promise<TaskRow | undefined> => {
    const [row] = await sql.query(`select * from tasks where id = $1`, [id])
    return row ? toTask(row) : undefined
  }

  return {
    sql,
    get,

    /** Inserts a new task in `Submitted`, owned by `instance` (token 1), with its chain record queued. */
    insert: (id: string, spec: TaskSpec, specHash: string, participants: ReadonlyArray<string>, instance: string): Promise<Claim> =>
      sql.transaction(async (tx) => {
        await tx.query(`insert into tasks(id, kind, spec, initiator, status, owner, fence) values ($1, $2, $3, $4, 'Submitted', $5, 1)`, [
          id,
          spec.kind,
          JSON.stringify(spec),
          spec.initiator,
          instance
        ])
        await appendEvent(tx, id, "Submitted", { initiator: spec.initiator })
        await enqueue(tx, id, { op: "createTask", specHash, kind: spec.kind, initiator: spec.initiator, participants })
        return { taskId: id, instance, fence: 1 }
      }),

    /**
     * Moves a task from `from` to `to` (checked against the lifecycle table) with an event, and queues the
     * chain transition. Throws StaleTransition when another path moved the task first.
     */
    transition: (claim: Claim, from: Status, to: Status, details: { reason?: string; reasonHash: string; data?: Record<string, unknown>; bumpAttempt?: boolean }) =>
      sql.transaction(async (tx) => {
        assertTransition(from, to)
        const id = claim.taskId
        await hold(tx, claim)
        const rows = await tx.query(
          `update tasks set status = $3, reason = coalesce($4, reason), attempt = attempt + $5, updated_at = now()
             where id = $1 and status = $2 returning id`,
          [id, from, to, details.reason ?? null, details.bumpAttempt ? 1 : 0]
        )
        if (rows.length === 0) throw new StaleTransition({ taskId: id, expected: from })
        await appendEvent(tx, id, to, { from, reason: details.reason, ...details.data })
        await enqueue(tx, id, { op: "transition", to, reasonHash: details.reasonHash })
      }),

    /** Records a verified consent once; returns false when this participant already answered. */
    recordConsent: (claim: Claim, consent: Omit<Consent, "at">, reasonHash: string) =>
      sql.transaction(async (tx) => {
        const id = claim.taskId
        await hold(tx, claim)
        const inserted = await tx.query(
          `insert into consents(task_id, participant, approve, reason, signature) values ($1, $2, $3, $4, $5)
             on conflict do nothing returning participant`,
          [id, consent.participant, consent.approve, consent.reason, consent.signature]
        )
        if (inserted.length === 0) return false
        await appendEvent(tx, id, consent.approve ? "ConsentApproved" : "ConsentRejected", {
          participant: consent.participant,
          reason: consent.reason
        })
        await enqueue(tx, id, {
          op: "recordConsent",
          participant: consent.participant,
          approve: consent.approve,
          reasonHash,
          signature: consent.signature
        })
        return true
      }),

    consents: async (id: string): Promise<Array<Consent>> =>
      (await sql.query(`select * from consents where task_id = $1 order by at`, [id])).map((r: any) => ({
        participant: r.participant,
        approve: r.approve,
        reason: r.reason,
        signature: r.signature,
        at: new Date(r.at).toISOString()
      })),

    /** Stores the result and its digest, moves Running → Succeeded and queues both chain records. */
    succeed: (claim: Claim, result: unknown, resultDigest: string, reasonHash: string) =>
      sql.transaction(async (tx) => {
        assertTransition("Running", "Succeeded")
        const id = claim.taskId
        await hold(tx, claim)
        const rows = await tx.query(
          `update tasks set status = 'Succeeded', result = $2, result_digest = $3, updated_at = now()
             where id = $1 and status = 'Running' returning id`,
          [id, JSON.stringify(result), resultDigest]
        )
        if (rows.length === 0) throw new StaleTransition({ taskId: id, expected: "Running" })
        await appendEvent(tx, id, "Succeeded", { resultDigest })
        await enqueue(tx, id, { op: "recordResult", digest: resultDigest })
        await enqueue(tx, id, { op: "transition", to: "Succeeded", reasonHash })
      }),

    commitPhase: (claim: Claim, phase: string, root: string) =>
      sql.transaction(async (tx) => {
        const id = claim.taskId
        await hold(tx, claim)
        await appendEvent(tx, id, "PhaseCommitted", { phase, root })
        await enqueue(tx, id, { op: "commitPhase", phase, root })
      }),

    event: (claim: Claim, type: string, data: unknown) =>
      sql.transaction(async (tx) => {
        await hold(tx, claim)
        await appendEvent(tx, claim.taskId, type, data)
      }),

    /** Protocol checkpoint of a task (see CoordinatorSession.checkpoint); the last save wins. */
    saveCheckpoint: (claim: Claim, key: string, attempt: number, value: unknown) =>
      sql.transaction(async (tx) => {
        await hold(tx, claim)
        await tx.query(
          `insert into checkpoints(task_id, key, value, attempt) values ($1, $2, $3, $4)
             on conflict (task_id, key) do update set value = excluded.value, attempt = excluded.attempt, at = now()`,
          [claim.taskId, key, JSON.stringify(value), attempt]
        )
      }),
    loadCheckpoint: async (id: string, key: string): Promise<unknown> =>
      (await sql.query<{ value: unknown }>(`select value from checkpoints where task_id = $1 and key = $2`, [id, key]))[0]?.value,

    events: async (id: string): Promise<Array<TaskEvent>> =>
      (await sql.query(`select * from task_events where task_id = $1 order by id`, [id])).map((r: any) => ({
        id: Number(r.id),
        type: r.type,
        data: r.data,
        at: new Date(r.at).toISOString()
      })),

    /** Newest first; with `visibleTo`, only the tasks that account initiated, takes part in or receives the result of. */
    list: async (options: { status?: Status; limit?: number; visibleTo?: string } = {}): Promise<Array<TaskRow>> =>
      (
        await sql.query(
          `select * from tasks where ($1::text is null or status = $1)
             and ($3::text is null or lower(initiator) = $3
                  or exists (select 1 from jsonb_array_elements(spec->'parties') p where lower(p->>'participant') = $3)
                  or exists (select 1 from jsonb_array_elements_text(coalesce(spec->'recipients', '[]'::jsonb)) r where lower(r) = $3))
             order by created_at desc limit $2`,
          [options.status ?? null, options.limit ?? 100, options.visibleTo?.toLowerCase() ?? null]
        )
      ).map(toTask),

    /** Tasks of `initiator` that have not ended (the API's cap on concurrent tasks). */
    openCount: async (initiator: string): Promise<number> =>
      Number((await sql.query<{ n: string }>(
        `select count(*) as n from tasks where lower(initiator) = $1 and status in ('Submitted', 'AwaitingConsent', 'Scheduled', 'Running')`,
        [initiator.toLowerCase()]
      ))[0]!.n),

    unfinished: async (): Promise<Array<TaskRow>> =>
      (await sql.query(`select * from tasks where status in ${unfinishedStatuses} order by created_at`)).map(toTask),

    // --- ownership (coordinator/src/cluster/Cluster.ts) ---
    /** Unfinished tasks `instance` owns. */
    owned: async (instance: string): Promise<Array<TaskRow>> =>
      (await sql.query(`select * from tasks where owner = $1 and status in ${unfinishedStatuses} order by created_at`, [instance])).map(toTask),
    /** The instance that owns a task now (undefined: no such task, or nobody). */
    ownerOf: async (id: string): Promise<string | undefined> =>
      (await sql.query<{ owner: string | null }>(`select owner from tasks where id = $1`, [id]))[0]?.owner ?? undefined,
    /** Unfinished tasks whose owner is no live instance (its lease expired, or it left). */
    orphans: async (): Promise<Array<TaskRow>> =>
      (
        await sql.query(
          `select * from tasks t where status in ${unfinishedStatuses}
             and (owner is null or not exists (select 1 from coordinator_instances i where i.id = t.owner and i.expires_at > now()))
             order by created_at`
        )
      ).map(toTask),
    /**
     * Takes an unfinished task for `instance` under a new fencing token: only an orphan, unless `force` (a cancel
     * from an instance that does not own the task takes it from a live owner, whose next write is then refused).
     * Atomic: of two instances claiming one orphan, one gets it.
     */
    claim: async (id: string, instance: string, options: { readonly force?: boolean } = {}): Promise<Claim | undefined> => {
      const [row] = await sql.query<{ fence: string | number }>(
        `update tasks t set owner = $2, fence = fence + 1
           where id = $1 and status in ${unfinishedStatuses}
             and ($3 or owner is null or not exists (select 1 from coordinator_instances i where i.id = t.owner and i.expires_at > now()))
           returning fence`,
        [id, instance, options.force === true]
      )
      return row === undefined ? undefined : { taskId: id, instance, fence: Number(row.fence) }
    },
    /** The claim `instance` holds on a task now, if any (its current token). */
    claimOf: async (id: string, instance: string): Promise<Claim | undefined> => {
      const [row] = await sql.query<{ fence: string | number }>(`select fence from tasks where id = $1 and owner = $2`, [id, instance])
      return row === undefined ? undefined : { taskId: id, instance, fence: Number(row.fence) }
    },
    /** A leaving instance hands its unfinished tasks back, so another claims them at once instead of after its lease. */
    releaseAll: (instance: string) =>
      sql.query(`update tasks set owner = null where owner = $1 and status in ${unfinishedStatuses}`, [instance]).then(() => undefined),

    // --- chain outbox ---
    nextPending: async (): Promise<OutboxRow | undefined> => {
      const [row] = await sql.query(`select * from outbox where status = 'pending' order by id limit 1`)
      return row ? toOutbox(row) : undefined
    },
    /**
     * Mined in `txHash` (by this send or an earlier one); final once enough blocks hold it. This and the other
     * outbox writes take the drainer's lease when several instances share the store: a drainer that lost it
     * writes nothing (LeaseLost).
     */
    markSent: async (id: number, txHash: string, blockNumber: number, lease?: LeaseToken) => {
      const rows = await sql.query(
        `update outbox set status = 'sent', tx_hash = $2, block_number = $3, sent_at = now(), attempts = attempts + 1 where id = $1 and ${leaseHeld(4)} returning id`,
        [id, txHash, blockNumber, lease?.holder ?? null, lease?.fence ?? null]
      )
      await checkLease(sql, lease, rows.length)
      return rows
    },
    /** Entries mined but not yet final, oldest first. */
    sent: async (): Promise<Array<OutboxRow>> => (await sql.query(`select * from outbox where status = 'sent' order by id`)).map(toOutbox),
    /** Final: held by at least the chain's confirmations, in the canonical block `blockHash`. */
    confirm: async (id: number, txHash: string, blockNumber: number | null, blockHash: string | null = null, lease?: LeaseToken) => {
      const rows = await sql.query(
        `update outbox set status = 'confirmed', tx_hash = $2, block_number = $3, block_hash = $4, confirmed_at = now() where id = $1 and status <> 'confirmed' and ${leaseHeld(5)} returning id`,
        [id, txHash, blockNumber, blockHash, lease?.holder ?? null, lease?.fence ?? null]
      )
      await checkLease(sql, lease, rows.length)
      return rows
    },
    /** Its transaction left the canonical chain: send it again (the contract's event-id check keeps it once). */
    requeue: async (id: number, reason: string, lease?: LeaseToken) => {
      const rows = await sql.query(
        `update outbox set status = 'pending', last_error = $2, block_number = null where id = $1 and status = 'sent' and ${leaseHeld(3)} returning id`,
        [id, reason, lease?.holder ?? null, lease?.fence ?? null]
      )
      await checkLease(sql, lease, rows.length)
      return rows
    },
    retryLater: async (id: number, error: string, giveUp: boolean, lease?: LeaseToken) => {
      const rows = await sql.query(`update outbox set attempts = attempts + 1, last_error = $2, status = $3 where id = $1 and ${leaseHeld(4)} returning id`, [
        id,
        error,
        giveUp ? "failed" : "pending",
        lease?.holder ?? null,
        lease?.fence ?? null
      ])
      await checkLease(sql, lease, rows.length)
      return rows
    },
    outbox: async (taskId?: string): Promise<Array<OutboxRow>> =>
      (await sql.query(`select * from outbox where ($1::text is null or task_id = $1) order by id`, [taskId ?? null])).map(toOutbox),
    /** Entries not yet final: to send, or mined and waiting for confirmations. */
    pendingCount: async (): Promise<number> =>
      Number((await sql.query<{ n: string }>(`select count(*) as n from outbox where status in ('pending', 'sent')`))[0]!.n)
  }
}

export type TaskStore = Awaited<ReturnType<typeof make>>
