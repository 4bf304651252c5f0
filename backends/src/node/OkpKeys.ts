/**
 * KeyObject caches for the RFC 8410 curves (X25519 in `OpenSslX25519.ts`, Ed25519 in `OpenSslEd25519.ts`):
 * importing a key into OpenSSL costs as much as the operation itself, so each key is imported once.
 */
import * as crypto from "node:crypto"

export type Curve = "X25519" | "Ed25519"

// DER prefixes of PKCS#8 and SPKI for each curve (RFC 8410): the raw 32 bytes follow. They differ in the OID's last byte.
const OID_BYTE: Record<Curve, number> = { X25519: 0x6e, Ed25519: 0x70 }
const pkcs8Prefix = (curve: Curve) => Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, OID_BYTE[curve], 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX_LENGTH = 12

export interface OkpKeys {
  /** The KeyObject of a raw secret key, imported once per key (held weakly by the key's bytes). */
  readonly privateKey: (secretKey: Uint8Array) => crypto.KeyObject
  /** Registers a KeyObject created by OpenSSL itself (e.g. by generateKeyPairSync) for `secretKey`. */
  readonly remember: (secretKey: Uint8Array, key: crypto.KeyObject) => void
  /** The KeyObject of a peer's raw public key, cached by value (public data, bounded). */
  readonly publicKey: (publicKey: Uint8Array) => crypto.KeyObject
  /** The raw public key of a raw secret key. */
  readonly rawPublicKey: (secretKey: Uint8Array) => Uint8Array
}

export const make = (curve: Curve): OkpKeys => {
  const prefix = pkcs8Prefix(curve)
  const privateKeys = new WeakMap<Uint8Array, crypto.KeyObject>()
  const privateKey = (secretKey: Uint8Array) => {
    let key = privateKeys.get(secretKey)
    if (key === undefined) {
      const der = new Uint8Array(prefix.length + secretKey.length)
      der.set(prefix)
      der.set(secretKey, prefix.length)
      key = crypto.createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })
      privateKeys.set(secretKey, key)
    }
    return key
  }
  // Peers' keys arrive as fresh bytes in every request. JWK import: OpenSSL 3's DER decoder costs ~6× more per key.
  const publicKeys = new Map<string, crypto.KeyObject>()
  const publicKey = (raw: Uint8Array) => {
    const id = Buffer.from(raw).toString("base64url")
    let key = publicKeys.get(id)
    if (key === undefined) {
      key = crypto.createPublicKey({ key: { kty: "OKP", crv: curve, x: id }, format: "jwk" })
      if (publicKeys.size >= 4096) publicKeys.clear()
      publicKeys.set(id, key)
    }
    return key
  }
  return {
    privateKey,
    remember: (secretKey, key) => privateKeys.set(secretKey, key),
    publicKey,
    rawPublicKey: (secretKey) => {
      const spki = crypto.createPublicKey(privateKey(secretKey)).export({ format: "der", type: "spki" })
      return Uint8Array.from(spki.subarray(SPKI_PREFIX_LENGTH))
    }
  }
}
