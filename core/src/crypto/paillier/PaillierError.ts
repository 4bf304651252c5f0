import { Schema } from "effect"

/**
 * Every way a Paillier input can be wrong, as one error with a reason (STYLE.md: wrapper plus reason), so it
 * crosses the worker boundary and the wire intact. Fixed-point overflow is `FixedPointError` from
 * core/src/crypto/FixedPoint.ts.
 */
export const PaillierErrorReason = Schema.Literals([
  "CiphertextOutOfRange", // c < 0 or c ≥ N²
  "CiphertextZero",
  "CiphertextNotInvertible", // gcd(c, N) ≠ 1: not in Z*_{N²}
  "KeySize", // N not 2048 or 3072 bits (test keys need the explicit test-only override)
  "KeyFormat", // structurally invalid key material (even N, bad h_s, p·q ≠ N, …)
  "KeyMismatch", // operands or a decoded value under different keys
  "PlaintextOutOfRange", // m outside [0, N), or |m| ≥ N/2 for signed input
  "PackingOverflow", // a packed slot or the packed total exceeds its headroom
  "InvalidDecryptionProof", // a revealed (m, r) that does not open the ciphertext: (1+N)^m·r^N ≠ c, or r ∉ Z*_N
  "Encoding" // bytes with the wrong magic, version, kind or length
])
export type PaillierErrorReason = typeof PaillierErrorReason.Type

export class PaillierError extends Schema.TaggedError<PaillierError>()("PaillierError", {
  reason: PaillierErrorReason,
  detail: Schema.String
}) {
  override get message() {
    return `paillier ${this.reason}: ${this.detail}`
  }
}

export const fail = (reason: PaillierErrorReason, detail: string): never => {
  throw new PaillierError({ reason, detail })
}
