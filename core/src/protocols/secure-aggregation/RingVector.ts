/**
 * Vectors over Z_(2^bits) in the limb layout of `Prg.expandLimbs` (element i at limbs[i·L … i·L+L), least
 * significant 32-bit limb first): additions are carry loops over typed arrays, so masking a 100k-element
 * update allocates nothing per element. Bigints appear only at the edges (`fromBigInts`, `toBigInts`), and
 * not at all for callers whose values are safe integers (`fromSignedIntegers`, `toSignedNumbers`: fixed-point
 * model updates, where a bigint per element used to cost more than the masking itself).
 */
import { isLE, swap32IfBE } from "@noble/ciphers/utils.js"
import { Effect, Schema } from "effect"
import * as Prg from "../../crypto/Prg.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"

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

const TWO_32 = 2 ** 32

/**
 * Signed safe integers → their residues mod 2^bits (two's complement), without bigints.
 * @throws RangeError for a value that is not a safe integer or lies outside [−2^(bits−1), 2^(bits−1)).
 */
export const fromSignedIntegers = (values: ArrayLike<number>, bits: number): RingVector => {
  const vector = zeros(values.length, bits)
  const perElement = Prg.limbsPerElement(bits)
  const mask = Prg.topLimbMask(bits)
  const half = 2 ** (bits - 1)
  const limbs = vector.limbs
  if (bits === 32) {
    // One limb, no top-limb mask: `value | 0` is exactly the int32 range check, and the Int32 view stores the
    // two's complement limb (the 32-bit ring of every federated round after the first).
    const out = int32View(limbs)
    for (let i = 0; i < values.length; i++) {
      const value = values[i]!
      if ((value | 0) !== value) throw new RangeError(`element ${i} is not a safe integer in [-2^31, 2^31): ${value}`)
      out[i] = value
    }
    return vector
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    if (!Number.isSafeInteger(value) || value >= half || value < -half) {
      throw new RangeError(`element ${i} is not a safe integer in [-2^${bits - 1}, 2^${bits - 1}): ${value}`)
    }
    const high = Math.floor(value / TWO_32) // in [−2^21, 2^21): exact, as is the low limb below
    const base = i * perElement
    limbs[base] = value - high * TWO_32
    if (perElement > 1) {
      limbs[base + 1] = high // Uint32Array stores high mod 2^32: the two's complement limb
      const fill = high < 0 ? 0xffffffff : 0
      for (let j = 2; j < perElement; j++) limbs[base + j] = fill
    }
    limbs[base + perElement - 1] = limbs[base + perElement - 1]! & mask
  }
  return vector
}

/**
 * Elements [start, end) as signed numbers: residues ≥ 2^(bits−1) read as negative. Exact while |value| ≤ 2^53,
 * rounded to the nearest double beyond (as `Number(bigint)` would). Rings up to 2^64 only.
 */
export const toSignedNumbers = (vector: RingVector, start = 0, end = vector.length): Float64Array => {
  const { bits, limbs } = vector
  if (bits > 64) throw new RangeError(`toSignedNumbers serves rings up to 2^64, not 2^${bits}`)
  if (!(0 <= start && start <= end && end <= vector.length)) throw new RangeError(`range [${start}, ${end}) outside ${vector.length} elements`)
  const out = new Float64Array(end - start)
  if (bits === 32) {
    const signed = int32View(limbs)
    for (let i = start; i < end; i++) out[i - start] = signed[i]!
    return out
  }
  if (bits <= 32) {
    const half = 2 ** (bits - 1)
    const modulus = 2 ** bits
    for (let i = start; i < end; i++) {
      const value = limbs[i]!
      out[i - start] = value >= half ? value - modulus : value
    }
    return out
  }
  const highHalf = 2 ** (bits - 33)
  const highModulus = 2 ** (bits - 32)
  for (let i = start; i < end; i++) {
    const high = limbs[2 * i + 1]!
    out[i - start] = (high >= highHalf ? high - highModulus : high) * TWO_32 + limbs[2 * i]!
  }
  return out
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

const int32View = (limbs: Uint32Array) => new Int32Array(limbs.buffer, limbs.byteOffset, limbs.length)

/** acc ← acc + x (mod 2^bits), limb arrays of the same shape. */
export const addLimbs = (acc: Uint32Array, x: Uint32Array, bits: number): void => {
  const perElement = Prg.limbsPerElement(bits)
  const mask = Prg.topLimbMask(bits)
  if (acc.length !== x.length) throw new RangeError(`shape mismatch: ${acc.length} vs ${x.length} limbs`)
  if (perElement === 1) {
    // Int32 views keep the loop in int32 arithmetic (Uint32 loads are doubles to V8): ~1.5× on 100k limbs.
    const a = int32View(acc)
    const b = int32View(x)
    if (mask === 0xffffffff) for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) | 0
    else for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) & mask
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
    const a = int32View(acc)
    const b = int32View(x)
    if (mask === 0xffffffff) for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]!) | 0
    else for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]!) & mask
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

/** acc ← acc ± PRG(seed, label), reusing `scratch` (same shape as acc) for the keystream of `kernel`. */
export const addMask = (
  acc: RingVector,
  seed: Uint8Array,
  label: string,
  sign: 1 | -1,
  scratch: Uint32Array = new Uint32Array(acc.limbs.length),
  kernel: PrgKernel.PrgKernel = PrgKernel.noble,
  prg: Prg.Name = Prg.LEGACY_NAME
): void => {
  Prg.expandLimbs(seed, label, acc.length, acc.bits, scratch, kernel, prg)
  if (sign === 1) addLimbs(acc.limbs, scratch, acc.bits)
  else subLimbs(acc.limbs, scratch, acc.bits)
}

export interface Mask {
  readonly seed: Uint8Array
  readonly label: string
  readonly sign: 1 | -1
}

/**
 * acc ← acc + Σ ±PRG(seed, label) over `masks`: the same result as one `addMask` per mask, but chunk by chunk
 * (a few thousand limbs, all masks per chunk), so the accumulator chunk stays in cache across masks and no
 * mask is ever materialized in full (a 100k-element participant update takes n − 1 + 1 masks per round).
 * `kernel`: the host's keystream kernel (the `PrgKernel` service); every kernel gives the same masks. `prg`: the
 * aggregation's PRG (its signed parameters).
 */
export const addMasks = (
  acc: RingVector,
  masks: ReadonlyArray<Mask>,
  kernel: PrgKernel.PrgKernel = PrgKernel.noble,
  prg: Prg.Name = Prg.LEGACY_NAME
): void => {
  // The kernel's fused path where it has one (the model-update rings): same masks, no JS chunk per mask.
  if (kernel.addKeystreams !== undefined && isLE && (acc.bits === 32 || acc.bits === 64)) {
    kernel.addKeystreams(prg, masks.map((m) => Prg.streamKey(m.seed, m.label, prg)), masks.map((m) => m.sign), acc.limbs, acc.bits === 32 ? 1 : 2)
    return
  }
  const perElement = Prg.limbsPerElement(acc.bits)
  const streams = masks.map((m) => ({ next: Prg.streamLimbs(m.seed, m.label, acc.bits, kernel, prg), sign: m.sign }))
  const chunk = perElement * CHUNK_ELEMENTS
  const total = acc.limbs.length
  for (let start = 0; start < total; start += chunk) {
    const target = acc.limbs.subarray(start, Math.min(start + chunk, total))
    for (const { next, sign } of streams) {
      const limbs = next(target.length)
      if (sign === 1) addLimbs(target, limbs, acc.bits)
      else subLimbs(target, limbs, acc.bits)
    }
  }
}

/** The kernel's asynchronous keystream for `prg` failed (WebCrypto refused the key or the operation, a worker died). */
export class PrgFailed extends Schema.TaggedError<PrgFailed>()("PrgFailed", {
  prg: Prg.NameSchema,
  reason: Schema.String
}) {
  override get message() {
    return `PRG ${this.prg} failed: ${this.reason}`
  }
}

/**
 * `addMasks` as an Effect, through the kernel's asynchronous keystream where it has one for `prg` (a browser's
 * WebCrypto AES-CTR: each mask's whole keystream at once, added here), else `addMasks` itself. The same result.
 * A keystream that rejects fails with `PrgFailed`, leaving `acc` partly masked: the caller discards it.
 */
export const addMasksEffect = (
  acc: RingVector,
  masks: ReadonlyArray<Mask>,
  kernel: PrgKernel.PrgKernel,
  prg: Prg.Name
): Effect.Effect<void, PrgFailed> => {
  const asynchronous = kernel.keystreamAsync
  if (asynchronous === undefined || !asynchronous.ciphers.includes(prg) || acc.limbs.length === 0) {
    return Effect.sync(() => addMasks(acc, masks, kernel, prg))
  }
  return Effect.tryPromise({
    try: async () => {
      const iv = new Uint8Array(PrgKernel.IV_BYTES[prg])
      for (const mask of masks) {
        const bytes = await asynchronous.run(prg, Prg.streamKey(mask.seed, mask.label, prg), iv, acc.limbs.byteLength)
        const limbs = new Uint32Array(bytes.buffer, bytes.byteOffset, acc.limbs.length)
        swap32IfBE(limbs)
        // Bits above 2^bits in a top limb need no clearing: addLimbs/subLimbs reduce mod 2^bits, as expandLimbs' mask does.
        if (mask.sign === 1) addLimbs(acc.limbs, limbs, acc.bits)
        else subLimbs(acc.limbs, limbs, acc.bits)
      }
    },
    catch: (error) => new PrgFailed({ prg, reason: error instanceof Error ? error.message : String(error) })
  })
}

/** 16384 elements: a 64 KiB chunk of a 32-bit ring, a multiple of either PRG's block (64 / 16 bytes) for every width. */
const CHUNK_ELEMENTS = 16384

/** Wire bytes: the limbs as little-endian 32-bit words (4·L bytes per element). */
export const toBytes = (vector: RingVector): Uint8Array => {
  const copy = vector.limbs.slice()
  swap32IfBE(copy)
  return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength)
}

/**
 * The wire bytes of a vector the caller owns and will not change again: on little-endian hosts a view of its
 * limbs (a 1M-element masked input is not copied once more to be sent), elsewhere `toBytes`.
 */
export const ownBytes = (vector: RingVector): Uint8Array =>
  isLE ? new Uint8Array(vector.limbs.buffer, vector.limbs.byteOffset, vector.limbs.byteLength) : toBytes(vector)

/** The first element with bits above 2^bits (a non-canonical encoding), or -1. */
const firstOverflow = (limbs: Uint32Array, bits: number): number => {
  const perElement = Prg.limbsPerElement(bits)
  const mask = Prg.topLimbMask(bits)
  // A full top limb (bits a multiple of 32) has no bits to check.
  if (mask !== 0xffffffff) for (let i = perElement - 1; i < limbs.length; i += perElement) {
    if ((limbs[i]! & ~mask) !== 0) return (i - perElement + 1) / perElement
  }
  return -1
}

/**
 * A copy of `vector` after the wire's checks (limb count for its length and bits, no element above 2^bits): what
 * `fromBytes(toBytes(vector))` gives, in one copy instead of two. For vectors from a caller that may break the shape.
 * @throws RangeError describing the first problem.
 */
export const checkedCopy = (vector: RingVector, length: number, bits: number): RingVector => {
  if (vector.bits !== bits || vector.length !== length || vector.limbs.length !== length * Prg.limbsPerElement(bits)) {
    throw new RangeError(`expected ${length} elements mod 2^${bits} (${length * Prg.limbsPerElement(bits)} limbs), got ${vector.length} mod 2^${vector.bits} (${vector.limbs.length} limbs)`)
  }
  const limbs = vector.limbs.slice()
  const overflow = firstOverflow(limbs, bits)
  if (overflow >= 0) throw new RangeError(`element ${overflow} exceeds 2^${bits}`)
  return { bits, length, limbs }
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
  const overflow = firstOverflow(limbs, bits)
  if (overflow >= 0) throw new RangeError(`element ${overflow} exceeds 2^${bits}`)
  return { bits, length, limbs }
}

/**
 * acc ← acc + the vector of wire `bytes` (mod 2^bits), with `fromBytes`' checks but, on little-endian hosts with
 * the bytes 4-aligned (a decoded message's own buffer), no copy: the coordinator sums 1M-element masked inputs
 * straight from their decoded bytes. acc is unchanged when the bytes are refused.
 * @throws RangeError describing the first problem.
 */
export const addBytes = (acc: RingVector, bytes: Uint8Array): void => {
  const { length, bits } = acc
  const aligned = isLE && bytes.byteOffset % 4 === 0 && bytes.length === acc.limbs.length * 4
  const limbs = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) : fromBytes(bytes, length, bits).limbs
  const overflow = firstOverflow(limbs, bits)
  if (overflow >= 0) throw new RangeError(`element ${overflow} exceeds 2^${bits}`)
  addLimbs(acc.limbs, limbs, bits)
}
