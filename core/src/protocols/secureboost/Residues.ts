/**
 * Ciphertexts as fixed-width big-endian residues in one byte array (2·bits(N)/8 bytes each): the form they take
 * between the parties' main threads and the worker jobs, so a main thread only slices bytes and never parses
 * a bigint. Browser-safe (no Buffer). Reading checks the range 0 < c < N²; it does not check gcd(c, N) = 1,
 * which costs ~30 ciphertext multiplications in BigInt: a feature holder computing on the label holder's
 * ciphertexts can only corrupt results the label holder decrypts itself (which refuses non-invertible ones), and
 * the label holder decrypts replies with the validating decoder.
 */
import { fail } from "./Errors.ts"

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
const NIBBLE = new Uint8Array(128)
for (let i = 0; i < 16; i++) {
  NIBBLE["0123456789abcdef".charCodeAt(i)] = i
  NIBBLE["0123456789ABCDEF".charCodeAt(i)] = i
}

/** Bytes per residue mod N² for a `bits`-bit N. */
export const widthOf = (bits: number): number => bits / 4

export const count = (bytes: Uint8Array, width: number, what: string, party: number): number => {
  if (bytes.length % width !== 0) fail("InvalidMessage", party, `${what}: ${bytes.length} bytes is not a whole number of ${width}-byte ciphertexts`)
  return bytes.length / width
}

/** The residue at `index`, checked to lie in (0, modulus). */
export const read = (bytes: Uint8Array, width: number, index: number, modulus: bigint): bigint => {
  const start = index * width
  let hex = "0x"
  for (let i = start; i < start + width; i++) hex += HEX[bytes[i]!]
  const x = BigInt(hex)
  if (x === 0n || x >= modulus) throw new RangeError(`ciphertext ${index} is outside (0, N²)`)
  return x
}

export const write = (out: Uint8Array, width: number, index: number, x: bigint): void => {
  const hex = x.toString(16)
  if (hex.length > 2 * width) throw new RangeError(`a residue does not fit ${width} bytes`)
  const padded = hex.padStart(2 * width, "0")
  const start = index * width
  for (let i = 0; i < width; i++) out[start + i] = (NIBBLE[padded.charCodeAt(2 * i)]! << 4) | NIBBLE[padded.charCodeAt(2 * i + 1)]!
}

export const writeAll = (xs: ReadonlyArray<bigint>, width: number): Uint8Array => {
  const out = new Uint8Array(xs.length * width)
  xs.forEach((x, i) => write(out, width, i, x))
  return out
}

export const readAll = (bytes: Uint8Array, width: number, modulus: bigint): Array<bigint> =>
  Array.from({ length: bytes.length / width }, (_, i) => read(bytes, width, i, modulus))

/** Concatenates byte arrays (Paillier's Bytes.concat). */
export { concat } from "../../crypto/paillier/Bytes.ts"

/** Row indices on the wire: u32 little-endian. */
export const encodeRows = (rows: Uint32Array): Uint8Array => {
  const out = new Uint8Array(rows.length * 4)
  const view = new DataView(out.buffer)
  rows.forEach((r, i) => view.setUint32(4 * i, r, true))
  return out
}

export const decodeRows = (bytes: Uint8Array, limit: number, what: string, party: number): Uint32Array => {
  if (bytes.length % 4 !== 0) fail("InvalidMessage", party, `${what}: ${bytes.length} bytes is not a list of u32 rows`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Uint32Array(bytes.length / 4)
  for (let i = 0; i < out.length; i++) {
    const r = view.getUint32(4 * i, true)
    if (r >= limit || (i > 0 && r <= out[i - 1]!)) fail("InvalidMessage", party, `${what}: rows must be ascending aligned indices below ${limit}`)
    out[i] = r
  }
  return out
}

/** One bit per entry, least significant bit first. */
export const encodeBits = (bits: ArrayLike<boolean | number>): Uint8Array => {
  const out = new Uint8Array(Math.ceil(bits.length / 8))
  for (let i = 0; i < bits.length; i++) if (bits[i]) out[i >> 3]! |= 1 << (i & 7)
  return out
}

export const decodeBits = (bytes: Uint8Array, count: number, what: string, party: number): Uint8Array => {
  if (bytes.length !== Math.ceil(count / 8)) fail("InvalidMessage", party, `${what}: ${bytes.length} bytes for ${count} bits`)
  return Uint8Array.from({ length: count }, (_, i) => (bytes[i >> 3]! >> (i & 7)) & 1)
}
