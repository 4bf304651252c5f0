/**
 * The masked sum of joint prediction (`aggregation: "masks"`, spec.ts "Prediction"): the requester learns
 * Σ_p z_p per id, where z_p is party p's partial score, and nothing else — without threshold decryption.
 *
 * Each party other than the requester adds to its scores, in the ring Z_(2^RING_BITS), one pseudorandom vector per
 * other non-requester: +PRG(seed_pq) when it comes before q in the task's party order, −PRG(seed_pq) after, where
 * seed_pq is the pair's key agreement over the task's signed channel keys. The masks of every pair cancel in the
 * sum, and any proper subset of the masked vectors is uniform (each misses the other half of some pair), so the
 * requester, adding its own scores, learns the total alone. With one other party there is nothing to mask against:
 * the requester learns that party's scores, as it would from the total anyway.
 *
 * Scores are signed fixed-point integers; `SCORE_BITS` bounds each party's, so that the sum of up to `MAX_PARTIES`
 * of them stays within the ring's signed half and decodes exactly.
 */
import * as Prg from "../../crypto/Prg.ts"
import type * as PrgKernel from "../../crypto/PrgKernel.ts"

export const RING_BITS = 128
const BYTES = RING_BITS / 8
const MODULUS = 1n << BigInt(RING_BITS)
const LIMBS = Prg.limbsPerElement(RING_BITS)
/** Parties a masked sum may add (a vertical task has far fewer). */
export const MAX_PARTIES = 1024
/** Magnitude bound of one party's score: MAX_PARTIES of them still sum below 2^(RING_BITS−1). */
export const SCORE_BITS = RING_BITS - 1 - Math.log2(MAX_PARTIES) - 1

export const inRange = (z: bigint): boolean => {
  const limit = 1n << BigInt(SCORE_BITS)
  return z < limit && -z < limit
}

/** One pairwise mask this party adds (+) or subtracts (−): the pair's 32-byte seed and the PRG label. */
export interface PairMask {
  readonly seed: Uint8Array
  readonly sign: 1 | -1
}

const limbsToBigInt = (limbs: Uint32Array, i: number): bigint => {
  let v = 0n
  for (let k = LIMBS - 1; k >= 0; k--) v = (v << 32n) | BigInt(limbs[i * LIMBS + k]!)
  return v
}

/** `values` (each `inRange`) plus every pair mask, mod 2^RING_BITS, as RING_BITS/8 little-endian bytes each. */
export const mask = (values: ReadonlyArray<bigint>, pairs: ReadonlyArray<PairMask>, label: string, kernel?: PrgKernel.PrgKernel): Uint8Array => {
  const acc = values.map((z) => ((z % MODULUS) + MODULUS) % MODULUS)
  for (const pair of pairs) {
    const limbs = Prg.expandLimbs(pair.seed, label, values.length, RING_BITS, undefined, kernel)
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + (pair.sign === 1 ? limbsToBigInt(limbs, i) : MODULUS - limbsToBigInt(limbs, i))) % MODULUS
  }
  return encode(acc)
}

const encode = (values: ReadonlyArray<bigint>): Uint8Array => {
  const out = new Uint8Array(values.length * BYTES)
  values.forEach((v, i) => {
    for (let b = 0; b < BYTES; b++) out[i * BYTES + b] = Number((v >> BigInt(8 * b)) & 0xffn)
  })
  return out
}

export class MaskedLengthError extends Error {
  constructor(readonly bytes: number, readonly count: number) {
    super(`a masked vector of ${bytes} bytes does not hold ${count} elements of ${BYTES} bytes`)
  }
}

/** The ring elements of a masked vector of `count` scores. @throws MaskedLengthError */
export const decode = (bytes: Uint8Array, count: number): Array<bigint> => {
  if (bytes.length !== count * BYTES) throw new MaskedLengthError(bytes.length, count)
  return Array.from({ length: count }, (_, i) => {
    let v = 0n
    for (let b = BYTES - 1; b >= 0; b--) v = (v << 8n) | BigInt(bytes[i * BYTES + b]!)
    return v
  })
}

/** The requester's own scores plus every other party's masked vector: the signed totals. */
export const total = (own: ReadonlyArray<bigint>, masked: ReadonlyArray<ReadonlyArray<bigint>>): Array<bigint> =>
  own.map((z, i) => {
    let t = ((z % MODULUS) + MODULUS) % MODULUS
    for (const m of masked) t = (t + m[i]!) % MODULUS
    return t >= MODULUS / 2n ? t - MODULUS : t
  })
