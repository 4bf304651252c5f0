/**
 * Operand checks and trivial cases shared by every backend in this package, so that the WASM and Node-native
 * kernels agree with each other (and with the `BigIntKernels` contract in core/src/compute/Kernels.ts) on the
 * edges: even or non-positive modulus and negative exponent are RangeErrors; bases are reduced into [0, m).
 */

export const checkModulus = (modulus: bigint): void => {
  if (modulus < 1n) throw new RangeError(`modulus must be positive, got ${modulus}`)
  if ((modulus & 1n) === 0n) throw new RangeError("modulus must be odd (Montgomery reduction needs gcd(m, 2) = 1)")
}

export const checkExponent = (exponent: bigint): void => {
  if (exponent < 0n) throw new RangeError("exponent must be non-negative")
}

/** x mod m in [0, m), also for negative x. */
export const reduce = (x: bigint, modulus: bigint): bigint => {
  const r = x % modulus
  return r < 0n ? r + modulus : r
}

/**
 * The result of base^exponent mod m when it needs no exponentiation, else undefined. `base` must already be
 * reduced into [0, m). Backends call this first so the fast paths only see m > 1, e ≥ 1, base ≥ 2.
 */
export const trivialPow = (base: bigint, exponent: bigint, modulus: bigint): bigint | undefined => {
  if (modulus === 1n) return 0n
  if (exponent === 0n) return 1n
  if (base <= 1n) return base
  return undefined
}

/** Exponents of a batch as one per base, or one shared; a length mismatch is a RangeError. */
export const batchExponent = (
  exponents: ReadonlyArray<bigint> | bigint,
  count: number
): ((index: number) => bigint) => {
  if (typeof exponents === "bigint") {
    checkExponent(exponents)
    return () => exponents
  }
  if (exponents.length !== count) {
    throw new RangeError(`modPowBatch: ${count} bases but ${exponents.length} exponents`)
  }
  for (const e of exponents) checkExponent(e)
  return (index) => exponents[index]!
}
