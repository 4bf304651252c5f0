/**
 * Versioned, length-checked bytes for threshold-Paillier objects (header and integer layout from
 * paillier/Bytes.ts; w = 2·bits/8, the width of an element of Z_{N²}):
 *
 *   public key          header(16) · u16 bits · u16 t · u16 n · N (bits/8) · h_s (w) · v (w) · n × v_i (w)
 *   key share           header(17) · fingerprint(public key) (32) · u16 index · s_i (w)
 *   partial decryption  header(18) · fingerprint(public key) (32) · u16 index · c_i (w) · a (w) · b (w) · u16 |z| · z
 *   batch of partials   header(19) · fingerprint(public key) (32) · u16 index · u32 k · k × c_{i,j} (w) · a (w) · b (w) · u16 |z| · z
 */
import { checkBits, type KeySizePolicy, publicKey } from "../paillier/Keys.ts"
import { bitLength, concat, fromBytes, header, Kind, Reader, sha256Hex, toFixed, u16, u32 } from "../paillier/Bytes.ts"
import { fail as failEncoding } from "../paillier/PaillierError.ts"
import { factorial, type KeyShare, type PartialDecryption, type PartialDecryptionBatch, proofRandomBits, type ThresholdPublicKey } from "./ThresholdPaillier.ts"
import { fail } from "./ThresholdPaillierError.ts"

const w = (bits: number) => bits / 4

export const MAX_PARTIES = 1000

export const encodePublicKey = (tpk: ThresholdPublicKey): Uint8Array => {
  const bits = tpk.publicKey.bits
  return concat([
    header(Kind.ThresholdPublicKey),
    u16(bits),
    u16(tpk.threshold),
    u16(tpk.parties),
    toFixed(tpk.publicKey.n, bits / 8),
    toFixed(tpk.publicKey.hs, w(bits)),
    toFixed(tpk.v, w(bits)),
    ...tpk.verificationKeys.map((vi) => toFixed(vi, w(bits)))
  ])
}

/** Hex SHA-256 of the encoded public key: what shares and partial decryptions name, and what goes on chain. */
export const fingerprint = (tpk: ThresholdPublicKey): string => sha256Hex(encodePublicKey(tpk))

export const makePublicKey = (
  pk: ThresholdPublicKey["publicKey"],
  threshold: number,
  parties: number,
  v: bigint,
  verificationKeys: ReadonlyArray<bigint>
): ThresholdPublicKey => {
  if (!Number.isInteger(parties) || parties < 1 || parties > MAX_PARTIES) fail("InvalidParameters", `n must be in 1…${MAX_PARTIES}, got ${parties}`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > parties) fail("InvalidParameters", `t must be in 1…n, got ${threshold}`)
  if (verificationKeys.length !== parties) fail("InvalidParameters", `${verificationKeys.length} verification keys for ${parties} parties`)
  for (const x of [v, ...verificationKeys]) if (x <= 1n || x >= pk.n2) fail("InvalidParameters", "verification key outside Z*_{N²}")
  return { _tag: "ThresholdPaillierPublicKey", publicKey: pk, threshold, parties, delta: factorial(parties), v, verificationKeys }
}

export const decodePublicKey = (bytes: Uint8Array, policy: KeySizePolicy = {}): ThresholdPublicKey => {
  const r = new Reader(bytes, "threshold Paillier public key").expectHeader(Kind.ThresholdPublicKey)
  const bits = r.u16()
  checkBits(bits, policy)
  const t = r.u16()
  const n = r.u16()
  if (r.remaining() !== bits / 8 + (2 + n) * w(bits)) failEncoding("Encoding", `threshold Paillier public key: wrong length ${bytes.length}`)
  const modulus = r.int(bits / 8)
  const hs = r.int(w(bits))
  const v = r.int(w(bits))
  const vks = Array.from({ length: n }, () => r.int(w(bits)))
  const pk = publicKey(modulus, hs, policy)
  if (pk.bits !== bits) failEncoding("KeyFormat", `declared ${bits} bits, N has ${pk.bits}`)
  return makePublicKey(pk, t, n, v, vks)
}

const fingerprintBytes = (tpk: ThresholdPublicKey) => toFixed(BigInt("0x" + fingerprint(tpk)), 32)

const checkFingerprint = (r: Reader, tpk: ThresholdPublicKey, what: string) => {
  const got = fromBytes(r.take(32)).toString(16).padStart(64, "0")
  if (got !== fingerprint(tpk)) fail("KeyMismatch", `${what} for threshold key ${got.slice(0, 16)}, expected ${fingerprint(tpk).slice(0, 16)}`)
}

export const encodeKeyShare = (share: KeyShare): Uint8Array =>
  concat([header(Kind.KeyShare), fingerprintBytes(share.publicKey), u16(share.index), toFixed(share.share, w(share.publicKey.publicKey.bits))])

/** Decodes a key share without checking it against v_i; Dealer.acceptShare does both. */
export const decodeKeyShare = (tpk: ThresholdPublicKey, bytes: Uint8Array): KeyShare => {
  const r = new Reader(bytes, "threshold Paillier key share").expectHeader(Kind.KeyShare)
  if (r.remaining() !== 32 + 2 + w(tpk.publicKey.bits)) failEncoding("Encoding", `threshold Paillier key share: wrong length ${bytes.length}`)
  checkFingerprint(r, tpk, "key share")
  const index = r.u16()
  if (index < 1 || index > tpk.parties) fail("UnknownParty", `share index ${index} outside 1…${tpk.parties}`, [index])
  return { _tag: "ThresholdPaillierKeyShare", publicKey: tpk, index, share: r.int(w(tpk.publicKey.bits)) }
}

type Proof = PartialDecryption["proof"]

/** The proof of a partial decryption or of a batch: a and b at the key's width, z with its own length. */
const proofBytes = (tpk: ThresholdPublicKey, proof: Proof): ReadonlyArray<Uint8Array> => {
  const width = w(tpk.publicKey.bits)
  const z = toFixed(proof.z, Math.max(1, Math.ceil(bitLength(proof.z) / 8)))
  return [toFixed(proof.a, width), toFixed(proof.b, width), u16(z.length), z]
}

const readProof = (r: Reader, tpk: ThresholdPublicKey, what: string): Proof => {
  const width = w(tpk.publicKey.bits)
  const a = r.int(width)
  const b = r.int(width)
  const zLength = r.u16()
  if (zLength > Math.ceil((proofRandomBits(tpk) + 2) / 8)) failEncoding("Encoding", `${what}: proof response too long`)
  return { a, b, z: r.int(zLength) }
}

const readIndex = (r: Reader, tpk: ThresholdPublicKey): number => {
  const index = r.u16()
  if (index < 1 || index > tpk.parties) fail("UnknownParty", `partial decryption index ${index} outside 1…${tpk.parties}`, [index])
  return index
}

export const encodePartialDecryption = (tpk: ThresholdPublicKey, p: PartialDecryption): Uint8Array =>
  concat([header(Kind.PartialDecryption), fingerprintBytes(tpk), u16(p.index), toFixed(p.value, w(tpk.publicKey.bits)), ...proofBytes(tpk, p.proof)])

export const decodePartialDecryption = (tpk: ThresholdPublicKey, bytes: Uint8Array): PartialDecryption => {
  const r = new Reader(bytes, "threshold Paillier partial decryption").expectHeader(Kind.PartialDecryption)
  checkFingerprint(r, tpk, "partial decryption")
  const index = readIndex(r, tpk)
  const value = r.int(w(tpk.publicKey.bits))
  const proof = readProof(r, tpk, "partial decryption")
  r.end()
  return { _tag: "ThresholdPaillierPartialDecryption", index, value, proof }
}

/** At most this many partials in one batch (a round's decryptions; bounds what a decoder allocates). */
export const MAX_BATCH = 1 << 16

export const encodePartialDecryptionBatch = (tpk: ThresholdPublicKey, p: PartialDecryptionBatch): Uint8Array => {
  const width = w(tpk.publicKey.bits)
  return concat([
    header(Kind.PartialDecryptionList),
    fingerprintBytes(tpk),
    u16(p.index),
    u32(p.values.length),
    ...p.values.map((x) => toFixed(x, width)),
    ...proofBytes(tpk, p.proof)
  ])
}

export const decodePartialDecryptionBatch = (tpk: ThresholdPublicKey, bytes: Uint8Array): PartialDecryptionBatch => {
  const r = new Reader(bytes, "threshold Paillier partial decryption batch").expectHeader(Kind.PartialDecryptionList)
  checkFingerprint(r, tpk, "partial decryption batch")
  const index = readIndex(r, tpk)
  const width = w(tpk.publicKey.bits)
  const count = r.u32()
  if (count > MAX_BATCH || r.remaining() < (count + 2) * width + 2) failEncoding("Encoding", `partial decryption batch: ${count} values do not fit ${bytes.length} bytes`)
  const values = Array.from({ length: count }, () => r.int(width))
  const proof = readProof(r, tpk, "partial decryption batch")
  r.end()
  return { _tag: "ThresholdPaillierPartialDecryptionBatch", index, values, proof }
}
