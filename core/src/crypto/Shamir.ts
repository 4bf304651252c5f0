/**
 * t-of-n Shamir secret sharing of byte strings (PROTOCOLS.md §0: "Secret sharing of root keys: Shamir"),
 * a typed layer over the audited `shamir-secret-sharing` package (GF(256), one polynomial per byte).
 *
 * Each share names its holder and the threshold it was dealt with, because the underlying scheme cannot tell
 * by itself: combining fewer than t shares silently yields a wrong secret. `combine` therefore refuses too
 * few shares, mixed thresholds, duplicate holders or x-coordinates and mismatched lengths. It cannot detect a
 * share whose bytes were altered; callers that must be sure check the result against a commitment (secure
 * aggregation compares a reconstructed key with its advertised public key).
 */
import { Effect, Schema } from "effect"
import { combine as combineBytes, split as splitBytes } from "shamir-secret-sharing"

/** The package's GF(256) x-coordinates are the bytes 1…255. */
export const MAX_SHARES = 255

export class ShamirError extends Schema.TaggedError<ShamirError>()("ShamirError", {
  reason: Schema.Literals(["InvalidParameters", "TooFewShares", "InconsistentShares"]),
  detail: Schema.String
}) {
  override get message() {
    return `shamir ${this.reason}: ${this.detail}`
  }
}

export interface Share {
  /** Who holds this share (a participant id). */
  readonly holder: string
  /** Shares needed to reconstruct. */
  readonly threshold: number
  /** The package's share encoding: one byte per secret byte, then the x-coordinate. */
  readonly bytes: Uint8Array
}

/**
 * Deals `secret` to `holders` (one share each, in order), any `threshold` of which reconstruct it.
 * Requires 2 ≤ threshold ≤ holders.length ≤ 255, distinct holders and a non-empty secret.
 */
export const split = (
  secret: Uint8Array,
  holders: ReadonlyArray<string>,
  threshold: number
): Effect.Effect<ReadonlyArray<Share>, ShamirError> =>
  Effect.gen(function*() {
    if (secret.length === 0) return yield* invalid("secret must not be empty")
    if (!Number.isInteger(threshold) || threshold < 2) return yield* invalid(`threshold must be an integer ≥ 2, got ${threshold}`)
    if (holders.length < threshold || holders.length > MAX_SHARES) {
      return yield* invalid(`need between threshold (${threshold}) and ${MAX_SHARES} holders, got ${holders.length}`)
    }
    if (new Set(holders).size !== holders.length) return yield* invalid("holders must be distinct")
    const shares = yield* Effect.tryPromise({
      try: () => splitBytes(secret, holders.length, threshold),
      catch: (cause) => new ShamirError({ reason: "InvalidParameters", detail: String(cause) })
    })
    return holders.map((holder, i) => ({ holder, threshold, bytes: shares[i]! }))
  })

/**
 * Reconstructs the secret from at least `threshold` shares of one dealing (all given shares are used).
 * `threshold`, when given, must match the shares' own.
 */
export const combine = (
  shares: ReadonlyArray<Share>,
  threshold?: number
): Effect.Effect<Uint8Array, ShamirError> =>
  Effect.gen(function*() {
    const first = shares[0]
    const expected = threshold ?? first?.threshold
    if (first === undefined || expected === undefined) return yield* tooFew(0, threshold ?? 2)
    if (shares.some((share) => share.threshold !== expected)) {
      return yield* inconsistent(`shares disagree on the threshold (expected ${expected})`)
    }
    if (shares.length < expected) return yield* tooFew(shares.length, expected)
    if (shares.length > MAX_SHARES) return yield* inconsistent(`at most ${MAX_SHARES} shares exist, got ${shares.length}`)
    const length = first.bytes.length
    if (length < 2) return yield* inconsistent("a share holds at least one secret byte and its x-coordinate")
    if (shares.some((share) => share.bytes.length !== length)) return yield* inconsistent("shares differ in length")
    if (new Set(shares.map((share) => share.holder)).size !== shares.length) return yield* inconsistent("duplicate holder")
    const xs = new Set(shares.map((share) => share.bytes[length - 1]!))
    if (xs.size !== shares.length || xs.has(0)) return yield* inconsistent("duplicate or zero x-coordinate")
    return yield* Effect.tryPromise({
      try: () => combineBytes(shares.map((share) => share.bytes)),
      catch: (cause) => new ShamirError({ reason: "InconsistentShares", detail: String(cause) })
    })
  })

const invalid = (detail: string) => Effect.fail(new ShamirError({ reason: "InvalidParameters", detail }))
const inconsistent = (detail: string) => Effect.fail(new ShamirError({ reason: "InconsistentShares", detail }))
const tooFew = (got: number, needed: number) =>
  Effect.fail(new ShamirError({ reason: "TooFewShares", detail: `needed ${needed} shares, got ${got}` }))
