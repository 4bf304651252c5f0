/**
 * bigint ↔ little-endian u32 limbs through hexadecimal: V8 converts a bigint to and from hex in linear time,
 * and eight hex digits are exactly one limb, so no per-bit or per-byte bigint arithmetic is needed.
 */

/**
 * Writes non-negative `x` into `limbs[offset … offset+count)`, zero-filling above it, and returns how many limbs
 * x occupies (0 for 0). Throws if x needs more than `count` limbs.
 */
export const writeLimbs = (limbs: Uint32Array, offset: number, count: number, x: bigint): number =>
  writeHexLimbs(limbs, offset, count, x.toString(16))

/** `writeLimbs` for a value already in lower-case hex without prefix (x.toString(16)). */
export const writeHexLimbs = (limbs: Uint32Array, offset: number, count: number, hex: string): number => {
  let end = hex.length
  let i = 0
  while (end > 0) {
    if (i === count) throw new RangeError(`value needs more than ${count} limbs`)
    const start = end > 8 ? end - 8 : 0
    limbs[offset + i++] = parseInt(hex.slice(start, end), 16)
    end = start
  }
  limbs.fill(0, offset + i, offset + count)
  return hex === "0" ? 0 : i
}

/** Reads `count` limbs at `offset` as a non-negative bigint. */
export const readLimbs = (limbs: Uint32Array, offset: number, count: number): bigint => {
  let top = offset + count - 1
  while (top > offset && limbs[top] === 0) top--
  let hex = limbs[top]!.toString(16)
  for (let i = top - 1; i >= offset; i--) hex += limbs[i]!.toString(16).padStart(8, "0")
  return BigInt("0x" + hex)
}
