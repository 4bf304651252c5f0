/**
 * Ed25519 signatures (RFC 8032) for short-lived protocol signing keys: secure aggregation signs each round's key
 * advertisement with a per-task-attempt Ed25519 key that the participant's chain account certified once
 * (secure-aggregation/spec.ts, `certificateMessage`), so the expensive secp256k1 recovery runs once per peer
 * and attempt instead of once per peer and round.
 *
 * Backends: `noble` here (@noble/curves, browser-safe) and OpenSSL under Node (`@jointly/backends`, ~20×
 * faster). Ed25519 is deterministic, so both give the same signature for the same key and message (the
 * conformance suite in `testing/kernel-conformance.ts`). Protocols reach the host's through the `Ed25519`
 * service.
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { Context } from "effect"

export const SECRET_KEY_BYTES = 32
export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

/** One implementation of the RFC 8032 functions on raw 32-byte keys. */
export interface Ed25519Backend {
  readonly name: string
  readonly publicKey: (secretKey: Uint8Array) => Uint8Array
  readonly sign: (secretKey: Uint8Array, message: Uint8Array) => Uint8Array
  /** False for a wrong or malformed signature or key; never throws. */
  readonly verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean
}

export const noble: Ed25519Backend = {
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

export interface SigningKey {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** Signing keys and signatures over one backend. */
export interface Ed25519Api {
  /** The RFC 8032 functions underneath (benchmarks report its name; the conformance suite checks it raw). */
  readonly backend: Ed25519Backend
  /** A fresh key pair from the platform CSPRNG. */
  readonly generate: () => SigningKey
  readonly sign: (key: SigningKey, message: Uint8Array) => Uint8Array
  /** True when `signature` over `message` verifies under `publicKey`; false for any malformed input. */
  readonly verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean
}

export const make = (backend: Ed25519Backend): Ed25519Api => ({
  backend,
  generate: () => {
    const secretKey = crypto.getRandomValues(new Uint8Array(SECRET_KEY_BYTES))
    return { secretKey, publicKey: backend.publicKey(secretKey) }
  },
  sign: (key, message) => backend.sign(key.secretKey, message),
  verify: (publicKey, message, signature) =>
    publicKey.length === PUBLIC_KEY_BYTES && signature.length === SIGNATURE_BYTES && backend.verify(publicKey, message, signature)
})

/** The host's Ed25519 (protocols: `yield* Ed25519.Ed25519`); `noble` where the host composed none. */
export const Ed25519 = Context.Reference<Ed25519Api>("jointly/Ed25519", { defaultValue: () => make(noble) })
