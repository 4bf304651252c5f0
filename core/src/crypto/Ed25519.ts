/**
 * Ed25519 signatures (RFC 8032) for short-lived protocol signing keys: secure aggregation signs each round's key
 * advertisement with a per-task-attempt Ed25519 key that the participant's chain account certified once
 * (secure-aggregation/spec.ts, `certificateMessage`), so the expensive secp256k1 recovery runs once per peer
 * and attempt instead of once per peer and round.
 *
 * Backends: OpenSSL under Node (`NodeEd25519.ts`), @noble/curves elsewhere; chosen once at load like
 * `KeyAgreement.ts`. Ed25519 is deterministic, so both give the same signature for the same key and message.
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import * as NodeEd25519 from "./NodeEd25519.ts"

const noble: NodeEd25519.Ed25519 = {
  name: "noble",
  publicKey: (secretKey) => ed25519.getPublicKey(secretKey),
  sign: (secretKey, message) => ed25519.sign(message, secretKey),
  verify: (publicKey, message, signature) => {
    try {
      // Strict RFC 8032 checks (canonical S and encodings), as OpenSSL does.
      return ed25519.verify(signature, message, publicKey, { zip215: false })
    } catch {
      return false
    }
  }
}
export const backends = { noble, node: NodeEd25519.load() } as const
const backend = backends.node ?? noble
export const backendName = backend.name

export const SECRET_KEY_BYTES = 32
export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

export interface SigningKey {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** A fresh key pair from the platform CSPRNG. */
export const generate = (): SigningKey => {
  const secretKey = crypto.getRandomValues(new Uint8Array(SECRET_KEY_BYTES))
  return { secretKey, publicKey: backend.publicKey(secretKey) }
}

export const sign = (key: SigningKey, message: Uint8Array): Uint8Array => backend.sign(key.secretKey, message)

/** True when `signature` over `message` verifies under `publicKey`; false for any malformed input. */
export const verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
  publicKey.length === PUBLIC_KEY_BYTES && signature.length === SIGNATURE_BYTES && backend.verify(publicKey, message, signature)
