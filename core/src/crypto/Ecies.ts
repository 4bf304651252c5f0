/**
 * Encryption to a party's secp256k1 key (PROTOCOLS.md §0: ECIES = secp256k1 ECDH → HKDF-SHA256 →
 * AES-256-GCM) and a small authenticated symmetric box for channels whose key comes from KeyAgreement.
 *
 * ECIES byte format, version 1 (all lengths fixed, so parsing is a length check):
 *   0x01 ‖ ephemeral public key (33, compressed) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
 * key = HKDF-SHA256(ikm = x(ephemeral·recipient), salt = SHA-256("jointly/ecies/v1"),
 *                   info = ephemeral pk ‖ recipient pk (both compressed)), 32 bytes.
 * A fresh ephemeral key per message makes the nonce unique per key; the random nonce is belt and braces.
 *
 * Box byte format, version 1:  0x01 ‖ nonce (12, random) ‖ ciphertext ‖ tag (16).
 * Associated data binds a ciphertext to its context (task, sender, recipient), so a relaying coordinator
 * cannot move it elsewhere.
 */
import { gcm } from "@noble/ciphers/aes.js"
import { secp256k1 } from "@noble/curves/secp256k1.js"
import { hkdf } from "@noble/hashes/hkdf.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { concatBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Schema } from "effect"

export const VERSION = 1
export const KEY_BYTES = 32
const NONCE_BYTES = 12
const TAG_BYTES = 16
const POINT_BYTES = 33
const ECIES_OVERHEAD = 1 + POINT_BYTES + NONCE_BYTES + TAG_BYTES
const BOX_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES
const EMPTY = new Uint8Array(0)
const SALT = sha256(utf8ToBytes("jointly/ecies/v1"))

export class EciesError extends Schema.TaggedError<EciesError>()("EciesError", {
  reason: Schema.Literals(["Malformed", "UnsupportedVersion", "InvalidKey", "AuthenticationFailed"]),
  detail: Schema.String
}) {
  override get message() {
    return `decryption ${this.reason}: ${this.detail}`
  }
}

export interface KeyPair {
  readonly secretKey: Uint8Array
  /** Compressed (33 bytes). */
  readonly publicKey: Uint8Array
}

export const generateKeyPair = (): KeyPair => {
  const secretKey = secp256k1.utils.randomSecretKey()
  return { secretKey, publicKey: secp256k1.getPublicKey(secretKey, true) }
}

/** Normalises a 33- or 65-byte secp256k1 public key (ethers' `0x04…` keys decoded to bytes) to compressed. */
const compressed = (publicKey: Uint8Array): Uint8Array => {
  try {
    return secp256k1.Point.fromBytes(publicKey).toBytes(true)
  } catch (cause) {
    throw new EciesError({ reason: "InvalidKey", detail: `not a secp256k1 public key: ${String(cause)}` })
  }
}

const deriveKey = (sharedPoint: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array =>
  hkdf(sha256, sharedPoint.subarray(1), SALT, concatBytes(ephemeral, recipient), KEY_BYTES)

/**
 * Encrypts `plaintext` to the holder of `recipientPublicKey` (33 or 65 bytes).
 * @throws EciesError("InvalidKey") when the key is not a curve point.
 */
export const encrypt = (
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array = EMPTY
): Uint8Array => {
  const recipient = compressed(recipientPublicKey)
  const ephemeral = generateKeyPair()
  const key = deriveKey(secp256k1.getSharedSecret(ephemeral.secretKey, recipient, true), ephemeral.publicKey, recipient)
  const nonce = randomBytes(NONCE_BYTES)
  const sealed = gcm(key, nonce, associatedData).encrypt(plaintext)
  return concatBytes(new Uint8Array([VERSION]), ephemeral.publicKey, nonce, sealed)
}

/**
 * Decrypts an `encrypt` output with the recipient's secret key.
 * @throws EciesError — "Malformed" (too short), "UnsupportedVersion", "InvalidKey" (bad ephemeral point or
 *   secret key), "AuthenticationFailed" (wrong key, wrong associated data or tampered bytes).
 */
export const decrypt = (
  recipientSecretKey: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array = EMPTY
): Uint8Array => {
  if (ciphertext.length < ECIES_OVERHEAD) {
    throw new EciesError({ reason: "Malformed", detail: `need at least ${ECIES_OVERHEAD} bytes, got ${ciphertext.length}` })
  }
  checkVersion(ciphertext[0]!)
  const ephemeral = ciphertext.subarray(1, 1 + POINT_BYTES)
  const nonce = ciphertext.subarray(1 + POINT_BYTES, 1 + POINT_BYTES + NONCE_BYTES)
  let recipient: Uint8Array
  let shared: Uint8Array
  try {
    recipient = secp256k1.getPublicKey(recipientSecretKey, true)
    shared = secp256k1.getSharedSecret(recipientSecretKey, ephemeral, true)
  } catch (cause) {
    throw new EciesError({ reason: "InvalidKey", detail: String(cause) })
  }
  const key = deriveKey(shared, ephemeral, recipient)
  return openGcm(key, nonce, ciphertext.subarray(1 + POINT_BYTES + NONCE_BYTES), associatedData)
}

/** Authenticated symmetric encryption under a 32-byte key (e.g. from `KeyAgreement.agree`). */
export const seal = (key: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array = EMPTY): Uint8Array => {
  checkKey(key)
  const nonce = randomBytes(NONCE_BYTES)
  return concatBytes(new Uint8Array([VERSION]), nonce, gcm(key, nonce, associatedData).encrypt(plaintext))
}

/** Opens a `seal` output. @throws EciesError — "Malformed", "UnsupportedVersion", "InvalidKey", "AuthenticationFailed". */
export const open = (key: Uint8Array, box: Uint8Array, associatedData: Uint8Array = EMPTY): Uint8Array => {
  checkKey(key)
  if (box.length < BOX_OVERHEAD) {
    throw new EciesError({ reason: "Malformed", detail: `need at least ${BOX_OVERHEAD} bytes, got ${box.length}` })
  }
  checkVersion(box[0]!)
  return openGcm(key, box.subarray(1, 1 + NONCE_BYTES), box.subarray(1 + NONCE_BYTES), associatedData)
}

const checkKey = (key: Uint8Array) => {
  if (key.length !== KEY_BYTES) throw new EciesError({ reason: "InvalidKey", detail: `expected a ${KEY_BYTES}-byte key, got ${key.length}` })
}

const checkVersion = (version: number) => {
  if (version !== VERSION) throw new EciesError({ reason: "UnsupportedVersion", detail: `version ${version}, expected ${VERSION}` })
}

const openGcm = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array => {
  try {
    return gcm(key, nonce, associatedData).decrypt(sealed)
  } catch {
    throw new EciesError({ reason: "AuthenticationFailed", detail: "wrong key, wrong associated data or tampered ciphertext" })
  }
}
