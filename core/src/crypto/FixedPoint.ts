/**
 * Signed fixed-point codec over a modulus (PROTOCOLS.md §4 "Fixed-point encoding (ours)").
 *
 * A real v is carried as round(v · 2^scaleBits); negatives wrap to modulus − |x|, so the same codec serves
 * Paillier plaintexts (modulus N) and secure-aggregation rings (modulus 2^k). Values whose magnitude reaches
 * half the modulus would be read back with the wrong sign, so `encode` refuses them instead.
 */
import { Schema } from "effect"

export class FixedPointError extends Schema.TaggedError<FixedPointError>()("FixedPointError", {
  reason: Schema.Literals(["NotFinite", "Overflow", "Unsafe"]),
  value: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `fixed-point ${this.reason}: ${this.value} (${this.detail})`
  }
}

export interface Codec {
  readonly scaleBits: number
  readonly modulus: bigint
  /** Largest magnitude (exclusive) a value may have once encoded: modulus / 2. */
  readonly bound: bigint
}

export const make = (options: { readonly scaleBits: number; readonly modulus: bigint }): Codec => {
  if (!Number.isInteger(options.scaleBits) || options.scaleBits < 0 || options.scaleBits > 128) {
    throw new RangeError(`scaleBits must be an integer in [0, 128], got ${options.scaleBits}`)
  }
  if (options.modulus < 4n) throw new RangeError("modulus must be at least 4")
  return { scaleBits: options.scaleBits, modulus: options.modulus, bound: options.modulus / 2n }
}

/** Exact signed integer → residue; throws FixedPointError when |x| ≥ modulus/2. */
export const wrap = (codec: Codec, x: bigint): bigint => {
  const magnitude = x < 0n ? -x : x
  if (magnitude >= codec.bound) {
    throw new FixedPointError({ reason: "Overflow", value: x.toString(), detail: `|x| must stay below modulus/2 = ${codec.bound}` })
  }
  return x < 0n ? codec.modulus + x : x
}

/** Residue → signed integer (m > modulus/2 stands for m − modulus). */
export const unwrap = (codec: Codec, m: bigint): bigint => {
  const r = ((m % codec.modulus) + codec.modulus) % codec.modulus
  return r > codec.bound ? r - codec.modulus : r
}

/** Real → scaled signed integer, before wrapping. Rejects NaN/±Infinity and values past 2^53 after scaling. */
export const scale = (scaleBits: number, v: number): bigint => {
  if (!Number.isFinite(v)) throw new FixedPointError({ reason: "NotFinite", value: String(v), detail: "only finite numbers can be encoded" })
  const scaled = Math.round(v * 2 ** scaleBits)
  if (!Number.isSafeInteger(scaled)) {
    throw new FixedPointError({ reason: "Unsafe", value: String(v), detail: `v·2^${scaleBits} exceeds 2^53; lower scaleBits` })
  }
  return BigInt(scaled)
}

export const encode = (codec: Codec, v: number): bigint => wrap(codec, scale(codec.scaleBits, v))

/** Decodes a residue carrying `scaleMultiplier` factors of 2^scaleBits (2 after multiplying two encodings). */
export const decode = (codec: Codec, m: bigint, scaleMultiplier = 1): number => {
  const signed = unwrap(codec, m)
  return toNumber(signed, codec.scaleBits * scaleMultiplier)
}

/** Exact for the integer part, then divides; keeps precision for large sums where Number(signed) would round. */
export const toNumber = (signed: bigint, totalScaleBits: number): number => {
  const denominator = 1n << BigInt(totalScaleBits)
  const whole = signed / denominator
  const fraction = signed - whole * denominator
  return Number(whole) + Number(fraction) / Number(denominator)
}
