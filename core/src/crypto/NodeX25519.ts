/**
 * Node-only X25519 (`KeyAgreement.ts`): OpenSSL through node:crypto, ~20× @noble/curves here. Same RFC 7748
 * function (clamping included), so shared secrets are identical byte for byte (`KeyAgreement.test.ts`).
 * node:crypto is reached through `process.getBuiltinModule` (as in `NodePrgKernel.ts`), so importing this file
 * in a browser is harmless: `load()` returns undefined there and @noble/curves serves.
 */
import type * as NodeCrypto from "node:crypto"

export interface X25519 {
  readonly name: string
  readonly publicKey: (secretKey: Uint8Array) => Uint8Array
  /** Raw X25519(secretKey, publicKey); throws on a point OpenSSL refuses (e.g. a low-order one). */
  readonly sharedSecret: (secretKey: Uint8Array, publicKey: Uint8Array) => Uint8Array
}

// DER prefixes of PKCS#8 and SPKI for an X25519 key (RFC 8410): the raw 32 bytes follow.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

const der = (prefix: Uint8Array, key: Uint8Array) => {
  const out = new Uint8Array(prefix.length + key.length)
  out.set(prefix)
  out.set(key, prefix.length)
  return out
}

export const load = (): X25519 | undefined => {
  const crypto = typeof process !== "undefined" && typeof process.getBuiltinModule === "function"
    ? (process.getBuiltinModule("node:crypto") as typeof NodeCrypto | undefined)
    : undefined
  if (crypto === undefined || typeof crypto.diffieHellman !== "function") return undefined
  // Importing a key costs about as much as the agreement itself; a secret key serves ~3n agreements per aggregation.
  const privateKeys = new WeakMap<Uint8Array, NodeCrypto.KeyObject>()
  const privateKey = (secretKey: Uint8Array) => {
    let key = privateKeys.get(secretKey)
    if (key === undefined) {
      key = crypto.createPrivateKey({ key: Buffer.from(der(PKCS8_PREFIX, secretKey)), format: "der", type: "pkcs8" })
      privateKeys.set(secretKey, key)
    }
    return key
  }
  // Peer keys arrive as fresh bytes in every request: cache their KeyObjects by value (public data), bounded.
  const publicKeys = new Map<string, NodeCrypto.KeyObject>()
  const publicKeyObject = (publicKey: Uint8Array) => {
    const id = Buffer.from(publicKey).toString("hex")
    let key = publicKeys.get(id)
    if (key === undefined) {
      key = crypto.createPublicKey({ key: Buffer.from(der(SPKI_PREFIX, publicKey)), format: "der", type: "spki" })
      if (publicKeys.size >= 4096) publicKeys.clear()
      publicKeys.set(id, key)
    }
    return key
  }
  try {
    return {
      name: "node-openssl",
      publicKey: (secretKey) => {
        const spki = crypto.createPublicKey(privateKey(secretKey)).export({ format: "der", type: "spki" })
        return Uint8Array.from(spki.subarray(SPKI_PREFIX.length))
      },
      sharedSecret: (secretKey, publicKey) =>
        Uint8Array.from(crypto.diffieHellman({
          privateKey: privateKey(secretKey),
          publicKey: publicKeyObject(publicKey)
        }))
    }
  } catch {
    return undefined
  }
}
