/**
 * End-to-end encrypted relay between the participants of one joint-query task (DESIGN.md §4): each party
 * publishes a fresh X25519 key signed with its chain account in the first stage (as secure aggregation does);
 * every payload relayed by the coordinator is `Ecies.seal`ed under the pairwise `KeyAgreement` key, with the
 * task, stage, sender, recipient and chunk coordinates as associated data, so the coordinator sees sizes only
 * and cannot replay a chunk elsewhere (or a fully-blinded set to someone else).
 */
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { Effect, Schema } from "effect"
import * as Ecies from "../../crypto/Ecies.ts"
import * as KeyAgreement from "../../crypto/KeyAgreement.ts"
import * as Signatures from "../../crypto/Signatures.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { ParticipantFailure } from "../Protocol.ts"

export const Advertisement = Schema.Struct({
  participant: Schema.String,
  channelPublicKey: Schema.Uint8ArrayFromBase64,
  /** Elements (ids or queries) this party brings, after de-duplication: every peer learns it, as in DH-PSI. */
  count: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Extra public material bound by the signature (e.g. a Paillier public key), base64; empty when none. */
  extra: Schema.Uint8ArrayFromBase64,
  signature: Schema.String
})
export type Advertisement = typeof Advertisement.Type

export const message = (session: { readonly taskId: string; readonly attempt: number }, participant: string, key: Uint8Array, count: number, extra: Uint8Array) =>
  concatBytes(
    utf8ToBytes(`jointly/query/advertisement/v1|${session.taskId}|${session.attempt}|${participant}|${count}|`),
    key,
    sha256(extra)
  )

export interface Keys {
  readonly channel: KeyAgreement.KeyPair
}

/** A fresh channel key pair and its signed advertisement. */
export const advertise = (session: ParticipantSession, count: number, extra: Uint8Array = new Uint8Array(0)) =>
  Effect.gen(function*() {
    const channel = (yield* KeyAgreement.KeyAgreement).generateKeyPair()
    const signature = yield* session.sign(message(session, session.self, channel.publicKey, count, extra))
    return { channel, advertisement: { channelPublicKey: channel.publicKey, count, extra, signature } }
  })

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

/** Checks every advertisement (signed by its participant, one per participant, own key unchanged, keys distinct). */
export const verify = (
  session: ParticipantSession,
  stage: string,
  expected: ReadonlyArray<string>,
  advertisements: ReadonlyArray<Advertisement>,
  own: Uint8Array
): Effect.Effect<ReadonlyMap<string, Advertisement>, ParticipantFailure> => {
  const peers = new Map<string, Advertisement>()
  const keys = new Set<string>()
  for (const ad of advertisements) {
    if (!expected.includes(ad.participant)) return Effect.fail(fail(session, stage, "ForgedAdvertisement", `${ad.participant} is not a party of this query`))
    if (peers.has(ad.participant)) return Effect.fail(fail(session, stage, "ForgedAdvertisement", `two advertisements for ${ad.participant}`))
    if (!Signatures.verify(ad.participant, message(session, ad.participant, ad.channelPublicKey, ad.count, ad.extra), ad.signature)) {
      return Effect.fail(fail(session, stage, "ForgedAdvertisement", `the key advertised for ${ad.participant} is not signed by it`))
    }
    const hex = bytesToHex(ad.channelPublicKey)
    if (keys.has(hex)) return Effect.fail(fail(session, stage, "ForgedAdvertisement", `the key of ${ad.participant} is reused`))
    keys.add(hex)
    peers.set(ad.participant, ad)
  }
  const missing = expected.find((p) => !peers.has(p))
  if (missing !== undefined) return Effect.fail(fail(session, stage, "MissingAdvertisement", `no key from ${missing}`))
  if (bytesToHex(peers.get(session.self)!.channelPublicKey) !== bytesToHex(own)) {
    return Effect.fail(fail(session, stage, "ForgedAdvertisement", "this participant's own key was replaced"))
  }
  return Effect.succeed(peers)
}

const associatedData = (taskId: string, from: string, to: string, label: string) => utf8ToBytes(`jointly/query/v1|${taskId}|${from}|${to}|${label}`)

const key_ = (keyAgreement: KeyAgreement.KeyAgreementApi, session: ParticipantSession, secretKey: Uint8Array, peer: Uint8Array) =>
  keyAgreement.agree(secretKey, peer, `jointly/query/channel/${session.taskId}`)

// Chunks are up to 2 MiB: AES-GCM runs in WebCrypto (native in Node and browsers) rather than @noble/ciphers,
// which cost ~2 s of the main thread per 30k×30k PSI here. The box is Ecies.seal's own format
// (version ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag), so either side can open the other's.
const NONCE_BYTES = 12
const BOX_OVERHEAD = 1 + NONCE_BYTES + 16

const aesKey = (raw: Uint8Array, usage: "encrypt" | "decrypt") =>
  crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, { name: "AES-GCM" }, false, [usage])

/** Seals `plaintext` from this participant to `to`; `label` names the chunk (stage, source, hop, index). */
export const seal = (session: ParticipantSession, stage: string, secretKey: Uint8Array, to: string, peerKey: Uint8Array, label: string, plaintext: Uint8Array) =>
  Effect.flatMap(KeyAgreement.KeyAgreement, (keyAgreement) => Effect.tryPromise({
    try: async () => {
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
      const additionalData = associatedData(session.taskId, session.self, to, label)
      const key = await aesKey(key_(keyAgreement, session, secretKey, peerKey), "encrypt")
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: additionalData as Uint8Array<ArrayBuffer> }, key, plaintext as Uint8Array<ArrayBuffer>))
      const box = new Uint8Array(1 + NONCE_BYTES + sealed.length)
      box[0] = Ecies.VERSION
      box.set(nonce, 1)
      box.set(sealed, 1 + NONCE_BYTES)
      return box
    },
    catch: (error) => fail(session, stage, "KeyAgreementFailed", `${to}: ${String(error)}`)
  }))

/** Opens a payload sealed by `from` for this participant; a tampered, misdirected or replayed-elsewhere box fails. */
export const open = (session: ParticipantSession, stage: string, secretKey: Uint8Array, from: string, peerKey: Uint8Array, label: string, box: Uint8Array) =>
  Effect.flatMap(KeyAgreement.KeyAgreement, (keyAgreement) => Effect.tryPromise({
    try: async () => {
      if (box.length < BOX_OVERHEAD) throw new Error(`malformed: need at least ${BOX_OVERHEAD} bytes, got ${box.length}`)
      if (box[0] !== Ecies.VERSION) throw new Error(`unsupported version ${box[0]}`)
      const key = await aesKey(key_(keyAgreement, session, secretKey, peerKey), "decrypt")
      const additionalData = associatedData(session.taskId, from, session.self, label)
      try {
        return new Uint8Array(await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: box.subarray(1, 1 + NONCE_BYTES) as Uint8Array<ArrayBuffer>, additionalData: additionalData as Uint8Array<ArrayBuffer> },
          key,
          box.subarray(1 + NONCE_BYTES) as Uint8Array<ArrayBuffer>
        ))
      } catch {
        throw new Error("authentication failed: wrong key, wrong associated data or tampered ciphertext")
      }
    },
    catch: (error) => fail(session, stage, "UndecryptablePayload", `from ${from} (${label}): ${error instanceof Error ? error.message : String(error)}`)
  }))
