/**
 * What the tests and backends/src/measure.ts hold the kernels against: textbook right-to-left square-and-multiply on native
 * bigint (no windows, no Montgomery, nothing shared with the kernels).
 */

export const naiveModPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  if (modulus === 1n) return 0n
  let b = ((base % modulus) + modulus) % modulus
  let r = 1n
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % modulus
    b = (b * b) % modulus
  }
  return r
}
