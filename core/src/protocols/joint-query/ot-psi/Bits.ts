/**
 * Bit matrices of the OT extension (KKRT): an m×w matrix is stored row-major, each row ⌈w/32⌉ 32-bit words, bit
 * c of a row being bit (c mod 32) of word ⌊c/32⌋ — on the little-endian hosts JavaScript runs on (every browser
 * and Node platform), the same as bit (c mod 8) of byte ⌊c/8⌋ of the row's bytes, the order the wire uses.
 * The columns of one party are the rows of the other, so the hot operation is the transpose, done in 32×32
 * blocks with the recursive block-swap (five rounds of masked shifts per block: ~15 word operations per word
 * instead of 32 bit operations).
 */

/** Throws on a big-endian host, where the word view of the wire bytes would put bits elsewhere. */
export const assertLittleEndian = (): void => {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("ot-psi: bit matrices assume a little-endian host")
}

/**
 * Transposes the 32×32 bit block held in `a` (32 words, word r = row r) in place: five rounds of swapping the
 * off-diagonal sub-blocks of width 16, 8, 4, 2, 1. Each round is written out with its constant shift and mask,
 * which V8 compiles to straight-line code (about 1.5× the speed of one loop over the rounds).
 */
const transpose32 = (a: Uint32Array): void => {
  let t: number
  for (let k = 0; k < 16; k++) {
    t = ((a[k]! >>> 16) ^ a[k + 16]!) & 0x0000ffff
    a[k] = a[k]! ^ (t << 16)
    a[k + 16] = a[k + 16]! ^ t
  }
  for (let base = 0; base < 32; base += 16) {
    for (let k = base; k < base + 8; k++) {
      t = ((a[k]! >>> 8) ^ a[k + 8]!) & 0x00ff00ff
      a[k] = a[k]! ^ (t << 8)
      a[k + 8] = a[k + 8]! ^ t
    }
  }
  for (let base = 0; base < 32; base += 8) {
    for (let k = base; k < base + 4; k++) {
      t = ((a[k]! >>> 4) ^ a[k + 4]!) & 0x0f0f0f0f
      a[k] = a[k]! ^ (t << 4)
      a[k + 4] = a[k + 4]! ^ t
    }
  }
  for (let base = 0; base < 32; base += 4) {
    for (let k = base; k < base + 2; k++) {
      t = ((a[k]! >>> 2) ^ a[k + 2]!) & 0x33333333
      a[k] = a[k]! ^ (t << 2)
      a[k + 2] = a[k + 2]! ^ t
    }
  }
  for (let k = 0; k < 32; k += 2) {
    t = ((a[k]! >>> 1) ^ a[k + 1]!) & 0x55555555
    a[k] = a[k]! ^ (t << 1)
    a[k + 1] = a[k + 1]! ^ t
  }
}

/**
 * `dst` ← the transpose of the `rows`×`cols` bit matrix `src` (both multiples of 32): `dst` is cols×rows, row c
 * holding column c of `src`. `srcStride`/`dstStride` are the row lengths in words (default: no padding).
 */
export const transpose = (
  src: Uint32Array,
  rows: number,
  cols: number,
  dst: Uint32Array,
  srcStride: number = cols >>> 5,
  dstStride: number = rows >>> 5
): void => {
  if (rows % 32 !== 0 || cols % 32 !== 0) throw new RangeError(`transpose: ${rows}×${cols} is not made of 32×32 blocks`)
  const block = new Uint32Array(32)
  for (let rb = 0; rb < rows >>> 5; rb++) {
    const srcBase = rb * 32 * srcStride
    for (let cw = 0; cw < cols >>> 5; cw++) {
      for (let r = 0, at = srcBase + cw; r < 32; r++, at += srcStride) block[r] = src[at]!
      transpose32(block)
      for (let c = 0, at = cw * 32 * dstStride + rb; c < 32; c++, at += dstStride) dst[at] = block[c]!
    }
  }
}

/** A 32-bit word view of `bytes` (which must start on a 4-byte boundary and hold whole words). */
export const words = (bytes: Uint8Array): Uint32Array => {
  if (bytes.byteOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) throw new RangeError("ot-psi: buffer is not word-aligned")
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2)
}

/** `a` ← a ⊕ b over the common length. */
export const xorInto = (a: Uint32Array, b: Uint32Array): void => {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! ^ b[i]!
}
