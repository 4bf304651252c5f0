/**
 * The dashboard token of a participant whose policy asks a human (`mode: "ask"`). The human proves to the
 * participant — not to the coordinator — that a decision made in the coordinator's dashboard is theirs: the
 * dashboard computes an HMAC-SHA256 under the token over exactly this decision (task, participant, answer,
 * reason) and the coordinator only relays it. The coordinator never sees the token, so it can neither make a
 * decision, flip one, nor replay one onto another task; and the consent itself is still signed with the
 * participant's key, which never leaves it.
 *
 * The dashboard's browser code computes the same MAC with WebCrypto (coordinator/src/dashboard/public/app.js).
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js"

export interface HumanAnswer {
  readonly taskId: string
  /** The participant's checksummed address. */
  readonly participant: string
  readonly approve: boolean
  readonly reason: string
}

/** The exact bytes the MAC covers; a new line separates fields none of which can contain one but the reason (last). */
export const message = (a: HumanAnswer): string =>
  ["jointly.consent.human.v1", a.taskId.toLowerCase(), a.participant.toLowerCase(), a.approve ? "approve" : "reject", a.reason].join("\n")

export const mac = (token: string, answer: HumanAnswer): string => "0x" + bytesToHex(hmac(sha256, utf8ToBytes(token), utf8ToBytes(message(answer))))

/** Constant-time comparison of the expected MAC with the one received. */
export const verify = (token: string, answer: HumanAnswer, received: string): boolean => sameMac(mac(token, answer), received)

/**
 * The bytes a dashboard sign-in MAC covers: the coordinator's Sign-In with Ethereum message, behind its own label
 * so a sign-in MAC can never pass for a consent decision's, nor the reverse.
 */
export const signInMessage = (siwe: string): string => ["jointly.dashboard.sign-in.v1", siwe].join("\n")

export const signInMac = (token: string, siwe: string): string => "0x" + bytesToHex(hmac(sha256, utf8ToBytes(token), utf8ToBytes(signInMessage(siwe))))

export const verifySignIn = (token: string, siwe: string, received: string): boolean => sameMac(signInMac(token, siwe), received)

const sameMac = (expectedHex: string, received: string): boolean => {
  const expected = hexToBytes(expectedHex.slice(2))
  let got: Uint8Array
  try {
    got = hexToBytes(received.replace(/^0x/, ""))
  } catch {
    return false
  }
  if (got.length !== expected.length) return false
  let diff = 0
  for (let i = 0; i < got.length; i++) diff |= got[i]! ^ expected[i]!
  return diff === 0
}

/** A fresh token: 24 random bytes, base64url (what `jointly participant` prints once and keeps in its data dir). */
export const generate = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(24))
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}
