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

/**
 * Π bases_i^(exponents_i) mod modulus for exponents ≥ 0 (Straus: one run of squarings shared by every base, a
 * product per set bit), the reference for the kernels' `multiExp`.
 */
export const multiExp = (bases: ReadonlyArray<bigint>, exponents: ReadonlyArray<bigint>, modulus: bigint): bigint => {
  checkModulus(modulus)
  if (exponents.length !== bases.length) throw new RangeError(`multiExp: ${bases.length} bases but ${exponents.length} exponents`)
  if (exponents.some((e) => e < 0n)) throw new RangeError("multiExp: exponents must be non-negative")
  if (modulus === 1n) return 0n
  const reduced = bases.map((b) => ((b % modulus) + modulus) % modulus)
  const bits = exponents.reduce((n, e) => Math.max(n, bitLength(e)), 0)
  let acc = 1n
  for (let b = bits - 1; b >= 0; b--) {
    acc = (acc * acc) % modulus
    const bit = BigInt(b)
    for (let i = 0; i < reduced.length; i++) if (((exponents[i]! >> bit) & 1n) === 1n) acc = (acc * reduced[i]!) % modulus
  }
  return acc
}

type MultiExp = NonNullable<BigIntKernels["multiExp"]>

/**
 * The kernel's `multiExp` where it has one, else a product of the kernel's own modPows (what callers computed
 * before kernels had a multi-exponentiation, so a backend without one keeps its speed and its answers).
 */
export const multiExpOf = (kernels: BigIntKernels): MultiExp =>
  kernels.multiExp ?? ((bases, exponents, modulus) => {
    if (exponents.length !== bases.length) throw new RangeError(`multiExp: ${bases.length} bases but ${exponents.length} exponents`)
    return bases.reduce((acc, b, i) => (acc * kernels.modPow(b, exponents[i]!, modulus)) % modulus, 1n % modulus)
  })

/**
 * Π bases_i^(exponents_i) mod modulus for signed exponents: the positive and the negative terms in one `run`
 * each (default `multiExpOf(kernels)`), the negative product inverted once (it must be a unit, as every element
 * of Z*_{N²} is).
 */
export const signedMultiExp = (
  kernels: BigIntKernels,
  bases: ReadonlyArray<bigint>,
  exponents: ReadonlyArray<bigint>,
  modulus: bigint,
  run: MultiExp = multiExpOf(kernels)
): bigint => {
  if (exponents.length !== bases.length) throw new RangeError(`multiExp: ${bases.length} bases but ${exponents.length} exponents`)
  const half = (sign: 1n | -1n) => {
    const bs: Array<bigint> = []
    const es: Array<bigint> = []
    exponents.forEach((x, i) => {
      if (x * sign > 0n) {
        bs.push(bases[i]!)
        es.push(x * sign)
      }
    })
    return run(bs, es, modulus)
  }
  const positive = half(1n)
  const negative = half(-1n)
  return negative === 1n ? positive : (positive * kernels.modInverse(negative, modulus)) % modulus
}

/**
 * Inverts every value mod m with one modInverse (Montgomery's trick: 3 multiplications per value), for callers
 * that need many inverses at once (a modInverse of a 4096-bit value costs about as much as a hundred products).
 */
export const batchInverse = (values: ReadonlyArray<bigint>, m: bigint, kernels: BigIntKernels = tsKernels): Array<bigint> => {
  if (values.length === 0) return []
  const prefix: Array<bigint> = new Array(values.length)
  let acc = 1n
  values.forEach((v, i) => {
    acc = (acc * v) % m
    prefix[i] = acc
  })
  let inv = kernels.modInverse(acc, m)
  const out: Array<bigint> = new Array(values.length)
  for (let i = values.length - 1; i > 0; i--) {
    out[i] = (inv * prefix[i - 1]!) % m
    inv = (inv * values[i]!) % m
  }
  out[0] = inv
  return out
}

export const tsKernels: BigIntKernels = { name: "ts", modPow, modPowBatch, modInverse }

export { bitLength }
