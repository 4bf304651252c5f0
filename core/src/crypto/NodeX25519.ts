/**
 * Node-only X25519 (`KeyAgreement.ts`): OpenSSL through node:crypto, ~20× @noble/curves here. Same RFC 7748
 * function (clamping included), so shared secrets are identical byte for byte (`KeyAgreement.test.ts`).
 * node:crypto is reached through `process.getBuiltinModule` (as in `NodePrgKernel.ts`), so importing this file
 * in a browser is harmless: `load()` returns undefined there and @noble/curves serves.
 */
import { nodeCrypto, okpKeys } from "./NodeOkpKeys.ts"

export interface X25519 {
  readonly name: string
  /** A fresh key pair (OpenSSL's CSPRNG under Node), when the backend has a faster path than publicKey(random). */
  readonly generate?: () => { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }
  readonly publicKey: (secretKey: Uint8Array) => Uint8Array
  /** Raw X25519(secretKey, publicKey); throws on a point OpenSSL refuses (e.g. a low-order one). */
  readonly sharedSecret: (secretKey: Uint8Array, publicKey: Uint8Array) => Uint8Array
}

export const load = (): X25519 | undefined => {
  const crypto = nodeCrypto()
  if (crypto === undefined || typeof crypto.diffieHellman !== "function") return undefined
  // Importing a key costs about as much as the agreement itself; a secret key serves ~3n agreements per aggregation.
  const keys = okpKeys(crypto, "X25519")
  try {
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
