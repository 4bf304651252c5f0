/**
 * The `node-openssl` Ed25519 (core/src/crypto/Ed25519.ts): OpenSSL through node:crypto, ~20× @noble/curves here.
 * RFC 8032 Ed25519 is deterministic, so signatures are identical byte for byte to @noble/curves' (the Ed25519
 * conformance suite).
 */
import * as crypto from "node:crypto"
import type { Ed25519Backend } from "@jointly/core/internal/crypto/Ed25519"
import * as OkpKeys from "./OkpKeys.ts"

/** The backend, or undefined on a Node whose OpenSSL lacks Ed25519 (the Node backends then keep `noble`). */
export const make = (): Ed25519Backend | undefined => {
  if (typeof crypto.sign !== "function" || typeof crypto.verify !== "function") return undefined
  try {
    const keys = OkpKeys.make("Ed25519")
    const backend: Ed25519Backend = {
      name: "node-openssl",
      publicKey: keys.rawPublicKey,
      sign: (secretKey, message) => Uint8Array.from(crypto.sign(null, message, keys.privateKey(secretKey))),
      verify: (publicKey, message, signature) => {
        if (publicKey.length !== 32 || signature.length !== 64) return false
        try {
          return crypto.verify(null, message, keys.publicKey(publicKey), signature)
        } catch {
          return false
        }
      }
    }
    // Ed25519 needs OpenSSL ≥ 1.1.1; probe once so an old build falls back instead of failing mid-protocol.
    const probe = new Uint8Array(32).fill(7)
    if (!backend.verify(backend.publicKey(probe), probe, backend.sign(probe, probe))) return undefined
    return backend
  } catch {
    return undefined
  }
}
