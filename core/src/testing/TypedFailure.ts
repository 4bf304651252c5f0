/**
 * Test helper: the typed failure of an Exit — what a test of "fails with tagged error X, not a defect" reads. Throws
 * when the Exit succeeded or failed only with a defect or an interruption, printing the cause.
 */
import { Cause, Exit } from "effect"

export const typedFailure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const found = exit.cause.reasons.find(Cause.isFailReason)
  if (found === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return found.error
}
