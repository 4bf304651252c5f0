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

export class AdmissionRefused extends Schema.TaggedError<AdmissionRefused>()("AdmissionRefused", {
  /** An AdmissionCode from this coordinator; kept open so a newer coordinator's codes still reach the embedder. */
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.code}: ${this.detail}`
  }
}
