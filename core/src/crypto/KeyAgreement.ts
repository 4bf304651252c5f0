/**
 * X25519 key agreement for pairwise secrets between participants (secure aggregation's mask seeds and
 * channel keys, PROTOCOLS.md §5.4 Mode A: "seed_ik comes from ECDH between P_i and P_k").
 *
 * The raw X25519 output is never used as a key: it goes through HKDF-SHA256 with a caller-chosen context
 * label and both public keys (sorted, so either side derives the same key), giving 32-byte keys that are
 * separated by purpose and bound to the exact key pair that produced them.
 */
import { x25519 } from "@noble/curves/ed25519.js"
import { hkdf } from "@noble/hashes/hkdf.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Context, Schema } from "effect"

/**
 * The X25519 function (RFC 7748, clamping included), the kernel behind key agreement. Backends: `noble` here
 * (@noble/curves, browser-safe) and OpenSSL under Node (`@jointly/backends`, ~20× faster); the same function,
 * so the choice never changes a key (the conformance suite in `testing/kernel-conformance.ts`).
 */
export interface X25519 {
  readonly name: string
  /** A fresh key pair (OpenSSL's CSPRNG under Node), when the backend has a faster path than publicKey(random). */
  readonly generate?: () => { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }
  readonly publicKey: (secretKey: Uint8Array) => Uint8Array
  /** Raw X25519(secretKey, publicKey); throws on a point the backend refuses (e.g. a low-order one). */
  readonly sharedSecret: (secretKey: Uint8Array, publicKey: Uint8Array) => Uint8Array
}

export const noble: X25519 = {
  name: "noble",
  publicKey: (secretKey) => x25519.getPublicKey(secretKey),
  sharedSecret: (secretKey, publicKey) => x25519.getSharedSecret(secretKey, publicKey)
}

export const KEY_BYTES = 32
export const PUBLIC_KEY_BYTES = 32

export class KeyAgreementError extends Schema.TaggedError<KeyAgreementError>()("KeyAgreementError", {
  reason: Schema.Literals(["InvalidSecretKey", "InvalidPublicKey", "LowOrderPoint"]),
  detail: Schema.String
}) {
  override get message() {
    return `key agreement ${this.reason}: ${this.detail}`
  }
}

export interface KeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** Key agreement over one X25519 backend, with the caches that make a reused key pair cheap. */
export interface KeyAgreementApi {
  /** The X25519 function underneath (benchmarks report its name; the conformance suite checks it raw). */
  readonly x25519: X25519
  /** A fresh X25519 key pair from the platform CSPRNG. */
  readonly generateKeyPair: () => KeyPair
  /** The public key of an X25519 secret key. @throws KeyAgreementError("InvalidSecretKey") */
  readonly publicKeyOf: (secretKey: Uint8Array) => Uint8Array
  /**
   * Derives a 32-byte key shared by the holders of `secretKey` and of the secret behind `peerPublicKey`:
   * HKDF-SHA256(ikm = X25519(sk, pk), salt = SHA-256("jointly/ka/v1"), info = context ‖ sorted public keys).
   *
   * @throws KeyAgreementError — "InvalidSecretKey" / "InvalidPublicKey" for wrong lengths, "LowOrderPoint" when
   *   the peer key forces an all-zero shared secret (a peer trying to fix the key).
   */
  readonly agree: (secretKey: Uint8Array, peerPublicKey: Uint8Array, context: string) => Uint8Array
}

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

const SALT = sha256(utf8ToBytes("jointly/ka/v1"))

export const make = (backend: X25519): KeyAgreementApi => {
  /** Public keys by secret key object: `agree` needs its own public key on every call (HKDF info). */
  const publicKeys = new WeakMap<Uint8Array, Uint8Array>()
  /**
   * Raw X25519 outputs by secret key object and peer key: a key pair that serves several aggregations (secure
   * aggregation's key reuse) pays the curve operation once per peer, and each context still gets its own HKDF
   * key. Held only as long as the secret key object itself.
   */
  const rawSecrets = new WeakMap<Uint8Array, Map<string, Uint8Array>>()

  const publicKeyOf = (secretKey: Uint8Array): Uint8Array => {
    if (secretKey.length !== KEY_BYTES) {
      throw new KeyAgreementError({ reason: "InvalidSecretKey", detail: `expected ${KEY_BYTES} bytes, got ${secretKey.length}` })
    }
    const cached = publicKeys.get(secretKey)
    if (cached !== undefined) return cached
    const publicKey = backend.publicKey(secretKey)
    publicKeys.set(secretKey, publicKey)
    return publicKey
  }

  const rawSecret = (secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array => {
    let byPeer = rawSecrets.get(secretKey)
    if (byPeer === undefined) rawSecrets.set(secretKey, (byPeer = new Map()))
    const id = bytesToHex(peerPublicKey)
    const cached = byPeer.get(id)
    if (cached !== undefined) return cached
    let shared: Uint8Array
    try {
      shared = backend.sharedSecret(secretKey, peerPublicKey)
    } catch (cause) {
      throw new KeyAgreementError({ reason: "LowOrderPoint", detail: String(cause) })
    }
    if (shared.every((byte) => byte === 0)) {
      throw new KeyAgreementError({ reason: "LowOrderPoint", detail: "shared secret is zero" })
    }
    byPeer.set(id, shared)
    return shared
  }

  return {
    x25519: backend,
    generateKeyPair: () => {
      if (backend.generate !== undefined) {
        const pair = backend.generate()
        publicKeys.set(pair.secretKey, pair.publicKey)
        return pair
      }
      const secretKey = x25519.utils.randomSecretKey()
      const publicKey = backend.publicKey(secretKey)
      publicKeys.set(secretKey, publicKey)
      return { secretKey, publicKey }
    },
    publicKeyOf,
    agree: (secretKey, peerPublicKey, context) => {
      const ownPublicKey = publicKeyOf(secretKey)
      if (peerPublicKey.length !== PUBLIC_KEY_BYTES) {
        throw new KeyAgreementError({ reason: "InvalidPublicKey", detail: `expected ${PUBLIC_KEY_BYTES} bytes, got ${peerPublicKey.length}` })
      }
      const shared = rawSecret(secretKey, peerPublicKey)
      const [first, second] = compareBytes(ownPublicKey, peerPublicKey) <= 0
        ? [ownPublicKey, peerPublicKey]
        : [peerPublicKey, ownPublicKey]
      const info = concatBytes(utf8ToBytes(context), new Uint8Array([0]), first, second)
      return hkdf(sha256, shared, SALT, info, KEY_BYTES)
    }
  }
}

/**
 * The host's key agreement (protocols: `yield* KeyAgreement.KeyAgreement`). Hosts provide it once over their
 * platform's X25519 so its caches live as long as the host; a host that composes none gets `noble`.
 */
export const KeyAgreement = Context.Reference<KeyAgreementApi>("jointly/KeyAgreement", { defaultValue: () => make(noble) })
