/**
 * Byte layout shared by the Paillier and threshold-Paillier serializations: a 6-byte header
 * ("JLPL", version, kind) then fixed-width big-endian integers, so every decoder can check the exact length
 * before reading anything.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { fail } from "./PaillierError.ts"

export const MAGIC = new Uint8Array([0x4a, 0x4c, 0x50, 0x4c]) // "JLPL"
export const VERSION = 1
export const HEADER_BYTES = 6

/** Kinds of serialized objects; threshold-Paillier kinds start at 16. */
export const Kind = {
  PublicKey: 1,
  PrivateKey: 2,
  Ciphertext: 3,
  CiphertextList: 4,
  PlaintextList: 5,
  RandomnessList: 6,
  ThresholdPublicKey: 16,
  KeyShare: 17,
  PartialDecryption: 18,
  PartialDecryptionList: 19
} as const
export type Kind = (typeof Kind)[keyof typeof Kind]

export const bitLength = (x: bigint): number => (x <= 0n ? 0 : x.toString(2).length)
export const byteLength = (x: bigint): number => Math.ceil(bitLength(x) / 8)

// Hex digit values by char code and the two-digit spelling of each byte: the codecs below read and write whole
// ciphertexts (512 bytes at 2048 bits) thousands of times per task, where parseInt/padStart per byte cost more
// than the arithmetic they feed.
const HEX_DIGITS = "0123456789abcdef"
const hexValue = (code: number): number => (code <= 57 ? code - 48 : code - 87) // '0'–'9', 'a'–'f' (toString(16) is lower case)
const BYTE_HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!)

/** Fixed-width big-endian encoding; throws RangeError if x does not fit (callers check ranges first). */
export const toFixed = (x: bigint, width: number): Uint8Array => {
  if (x < 0n) throw new RangeError("toFixed: negative integer")
  const hex = x.toString(16)
  if (hex.length > width * 2) throw new RangeError(`toFixed: integer does not fit in ${width} bytes`)
  const out = new Uint8Array(width)
  // The last byte of `out` takes the last two digits; an odd count leaves one digit for the first non-zero byte.
  let at = width - 1
  let i = hex.length
  for (; i >= 2; i -= 2, at--) out[at] = (hexValue(hex.charCodeAt(i - 2)) << 4) | hexValue(hex.charCodeAt(i - 1))
  if (i === 1) out[at] = hexValue(hex.charCodeAt(0))
  return out
}

export const fromBytes = (bytes: Uint8Array): bigint => {
  if (bytes.length === 0) return 0n
  let hex = "0x"
  for (let i = 0; i < bytes.length; i++) hex += BYTE_HEX[bytes[i]!]
  return BigInt(hex)
}

export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export const u16 = (x: number): Uint8Array => new Uint8Array([(x >>> 8) & 0xff, x & 0xff])
export const u32 = (x: number): Uint8Array => new Uint8Array([(x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff])

export const header = (kind: Kind): Uint8Array => concat([MAGIC, new Uint8Array([VERSION, kind])])

/** A cursor over bytes that fails with PaillierError("Encoding") instead of reading past the end. */
export class Reader {
  private at = 0
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string
  ) {}
  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) fail("Encoding", `${this.what}: truncated (${this.bytes.length} bytes)`)
    const out = this.bytes.subarray(this.at, this.at + n)
    this.at += n
    return out
  }
  u8(): number {
    return this.take(1)[0]!
  }
  u16(): number {
    const b = this.take(2)
    return (b[0]! << 8) | b[1]!
  }
  u32(): number {
    const b = this.take(4)
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
  }
  int(width: number): bigint {
    return fromBytes(this.take(width))
  }
  /** Asserts the header and returns the reader positioned after it. */
  expectHeader(kind: Kind): this {
    const magic = this.take(4)
    if (!magic.every((b, i) => b === MAGIC[i])) fail("Encoding", `${this.what}: not a Jointly Paillier encoding`)
    const version = this.u8()
    if (version !== VERSION) fail("Encoding", `${this.what}: unsupported version ${version}`)
    const got = this.u8()
    if (got !== kind) fail("Encoding", `${this.what}: expected kind ${kind}, got ${got}`)
    return this
  }
  remaining(): number {
    return this.bytes.length - this.at
  }
  end(): void {
    if (this.at !== this.bytes.length) fail("Encoding", `${this.what}: ${this.bytes.length - this.at} trailing bytes`)
  }
}

/** Length-prefixed list of byte strings: the envelope of the worker job functions. */
export const frames = (parts: ReadonlyArray<Uint8Array>): Uint8Array =>
  concat([u32(parts.length), ...parts.flatMap((p) => [u32(p.length), p])])

export const unframe = (bytes: Uint8Array, what: string): Array<Uint8Array> => {
  const r = new Reader(bytes, what)
  const count = r.u32()
  const out: Array<Uint8Array> = []
  for (let i = 0; i < count; i++) out.push(r.take(r.u32()))
  r.end()
  return out
}

export const sha256Hex = (bytes: Uint8Array): string => {
  let hex = ""
  for (const b of sha256(bytes)) hex += b.toString(16).padStart(2, "0")
  return hex
}

export { sha256 }
