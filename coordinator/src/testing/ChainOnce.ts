/**
 * The check every crash and takeover test ends with: each outbox entry of a task confirmed by exactly one
 * transaction that recorded exactly that event, the task's transitions on chain as given, and one result digest —
 * the task's own. (Vitest's `expect`: a test helper only.)
 */
import { expect } from "vitest"
import type { LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import type { TaskDetail } from "@jointly/cli/internal/local/LocalCluster"

export const expectNotarizedOnce = async (ledger: Pick<LedgerClient, "taskHistory">, detail: TaskDetail, transitions: ReadonlyArray<string>) => {
  const history = await ledger.taskHistory(detail.id)
  const ids = history.map((e) => e.eventId.toLowerCase())
  expect(new Set(ids).size).toBe(ids.length)
  expect(detail.chain.length).toBe(history.length)
  for (const entry of detail.chain) {
    expect(entry.status, `${entry.op} ${entry.lastError}`).toBe("confirmed")
    const onChain = history.filter((e) => e.eventId.toLowerCase() === entry.eventId.toLowerCase())
    expect(onChain, `${entry.op} ${entry.eventId}`).toHaveLength(1)
    expect(onChain[0]!.txHash).toBe(entry.txHash)
  }
  expect(history.flatMap((e) => (e._tag === "TaskTransitioned" ? [`${e.from}->${e.to}`] : []))).toEqual(transitions)
  expect(history.filter((e) => e._tag === "ResultRecorded").map((e) => e.resultDigest)).toEqual([detail.resultDigest])
}
