/**
 * The `node-openssl` X25519 (core/src/crypto/KeyAgreement.ts): OpenSSL through node:crypto, ~20× @noble/curves
 * here. The same RFC 7748 function (clamping included), so shared secrets are identical byte for byte (the X25519
 * conformance suite).
 */
import * as crypto from "node:crypto"
import type { X25519 } from "@jointly/core/internal/crypto/KeyAgreement"
import * as OkpKeys from "./OkpKeys.ts"

/** The backend, or undefined on a Node whose OpenSSL lacks X25519 (the Node backends then keep `noble`). */
export const make = (): X25519 | undefined => {
  if (typeof crypto.diffieHellman !== "function") return undefined
  try {
    // Importing a key costs about as much as the agreement itself; a secret key serves ~3n agreements per aggregation.
    const keys = OkpKeys.make("X25519")
    return {
      name: "node-openssl",
      // One OpenSSL keygen, raw keys read from the JWK export; the KeyObject is kept for the agreements to come
      // (a DER import of the secret key costs ~10× the agreement).
      generate: () => {
        const pair = crypto.generateKeyPairSync("x25519")
        const jwk = pair.privateKey.export({ format: "jwk" })
        const secretKey = Uint8Array.from(Buffer.from(jwk.d!, "base64url"))
        keys.remember(secretKey, pair.privateKey)
        return { secretKey, publicKey: Uint8Array.from(Buffer.from(jwk.x!, "base64url")) }
      },
      publicKey: keys.rawPublicKey,
      sharedSecret: (secretKey, publicKey) =>
        Uint8Array.from(crypto.diffieHellman({
          privateKey: keys.privateKey(secretKey),
          publicKey: keys.publicKey(publicKey)
        }))
    }
  } catch {
    return undefined
  }
}
