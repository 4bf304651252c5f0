/**
 * Packing several bounded signed integers into one Paillier plaintext: x = Σ v_i·2^(w·i) as a signed integer.
 * Homomorphic sums and signed scalar multiples act slot-wise, borrows included, so `unpack` recovers every slot
 * as long as each slot's result stays within (−2^(w−1), 2^(w−1)) and the whole within (−N/2, N/2).
 *
 * A layout fixes the value bound (|v| < 2^valueBits) and the headroom: `maxAddends` is the largest total weight
 * Σ|k_j| of the linear combinations that will be applied (the number of ciphertexts added, for plain sums), so
 * w = valueBits + ⌈log2(maxAddends)⌉ + 1. Both the layout and every packed value are checked.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import type { PrivateKey, PublicKey } from "./Keys.ts"
import * as Paillier from "./Paillier.ts"
import { fail } from "./PaillierError.ts"
import type { RandomnessSource } from "./Randomness.ts"

export interface Layout {
  readonly valueBits: number
  readonly maxAddends: bigint
  readonly slotBits: number
  readonly slots: number
}

const log2Ceil = (x: bigint): number => (x <= 1n ? 0 : (x - 1n).toString(2).length)

/** Capacity of one plaintext: slots·slotBits must stay ≤ bits(N) − 2 so the total is below N/2 in magnitude. */
export const capacity = (pk: PublicKey, slotBits: number): number => Math.floor((pk.bits - 2) / slotBits)

export const layout = (
  pk: PublicKey,
  options: { readonly valueBits: number; readonly maxAddends?: bigint | number; readonly slots?: number }
): Layout => {
  const maxAddends = BigInt(options.maxAddends ?? 1)
  if (!Number.isInteger(options.valueBits) || options.valueBits < 1) throw new RangeError("valueBits must be a positive integer")
  if (maxAddends < 1n) throw new RangeError("maxAddends must be ≥ 1")
  const slotBits = options.valueBits + log2Ceil(maxAddends) + 1
  const max = capacity(pk, slotBits)
  const slots = options.slots ?? max
  if (slots < 1 || slots > max) {
    fail("PackingOverflow", `${slots} slots of ${slotBits} bits exceed the ${pk.bits - 2}-bit headroom of N (at most ${max})`)
  }
  return { valueBits: options.valueBits, maxAddends, slotBits, slots }
}

/** Signed packed integer for `values` (at most `slots` of them, each |v| < 2^valueBits). */
export const pack = (l: Layout, values: ReadonlyArray<bigint>): bigint => {
  if (values.length > l.slots) fail("PackingOverflow", `${values.length} values for ${l.slots} slots`)
  const bound = 1n << BigInt(l.valueBits)
  let x = 0n
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i]!
    if (v >= bound || -v >= bound) fail("PackingOverflow", `slot ${i}: |${v}| ≥ 2^${l.valueBits}`)
    x = (x << BigInt(l.slotBits)) + v
  }
  return x
}

/** Splits a signed packed integer into `count` centred slots (low slot first). */
export const unpack = (l: Layout, x: bigint, count = l.slots): Array<bigint> => {
  const w = BigInt(l.slotBits)
  const modulus = 1n << w
  const half = modulus >> 1n
  const out: Array<bigint> = []
  let rest = x
  for (let i = 0; i < count; i++) {
    let s = ((rest % modulus) + modulus) % modulus
    if (s >= half) s -= modulus
    out.push(s)
    rest = (rest - s) >> w
  }
  if (rest !== 0n) fail("PackingOverflow", "packed value has bits beyond the last slot: a slot overflowed its headroom")
  return out
}

export const encryptPacked = (pk: PublicKey, l: Layout, values: ReadonlyArray<bigint>, randomness?: RandomnessSource): Paillier.Ciphertext =>
  Paillier.encryptSigned(pk, pack(l, values), randomness)

export const decryptPacked = (sk: PrivateKey, l: Layout, c: Paillier.Ciphertext, count = l.slots, kernels?: BigIntKernels): Array<bigint> =>
  unpack(l, Paillier.decryptSigned(sk, c, kernels), count)
