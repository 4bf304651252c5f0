/**
 * The groups of the joint-query protocols, portable build: libsodium's WASM (`libsodium-wrappers-sumo`),
 * browser-safe. Two groups sit behind the same operations (`GroupOps`); a task names its group (`params.group`
 * of the PSI kinds, psi/spec.ts) and both parties use it:
 *
 *   x25519        (PSI default) X25519 on Montgomery u-coordinates, SecretFlow's ECDH-PSI choice.
 *                 Hg(id) = u = SHA-512(domain ‖ 0x00 ‖ id)[0..32] with bit 255 cleared (RFC 7748 byte order);
 *                 blind(k, u) = X25519(k, u), k a clamped 32-byte scalar.
 *   ristretto255  the prime-order group: Hg(id) = from_hash(SHA-512(domain ‖ 0x00 ‖ id)) (Elligator 2 on a 64-byte
 *                 digest), scalars in Z_ℓ with inverses, strict canonical decoding. Kept for what needs
 *                 inversion or strict validation: the hidden query's OPRF unblinds with r⁻¹ (hidden/).
 *
 * Why x25519 for PSI — measured on this project's 2-core machine, C, one thread, per operation: OpenSSL X25519
 * through the public EVP API 43.3 µs, libsodium X25519 51.4 µs, libsodium ristretto255 scalarmult 64.7 µs plus
 * 15.7 µs from_hash. DH-PSI costs 2 scalar multiplications per id and side, so x25519 through OpenSSL (the
 * Node-native path, backends/src/node/NativeGroups.ts) does the same PSI in ≈ 0.6× the CPU time;
 * `npm run bench -- psi` reports the ratio of both groups in the same run.
 *
 * Security argument (semi-honest, PROTOCOLS.md §3 item 1) for x25519. A uniformly random 255-bit string is the
 * u-coordinate of a point of curve25519 (order 8·ℓ) or of its quadratic twist (order 4·ℓ', ℓ' a 253-bit prime;
 * curve25519 was chosen twist-secure for exactly this x-only use), each with probability ≈ 1/2; the Montgomery
 * ladder computes the same x-only scalar multiplication on either. Clamping makes every key a multiple of 8, so
 * blinding kills the small-order component: a fully-blinded value is k_1…k_n·P projected into the prime-order
 * subgroup of order ℓ (curve) or ℓ' (twist), where DDH is believed hard (best attacks are generic, ~2^125). So,
 * with H a random oracle, the tuples seen by anyone lacking one key are pseudorandom under DDH in both prime-order
 * subgroups, as for the prime-order group. A clamped key is 8·(2^251 + m), m uniform on 2^251 values: its residue
 * mod ℓ (and ℓ') is uniform on about half of the residues, which costs the DDH reduction at most a small constant
 * factor (X25519's own standard argument); keys are never inverted. Equality of
 * fully-blinded values is equality of ids up to: u-collisions of H, and two u's whose points differ by a
 * small-order point (at most 8 share a blinded value) — n² pairs·8/2^255 ≤ n²/2^251, 2^-211 at n = 2^20.
 * Received values are checked before use: 32 bytes, canonical (bit 255 clear, u < 2^255−19) and not of small
 * order (X25519 output all-zero, or u in the 5-element small-order list when only validating) — else
 * InvalidPoint naming the element. What x25519 cannot do is reject a "not on the curve" string: every canonical u
 * is on the curve or its twist, and both are safe here; a party wanting a strictly validated prime-order group
 * names ristretto255 in the task. Every hash is bound to the task (`domain`), so blinded values from two tasks
 * never compare.
 *
 * Points cross threads and the wire as concatenated 32-byte encodings ("chunks").
 */
import { sha512 } from "@noble/hashes/sha2.js"
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import sodium from "libsodium-wrappers-sumo"

export const POINT_BYTES = 32
export const SCALAR_BYTES = 32

export const groupNames = ["x25519", "ristretto255"] as const
export type GroupName = (typeof groupNames)[number]
/** The PSI family's group when a task names none. */
export const DEFAULT_GROUP: GroupName = "x25519"

let loaded = false
/**
 * libsodium instantiates its WASM asynchronously once per thread; every kernel call awaits this first. Rejects only
 * when libsodium cannot load on this platform at all (neither its WASM nor its asm.js build): no group protocol can
 * run there, so the protocols take it with Effect.promise, as a defect.
 */
export const ready = async (): Promise<void> => {
  if (loaded) return
  await sodium.ready
  loaded = true
}

const lib = () => {
  if (!loaded) throw new Error("Group.ready() was not awaited")
  return sodium
}

/** Thrown by the kernels when a chunk holds a string that is not a valid encoding in the group. */
export class InvalidPointError extends Error {
  override readonly name = "InvalidPoint"
  constructor(readonly index: number, readonly group: GroupName = "ristretto255") {
    super(`element ${index} is not a valid ${group} point`)
  }
}

/** Domain separator of a task: every Hg of that task is H(domain ‖ 0x00 ‖ id). */
export const domain = (protocol: string, taskId: string): Uint8Array => utf8ToBytes(`jointly/${protocol}/v1/${taskId}`)

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
    const id = ids[i]!
    // ASCII ids (the usual case) are copied char by char: encodeInto's per-call cost was ~1 s per million ids.
    let j = 0
    for (; j < id.length; j++) {
      const c = id.charCodeAt(j)
      if (c >= 0x80) break
      bytes[at + j] = c
    }
    at += j === id.length ? j : encoder.encodeInto(id, bytes.subarray(at)).written
    ends[i] = at
  }
  bytes = bytes.slice(0, at)
  return { bytes, ends }
}

/** One group's batch operations on whole chunks (the portable build; native builds mirror them byte for byte). */
export interface GroupOps {
  readonly name: GroupName
  readonly randomScalar: () => Uint8Array
  /** Hg(id)^scalar for each id, as one chunk. */
  readonly hashBlindEncoded: (domain: Uint8Array, ids: EncodedIds, scalar: Uint8Array) => Uint8Array
  /** Raises each point of a chunk to `scalar`. @throws InvalidPointError naming the first bad element. */
  readonly blind: (points: Uint8Array, scalar: Uint8Array) => Uint8Array
  /** Checks every element of a chunk without multiplying. @throws InvalidPointError */
  readonly validate: (points: Uint8Array) => void
}

/** SHA-512(domain ‖ 0x00 ‖ id) of each id, handed to `each` with its index (both groups hash ids this way). */
const digests = (dom: Uint8Array, ids: EncodedIds, each: (digest: Uint8Array, i: number) => void) => {
  const prefix = concatBytes(dom, new Uint8Array([0]))
  let start = 0
  for (let i = 0; i < ids.ends.length; i++) {
    const end = ids.ends[i]!
    each(sha512(concatBytes(prefix, ids.bytes.subarray(start, end))), i)
    start = end
  }
}

/** Applies `map` to each 32-byte element of a chunk; `undefined` (or a throw) marks the element invalid. */
const eachPoint = (group: GroupName, points: Uint8Array, map: (point: Uint8Array) => Uint8Array | undefined): Uint8Array => {
  if (points.length % POINT_BYTES !== 0) throw new InvalidPointError(Math.floor(points.length / POINT_BYTES), group)
  const out = new Uint8Array(points.length)
  for (let i = 0; i < points.length / POINT_BYTES; i++) {
    let mapped: Uint8Array | undefined
    try {
      mapped = map(points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES))
    } catch {
      mapped = undefined
    }
    if (mapped === undefined) throw new InvalidPointError(i, group)
    out.set(mapped, i * POINT_BYTES)
  }
  return out
}

export const ristretto255: GroupOps = {
  name: "ristretto255",
  randomScalar: () => lib().crypto_core_ristretto255_scalar_random(),
  hashBlindEncoded: (dom, ids, scalar) => {
    const s = lib()
    const out = new Uint8Array(ids.ends.length * POINT_BYTES)
    digests(dom, ids, (digest, i) => out.set(s.crypto_scalarmult_ristretto255(scalar, s.crypto_core_ristretto255_from_hash(digest)), i * POINT_BYTES))
    return out
  },
  blind: (points, scalar) => {
    const s = lib()
    return eachPoint("ristretto255", points, (point) => s.crypto_scalarmult_ristretto255(scalar, point))
  },
  validate: (points) => {
    const s = lib()
    eachPoint("ristretto255", points, (point) => (s.crypto_core_ristretto255_is_valid_point(point) ? point : undefined))
  }
}

/** ristretto255 scalar inverse (the OPRF's unblinding; x25519 keys are never inverted). */
export const invertScalar = (scalar: Uint8Array): Uint8Array => lib().crypto_core_ristretto255_scalar_invert(scalar)

// ---- x25519 (RFC 7748)

/** The canonical small-order u-coordinates of curve25519 and its twist: 0, 1, the two of order 8, p − 1. */
const SMALL_ORDER: ReadonlyArray<Uint8Array> = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
].map((hex) => Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16)))

/** The element at byte `at` of `points` is < 2^255 − 19 with bit 255 clear (little-endian): the encodings
 *  X25519 would otherwise silently reduce. */
const canonicalAt = (points: Uint8Array, at: number): boolean => {
  const top = points[at + 31]!
  if (top !== 0x7f) return top < 0x7f
  for (let i = 30; i >= 1; i--) if (points[at + i] !== 0xff) return true
  return points[at]! < 0xed
}

export const isCanonicalU = (u: Uint8Array): boolean => canonicalAt(u, 0)

const smallOrderAt = (points: Uint8Array, at: number): boolean => {
  for (const bad of SMALL_ORDER) {
    let same = true
    for (let j = 0; j < POINT_BYTES && same; j++) same = points[at + j] === bad[j]
    if (same) return true
  }
  return false
}
const isZero = (a: Uint8Array) => a.every((x) => x === 0)

/** RFC 7748 clamping: a multiple of 8 (clears the cofactor), bit 254 set, bit 255 clear. */
export const clamp = (scalar: Uint8Array): Uint8Array => {
  const k = scalar.slice()
  k[0]! &= 248
  k[31]! &= 127
  k[31]! |= 64
  return k
}

/** X25519(k, u), or undefined when the result is all-zero (u of small order). */
const x25519Mult = (k: Uint8Array, u: Uint8Array): Uint8Array | undefined => {
  let out: Uint8Array
  try {
    out = lib().crypto_scalarmult(k, u) // libsodium refuses small-order inputs and all-zero outputs by throwing
  } catch {
    return undefined
  }
  return isZero(out) ? undefined : out
}

/** Hg(id) as a u-coordinate: the first 32 bytes of its digest with bit 255 cleared (canonical but for 19/2^255). */
export const hashToU = (digest: Uint8Array): Uint8Array => {
  const u = digest.slice(0, POINT_BYTES)
  u[31]! &= 0x7f
  return u
}

export const x25519: GroupOps = {
  name: "x25519",
  randomScalar: () => clamp(crypto.getRandomValues(new Uint8Array(SCALAR_BYTES))),
  hashBlindEncoded: (dom, ids, scalar) => {
    const out = new Uint8Array(ids.ends.length * POINT_BYTES)
    digests(dom, ids, (digest, i) => {
      const blinded = x25519Mult(scalar, hashToU(digest))
      // Only an id hashing to a small-order u (probability 5/2^255) lands here.
      if (blinded === undefined) throw new Error(`hash-blind failed at element ${i}: small-order hash`)
      out.set(blinded, i * POINT_BYTES)
    })
    return out
  },
  blind: (points, scalar) => eachPoint("x25519", points, (u) => (isCanonicalU(u) ? x25519Mult(scalar, u) : undefined)),
  // A plain loop: it runs on the receiving party's main thread over every fully-blinded element it matches.
  validate: (points) => {
    if (points.length % POINT_BYTES !== 0) throw new InvalidPointError(Math.floor(points.length / POINT_BYTES), "x25519")
    for (let i = 0, at = 0; at < points.length; i++, at += POINT_BYTES) {
      if (!canonicalAt(points, at) || smallOrderAt(points, at)) throw new InvalidPointError(i, "x25519")
    }
  }
}

export const groups: Readonly<Record<GroupName, GroupOps>> = { x25519, ristretto255 }

export const count = (points: Uint8Array): number => points.length / POINT_BYTES
