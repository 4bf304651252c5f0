/**
 * Fixed-base windowed exponentiation (HAC 14.109 with a full table): for a base b, window w and W windows,
 * T[i][d] = b^(d·2^(w·i)); then b^r = Π_i T[i][digit_i(r)], W multiplications and no squarings. For the DJN
 * randomness h_s^r with r of 1024 bits and w = 8, that is 128 multiplications mod N² instead of ~1,200
 * squarings and multiplications, at the price of a 16 MB table built once per public key.
 */
import { randomBits } from "../../compute/Primes.ts"

export interface FixedBaseTable {
  readonly base: bigint
  readonly modulus: bigint
  readonly windowBits: number
  readonly windows: number
  /** Flat: entry (i, d) for d ≥ 1 at i·(2^w − 1) + d − 1. */
  readonly entries: ReadonlyArray<bigint>
}

/** Window width for an exponent/modulus size, keeping the table near or under ~40 MB. */
export const defaultWindowBits = (modulusBits: number): number => (modulusBits <= 4096 ? 8 : 7)

export const build = (base: bigint, modulus: bigint, exponentBits: number, windowBits: number): FixedBaseTable => {
  if (windowBits < 1 || windowBits > 12) throw new RangeError("windowBits must be in [1, 12]")
  const windows = Math.ceil(exponentBits / windowBits)
  const perWindow = (1 << windowBits) - 1
  const entries: Array<bigint> = new Array(windows * perWindow)
  let unit = base % modulus // b^(2^(w·i))
  for (let i = 0; i < windows; i++) {
    let acc = unit
    entries[i * perWindow] = acc
    for (let d = 2; d <= perWindow; d++) {
      acc = (acc * unit) % modulus
      entries[i * perWindow + d - 1] = acc
    }
    unit = (acc * unit) % modulus
  }
  return { base, modulus, windowBits, windows, entries }
}

/** base^exponent for 0 ≤ exponent < 2^(w·windows). */
export const pow = (table: FixedBaseTable, exponent: bigint): bigint => {
  if (exponent < 0n || exponent >> BigInt(table.windowBits * table.windows) !== 0n) {
    throw new RangeError("fixed-base exponent outside the table's range")
  }
  const perWindow = (1 << table.windowBits) - 1
  const mask = BigInt(perWindow)
  const w = BigInt(table.windowBits)
  let result = 1n
  let e = exponent
  for (let i = 0; e !== 0n; i++, e >>= w) {
    const d = Number(e & mask)
    if (d !== 0) result = (result * table.entries[i * perWindow + d - 1]!) % table.modulus
  }
  return result
}

/** base^r for a fresh uniform r of w·windows bits; digits come straight from the CSPRNG (no bigint r). */
export const powRandom = (table: FixedBaseTable): bigint => {
  const perWindow = (1 << table.windowBits) - 1
  if (table.windowBits !== 8) return pow(table, randomBits(table.windowBits * table.windows))
  const digits = new Uint8Array(table.windows)
  crypto.getRandomValues(digits)
  let result = 1n
  for (let i = 0; i < digits.length; i++) {
    const d = digits[i]!
    if (d !== 0) result = (result * table.entries[i * perWindow + d - 1]!) % table.modulus
  }
  return result
}
