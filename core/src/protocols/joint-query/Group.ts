/**
 * The prime-order group of every joint-query protocol: ristretto255 through libsodium's WASM build
 * (`libsodium-wrappers-sumo`), browser-safe, with strict canonical decoding.
 *
 * Why this group — measured on this project's 2-core machine (one-off script, one run, machine busy; per scalar
 * multiplication of a 32-byte point): libsodium ristretto255 ≈ 257 µs (hash to group ≈ 58 µs more), @noble/curves
 * ristretto255 ≈ 2 727 µs (10.6× slower), Node's native X25519 through node:crypto ≈ 132 µs (1.9× faster, but
 * only with a KeyObject built per point, and Node-only), libsodium X25519 ≈ 204 µs, OpenSSL P-256 ECDH ≈ 350 µs.
 * `npm run bench -- psi` keeps the noble ratio current. We take libsodium's ristretto255: browser-safe, a
 * prime-order group (no cofactor, no twist), a canonical 32-byte encoding that rejects every malformed or
 * off-group string, and a hash-to-group (`from_hash`, Elligator 2 on a 64-byte digest) that is a random oracle
 * onto the group — the assumptions the DH-PSI and DH-OPRF proofs need. X25519 on u-coordinates (SecretFlow's
 * choice) is commutative too, and a Node-native fast path could sit behind the same `QueryCompute` names for
 * ~2×, but it is x-only, accepts twist points and cannot reject an "off-curve" string, so a forged point would
 * go unnoticed instead of failing as InvalidPoint.
 *
 * Security argument (semi-honest, PROTOCOLS.md §3 item 1): with H a random oracle into G and keys a_i uniform
 * in Z_ℓ, the tuples H(x)^{a_1…a_k} seen by anyone lacking one of the keys are pseudorandom under DDH in G;
 * equality of fully-blinded values is equality of ids up to collisions of H (2^-252). Every hash is bound to the
 * task (`domain`), so blinded values from two tasks never compare.
 *
 * Points cross threads and the wire as concatenated 32-byte encodings ("chunks").
 */
import { sha512 } from "@noble/hashes/sha2.js"
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import sodium from "libsodium-wrappers-sumo"

export const POINT_BYTES = 32
export const SCALAR_BYTES = 32

let loaded = false
/** libsodium instantiates its WASM asynchronously once per thread; every kernel call awaits this first. */
export const ready = async (): Promise<void> => {
  if (loaded) return
  await sodium.ready
  loaded = true
}

const lib = () => {
  if (!loaded) throw new Error("Group.ready() was not awaited")
  return sodium
}

/** Thrown by the kernels when a chunk holds a string that is not a canonical ristretto255 encoding. */
export class InvalidPointError extends Error {
  override readonly name = "InvalidPoint"
  constructor(readonly index: number) {
    super(`element ${index} is not a valid ristretto255 point`)
  }
}

/** Domain separator of a task: every Hg of that task is H(domain ‖ 0x00 ‖ id). */
export const domain = (protocol: string, taskId: string): Uint8Array => utf8ToBytes(`jointly/${protocol}/v1/${taskId}`)

export const randomScalar = (): Uint8Array => lib().crypto_core_ristretto255_scalar_random()

export const invertScalar = (scalar: Uint8Array): Uint8Array => lib().crypto_core_ristretto255_scalar_invert(scalar)

/** Ids as one UTF-8 buffer and the end offset of each (the layout the batch kernels take, no string per call). */
export interface EncodedIds {
  readonly bytes: Uint8Array
  readonly ends: Uint32Array
}

const encoder = new TextEncoder()

export const encodeIds = (ids: ReadonlyArray<string>): EncodedIds => {
  let size = 0
  for (const id of ids) size += id.length
  let bytes = new Uint8Array(size * 3) // UTF-8 needs at most 3 bytes per UTF-16 unit
  const ends = new Uint32Array(ids.length)
  let at = 0
  for (let i = 0; i < ids.length; i++) {
    at += encoder.encodeInto(ids[i]!, bytes.subarray(at)).written
    ends[i] = at
  }
  bytes = bytes.slice(0, at)
  return { bytes, ends }
}

/** Hg(id) = from_hash(SHA-512(domain ‖ 0x00 ‖ id)) for each id of `ids`, raised to `scalar`. */
export const hashBlindEncoded = (dom: Uint8Array, ids: EncodedIds, scalar: Uint8Array): Uint8Array => {
  const s = lib()
  const out = new Uint8Array(ids.ends.length * POINT_BYTES)
  const prefix = concatBytes(dom, new Uint8Array([0]))
  let start = 0
  for (let i = 0; i < ids.ends.length; i++) {
    const end = ids.ends[i]!
    const point = s.crypto_core_ristretto255_from_hash(sha512(concatBytes(prefix, ids.bytes.subarray(start, end))))
    out.set(s.crypto_scalarmult_ristretto255(scalar, point), i * POINT_BYTES)
    start = end
  }
  return out
}

/** Hg(id) for each id, raised to `scalar`. */
export const hashBlind = (dom: Uint8Array, ids: ReadonlyArray<string>, scalar: Uint8Array): Uint8Array =>
  hashBlindEncoded(dom, encodeIds(ids), scalar)

/** Raises each point of a chunk to `scalar`. @throws InvalidPointError naming the first bad element. */
export const blind = (points: Uint8Array, scalar: Uint8Array): Uint8Array => {
  const s = lib()
  if (points.length % POINT_BYTES !== 0) throw new InvalidPointError(Math.floor(points.length / POINT_BYTES))
  const out = new Uint8Array(points.length)
  for (let i = 0; i < points.length / POINT_BYTES; i++) {
    const point = points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES)
    let blinded: Uint8Array
    try {
      blinded = s.crypto_scalarmult_ristretto255(scalar, point)
    } catch {
      throw new InvalidPointError(i)
    }
    out.set(blinded, i * POINT_BYTES)
  }
  return out
}

/** Checks every element of a chunk without multiplying. @throws InvalidPointError */
export const validate = (points: Uint8Array): void => {
  const s = lib()
  if (points.length % POINT_BYTES !== 0) throw new InvalidPointError(Math.floor(points.length / POINT_BYTES))
  for (let i = 0; i < points.length / POINT_BYTES; i++) {
    if (!s.crypto_core_ristretto255_is_valid_point(points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES))) throw new InvalidPointError(i)
  }
}

/** The i-th element of a chunk as a 32-character string key (set membership, sorting); never leaves the process. */
export const elementKey = (points: Uint8Array, i: number): string =>
  String.fromCharCode.apply(null, points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES) as unknown as Array<number>)

export const count = (points: Uint8Array): number => points.length / POINT_BYTES
