// Big-integer modular exponentiation for odd moduli, compiled with AssemblyScript to wasm32: Montgomery
// multiplication with delayed carries, and sliding-window exponentiation.
//
// Why not plain 32-bit limbs: wasm has no 64×64→128 multiply, so 32-bit limbs with 64-bit products are the
// widest option, but then every product must have its carry split off at once, which serialises the inner loop
// (measured: a fused-CIOS 32-bit kernel ran no faster than V8's own bigint). Instead numbers are held in limbs
// of w ≤ 28 bits, and products are summed into 64-bit accumulators t without carrying: each product is
// < 2^(2w), so an accumulator takes 2k + 4 of them (all one position ever receives) without overflow. Row i of
// a Montgomery product is then `t[i+j] += a_j·b_i + n_j·m_i` for j < k — independent lanes, no carry chain —
// done with SIMD extended multiplies (two 32×32→64 products per i64x2.extmul). Carries move once per row
// (t[i] into t[i+1]) and once at the end. The loader picks w so that (2k + 4)·2^(2w) ≤ 2^64 (w = 28 up to
// ~3,500-bit moduli, 27 up to ~13,700, then 26) and k a multiple of 4.
//
// Tried and measured no faster at 4096 bits (the extmul shuffles, not t traffic, bound the loop): two rows per
// pass over t, and giving a third of the products to scalar i64.mul; i64x2.mul on zero-extended limbs is slower.
//
// The module owns no heap: the TS loader (src/WasmKernels.ts) lays out every operand above `heapBase()` and
// passes byte offsets, so the hot loops never allocate. "u32 form" is little-endian 32-bit limbs (what the
// loader reads and writes); "radix form" is k little-endian w-bit limbs, one per u32; accumulators are u64.

/** First free byte above the static data; the loader places operands from here. */
export function heapBase(): usize {
  return __heap_base
}

/** -n0^-1 mod 2^32 by Newton iteration (each step doubles the correct low bits: 3 → 6 → 12 → 24 → 48). */
export function negInv32(n0: u32): u32 {
  let x: u32 = n0
  x *= 2 - n0 * x
  x *= 2 - n0 * x
  x *= 2 - n0 * x
  x *= 2 - n0 * x
  return 0 - x
}

/** u32 form (k32 limbs) → radix form (k limbs of w bits). */
export function toRadix(dst: usize, src: usize, k32: i32, k: i32, w: i32): void {
  const mask: u64 = (<u64>1 << w) - 1
  let acc: u64 = 0
  let bits: i32 = 0
  let s = 0
  for (let i = 0; i < k; i++) {
    if (bits < w && s < k32) {
      acc |= <u64>load<u32>(src + (<usize>s << 2)) << bits
      bits += 32
      s++
    }
    store<u32>(dst + (<usize>i << 2), <u32>(acc & mask))
    acc >>= w
    bits -= w
    if (bits < 0) bits = 0
  }
}

/** Radix form (k limbs of w bits, normalised) → u32 form (k32 limbs). */
export function fromRadix(dst: usize, src: usize, k: i32, k32: i32, w: i32): void {
  let acc: u64 = 0
  let bits: i32 = 0
  let s = 0
  for (let i = 0; i < k32; i++) {
    while (bits < 32 && s < k) {
      acc |= <u64>load<u32>(src + (<usize>s << 2)) << bits
      bits += w
      s++
    }
    store<u32>(dst + (<usize>i << 2), <u32>acc)
    acc >>= 32
    bits -= 32
    if (bits < 0) bits = 0
  }
}

/**
 * Normalises the accumulator words t[0 … k) (the upper half of the Montgomery product, value < 2n) into w-bit
 * limbs and writes t mod n to r in radix form (what carries out of the top limb is 0 or 1; then one
 * subtraction of n suffices).
 */
// @ts-ignore: decorator
@inline
function finish(r: usize, t: usize, n: usize, k: i32, w: i32): void {
  const mask: u64 = (<u64>1 << w) - 1
  let c: u64 = 0
  for (let j = 0; j < k; j++) {
    const p = t + (<usize>j << 3)
    const v = load<u64>(p) + c
    store<u64>(p, v & mask)
    c = v >> w
  }
  let geq = c != 0
  if (!geq) {
    geq = true
    for (let j = k - 1; j >= 0; j--) {
      const tj = <u32>load<u64>(t + (<usize>j << 3))
      const nj = load<u32>(n + (<usize>j << 2))
      if (tj != nj) {
        geq = tj > nj
        break
      }
    }
  }
  if (geq) {
    let borrow: u64 = 0
    for (let j = 0; j < k; j++) {
      const d = load<u64>(t + (<usize>j << 3)) - <u64>load<u32>(n + (<usize>j << 2)) - borrow
      store<u32>(r + (<usize>j << 2), <u32>(d & mask))
      borrow = d >> 63
    }
  } else {
    for (let j = 0; j < k; j++) store<u32>(r + (<usize>j << 2), <u32>load<u64>(t + (<usize>j << 3)))
  }
}

/**
 * The Montgomery digit m_i of row i: t[i] + ai_bi + m_i·n_0 ≡ 0 mod 2^w, where `ai_bi` is the product this row
 * adds at t[i] but has not stored yet (0 when squaring). n0inv = −n⁻¹ mod 2^32.
 */
// @ts-ignore: decorator
@inline
function montDigit(ti: usize, ai_bi: u64, n0inv: u64, mask: u64): u32 {
  return <u32>((((load<u64>(ti) + ai_bi) & mask) * n0inv) & mask)
}

/**
 * r = a·b·R⁻¹ mod n with R = 2^(w·k); a, b < n in radix form; r may alias a or b (the product is accumulated in
 * scratch t of 2k words and written to r only at the end). Row i adds a·b_i + n·m at t[i …] with 64-bit
 * SIMD lanes (two 32×32→64 products per extmul); k is a multiple of 4.
 */
// @ts-ignore: decorator
@inline
function montMulInto(r: usize, a: usize, b: usize, n: usize, k: i32, w: i32, n0inv: u64, t: usize): void {
  const mask: u64 = (<u64>1 << w) - 1
  memory.fill(t, 0, (<usize>k) << 4)
  const rowBytes = (<usize>k) << 2
  const a0 = <u64>load<u32>(a)
  for (let i = 0; i < k; i++) {
    const bi = load<u32>(b + (<usize>i << 2))
    const ti = t + (<usize>i << 3)
    const m = montDigit(ti, a0 * <u64>bi, n0inv, mask)
    const vb = i32x4.splat(bi)
    const vm = i32x4.splat(m)
    let pt = ti
    for (let off: usize = 0; off < rowBytes; off += 16) {
      const va = v128.load(a + off)
      const vn = v128.load(n + off)
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt), i64x2.extmul_low_i32x4_u(va, vb)), i64x2.extmul_low_i32x4_u(vn, vm)))
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt, 16), i64x2.extmul_high_i32x4_u(va, vb)), i64x2.extmul_high_i32x4_u(vn, vm)), 16)
      pt += 32
    }
    // t[i] ≡ 0 mod 2^w now: dividing by 2^w moves its carry up.
    store<u64>(ti, load<u64>(ti, 8) + (load<u64>(ti) >> w), 8)
  }
  finish(r, t + ((<usize>k) << 3), n, k, w)
}

/**
 * r = a²·R⁻¹ mod n. Each cross product a_i·a_j (i < j) is computed once and doubled, and row i of the square
 * is fused into reduction row i (both land in t[i … i+k), so t is loaded and stored once for both): row i adds
 * n_j·m_i for every j and 2·a_i·a_j for j > i. The square terms of later rows start above position i, so
 * t[i] is final when m_i is chosen.
 */
// @ts-ignore: decorator
@inline
function montSqrInto(r: usize, a: usize, n: usize, k: i32, w: i32, n0inv: u64, t: usize): void {
  const mask: u64 = (<u64>1 << w) - 1
  memory.fill(t, 0, (<usize>k) << 4)
  const rowBytes = (<usize>k) << 2
  const lane = i32x4(0, 1, 2, 3)
  for (let i = 0; i < k; i++) {
    const ai = load<u32>(a + (<usize>i << 2))
    const t2i = t + (<usize>i << 4)
    store<u64>(t2i, load<u64>(t2i) + <u64>ai * <u64>ai)
    const ti = t + (<usize>i << 3)
    const vm = i32x4.splat(montDigit(ti, 0, n0inv, mask))
    const v2a = i32x4.splat(ai << 1)
    // Limbs [0, j0) get the reduction term only; from the 4-limb group holding limb i + 1 on, both.
    const j0 = <usize>(i + 1) & ~3
    const split = j0 << 2
    let pt = ti
    let off: usize = 0
    for (; off < split; off += 16) {
      const vn = v128.load(n + off)
      v128.store(pt, i64x2.add(v128.load(pt), i64x2.extmul_low_i32x4_u(vn, vm)))
      v128.store(pt, i64x2.add(v128.load(pt, 16), i64x2.extmul_high_i32x4_u(vn, vm)), 16)
      pt += 32
    }
    if (off < rowBytes) {
      // In the group holding limb i + 1, lanes j ≤ i are pairs already counted by earlier rows: mask them out.
      const va = v128.and(v128.load(a + off), i32x4.ge_u(lane, i32x4.splat((i + 1) & 3)))
      const vn = v128.load(n + off)
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt), i64x2.extmul_low_i32x4_u(vn, vm)), i64x2.extmul_low_i32x4_u(va, v2a)))
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt, 16), i64x2.extmul_high_i32x4_u(vn, vm)), i64x2.extmul_high_i32x4_u(va, v2a)), 16)
      pt += 32
      off += 16
    }
    for (; off < rowBytes; off += 16) {
      const va = v128.load(a + off)
      const vn = v128.load(n + off)
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt), i64x2.extmul_low_i32x4_u(vn, vm)), i64x2.extmul_low_i32x4_u(va, v2a)))
      v128.store(pt, i64x2.add(i64x2.add(v128.load(pt, 16), i64x2.extmul_high_i32x4_u(vn, vm)), i64x2.extmul_high_i32x4_u(va, v2a)), 16)
      pt += 32
    }
    store<u64>(ti, load<u64>(ti, 8) + (load<u64>(ti) >> w), 8)
  }
  finish(r, t + ((<usize>k) << 3), n, k, w)
}

// @ts-ignore: decorator
@inline
function bitAt(e: usize, i: i32): u32 {
  return (load<u32>(e + ((<usize>(i >>> 5)) << 2)) >>> (<u32>i & 31)) & 1
}

/**
 * Converts a modulus and R² mod n from u32 form (k32 limbs each) to radix form, once per modulus.
 */
export function prepareModulus(nR: usize, r2R: usize, n32: usize, r2_32: usize, k32: i32, k: i32, w: i32): void {
  toRadix(nR, n32, k32, k, w)
  toRadix(r2R, r2_32, k32, k, w)
}

/**
 * out32 = base32^exp mod n. `base32` (u32 form, < n) and `out32` have k32 limbs; `nR` and `r2R` (R² mod n) are
 * in radix form from `prepareModulus`; the exponent has `expBits` significant bits (≥ 1) in u32 form at `exp`.
 * Sliding window of `window` bits (1…8), table of the 2^(window−1) odd powers. Scratch: t (2k words) · acc ·
 * one · table (2^(window−1) radix buffers of k limbs); `scratchBytes` gives its size.
 */
export function modPow(
  out32: usize, base32: usize, exp: usize, expBits: i32, nR: usize, r2R: usize, k32: i32, k: i32, w: i32,
  window: i32, scratch: usize
): void {
  const n0inv = <u64>negInv32(load<u32>(nR))
  const bytes = (<usize>k) << 2
  const t = scratch
  const acc = t + ((<usize>k) << 4)
  const one = acc + bytes
  const table = one + bytes
  // Montgomery form of the base (staged in acc), then the odd powers base^1, base^3, …, base^(2^w − 1)
  // (base² staged in one).
  toRadix(acc, base32, k32, k, w)
  montMulInto(table, acc, r2R, nR, k, w, n0inv, t)
  const entries = 1 << (window - 1)
  if (entries > 1) {
    montSqrInto(one, table, nR, k, w, n0inv, t)
    for (let i = 1; i < entries; i++) {
      const e = table + <usize>i * bytes
      montMulInto(e, e - bytes, one, nR, k, w, n0inv, t)
    }
  }
  let i = expBits - 1
  let started = false
  while (i >= 0) {
    if (bitAt(exp, i) == 0) {
      montSqrInto(acc, acc, nR, k, w, n0inv, t)
      i--
      continue
    }
    // The window runs from bit i down to the lowest set bit j with i − j < window, so its value is odd.
    let j = i - window + 1
    if (j < 0) j = 0
    while (bitAt(exp, j) == 0) j++
    let value: u32 = 0
    for (let b = i; b >= j; b--) value = (value << 1) | bitAt(exp, b)
    const entry = table + <usize>(value >> 1) * bytes
    if (started) {
      for (let b = i; b >= j; b--) montSqrInto(acc, acc, nR, k, w, n0inv, t)
      montMulInto(acc, acc, entry, nR, k, w, n0inv, t)
    } else {
      memory.copy(acc, entry, bytes)
      started = true
    }
    i = j - 1
  }
  // Leave Montgomery form by multiplying with 1.
  memory.fill(one, 0, bytes)
  store<u32>(one, 1)
  montMulInto(acc, acc, one, nR, k, w, n0inv, t)
  fromRadix(out32, acc, k, k32, w)
}

/** Scratch bytes that `modPow` needs for k radix limbs and the given window. */
export function scratchBytes(k: i32, window: i32): i32 {
  return 2 * k * 8 + (2 + (1 << (window - 1))) * k * 4
}
