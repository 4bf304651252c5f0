/*
 * Modular exponentiation on AVX-512 IFMA (vpmadd52luq / vpmadd52huq), for the moduli OpenSSL 3.0 (the one Node 20
 * bundles) leaves to its 64-bit mulx/adx code: its IFMA path covers 1024-bit moduli only (two of them at a time,
 * RSA-2048's CRT halves), while Paillier's CRT decryption works modulo p² (2048-bit for a 2048-bit N) and a
 * threshold share modulo N² (4096-bit). A 512-bit IFMA unit does eight 52×52-bit products per instruction.
 *
 * Arithmetic: numbers as L limbs of 52 bits in 64-bit lanes (L a multiple of 8, so a number is L/8 zmm registers),
 * L chosen so R = 2^(52·L) > 4m. Montgomery multiplication word by word ("almost Montgomery multiplication", as in
 * Gueron–Krasnov's radix-2^52 AVX-512 IFMA RSA and Drucker–Gueron's IFMA squaring): for each limb b_i of b the
 * accumulator gains the low halves of a·b_i and q·m (q = limb 0 · (−m⁻¹) mod 2^52, so limb 0 becomes ≡ 0 mod 2^52),
 * drops limb 0 (a one-lane shift across registers, limb 0's carry added to the new limb 0), then gains the
 * high halves, which belong one limb up and so land at the shifted position. q is computed with a vpmadd52luq and
 * broadcast from lane 0 without leaving the vector registers (a round trip through a general register was most of
 * the per-limb latency); a product alone keeps the a·b_i and m·q halves in two register sets (amm_split) so that
 * only the m·q half waits for q, while two independent products (the CRT pair) run interleaved in one loop, each
 * hiding the other's latency. Limbs are not normalised inside the loop (each grows by < 2^54 per step, L ≤ 160
 * steps keep it below 2^62); one carry pass at the end. Inputs below
 * 2m give an output below 2m (4m < R), so no conditional subtraction between products; the result is below m + 1
 * after leaving Montgomery form, and one masked subtraction makes it canonical.
 *
 * Constant time in the exponent. Paillier's exponents are secrets (p − 1, q − 1, the key shares of a threshold
 * key), and the code runs on machines that host other tenants' processes, so neither the sequence of operations nor
 * the memory addresses touched may depend on exponent bits (cache and branch-predictor side channels):
 *   - fixed windows of 5 bits over the whole exponent byte string (its length is public: it is what the caller
 *     passes), five squarings and one product per window, zero digits included;
 *   - the table entry of a digit is selected by reading all 32 entries and keeping one with a vector mask computed
 *     by comparison (no index into memory by the digit, no branch on it);
 *   - the final subtraction of m is applied through a mask from the borrow, not a branch.
 * The base is not treated as secret beyond that (ciphertexts are public), but its handling has no data-dependent
 * branches either. The accumulators and tables are wiped before their memory is freed.
 *
 * Single products (ifma_mul and its conversions) serve bignum.c's fixed-base tables and multi-exponentiation, whose
 * callers decide what may be secret there (those paths are not constant-time, as with OpenSSL's products before).
 *
 * Portability: the vector code is compiled for avx512f/avx512vl/avx512ifma by function attributes only, so the
 * addon still builds for and runs on any x86-64; ifma_available() checks the CPU at run time. On other
 * architectures (or compilers without these intrinsics) the file is a stub that reports "not available".
 *
 * Written for this project from the published descriptions above; no code taken from OpenSSL or elsewhere.
 */
#include "ifma.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define IFMA_TARGET __attribute__((target("avx512f,avx512vl,avx512ifma")))
#define INLINE static inline __attribute__((always_inline))
/* The loops over registers and products unrolled, so the accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 40")
#define MASK52 ((UINT64_C(1) << 52) - 1)
#define WINDOW 5
#define ENTRIES (1 << WINDOW)
/* Registers per number at most: 160 limbs, moduli up to 8318 bits (a 4096-bit N's N²... and below). */
#define MAX_VECTORS 20

struct ifma_mod {
  int limbs; /* L */
  int vectors; /* L / 8 */
  size_t bytes; /* the modulus's byte length */
  uint64_t k0; /* −m⁻¹ mod 2^52 */
  uint64_t *m; /* L limbs each (64-byte aligned, one allocation) */
  uint64_t *rr; /* R² mod m */
  uint64_t *one; /* R mod m: 1 in Montgomery form */
  uint64_t *unit; /* 1 */
};

int ifma_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512ifma");
}

static int limbs_for(size_t modulus_bits) {
  size_t limbs = (modulus_bits + 2 + 51) / 52; /* R = 2^(52·L) ≥ 2^(bits + 2) > 4m */
  limbs = (limbs + 7) & ~(size_t)7;
  return limbs / 8 <= MAX_VECTORS ? (int)limbs : 0;
}

size_t ifma_rr_exponent(size_t modulus_bits) {
  if (!ifma_available() || modulus_bits < 2) return 0;
  return (size_t)limbs_for(modulus_bits) * 104;
}

/* Big-endian bytes into L limbs of 52 bits; 0 when the number does not fit. */
static int from_bytes(uint64_t *x, int limbs, const uint8_t *s, size_t len) {
  memset(x, 0, (size_t)limbs * 8);
  uint8_t spill = 0;
  for (size_t i = 0; i < len; i++) {
    const uint64_t byte = s[len - 1 - i];
    const size_t bit = 8 * i, j = bit / 52, o = bit % 52;
    if (j >= (size_t)limbs) {
      spill |= (uint8_t)byte;
      continue;
    }
    x[j] |= (byte << o) & MASK52;
    if (o > 44) {
      if (j + 1 < (size_t)limbs) x[j + 1] |= byte >> (52 - o);
      else spill |= (uint8_t)(byte >> (52 - o));
    }
  }
  return spill == 0;
}

/* L normalised limbs into `len` big-endian bytes (the number must fit). */
static void to_bytes(uint8_t *out, size_t len, const uint64_t *x, int limbs) {
  for (size_t i = 0; i < len; i++) {
    const size_t bit = 8 * i, j = bit / 52, o = bit % 52;
    uint64_t byte = j < (size_t)limbs ? x[j] >> o : 0;
    if (o > 44 && j + 1 < (size_t)limbs) byte |= x[j + 1] << (52 - o);
    out[len - 1 - i] = (uint8_t)byte;
  }
}

/* x − y over normalised limbs into d; the final borrow (1 when x < y). */
static uint64_t subtract(uint64_t *d, const uint64_t *x, const uint64_t *y, int limbs) {
  uint64_t borrow = 0;
  for (int j = 0; j < limbs; j++) {
    const uint64_t v = x[j] - y[j] - borrow;
    d[j] = v & MASK52;
    borrow = v >> 63;
  }
  return borrow;
}

/* Drops limb 0 of the number in regs[0 … V): a one-lane shift down across the registers. */
IFMA_TARGET INLINE void drop_limb(const int V, __m512i *regs) {
  UNROLL
  for (int v = 0; v < V - 1; v++) regs[v] = _mm512_alignr_epi64(regs[v + 1], regs[v], 1);
  regs[V - 1] = _mm512_alignr_epi64(_mm512_setzero_si512(), regs[V - 1], 1);
}

/* r = the number in x (+ y where given) as 8V limbs of 52 bits: the accumulators' carries propagated (it fits). */
IFMA_TARGET INLINE void normalise(const int V, uint64_t *r, const __m512i *x, const __m512i *y) {
  uint64_t limbs[8 * MAX_VECTORS] __attribute__((aligned(64)));
  UNROLL
  for (int v = 0; v < V; v++) _mm512_store_si512((void *)(limbs + 8 * v), y != NULL ? _mm512_add_epi64(x[v], y[v]) : x[v]);
  uint64_t c = 0;
  for (int j = 0; j < 8 * V; j++) {
    const uint64_t z = limbs[j] + c;
    r[j] = z & MASK52;
    c = z >> 52;
  }
}

/*
 * r_p = a_p · b_p / R mod m_p (below 2m_p for inputs below 2m_p, normalised limbs) for p < P (P ≤ 2 products
 * interleaved); r may alias a or b (written only at the end). The a·b_i halves and the m·q halves accumulate in two
 * register sets, x and y, whose sum is the number: x never waits for q, so the chain from one q to the next is y's
 * alone, two madds and a shift instead of four madds and a shift (a lone product is latency-bound).
 */
IFMA_TARGET INLINE void amm_split(const int P, const int V, uint64_t *const *r, const uint64_t *const *a, const uint64_t *const *b,
                                  const uint64_t *const *m, const uint64_t *k0) {
  __m512i x[2][MAX_VECTORS], y[2][MAX_VECTORS];
  const __m512i zero = _mm512_setzero_si512();
  UNROLL
  for (int p = 0; p < P; p++)
    UNROLL
    for (int v = 0; v < V; v++) x[p][v] = y[p][v] = zero;
  for (int i = 0; i < 8 * V; i++) {
    __m512i bv[2], qv[2];
    UNROLL
    for (int p = 0; p < P; p++) {
      bv[p] = _mm512_set1_epi64((long long)b[p][i]);
      UNROLL
      for (int v = 0; v < V; v++) x[p][v] = _mm512_madd52lo_epu64(x[p][v], _mm512_load_si512((const void *)(a[p] + 8 * v)), bv[p]);
      /* q = limb 0 · k0 mod 2^52, computed and broadcast in vector registers (no round trip through a GPR). */
      const __m512i q0 = _mm512_madd52lo_epu64(zero, _mm512_add_epi64(x[p][0], y[p][0]), _mm512_set1_epi64((long long)k0[p]));
      qv[p] = _mm512_broadcastq_epi64(_mm512_castsi512_si128(q0));
      UNROLL
      for (int v = 0; v < V; v++) y[p][v] = _mm512_madd52lo_epu64(y[p][v], _mm512_load_si512((const void *)(m[p] + 8 * v)), qv[p]);
      /* Limb 0 is now ≡ 0 mod 2^52: its carry (lane 0 of this) goes into the next limb 0. */
      const __m512i carry = _mm512_srli_epi64(_mm512_add_epi64(x[p][0], y[p][0]), 52);
      drop_limb(V, x[p]);
      drop_limb(V, y[p]);
      y[p][0] = _mm512_mask_add_epi64(y[p][0], 1, y[p][0], carry);
      UNROLL
      for (int v = 0; v < V; v++) {
        x[p][v] = _mm512_madd52hi_epu64(x[p][v], _mm512_load_si512((const void *)(a[p] + 8 * v)), bv[p]);
        y[p][v] = _mm512_madd52hi_epu64(y[p][v], _mm512_load_si512((const void *)(m[p] + 8 * v)), qv[p]);
      }
    }
  }
  UNROLL
  for (int p = 0; p < P; p++) normalise(V, r[p], x[p], y[p]);
}

/* amm_split's products with one register set per product, for pairs whose split sets would not fit in registers. */
IFMA_TARGET INLINE void amm_shared(const int P, const int V, uint64_t *const *r, const uint64_t *const *a, const uint64_t *const *b,
                                 const uint64_t *const *m, const uint64_t *k0) {
  __m512i acc[2][MAX_VECTORS];
  const __m512i zero = _mm512_setzero_si512();
  UNROLL
  for (int p = 0; p < P; p++)
    UNROLL
    for (int v = 0; v < V; v++) acc[p][v] = zero;
  for (int i = 0; i < 8 * V; i++) {
    __m512i bv[2], qv[2], carry[2];
    UNROLL
    for (int p = 0; p < P; p++) {
      bv[p] = _mm512_set1_epi64((long long)b[p][i]);
      UNROLL
      for (int v = 0; v < V; v++) acc[p][v] = _mm512_madd52lo_epu64(acc[p][v], _mm512_load_si512((const void *)(a[p] + 8 * v)), bv[p]);
      /* q = limb 0 · k0 mod 2^52, computed and broadcast in vector registers (no round trip through a GPR). */
      const __m512i q0 = _mm512_madd52lo_epu64(zero, acc[p][0], _mm512_set1_epi64((long long)k0[p]));
      qv[p] = _mm512_broadcastq_epi64(_mm512_castsi512_si128(q0));
      UNROLL
      for (int v = 0; v < V; v++) acc[p][v] = _mm512_madd52lo_epu64(acc[p][v], _mm512_load_si512((const void *)(m[p] + 8 * v)), qv[p]);
      carry[p] = _mm512_srli_epi64(acc[p][0], 52); /* limb 0 is ≡ 0 mod 2^52 now: its carry, in lane 0 */
    }
    UNROLL
    for (int p = 0; p < P; p++) {
      drop_limb(V, acc[p]);
      acc[p][0] = _mm512_mask_add_epi64(acc[p][0], 1, acc[p][0], carry[p]);
    }
    UNROLL
    for (int p = 0; p < P; p++)
      UNROLL
      for (int v = 0; v < V; v++) {
        acc[p][v] = _mm512_madd52hi_epu64(acc[p][v], _mm512_load_si512((const void *)(a[p] + 8 * v)), bv[p]);
        acc[p][v] = _mm512_madd52hi_epu64(acc[p][v], _mm512_load_si512((const void *)(m[p] + 8 * v)), qv[p]);
      }
  }
  UNROLL
  for (int p = 0; p < P; p++) normalise(V, r[p], acc[p], NULL);
}

/* Two products: in split register sets while both fit in the 32 registers (V ≤ 6), else in one set each (split, a
 * 4096-bit pair spills and runs slower than two lone products; shared, it runs ≈ 0.9 of them). */
IFMA_TARGET INLINE void amm_pair(const int P, const int V, uint64_t *const *r, const uint64_t *const *a, const uint64_t *const *b,
                                 const uint64_t *const *m, const uint64_t *k0) {
  if (V <= 6) amm_split(P, V, r, a, b, m, k0);
  else amm_shared(P, V, r, a, b, m, k0);
}

/* One specialisation per register count, so each keeps its accumulators in registers. */
#define CASES(P)                                                                                                                      \
  switch (V) {                                                                                                                       \
  case 1: AMM(P, 1, r, a, b, m, k0); break;                                                                                     \
  case 2: AMM(P, 2, r, a, b, m, k0); break;                                                                                     \
  case 3: AMM(P, 3, r, a, b, m, k0); break;                                                                                     \
  case 4: AMM(P, 4, r, a, b, m, k0); break;                                                                                     \
  case 5: AMM(P, 5, r, a, b, m, k0); break;                                                                                     \
  case 6: AMM(P, 6, r, a, b, m, k0); break;                                                                                     \
  case 7: AMM(P, 7, r, a, b, m, k0); break;                                                                                     \
  case 8: AMM(P, 8, r, a, b, m, k0); break;                                                                                     \
  case 9: AMM(P, 9, r, a, b, m, k0); break;                                                                                     \
  case 10: AMM(P, 10, r, a, b, m, k0); break;                                                                                   \
  case 11: AMM(P, 11, r, a, b, m, k0); break;                                                                                   \
  case 12: AMM(P, 12, r, a, b, m, k0); break;                                                                                   \
  case 13: AMM(P, 13, r, a, b, m, k0); break;                                                                                   \
  case 14: AMM(P, 14, r, a, b, m, k0); break;                                                                                   \
  case 15: AMM(P, 15, r, a, b, m, k0); break;                                                                                   \
  case 16: AMM(P, 16, r, a, b, m, k0); break;                                                                                   \
  case 17: AMM(P, 17, r, a, b, m, k0); break;                                                                                   \
  case 18: AMM(P, 18, r, a, b, m, k0); break;                                                                                   \
  case 19: AMM(P, 19, r, a, b, m, k0); break;                                                                                   \
  default: AMM(P, 20, r, a, b, m, k0); break;                                                                                   \
  }

IFMA_TARGET static void amm1(int V, uint64_t *const *r, const uint64_t *const *a, const uint64_t *const *b, const uint64_t *const *m, const uint64_t *k0) {
#define AMM amm_split
  CASES(1)
#undef AMM
}

IFMA_TARGET static void amm2(int V, uint64_t *const *r, const uint64_t *const *a, const uint64_t *const *b, const uint64_t *const *m, const uint64_t *k0) {
#define AMM amm_pair
  CASES(2)
#undef AMM
}

/* dst = table[index] over `entries` entries of L limbs, reading every entry (the index is secret). */
IFMA_TARGET static void select_entry(uint64_t *dst, const uint64_t *table, int limbs, unsigned index) {
  const __m512i wanted = _mm512_set1_epi64(index);
  for (int v = 0; v < limbs / 8; v++) {
    __m512i x = _mm512_setzero_si512();
    for (int k = 0; k < ENTRIES; k++) {
      const __mmask8 hit = _mm512_cmpeq_epi64_mask(_mm512_set1_epi64(k), wanted);
      x = _mm512_mask_mov_epi64(x, hit, _mm512_load_si512((const void *)(table + (size_t)k * limbs + 8 * v)));
    }
    _mm512_store_si512((void *)(dst + 8 * v), x);
  }
}

/* Byte j (0 = least significant) of a big-endian exponent, 0 beyond it (j is a public position). */
static inline unsigned exponent_byte(const uint8_t *e, size_t len, size_t j) {
  return j < len ? e[len - 1 - j] : 0;
}

static inline unsigned exponent_digit(const uint8_t *e, size_t len, size_t pos) {
  const size_t bit = pos * WINDOW;
  const unsigned word = exponent_byte(e, len, bit >> 3) | (exponent_byte(e, len, (bit >> 3) + 1) << 8);
  return (word >> (bit & 7)) & (ENTRIES - 1);
}

static void *aligned(size_t words) {
  return aligned_alloc(64, ((words * 8 + 63) / 64) * 64);
}

static void wipe_free(uint64_t *x, size_t words) {
  if (x == NULL) return;
  volatile uint64_t *v = x;
  for (size_t i = 0; i < words; i++) v[i] = 0;
  free(x);
}

/*
 * The P exponentiations (P ≤ 2, same limb count) of normalised bases below their moduli: result[p] = base[p]^e[p]
 * mod m[p], canonical, normalised. Exponents are read over `len` bytes (the longer one's; the shorter reads as
 * leading zeros). 0 when out of memory.
 */
IFMA_TARGET static int exp_core(int P, const ifma_mod *const *mod, uint64_t *const *base, const uint8_t *const *e, const size_t *e_len,
                                size_t len, uint64_t *const *result) {
  const int L = mod[0]->limbs, V = mod[0]->vectors;
  const size_t words = (size_t)P * (ENTRIES + 2) * L;
  uint64_t *work = aligned(words);
  if (work == NULL) return 0;
  void (*amm)(int, uint64_t *const *, const uint64_t *const *, const uint64_t *const *, const uint64_t *const *, const uint64_t *) = P == 1 ? amm1 : amm2;
  uint64_t *table[2], *acc[2], *entry[2];
  const uint64_t *m[2], *rr[2], *one[2], *unit[2];
  uint64_t k0[2];
  for (int p = 0; p < P; p++) {
    table[p] = work + (size_t)p * (ENTRIES + 2) * L;
    acc[p] = table[p] + (size_t)ENTRIES * L;
    entry[p] = acc[p] + L;
    m[p] = mod[p]->m;
    rr[p] = mod[p]->rr;
    one[p] = mod[p]->one;
    unit[p] = mod[p]->unit;
    k0[p] = mod[p]->k0;
    memcpy(table[p], one[p], (size_t)L * 8);
  }
  /* table[d] = base^d · R (mod m, below 2m) */
  uint64_t *t1[2] = { table[0] + L, P > 1 ? table[1] + L : NULL };
  amm(V, t1, (const uint64_t *const *)base, rr, m, k0);
  for (int d = 2; d < ENTRIES; d++) {
    uint64_t *td[2] = { table[0] + (size_t)d * L, P > 1 ? table[1] + (size_t)d * L : NULL };
    const uint64_t *prev[2] = { td[0] - L, P > 1 ? td[1] - L : NULL };
    amm(V, td, prev, (const uint64_t *const *)t1, m, k0);
  }
  const size_t windows = (len * 8 + WINDOW - 1) / WINDOW;
  const uint64_t *sq[2] = { acc[0], acc[P > 1 ? 1 : 0] };
  const uint64_t *by[2] = { entry[0], entry[P > 1 ? 1 : 0] };
  for (int p = 0; p < P; p++) {
    if (windows == 0) memcpy(acc[p], one[p], (size_t)L * 8);
    else select_entry(acc[p], table[p], L, exponent_digit(e[p], e_len[p], windows - 1));
  }
  for (size_t pos = windows - 1; windows > 0 && pos-- > 0;) {
    for (int s = 0; s < WINDOW; s++) amm(V, acc, sq, sq, m, k0);
    for (int p = 0; p < P; p++) select_entry(entry[p], table[p], L, exponent_digit(e[p], e_len[p], pos));
    amm(V, acc, sq, by, m, k0);
  }
  /* Out of Montgomery form (≤ m), then subtract m under a mask when not below it. */
  amm(V, acc, sq, unit, m, k0);
  for (int p = 0; p < P; p++) {
    const uint64_t keep = 0 - subtract(entry[p], acc[p], m[p], L); /* all ones when acc < m */
    for (int j = 0; j < L; j++) result[p][j] = (acc[p][j] & keep) | (entry[p][j] & ~keep);
  }
  wipe_free(work, words);
  return 1;
}

ifma_mod *ifma_mod_new(const uint8_t *modulus, size_t modulus_len, const uint8_t *rr, size_t rr_len) {
  size_t bits = modulus_len * 8;
  for (size_t i = 0; i < modulus_len && modulus[i] < 0x80; i++) {
    uint8_t byte = modulus[i];
    if (byte == 0) {
      bits -= 8;
      continue;
    }
    while (byte < 0x80) {
      byte <<= 1;
      bits--;
    }
    break;
  }
  if (!ifma_available() || bits < 2 || (modulus[modulus_len - 1] & 1) == 0 || limbs_for(bits) == 0) return NULL;
  ifma_mod *mod = calloc(1, sizeof *mod);
  if (mod == NULL) return NULL;
  mod->limbs = limbs_for(bits);
  mod->vectors = mod->limbs / 8;
  mod->bytes = (bits + 7) / 8;
  const int L = mod->limbs;
  mod->m = aligned((size_t)4 * L);
  if (mod->m == NULL) {
    free(mod);
    return NULL;
  }
  mod->rr = mod->m + L;
  mod->one = mod->rr + L;
  mod->unit = mod->one + L;
  uint64_t *scratch = aligned((size_t)L);
  if (scratch == NULL || !from_bytes(mod->m, L, modulus, modulus_len) || !from_bytes(mod->rr, L, rr, rr_len) ||
      subtract(scratch, mod->rr, mod->m, L) != 1) {
    free(scratch);
    ifma_mod_free(mod);
    return NULL;
  }
  free(scratch);
  /* m0⁻¹ mod 2^64 by Newton's iteration (each step doubles the correct low bits; m0 odd is right to 3 bits). */
  uint64_t inverse = mod->m[0];
  for (int i = 0; i < 5; i++) inverse *= 2 - mod->m[0] * inverse;
  mod->k0 = (0 - inverse) & MASK52;
  memset(mod->unit, 0, (size_t)L * 8);
  mod->unit[0] = 1;
  uint64_t *r[1] = { mod->one };
  const uint64_t *a[1] = { mod->rr }, *b[1] = { mod->unit }, *m[1] = { mod->m };
  amm1(mod->vectors, r, a, b, m, &mod->k0);
  return mod;
}

void ifma_mod_free(ifma_mod *mod) {
  if (mod == NULL) return;
  free(mod->m);
  free(mod);
}

/* The base as normalised limbs into x, checked below m; 0 otherwise. */
static int base_of(uint64_t *x, const ifma_mod *mod, const uint8_t *base, size_t base_len) {
  uint64_t *scratch = aligned((size_t)mod->limbs);
  int ok = scratch != NULL && from_bytes(x, mod->limbs, base, base_len) && subtract(scratch, x, mod->m, mod->limbs) == 1;
  free(scratch);
  return ok;
}

static int exp_checked(int P, const ifma_mod *const *mod, const uint8_t *const *base, const size_t *base_len, const uint8_t *const *e,
                       const size_t *e_len, uint8_t *const *out, const size_t *out_len) {
  const int L = mod[0]->limbs;
  uint64_t *numbers = aligned((size_t)2 * P * L);
  if (numbers == NULL) return 0;
  uint64_t *b[2], *r[2];
  int ok = 1;
  size_t len = 0;
  for (int p = 0; p < P; p++) {
    b[p] = numbers + (size_t)2 * p * L;
    r[p] = b[p] + L;
    ok = ok && out_len[p] == mod[p]->bytes && base_of(b[p], mod[p], base[p], base_len[p]);
    if (e_len[p] > len) len = e_len[p];
  }
  ok = ok && exp_core(P, mod, b, e, e_len, len, r);
  if (ok)
    for (int p = 0; p < P; p++) to_bytes(out[p], out_len[p], r[p], L);
  wipe_free(numbers, (size_t)2 * P * L);
  return ok;
}

size_t ifma_limbs(const ifma_mod *m) { return (size_t)m->limbs; }

uint64_t *ifma_alloc(size_t words) { return aligned(words); }

int ifma_to_mont(const ifma_mod *mod, uint64_t *x, const uint8_t *base, size_t base_len) {
  if (!base_of(x, mod, base, base_len)) return 0;
  ifma_mul(mod, x, x, mod->rr);
  return 1;
}

void ifma_one(const ifma_mod *mod, uint64_t *x) { memcpy(x, mod->one, (size_t)mod->limbs * 8); }

void ifma_mul(const ifma_mod *mod, uint64_t *r, const uint64_t *a, const uint64_t *b) {
  uint64_t *rs[1] = { r };
  const uint64_t *as[1] = { a }, *bs[1] = { b }, *ms[1] = { mod->m };
  amm1(mod->vectors, rs, as, bs, ms, &mod->k0);
}

void ifma_from_mont(const ifma_mod *mod, uint8_t *out, size_t out_len, const uint64_t *x) {
  const int L = mod->limbs;
  uint64_t *y = aligned((size_t)2 * L);
  if (y == NULL) return;
  ifma_mul(mod, y, x, mod->unit); /* ≤ m */
  const uint64_t keep = 0 - subtract(y + L, y, mod->m, L);
  for (int j = 0; j < L; j++) y[j] = (y[j] & keep) | (y[L + j] & ~keep);
  to_bytes(out, out_len, y, L);
  wipe_free(y, (size_t)2 * L);
}

int ifma_mod_exp(const ifma_mod *m, const uint8_t *base, size_t base_len, const uint8_t *exponent, size_t exponent_len,
                 uint8_t *out, size_t out_len) {
  const ifma_mod *mods[1] = { m };
  const uint8_t *bases[1] = { base }, *exps[1] = { exponent };
  uint8_t *outs[1] = { out };
  return exp_checked(1, mods, bases, &base_len, exps, &exponent_len, outs, &out_len);
}

int ifma_mod_exp_x2(const ifma_mod *ma, const uint8_t *base_a, size_t base_a_len, const uint8_t *exp_a, size_t exp_a_len,
                    uint8_t *out_a, size_t out_a_len, const ifma_mod *mb, const uint8_t *base_b, size_t base_b_len,
                    const uint8_t *exp_b, size_t exp_b_len, uint8_t *out_b, size_t out_b_len) {
  if (ma->limbs != mb->limbs) {
    return ifma_mod_exp(ma, base_a, base_a_len, exp_a, exp_a_len, out_a, out_a_len) &&
           ifma_mod_exp(mb, base_b, base_b_len, exp_b, exp_b_len, out_b, out_b_len);
  }
  const ifma_mod *mods[2] = { ma, mb };
  const uint8_t *bases[2] = { base_a, base_b }, *exps[2] = { exp_a, exp_b };
  const size_t base_lens[2] = { base_a_len, base_b_len }, exp_lens[2] = { exp_a_len, exp_b_len }, out_lens[2] = { out_a_len, out_b_len };
  uint8_t *outs[2] = { out_a, out_b };
  return exp_checked(2, mods, bases, base_lens, exps, exp_lens, outs, out_lens);
}

#else /* not x86-64: the kernel is not built, bignum.c keeps OpenSSL */

size_t ifma_limbs(const ifma_mod *m) { (void)m; return 0; }
uint64_t *ifma_alloc(size_t words) { (void)words; return NULL; }
int ifma_to_mont(const ifma_mod *m, uint64_t *x, const uint8_t *base, size_t base_len) { (void)m; (void)x; (void)base; (void)base_len; return 0; }
void ifma_one(const ifma_mod *m, uint64_t *x) { (void)m; (void)x; }
void ifma_mul(const ifma_mod *m, uint64_t *r, const uint64_t *a, const uint64_t *b) { (void)m; (void)r; (void)a; (void)b; }
void ifma_from_mont(const ifma_mod *m, uint8_t *out, size_t out_len, const uint64_t *x) { (void)m; (void)out; (void)out_len; (void)x; }

int ifma_available(void) { return 0; }
size_t ifma_rr_exponent(size_t modulus_bits) { (void)modulus_bits; return 0; }
ifma_mod *ifma_mod_new(const uint8_t *modulus, size_t modulus_len, const uint8_t *rr, size_t rr_len) {
  (void)modulus; (void)modulus_len; (void)rr; (void)rr_len;
  return NULL;
}
void ifma_mod_free(ifma_mod *m) { (void)m; }
int ifma_mod_exp(const ifma_mod *m, const uint8_t *base, size_t base_len, const uint8_t *exponent, size_t exponent_len,
                 uint8_t *out, size_t out_len) {
  (void)m; (void)base; (void)base_len; (void)exponent; (void)exponent_len; (void)out; (void)out_len;
  return 0;
}
int ifma_mod_exp_x2(const ifma_mod *ma, const uint8_t *base_a, size_t base_a_len, const uint8_t *exp_a, size_t exp_a_len,
                    uint8_t *out_a, size_t out_a_len, const ifma_mod *mb, const uint8_t *base_b, size_t base_b_len,
                    const uint8_t *exp_b, size_t exp_b_len, uint8_t *out_b, size_t out_b_len) {
  (void)ma; (void)base_a; (void)base_a_len; (void)exp_a; (void)exp_a_len; (void)out_a; (void)out_a_len;
  (void)mb; (void)base_b; (void)base_b_len; (void)exp_b; (void)exp_b_len; (void)out_b; (void)out_b_len;
  return 0;
}

#endif
