/**
 * The pure-TypeScript backend of the compute kernels (core/src/compute/Kernels.ts): native BigInt arithmetic,
 * no platform API, so it runs unchanged in Node, browsers and Web Workers. It is the reference every faster
 * backend is checked against (core/src/testing/kernel-conformance.ts) and the default when none is supplied.
 */
import type { BigIntKernels } from "./BigIntKernels.ts"

/** `modPowBatch` for a backend that has only a single modPow: element-wise, with the length check every backend shares. */
export const batchOf = (modPow: BigIntKernels["modPow"]): BigIntKernels["modPowBatch"] => (bases, exponents, modulus) => {
  if (typeof exponents !== "bigint" && exponents.length !== bases.length) {
    throw new RangeError(`modPowBatch: ${bases.length} bases but ${exponents.length} exponents`)
  }
  return bases.map((b, i) => modPow(b, typeof exponents === "bigint" ? exponents : exponents[i]!, modulus))
}

const bitLength = (x: bigint): number => (x === 0n ? 0 : x.toString(2).length)

// Window width minimising squarings + table multiplications for a given exponent length (HAC 14.85).
const windowBits = (exponentBits: number): number =>
  exponentBits > 671 ? 6 : exponentBits > 239 ? 5 : exponentBits > 79 ? 4 : exponentBits > 23 ? 3 : 1

const checkModulus = (modulus: bigint): void => {
  if (modulus <= 0n) throw new RangeError(`modulus must be positive, got ${modulus}`)
}

/** Left-to-right sliding-window exponentiation: about bits squarings plus bits/(w+1) multiplications. */
export const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  checkModulus(modulus)
  if (exponent < 0n) throw new RangeError("exponent must be non-negative")
  if (modulus === 1n) return 0n
  let b = base % modulus
  if (b < 0n) b += modulus
  if (exponent === 0n) return 1n
  if (b <= 1n) return b
  const bits = exponent.toString(2)
  const w = windowBits(bits.length)
  // Odd powers b^1, b^3, …, b^(2^w − 1).
  const odd: Array<bigint> = [b]
  if (w > 1) {
    const b2 = (b * b) % modulus
    for (let i = 1; i < 1 << (w - 1); i++) odd.push((odd[i - 1]! * b2) % modulus)
  }
  let result = 1n
  let started = false
  let i = 0
  while (i < bits.length) {
    if (bits[i] === "0") {
      if (started) result = (result * result) % modulus
      i++
      continue
    }
    // Longest window of at most w bits starting here and ending in a 1.
    let end = Math.min(i + w, bits.length)
    while (bits[end - 1] === "0") end--
    const value = parseInt(bits.slice(i, end), 2)
    if (started) {
      for (let k = i; k < end; k++) result = (result * result) % modulus
      result = (result * odd[(value - 1) >> 1]!) % modulus
    } else {
      result = odd[(value - 1) >> 1]!
      started = true
    }
    i = end
  }
  return result
}

export const modPowBatch = batchOf(modPow)

/** Extended Euclid; throws RangeError when gcd(a, modulus) ≠ 1. */
export const modInverse = (a: bigint, modulus: bigint): bigint => {
  checkModulus(modulus)
  let r0 = ((a % modulus) + modulus) % modulus
  let r1 = modulus
  let s0 = 1n
  let s1 = 0n
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1] = [r1, r0 - q * r1]
    ;[s0, s1] = [s1, s0 - q * s1]
  }
  if (r0 !== 1n) {
    if (modulus === 1n) return 0n
    throw new RangeError("modInverse: argument is not invertible modulo the modulus")
  }
  return ((s0 % modulus) + modulus) % modulus
}

export const tsKernels: BigIntKernels = { name: "ts", modPow, modPowBatch, modInverse }

export { bitLength }
