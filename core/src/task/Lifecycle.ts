/**
 * A task's life (DESIGN.md §3). The same table is enforced by the TaskLedger contract, so a transition the
 * coordinator persists is always one the chain accepts.
 */
import { Schema } from "effect"

export const Status = Schema.Literals([
  "Submitted",
  "AwaitingConsent",
  "Rejected",
  "Scheduled",
  "Running",
  "Succeeded",
  "Failed",
  "Cancelled",
  "TimedOut"
])
export type Status = typeof Status.Type

/** Order used by the TaskLedger contract's `Status` enum. */
export const statusIndex: Record<Status, number> = {
  Submitted: 0,
  AwaitingConsent: 1,
  Rejected: 2,
  Scheduled: 3,
  Running: 4,
  Succeeded: 5,
  Failed: 6,
  Cancelled: 7,
  TimedOut: 8
}

export const finalStatuses: ReadonlySet<Status> = new Set(["Rejected", "Succeeded", "Failed", "Cancelled", "TimedOut"])

export const isFinal = (status: Status): boolean => finalStatuses.has(status)

const allowed: Record<Status, ReadonlyArray<Status>> = {
  Submitted: ["AwaitingConsent", "Failed", "Cancelled"],
  AwaitingConsent: ["Rejected", "Scheduled", "Cancelled", "TimedOut", "Failed"],
  Scheduled: ["Running", "Cancelled", "Failed", "TimedOut"],
  // A coordinator restart puts a running task back to Scheduled for a fresh attempt.
  Running: ["Succeeded", "Failed", "Cancelled", "TimedOut", "Scheduled"],
  Rejected: [],
  Succeeded: [],
  Failed: [],
  Cancelled: [],
  TimedOut: []
}

export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()("IllegalTransition", {
  from: Status,
  to: Status
}) {
  override get message() {
    return `a task cannot go from ${this.from} to ${this.to}`
  }
}

export const canTransition = (from: Status, to: Status): boolean => allowed[from].includes(to)

export const assertTransition = (from: Status, to: Status): void => {
  if (!canTransition(from, to)) throw new IllegalTransition({ from, to })
}
