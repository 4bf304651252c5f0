/**
 * Node-only Ed25519 (`Ed25519.ts`): OpenSSL through node:crypto, ~20× @noble/curves here. RFC 8032 Ed25519 is
 * deterministic, so signatures are identical byte for byte to @noble/curves' (`Ed25519.test.ts`). node:crypto is
 * reached through `process.getBuiltinModule` (as in `NodeX25519.ts`), so importing this file in a browser is
 * harmless: `load()` returns undefined there and @noble/curves serves.
 */
import { nodeCrypto, okpKeys } from "./NodeOkpKeys.ts"

export interface Ed25519 {
  readonly name: string
  readonly publicKey: (secretKey: Uint8Array) => Uint8Array
  readonly sign: (secretKey: Uint8Array, message: Uint8Array) => Uint8Array
  /** False for a wrong or malformed signature or key; never throws. */
  readonly verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean
}

export const load = (): Ed25519 | undefined => {
  const crypto = nodeCrypto()
  if (crypto === undefined || typeof crypto.sign !== "function" || typeof crypto.verify !== "function") return undefined
  const keys = okpKeys(crypto, "Ed25519")
  try {
    const backend: Ed25519 = {
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
