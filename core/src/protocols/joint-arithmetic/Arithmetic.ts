/**
 * The arithmetic of `statistics.arithmetic` (spec.ts), shared by the combiner, the recipient and the plaintext
 * reference: the combiner's homomorphic step on one value, the recipient's reading of the decrypted
 * plaintexts, and the exact value of `l op r` on fixed-point encodings computed without any encryption.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBits } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import type { PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import type { RandomnessSource } from "../../crypto/paillier/Randomness.ts"
import type { Operation } from "./spec.ts"

/** One result as the recipient keeps it. */
export interface Value {
  /** The nearest double (null for a zero divisor). */
  readonly value: number | null
  /** Exact: a decimal string (add, subtract, multiply) or the reduced fraction "p/q" with q > 0 (divide). */
  readonly exact: string | null
  readonly divisionByZero?: true
}

/** Ciphertexts per value the combiner sends: two for a division (t·x, t·y), one otherwise. */
export const ciphertextsPerValue = (operation: Operation): number => (operation === "divide" ? 2 : 1)

const abs = (x: bigint) => (x < 0n ? -x : x)

/** Draws the division blind t: |t| ∈ [2^κ, 2^(κ+1)), sign uniform (so R learns the sign of x/y only). */
export const drawMultiplier = (kappa: number): bigint => {
  const magnitude = (1n << BigInt(kappa)) | randomBits(kappa)
  return (randomBits(1) & 1n) === 1n ? -magnitude : magnitude
}

export class HeadroomExceeded extends Error {
  override readonly name = "HeadroomExceeded"
}

/** PROTOCOLS §4 headroom rule: every plaintext the recipient decrypts stays below N/2. */
export const checkHeadroom = (pk: PublicKey, operation: Operation, maxAbsEncoded: bigint, kappa: number): void => {
  const bound = operation === "multiply" ? maxAbsEncoded * maxAbsEncoded
    : operation === "divide" ? maxAbsEncoded << BigInt(kappa + 1)
    : 2n * maxAbsEncoded
  if (bound >= pk.halfN) throw new HeadroomExceeded(`results up to ${bound.toString(2).length} bits reach N/2 of a ${pk.bits}-bit key`)
}

export interface CombineOptions {
  readonly kappa: number
  readonly kernels?: BigIntKernels
  readonly randomness?: RandomnessSource
}

/**
 * The combiner's step for one value: `own` is its encoded operand in the clear, `theirs` the other holder's
 * encoded operand encrypted under the recipient's key. Every output is re-randomised.
 */
export const combine = (
  operation: Operation,
  side: "left" | "right",
  own: bigint,
  theirs: Paillier.Ciphertext,
  options: CombineOptions
): Array<Paillier.Ciphertext> => {
  const kernels = options.kernels ?? tsKernels
  const pk = theirs.publicKey
  const fresh = (c: Paillier.Ciphertext) => Paillier.rerandomize(c, options.randomness)
  switch (operation) {
    case "add":
      return [fresh(Paillier.addPlain(theirs, own))]
    case "subtract":
      // left − right: the combiner's own value enters with its side's sign.
      return [fresh(side === "left" ? Paillier.addPlain(Paillier.negate(theirs, kernels), own) : Paillier.addPlain(theirs, -own))]
    case "multiply":
      return [fresh(Paillier.multiplyScalar(theirs, own, kernels))]
    case "divide": {
      const t = drawMultiplier(options.kappa)
      const blindedOwn = Paillier.encryptSigned(pk, t * own, options.randomness)
      const blindedTheirs = fresh(Paillier.multiplyScalar(theirs, t, kernels))
      return side === "left" ? [blindedOwn, blindedTheirs] : [blindedTheirs, blindedOwn]
    }
  }
}

const gcd = (a: bigint, b: bigint): bigint => {
  a = abs(a)
  b = abs(b)
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

/** num/den as the nearest double, both possibly far beyond 2^53 (exact integer part, 64-bit fraction). */
export const ratio = (num: bigint, den: bigint): number => {
  const negative = (num < 0n) !== (den < 0n)
  const n = abs(num)
  const d = abs(den)
  const whole = n / d
  const fraction = Number(((n - whole * d) << 64n) / d) / 2 ** 64
  const value = Number(whole) + fraction
  return negative ? -value : value
}

/** The exact decimal expansion of x / 2^bits (finite: 2^−bits = 5^bits / 10^bits). */
export const decimal = (x: bigint, bits: number): string => {
  const sign = x < 0n ? "-" : ""
  const scaled = abs(x) * 5n ** BigInt(bits)
  const digits = scaled.toString().padStart(bits + 1, "0")
  const whole = digits.slice(0, digits.length - bits)
  const fraction = digits.slice(digits.length - bits).replace(/0+$/u, "")
  return sign + whole + (fraction === "" ? "" : "." + fraction)
}

/** The recipient's reading of one value's decrypted (signed) plaintexts. */
export const read = (operation: Operation, scaleBits: number, plaintexts: ReadonlyArray<bigint>): Value => {
  if (operation === "divide") {
    const [num, den] = plaintexts as [bigint, bigint]
    if (den === 0n) return { value: null, exact: null, divisionByZero: true }
    const g = gcd(num, den)
    const sign = den < 0n ? -1n : 1n
    const p = (sign * num) / g
    const q = abs(den) / g
    return { value: ratio(p, q), exact: `${p}/${q}` }
  }
  const bits = operation === "multiply" ? 2 * scaleBits : scaleBits
  return { value: FixedPoint.toNumber(plaintexts[0]!, bits), exact: decimal(plaintexts[0]!, bits) }
}

/** The same result without encryption: `l op r` on the encodings (the test's reference and the bench's baseline). */
export const plain = (operation: Operation, scaleBits: number, left: bigint, right: bigint): Value => {
  switch (operation) {
    case "add":
      return read(operation, scaleBits, [left + right])
    case "subtract":
      return read(operation, scaleBits, [left - right])
    case "multiply":
      return read(operation, scaleBits, [left * right])
    case "divide":
      return read(operation, scaleBits, [left, right])
  }
}
