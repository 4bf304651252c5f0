/**
 * Why the coordinator refused a participant's connection: one error for both ends. The coordinator raises it
 * when the login or the org's chain state fails (`coordinator/src/auth/Auth.ts`) and sends its code and message
 * with the refused handshake; the agent rejects `connected` with the same class (`participant/src/Agent.ts`).
 */
import { Schema } from "effect"

/** The refusals admission knows; a participant may also hear "Malformed" or "Internal" from the transport. */
export const AdmissionCode = Schema.Literals([
  "Malformed",
  "UnknownNonce",
  "ExpiredLogin",
  "BadSignature",
  "KeyNotAuthorized",
  /** The coordinator asks for a TLS client certificate named by the org's DID, and none was presented. */
  "ClientCertificateMissing",
  /** The presented TLS client certificate's key is not one the org's DID names (never published, rotated away). */
  "ClientCertificateNotInDid",
  "OrgNotRegistered",
  "OrgNotAudited",
  "OrgSuspended",
  "OrgRevoked",
  /** The coordinator could not read what admission needs (the chain, a DID, its nonce store); the nonce is not spent: retry. */
  "Unavailable",
  /** The coordinator's nonce store failed while spending the login nonce, which may be spent: ask for a new nonce. */
  "NonceUnsettled",
  "Internal"
])
export type AdmissionCode = typeof AdmissionCode.Type

/**
 * Whether a refusal is passing rather than the coordinator's verdict on the org: Unavailable (it could not read the
 * chain, a DID or its nonce store), NonceUnsettled (its nonce store failed mid-spend) and RateLimited (the
 * transport's connection budget of the participant's address ran out — a few handshakes missed on a slow link or
 * a busy machine, or other hosts behind the same NAT — and refills with time). The same org, unchanged, is
 * admitted later, so a participant keeps trying (with a fresh nonce each time, on its backoff, which lets the
 * budget refill) and does not report the refusal to its embedder as final. Every other code — the org's state, its
 * keys, its signature — stands until the org changes. Takes a string: a newer coordinator's codes are not transient.
 */
export const isTransient = (code: string): boolean => code === "Unavailable" || code === "NonceUnsettled" || code === "RateLimited"

export class AdmissionRefused extends Schema.TaggedError<AdmissionRefused>()("AdmissionRefused", {
  /** An AdmissionCode from this coordinator; kept open so a newer coordinator's codes still reach the embedder. */
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.code}: ${this.detail}`
  }
}
