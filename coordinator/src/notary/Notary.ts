/**
 * Drains the chain outbox in order. Notarization never blocks computation: tasks move on as soon as the store
 * has their state, and this loop catches the chain up. Every write carries the outbox entry's event id and the
 * TaskLedger ignores an id it has seen, so a resend after a crash cannot duplicate an event; before sending,
 * an entry whose id is already on chain is simply confirmed with the transaction that recorded it.
 */
import type { LedgerClient } from "@jointly/core/ledger/Ledger.ts"
import { LedgerError } from "@jointly/core/ledger/Ledger.ts"
import type { Log } from "../Log.ts"
import type { OutboxRow, TaskStore } from "../store/TaskStore.ts"

/** A revert is deterministic: after this many tries the entry is parked as failed and the queue moves on. */
const maxRevertAttempts = 3
const idleMs = 200
const maxBackoffMs = 10_000

const send = (ledger: LedgerClient, row: OutboxRow) => {
  const eventId = row.eventId
  const taskId = row.taskId!
  const op = row.op
  switch (op.op) {
    case "createTask":
      return ledger.createTask({ eventId, taskId, specHash: op.specHash, kind: op.kind, initiator: op.initiator, participants: op.participants })
    case "recordConsent":
      return ledger.recordConsent({
        eventId,
        taskId,
        specHash: taskId,
        participant: op.participant,
        approve: op.approve,
        reasonHash: op.reasonHash,
        signature: op.signature
      })
    case "transition":
      return ledger.transition({ eventId, taskId, to: op.to, reasonHash: op.reasonHash })
    case "commitPhase":
      return ledger.commitPhase({ eventId, taskId, phase: op.phase, root: op.root })
    case "recordResult":
      return ledger.recordResult({ eventId, taskId, resultDigest: op.digest })
  }
}

/** The transaction that recorded `eventId`, found in the task's on-chain history. */
const findRecorded = async (ledger: LedgerClient, row: OutboxRow) => {
  const history = await ledger.taskHistory(row.taskId!)
  return history.find((entry) => entry.eventId.toLowerCase() === row.eventId.toLowerCase())
}

export const make = (store: TaskStore, ledger: LedgerClient, log: Log) => {
  let stopped = false
  let wake: (() => void) | undefined
  let backoffMs = idleMs
  const drained = new Set<() => void>()

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  const step = async (): Promise<boolean> => {
    const row = await store.nextPending()
    if (!row) {
      for (const resolve of drained) resolve()
      drained.clear()
      return false
    }
    try {
      const recorded = await ledger.isRecorded(row.eventId)
      if (recorded) {
        const entry = await findRecorded(ledger, row)
        await store.confirm(row.id, entry?.txHash ?? "0x", entry ? Number(entry.blockNumber) : null)
      } else {
        const write = await send(ledger, row)
        await store.confirm(row.id, write.txHash, Number(write.blockNumber))
        log.debug("notarized", { op: row.op.op, taskId: row.taskId, txHash: write.txHash })
      }
      backoffMs = idleMs
    } catch (error) {
      // A revert or a refused argument will not change by waiting; an unreachable node will.
      const reverted = error instanceof LedgerError && (error.reason._tag === "Reverted" || error.reason._tag === "InvalidInput")
      const giveUp = reverted && row.attempts + 1 >= maxRevertAttempts
      await store.retryLater(row.id, error instanceof Error ? error.message : String(error), giveUp)
      log.warn(giveUp ? "chain write failed for good" : "chain write failed; will retry", {
        op: row.op.op,
        taskId: row.taskId,
        error: error instanceof Error ? error.message.split("\n")[0] : String(error)
      })
      backoffMs = Math.min(maxBackoffMs, backoffMs * 2)
      if (!reverted) await sleep(backoffMs)
    }
    return true
  }

  const loop = async () => {
    while (!stopped) {
      const worked = await step().catch((error) => {
        log.error("notary step failed", { error: String(error) })
        return false
      })
      if (!worked && !stopped) await sleep(idleMs)
    }
  }

  const running = loop()

  return {
    /** Wakes the loop at once (e.g. after a transition) instead of at the next poll. */
    poke: () => wake?.(),
    /** Resolves once the outbox is empty (every queued event is confirmed or parked). */
    drained: () =>
      new Promise<void>((resolve) => {
        drained.add(resolve)
        wake?.()
      }),
    stop: async () => {
      stopped = true
      wake?.()
      await running
    }
  }
}

export type Notary = ReturnType<typeof make>
