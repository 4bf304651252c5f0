/**
 * Signing and checking key advertisements (stage 0 of `server.ts`), shared by both roles.
 *
 * Each participant draws one Ed25519 signing key per task attempt and has its chain account certify it once
 * (`Spec.certificateMessage`, EIP-191 through `session.sign`); every aggregation's advertisement is then signed
 * with that key. A verifier checks a peer's certificate (a secp256k1 recovery, ~2.5 ms in JS) once per attempt
 * and caches the result, and each advertisement with Ed25519 (~0.1 ms under Node): with one aggregation per
 * training round, the per-round cost of n(n−1) certificate checks disappears while every advertisement is still
 * bound to the participant's account.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Ed25519 from "../../crypto/Ed25519.ts"
import * as Signatures from "../../crypto/Signatures.ts"
import type { ParticipantFailure, ParticipantSession } from "../Protocol.ts"
import * as Spec from "./spec.ts"

/** A participant's signing key and its account's certificate, kept in `session.memory` for the attempt. */
export interface Identity {
  readonly key: Ed25519.SigningKey
  readonly certificate: string
}

const IDENTITY = "secagg/signing-key"
const VERIFIED = "secagg/verified-certificates"

/** This participant's signing identity for the attempt, created (and certified by its account) on first use. */
export const identity = (session: ParticipantSession): Effect.Effect<Identity, ParticipantFailure> =>
  Effect.gen(function*() {
    const existing = session.memory.get(IDENTITY) as Identity | undefined
    if (existing !== undefined) return existing
    const key = (yield* Ed25519.Ed25519).generate()
    const certificate = yield* session.sign(Spec.certificateMessage(session, session.self, key.publicKey))
    // Two aggregations may advertise concurrently: the first identity stored wins, so there is only one per attempt.
    const raced = session.memory.get(IDENTITY) as Identity | undefined
    if (raced !== undefined) return raced
    const created = { key, certificate }
    session.memory.set(IDENTITY, created)
    return created
  })

/** The fields of stage 0's reply for these keys, signed with the host's `ed25519`. */
export const sign = (
  ed25519: Ed25519.Ed25519Api,
  session: ParticipantSession,
  own: Identity,
  parameters: Spec.Parameters,
  channelPublicKey: Uint8Array,
  maskPublicKey: Uint8Array
): Spec.AdvertiseKeysReply => ({
  channelPublicKey,
  maskPublicKey,
  signingKey: own.key.publicKey,
  certificate: own.certificate,
  signature: ed25519.sign(own.key, Spec.advertisementMessage(session, parameters, session.self, channelPublicKey, maskPublicKey))
})

/** Certificates (by digest of message and signature) already checked by one verifier in one task attempt. */
export type Verified = Set<string>

/** The verified-certificate cache of a participant: its memory lives exactly as long as the attempt. */
export const participantCache = (session: ParticipantSession): Verified => {
  let cache = session.memory.get(VERIFIED) as Verified | undefined
  if (cache === undefined) session.memory.set(VERIFIED, (cache = new Set()))
  return cache
}

/**
 * True when `ad` speaks for `ad.participant`: its signing key is certified by the participant's account for this
 * task attempt (checked once per verifier, then cached), and the advertisement (parameters and both keys) is
 * signed by that key.
 */
export const verify = (
  ed25519: Ed25519.Ed25519Api,
  context: Spec.Context,
  parameters: Spec.Parameters,
  ad: Spec.Advertisement,
  verified: Verified
): boolean => {
  if (!certified(context, ad, verified)) return false
  const message = Spec.advertisementMessage(context, parameters, ad.participant, ad.channelPublicKey, ad.maskPublicKey)
  return ed25519.verify(ad.signingKey, message, ad.signature)
}

/**
 * True when `ad`'s signing key is certified by the participant's account for this task attempt: checked once per
 * verifier and attempt (a secp256k1 recovery), then cached in `verified`.
 */
export const certified = (context: Spec.Context, ad: Pick<Spec.Advertisement, "participant" | "signingKey" | "certificate">, verified: Verified): boolean => {
  const certificate = Spec.certificateMessage(context, ad.participant, ad.signingKey)
  // The certificate check is a pure function of (message, signature); the message names the participant.
  const id = `${bytesToHex(sha256(certificate))}|${ad.certificate}`
  if (verified.has(id)) return true
  if (!Signatures.verify(ad.participant, certificate, ad.certificate)) return false
  verified.add(id)
  return true
}
