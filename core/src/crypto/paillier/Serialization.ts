/**
 * Versioned, length-checked bytes for Paillier keys and ciphertexts (layout in Bytes.ts):
 *
 *   public key    header(1) · u16 bits · N (bits/8) · h_s (2·bits/8)
 *   private key   header(2) · u16 bits · p (bits/16) · q (bits/16) · h_s (2·bits/8)
 *   ciphertext    header(3) · fingerprint(N) (32) · c (2·bits/8)
 *   ciphertexts   header(4) · fingerprint(N) (32) · u32 count · count × c (2·bits/8)
 *   plaintexts    header(5) · u16 bits · u32 count · count × m (bits/8)
 *
 * Decoders check the exact length before reading values, then every value's range: a truncated, padded,
 * foreign or out-of-range encoding is a PaillierError, never a silently wrong key.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { concat, fromBytes, header, Kind, Reader, toFixed, u16, u32 } from "./Bytes.ts"
import { checkBits, fromPrimes, type KeySizePolicy, type PrivateKey, publicKey, type PublicKey } from "./Keys.ts"
import { type Ciphertext, ciphertext, ciphertexts, computedCiphertexts } from "./Paillier.ts"
import { fail } from "./PaillierError.ts"

const nBytes = (bits: number) => bits / 8
const n2Bytes = (bits: number) => bits / 4

const hexToBytes = (hex: string): Uint8Array => toFixed(BigInt("0x" + hex), 32)
const bytesToHex = (b: Uint8Array): string => fromBytes(b).toString(16).padStart(64, "0")

export const encodePublicKey = (pk: PublicKey): Uint8Array =>
  concat([header(Kind.PublicKey), u16(pk.bits), toFixed(pk.n, nBytes(pk.bits)), toFixed(pk.hs, n2Bytes(pk.bits))])

const readBits = (r: Reader, policy: KeySizePolicy): number => {
  const bits = r.u16()
  checkBits(bits, policy)
  return bits
}

export const decodePublicKey = (bytes: Uint8Array, policy: KeySizePolicy & { readonly kernels?: BigIntKernels } = {}): PublicKey => {
  const r = new Reader(bytes, "Paillier public key").expectHeader(Kind.PublicKey)
  const bits = readBits(r, policy)
  if (r.remaining() !== nBytes(bits) + n2Bytes(bits)) fail("Encoding", `Paillier public key: wrong length ${bytes.length} for ${bits} bits`)
  const n = r.int(nBytes(bits))
  const hs = r.int(n2Bytes(bits))
  const pk = publicKey(n, hs, policy)
  if (pk.bits !== bits) fail("KeyFormat", `declared ${bits} bits, N has ${pk.bits}`)
  return pk
}

export const encodePrivateKey = (sk: PrivateKey): Uint8Array => {
  const bits = sk.publicKey.bits
  return concat([
    header(Kind.PrivateKey),
    u16(bits),
    toFixed(sk.p, bits / 16),
    toFixed(sk.q, bits / 16),
    toFixed(sk.publicKey.hs, n2Bytes(bits))
  ])
}

export const decodePrivateKey = (bytes: Uint8Array, policy: KeySizePolicy & { readonly kernels?: BigIntKernels } = {}): PrivateKey => {
  const r = new Reader(bytes, "Paillier private key").expectHeader(Kind.PrivateKey)
  const bits = readBits(r, policy)
  if (r.remaining() !== bits / 8 + n2Bytes(bits)) fail("Encoding", `Paillier private key: wrong length ${bytes.length} for ${bits} bits`)
  const p = r.int(bits / 16)
  const q = r.int(bits / 16)
  const hs = r.int(n2Bytes(bits))
  const { privateKey } = fromPrimes(p, q, { ...policy, hs })
  if (privateKey.publicKey.bits !== bits) fail("KeyFormat", `declared ${bits} bits, p·q has ${privateKey.publicKey.bits}`)
  return privateKey
}

export const encodeCiphertext = (c: Ciphertext): Uint8Array =>
  concat([header(Kind.Ciphertext), hexToBytes(c.publicKey.fingerprint), toFixed(c.value, n2Bytes(c.publicKey.bits))])

const checkFingerprint = (r: Reader, pk: PublicKey, what: string): void => {
  const fp = bytesToHex(r.take(32))
  if (fp !== pk.fingerprint) fail("KeyMismatch", `${what} under key ${fp.slice(0, 16)}, expected ${pk.fingerprint.slice(0, 16)}`)
}

/** Decodes and validates (range, non-zero, invertible) a ciphertext under `pk`. */
export const decodeCiphertext = (pk: PublicKey, bytes: Uint8Array): Ciphertext => {
  const r = new Reader(bytes, "Paillier ciphertext").expectHeader(Kind.Ciphertext)
  if (r.remaining() !== 32 + n2Bytes(pk.bits)) fail("Encoding", `Paillier ciphertext: wrong length ${bytes.length} for a ${pk.bits}-bit key`)
  checkFingerprint(r, pk, "ciphertext")
  return ciphertext(pk, r.int(n2Bytes(pk.bits)))
}

export const encodeCiphertexts = (pk: PublicKey, cs: ReadonlyArray<Ciphertext>): Uint8Array => {
  for (const c of cs) if (c.publicKey.n !== pk.n) fail("KeyMismatch", "ciphertext list mixes keys")
  const width = n2Bytes(pk.bits)
  return concat([header(Kind.CiphertextList), hexToBytes(pk.fingerprint), u32(cs.length), ...cs.map((c) => toFixed(c.value, width))])
}

const ciphertextValues = (pk: PublicKey, bytes: Uint8Array): Array<bigint> => {
  const r = new Reader(bytes, "Paillier ciphertext list").expectHeader(Kind.CiphertextList)
  checkFingerprint(r, pk, "ciphertext list")
  const count = r.u32()
  const width = n2Bytes(pk.bits)
  if (r.remaining() !== count * width) fail("Encoding", `Paillier ciphertext list: ${r.remaining()} bytes for ${count} ciphertexts`)
  return Array.from({ length: count }, () => r.int(width))
}

export const decodeCiphertexts = (pk: PublicKey, bytes: Uint8Array): Array<Ciphertext> => ciphertexts(pk, ciphertextValues(pk, bytes))

/** A list this process computed from valid ciphertexts or validated already (Paillier.computedCiphertexts: no gcd). */
export const decodeComputedCiphertexts = (pk: PublicKey, bytes: Uint8Array): Array<Ciphertext> => computedCiphertexts(pk, ciphertextValues(pk, bytes))

export const encodePlaintexts = (pk: PublicKey, ms: ReadonlyArray<bigint>): Uint8Array => {
  const width = nBytes(pk.bits)
  for (const m of ms) if (m < 0n || m >= pk.n) fail("PlaintextOutOfRange", "plaintext residue must lie in [0, N)")
  return concat([header(Kind.PlaintextList), u16(pk.bits), u32(ms.length), ...ms.map((m) => toFixed(m, width))])
}

export const decodePlaintexts = (pk: PublicKey, bytes: Uint8Array): Array<bigint> => {
  const r = new Reader(bytes, "Paillier plaintext list").expectHeader(Kind.PlaintextList)
  const bits = r.u16()
  if (bits !== pk.bits) fail("KeyMismatch", `plaintexts for a ${bits}-bit key, expected ${pk.bits}`)
  const count = r.u32()
  const width = nBytes(bits)
  if (r.remaining() !== count * width) fail("Encoding", `Paillier plaintext list: ${r.remaining()} bytes for ${count} plaintexts`)
  return Array.from({ length: count }, () => {
    const m = r.int(width)
    if (m >= pk.n) fail("PlaintextOutOfRange", "plaintext residue must lie in [0, N)")
    return m
  })
}

/** Precomputed randomness values (h_s^r mod N²) for a RandomnessPool, e.g. produced by a worker job. */
export const encodeRandomness = (pk: PublicKey, values: ReadonlyArray<bigint>): Uint8Array => {
  const width = n2Bytes(pk.bits)
  return concat([header(Kind.RandomnessList), hexToBytes(pk.fingerprint), u32(values.length), ...values.map((v) => toFixed(v, width))])
}

const randomnessValues = (pk: PublicKey, bytes: Uint8Array): Array<bigint> => {
  const r = new Reader(bytes, "Paillier randomness list").expectHeader(Kind.RandomnessList)
  checkFingerprint(r, pk, "randomness list")
  const count = r.u32()
  const width = n2Bytes(pk.bits)
  if (r.remaining() !== count * width) fail("Encoding", `Paillier randomness list: ${r.remaining()} bytes for ${count} values`)
  return Array.from({ length: count }, () => r.int(width))
}

export const decodeRandomness = (pk: PublicKey, bytes: Uint8Array): Array<bigint> => ciphertexts(pk, randomnessValues(pk, bytes)).map((c) => c.value)

/**
 * Randomness this process's own pool jobs drew (`paillier.randomness-batch`: powers of h_s, units by construction):
 * range-checked, without the gcd, as `decodeComputedCiphertexts` treats the jobs' ciphertexts.
 */
export const decodeComputedRandomness = (pk: PublicKey, bytes: Uint8Array): Array<bigint> => computedCiphertexts(pk, randomnessValues(pk, bytes)).map((c) => c.value)
