/**
 * Vectors over Z_(2^bits) in the limb layout of `Prg.expandLimbs` (element i at limbs[i·L … i·L+L), least
 * significant 32-bit limb first): additions are carry loops over typed arrays, so masking a 100k-element
 * update allocates nothing per element. Bigints appear only at the edges (`fromBigInts`, `toBigInts`).
 */
import { isLE, swap32IfBE } from "@noble/ciphers/utils.js"
import * as Prg from "../../crypto/Prg.ts"

export interface RingVector {
  readonly bits: number
  readonly length: number
  readonly limbs: Uint32Array
}

export const zeros = (length: number, bits: number): RingVector => ({
  bits,
  length,
  limbs: new Uint32Array(length * Prg.limbsPerElement(bits))
})

/** Residues in [0, 2^bits) → vector. @throws RangeError for a value outside the ring's residues. */
export const fromBigInts = (values: ReadonlyArray<bigint>, bits: number): RingVector => {
  const vector = zeros(values.length, bits)
  const perElement = Prg.limbsPerElement(bits)
  const modulus = 1n << BigInt(bits)
  // Fast paths for 32- and 64-bit-limb rings (model updates): one conversion per element, no shifts.
  const wide = perElement === 2 && isLE ? new BigUint64Array(vector.limbs.buffer) : undefined
  for (let i = 0; i < values.length; i++) {
    let value = values[i]!
    if (typeof value !== "bigint" || value < 0n || value >= modulus) {
      throw new RangeError(`element ${i} is not a residue mod 2^${bits}: ${String(value)}`)
    }
    if (perElement === 1) {
      vector.limbs[i] = Number(value)
      continue
    }
    if (wide !== undefined) {
      wide[i] = value
      continue
    }
    for (let j = 0; j < perElement; j++) {
      vector.limbs[i * perElement + j] = Number(value & 0xffffffffn)
      value >>= 32n
    }
  }
  return vector
}

export const toBigInts = (vector: RingVector): Array<bigint> => {
  const perElement = Prg.limbsPerElement(vector.bits)
  const result = new Array<bigint>(vector.length)
  if (perElement === 1) {
    for (let i = 0; i < vector.length; i++) result[i] = BigInt(vector.limbs[i]!)
    return result
  }
  if (perElement === 2 && isLE) {
    const wide = new BigUint64Array(vector.limbs.buffer, vector.limbs.byteOffset, vector.length)
    for (let i = 0; i < vector.length; i++) result[i] = wide[i]!
    return result
  }
  for (let i = 0; i < vector.length; i++) {
    let value = 0n
    for (let j = perElement - 1; j >= 0; j--) value = (value << 32n) | BigInt(vector.limbs[i * perElement + j]!)
    result[i] = value
  }
  return result
}

/** acc ← acc + x (mod 2^bits), limb arrays of the same shape. */
export const addLimbs = (acc: Uint32Array, x: Uint32Array, bits: number): void => {
  const perElement = Prg.limbsPerElement(bits)
  const mask = Prg.topLimbMask(bits)
  if (acc.length !== x.length) throw new RangeError(`shape mismatch: ${acc.length} vs ${x.length} limbs`)
  if (perElement === 1) {
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + x[i]!) & mask
    return
  }
  for (let base = 0; base < acc.length; base += perElement) {
    let carry = 0
    for (let j = 0; j < perElement; j++) {
      const sum = acc[base + j]! + x[base + j]! + carry
      acc[base + j] = sum // Uint32Array stores sum mod 2^32
      carry = sum > 0xffffffff ? 1 : 0
    }
    acc[base + perElement - 1] = acc[base + perElement - 1]! & mask
  }
}

/** acc ← acc − x (mod 2^bits). */
export const subLimbs = (acc: Uint32Array, x: Uint32Array, bits: number): void => {
  const perElement = Prg.limbsPerElement(bits)
  const mask = Prg.topLimbMask(bits)
  if (acc.length !== x.length) throw new RangeError(`shape mismatch: ${acc.length} vs ${x.length} limbs`)
  if (perElement === 1) {
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - x[i]!) & mask
    return
  }
  for (let base = 0; base < acc.length; base += perElement) {
    let borrow = 0
    for (let j = 0; j < perElement; j++) {
      const difference = acc[base + j]! - x[base + j]! - borrow
      acc[base + j] = difference // negative wraps mod 2^32 on store
      borrow = difference < 0 ? 1 : 0
    }
    acc[base + perElement - 1] = acc[base + perElement - 1]! & mask
  }
}

/** acc ← acc ± PRG(seed, label), reusing `scratch` (same shape as acc) for the keystream. */
export const addMask = (
  acc: RingVector,
  seed: Uint8Array,
  label: string,
  sign: 1 | -1,
  scratch: Uint32Array = new Uint32Array(acc.limbs.length)
): void => {
  Prg.expandLimbs(seed, label, acc.length, acc.bits, scratch)
  if (sign === 1) addLimbs(acc.limbs, scratch, acc.bits)
  else subLimbs(acc.limbs, scratch, acc.bits)
}

/** Wire bytes: the limbs as little-endian 32-bit words (4·L bytes per element). */
export const toBytes = (vector: RingVector): Uint8Array => {
  const copy = vector.limbs.slice()
  swap32IfBE(copy)
  return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength)
}

/**
 * Wire bytes → vector, checking the length and that no element uses bits above 2^bits (a non-canonical
 * encoding would otherwise be silently reduced).
 * @throws RangeError describing the first problem.
 */
export const fromBytes = (bytes: Uint8Array, length: number, bits: number): RingVector => {
  const perElement = Prg.limbsPerElement(bits)
  if (bytes.length !== length * perElement * 4) {
    throw new RangeError(`expected ${length * perElement * 4} bytes for ${length} elements mod 2^${bits}, got ${bytes.length}`)
  }
  const limbs = new Uint32Array(length * perElement)
  new Uint8Array(limbs.buffer).set(bytes)
  if (!isLE) swap32IfBE(limbs)
  const mask = Prg.topLimbMask(bits)
  for (let i = perElement - 1; i < limbs.length; i += perElement) {
    if ((limbs[i]! & ~mask) !== 0) throw new RangeError(`element ${(i - perElement + 1) / perElement} exceeds 2^${bits}`)
  }
  return { bits, length, limbs }
}
