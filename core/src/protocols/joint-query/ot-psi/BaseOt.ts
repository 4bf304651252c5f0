/**
 * Base oblivious transfers: Chou and Orlandi's "simplest OT" (Latincrypt 2015), batched under one sender key,
 * over ristretto255 (libsodium's WASM build, as the rest of joint-query; prime order, canonical encodings, no
 * cofactor). Semi-honest security under CDH with the key derivation H a random oracle.
 *
 *   sender:    a ← Z_ℓ, A = a·G                                         → A
 *   receiver:  for each i with choice c_i: b_i ← Z_ℓ, B_i = b_i·G + c_i·A   → B_1…B_k
 *              key_i = H(i, A, B_i, b_i·A)
 *   sender:    key_i^0 = H(i, A, B_i, a·B_i),  key_i^1 = H(i, A, B_i, a·B_i − a·A)
 *
 * so key_i = key_i^{c_i}. The receiver's B_i is uniform whatever c_i (b_i·G is), so the sender learns nothing of
 * the choices; key_i^{1−c_i} is H of a CDH value the receiver cannot compute. In the OT extension the PSI
 * receiver plays the base-OT sender and the PSI sender the base-OT receiver (its choices are the secret s of
 * spec.ts). H = SHA-256 over a domain label, the session context, i and the three points, truncated to 16
 * bytes: an AES-128 seed. Received points are checked canonical and not the identity, else InvalidPoint.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import sodium from "libsodium-wrappers-sumo"

export const POINT_BYTES = 32
export const SEED_BYTES = 16

const LABEL = new TextEncoder().encode("jointly/ot-psi/base-ot/v1")

/** A received point that does not decode, or is the identity; `index` −1 is the sender's A. */
export class InvalidPointError extends Error {
  override readonly name = "InvalidPoint"
  constructor(readonly index: number) {
    super(index < 0 ? "the base-OT sender's point is not a valid ristretto255 element" : `base-OT point ${index} is not a valid ristretto255 element`)
  }
}

/**
 * libsodium instantiates its WASM once per thread. Rejects only when libsodium cannot load on this platform at all
 * (neither its WASM nor its asm.js build): no protocol of this family can run there, so callers take it as a defect.
 */
export const ready = (): Promise<void> => sodium.ready

const isIdentity = (point: Uint8Array) => point.every((b) => b === 0)

const checkPoint = (point: Uint8Array, index: number) => {
  if (point.length !== POINT_BYTES || isIdentity(point) || !sodium.crypto_core_ristretto255_is_valid_point(point)) throw new InvalidPointError(index)
}

const scalar = (random: (bytes: number) => Uint8Array) => sodium.crypto_core_ristretto255_scalar_reduce(random(64))

const derive = (context: Uint8Array, index: number, a: Uint8Array, b: Uint8Array, shared: Uint8Array, out: Uint8Array, at: number) => {
  const input = new Uint8Array(LABEL.length + 4 + context.length + 4 + 3 * POINT_BYTES)
  const view = new DataView(input.buffer)
  let p = 0
  input.set(LABEL, p); p += LABEL.length
  view.setUint32(p, context.length); p += 4
  input.set(context, p); p += context.length
  view.setUint32(p, index); p += 4
  input.set(a, p); p += POINT_BYTES
  input.set(b, p); p += POINT_BYTES
  input.set(shared, p)
  out.set(sha256(input).subarray(0, SEED_BYTES), at)
}

export interface SenderSecret {
  readonly a: Uint8Array
  readonly A: Uint8Array
}

/** The sender's key pair (call `ready()` first). */
export const senderStart = (random: (bytes: number) => Uint8Array): SenderSecret => {
  const a = scalar(random)
  return { a, A: sodium.crypto_scalarmult_ristretto255_base(a) }
}

/** Both seeds of each transfer, k0 and k1 (k × 16 bytes each), from the receiver's points. @throws InvalidPointError */
export const senderSeeds = (secret: SenderSecret, points: Uint8Array, context: Uint8Array): { readonly k0: Uint8Array; readonly k1: Uint8Array } => {
  if (points.length % POINT_BYTES !== 0) throw new InvalidPointError(Math.floor(points.length / POINT_BYTES))
  const count = points.length / POINT_BYTES
  const k0 = new Uint8Array(count * SEED_BYTES)
  const k1 = new Uint8Array(count * SEED_BYTES)
  const aA = sodium.crypto_scalarmult_ristretto255(secret.a, secret.A)
  for (let i = 0; i < count; i++) {
    const B = points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES)
    checkPoint(B, i)
    const aB = sodium.crypto_scalarmult_ristretto255(secret.a, B)
    derive(context, i, secret.A, B, aB, k0, i * SEED_BYTES)
    derive(context, i, secret.A, B, sodium.crypto_core_ristretto255_sub(aB, aA), k1, i * SEED_BYTES)
  }
  return { k0, k1 }
}

/**
 * The receiver's points and its chosen seeds for choice bits `choices` (bit i = bit i%8 of byte i/8), `count`
 * transfers. @throws InvalidPointError when A is not a valid element.
 */
export const receiverChoose = (
  A: Uint8Array,
  choices: Uint8Array,
  count: number,
  random: (bytes: number) => Uint8Array,
  context: Uint8Array
): { readonly points: Uint8Array; readonly seeds: Uint8Array } => {
  checkPoint(A, -1)
  const points = new Uint8Array(count * POINT_BYTES)
  const seeds = new Uint8Array(count * SEED_BYTES)
  for (let i = 0; i < count; i++) {
    const b = scalar(random)
    const bG = sodium.crypto_scalarmult_ristretto255_base(b)
    const B = (choices[i >>> 3]! >>> (i & 7)) & 1 ? sodium.crypto_core_ristretto255_add(bG, A) : bG
    points.set(B, i * POINT_BYTES)
    derive(context, i, A, B, sodium.crypto_scalarmult_ristretto255(b, A), seeds, i * SEED_BYTES)
  }
  return { points, seeds }
}
