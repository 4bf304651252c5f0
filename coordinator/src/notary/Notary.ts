/**
 * Drains the chain outbox in order and sees every record to finality. Notarization never blocks computation:
 * tasks move on as soon as the store has their state, and this service catches the chain up.
 *
 * An entry goes `pending` → `sent` (mined) → `confirmed` (final: the chain's `confirmations` blocks hold it in
 * a canonical block). A sent entry whose transaction left the canonical chain (a reorganisation: the receipt is
 * gone, or its block is no longer the one at that height) goes back to `pending` and is sent again. Every write
 * carries the entry's event id and the TaskLedger ignores an id it has seen, for every record kind, so a resend
 * after a crash or a reorg cannot duplicate an event; before sending, an entry whose id is already on chain
 * simply adopts the transaction that recorded it.
 *
 * An Effect service (`Notary`, `layer`) whose loop runs in the layer's scope; retries of an unreachable node,
 * a fee above the ceiling or a nonce conflict back off through `Schedule`. `start` is the Promise facade the
 * coordinator process uses.
 */
import { Context, Deferred, Effect, Layer, ManagedRuntime, Queue, Schedule } from "effect"
import type { ChainError } from "@jointly/core/internal/ledger/ChainError"
import type { LedgerShape } from "@jointly/core/internal/ledger/Ledger"
import type { Log } from "../Log.ts"
import type { OutboxRow, TaskStoreShape } from "../store/TaskStore.ts"

/** The outbox as the notary needs it. */
export type OutboxStore = Pick<TaskStoreShape, "nextPending" | "sent" | "markSent" | "confirm" | "requeue" | "retryLater" | "pendingCount">

export interface NotaryShape {
  /** Wakes the loop at once (e.g. after a transition) instead of at the next poll. */
  readonly poke: Effect.Effect<void>
  /** Completes once every queued entry is final (confirmed) or parked as failed. */
  readonly drained: Effect.Effect<void>
}

export class Notary extends Context.Service<Notary, NotaryShape>()("jointly/Notary") {}

export interface NotaryOptions {
  /** How often an idle loop looks for new entries and for confirmations (default 200 ms). */
  readonly idleMs?: number
  /** A revert is deterministic: after this many tries the entry is parked as failed (default 3). */
  readonly maxRevertAttempts?: number
  /**
   * The longest wait between two tries while the chain node does not answer (default 10 s): the wait doubles from
   * `idleMs` up to it, so an outage costs at most this much delay once the node is back.
   */
  readonly maxRetryMs?: number
}

const send = (ledger: LedgerShape, row: OutboxRow) => {
  const eventId = row.eventId
  const taskId = row.taskId!
  const op = row.op
  switch (op.op) {
    case "createTask":
      return ledger.createTask({ eventId, taskId, specHash: op.specHash, kind: op.kind, initiator: op.initiator, participants: op.participants })
    case "recordConsent":
      return ledger.recordConsent({ eventId, taskId, participant: op.participant, approve: op.approve, reasonHash: op.reasonHash, signature: op.signature })
    case "transition":
      return ledger.transition({ eventId, taskId, to: op.to, reasonHash: op.reasonHash })
    case "commitPhase":
      return ledger.commitPhase({ eventId, taskId, phase: op.phase, root: op.root })
    case "recordResult":
      return ledger.recordResult({ eventId, taskId, resultDigest: op.digest })
  }
}

export const make = (deps: { readonly store: OutboxStore; readonly ledger: LedgerShape; readonly log: Log; readonly options?: NotaryOptions }) =>
  Effect.gen(function*() {
    const { store, ledger, log } = deps
    const idleMs = deps.options?.idleMs ?? 200
    const maxRevertAttempts = deps.options?.maxRevertAttempts ?? 3
    const wake = yield* Queue.dropping<void>(1)
    const waiters = new Set<Deferred.Deferred<void>>()

    /** The transaction that recorded the entry's event id, from the task's on-chain history. */
    const recordedBy = (row: OutboxRow) =>
      ledger.taskHistory(row.taskId!).pipe(
        Effect.map((history) => history.find((entry) => entry.eventId.toLowerCase() === row.eventId.toLowerCase()))
      )

    /** Sends the oldest pending entry (or adopts the transaction that already recorded it). */
    const sendNext = Effect.gen(function*() {
      const row = yield* store.nextPending()
      if (row === undefined) return false
      const attempt = Effect.gen(function*() {
        if (yield* ledger.isRecorded(row.eventId)) {
          const entry = yield* recordedBy(row)
          // Recorded but not yet in the logs this node serves: look again after the idle wait.
          if (entry === undefined) return false
          yield* store.markSent(row.id, entry.txHash, Number(entry.blockNumber))
          return true
        }
        const write = yield* send(ledger, row)
        // Not applied: another transaction recorded the id meanwhile (e.g. the original re-mined after a reorg).
        const by = write.applied ? { txHash: write.txHash, blockNumber: write.blockNumber } : yield* recordedBy(row)
        if (by !== undefined) yield* store.markSent(row.id, by.txHash, Number(by.blockNumber))
        log.debug("notarized", { op: row.op.op, taskId: row.taskId, txHash: write.txHash, applied: write.applied })
        return true
      })
      return yield* attempt.pipe(
        Effect.catchTag("ChainError", (error: ChainError) =>
          Effect.gen(function*() {
            const giveUp = !error.transient && row.attempts + 1 >= maxRevertAttempts
            yield* store.retryLater(row.id, error.message, giveUp)
            log.warn(giveUp ? "chain write failed for good" : "chain write failed; will retry", {
              op: row.op.op,
              taskId: row.taskId,
              error: error.shortMessage
            })
            // A revert will not change by waiting (tried again at once, then parked); the rest backs off.
            if (error.transient) return yield* Effect.fail(error)
            return true
          })
        )
      )
    })

    /** Confirms the mined entries that are now final; puts back those whose transaction left the chain. */
    const settle = Effect.gen(function*() {
      const sent = yield* store.sent()
      let reorganised = false
      for (const row of sent) {
        const where = yield* ledger.inclusion(row.txHash!)
        if (where._tag === "Missing") {
          reorganised = true
          yield* store.requeue(row.id, `transaction ${row.txHash} left the canonical chain; sending again`)
          log.warn("chain record reorganised away; sending again", { op: row.op.op, taskId: row.taskId, txHash: row.txHash })
        } else if (where.final) {
          yield* store.confirm(row.id, row.txHash!, Number(where.blockNumber), where.blockHash)
        }
      }
      // Transactions of this key left with the blocks: the next nonce is the node's again, not our count.
      if (reorganised) yield* ledger.resync()
      return sent.length
    })

    const notifyIfDrained = Effect.gen(function*() {
      if (waiters.size === 0) return
      if ((yield* store.pendingCount()) > 0) return
      for (const waiter of waiters) yield* Deferred.succeed(waiter, undefined)
      waiters.clear()
    })

    const idle = Queue.take(wake).pipe(Effect.timeoutOption(idleMs), Effect.asVoid)

    const backoff = Schedule.min([Schedule.exponential(`${idleMs} millis`), Schedule.spaced(`${deps.options?.maxRetryMs ?? 10_000} millis`)])

    const pass = Effect.gen(function*() {
      const worked = yield* sendNext
      yield* settle
      yield* notifyIfDrained
      return worked
    }).pipe(
      // A store that did not answer is retried like an unreachable node, and so is a write refused for a lost
      // lease (the next pass, without the lease, finds nothing to send).
      Effect.retry({ schedule: backoff, while: (e) => e._tag !== "ChainError" || e.transient })
    )

    const loop = pass.pipe(
      Effect.catchCause((cause) => Effect.sync(() => log.error("notary pass failed", { error: String(cause) })).pipe(Effect.as(false))),
      Effect.flatMap((worked) => (worked ? Effect.void : idle)),
      Effect.forever
    )
    yield* Effect.forkScoped(loop)

    const poke = Queue.offer(wake, undefined).pipe(Effect.asVoid)
    const shape: NotaryShape = {
      poke,
      drained: Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        waiters.add(done)
        yield* poke
        yield* Deferred.await(done)
      })
    }
    return shape
  })

export const layer = (deps: Parameters<typeof make>[0]): Layer.Layer<Notary> => Layer.effect(Notary, make(deps))

/** The Promise facade: the notary runs until `stop`. */
export const start = (deps: Parameters<typeof make>[0]) => {
  const runtime = ManagedRuntime.make(layer(deps))
  const notary = runtime.runPromise(Effect.gen(function*() {
    return yield* Notary
  }))
  return {
    poke: () => void notary.then((n) => runtime.runPromise(n.poke)),
    drained: () => notary.then((n) => runtime.runPromise(n.drained)),
    stop: () => runtime.dispose()
  }
}

export type NotaryHandle = ReturnType<typeof start>

