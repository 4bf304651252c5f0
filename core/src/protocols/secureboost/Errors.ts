/**
 * The one error of the SecureBoost engine: a reason, the party that raised it (its index in the task's party
 * order, the label holder first; −1 where no party applies) and a detail a user can act on. Schema-backed so it
 * crosses worker threads and the wire; the stage handlers will map it to a ParticipantFailure.
 */
import { Effect, Schema } from "effect"

export class SecureBoostError extends Schema.TaggedError<SecureBoostError>()("SecureBoostError", {
  reason: Schema.Literals([
    /** A hyper-parameter or option out of range, or inconsistent with the data. */
    "InvalidParams",
    /** A feature value that is not finite, a missing column, a label that is not 0/1 for binary. */
    "InvalidData",
    /** A message that does not fit the protocol state (wrong tree, unknown node, wrong lengths). */
    "InvalidMessage",
    /** A packed value would not fit its slots, or a sum would not stay exact in float64. */
    "Headroom",
    /** A worker job failed. */
    "ComputeFailed",
    /** A prediction referenced a lookup record this party does not hold. */
    "UnknownRecord",
    /** Saved training progress that does not fit this run (other rows, other bins, another tree count). */
    "ResumeMismatch"
  ]),
  party: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `secureboost ${this.reason}${this.party >= 0 ? ` (party ${this.party})` : ""}: ${this.detail}`
  }
}

export const fail = (reason: SecureBoostError["reason"], party: number, detail: string): never => {
  throw new SecureBoostError({ reason, party, detail })
}

/** Runs `f`, keeping a SecureBoostError it throws and wrapping anything else (a PaillierError, a RangeError) as `reason`. */
export const guard = <A>(party: number, reason: SecureBoostError["reason"], f: () => A): Effect.Effect<A, SecureBoostError> =>
  Effect.try({
    try: f,
    catch: (error) => (error instanceof SecureBoostError ? error : new SecureBoostError({ reason, party, detail: error instanceof Error ? error.message : String(error) }))
  })

export const invalid = (party: number, detail: string) => new SecureBoostError({ reason: "InvalidMessage", party, detail })
