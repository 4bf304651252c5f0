/*
 * Node-native big-integer kernels for Paillier (OpenSslKernels.ts loads them from the same addon as the group
 * kernels): OpenSSL's BN Montgomery arithmetic, resolved at load time with dlsym from the `node` binary, which
 * exports OpenSSL's public BN API (as x25519.c does for EVP; nothing linked, no OpenSSL header needed: the
 * declarations below are OpenSSL's stable public prototypes, with opaque structs).
 *
 * Why not `crypto.createDiffieHellman`: it reaches the same BN_mod_exp but through hex strings, a DH_check per
 * new context and a JS object per (modulus, exponent) pair; and no Node API exposes a Montgomery multiplication,
 * which the fixed-base table needs (128 products mod N² per DJN randomness h_s^r, each a ~4096-bit Montgomery
 * product of a few µs instead of a BigInt `*` and `%`).
 *
 * Numbers cross as big-endian byte strings (Uint8Array); a modulus is set up once as an external holding its
 * BN_MONT_CTX and a BN_CTX, so the handles are per thread (externals never cross worker threads).
 *
 * Exports:
 *   bnMont(modulus, ifma) → handle (modulus odd, > 1); with `ifma` true, modPow and the pair below run the IFMA
 *       kernel of ifma.c where the CPU has AVX-512 IFMA and the size is covered (OpenSSL 3.0's own IFMA code covers
 *       1024-bit moduli only), else OpenSSL as without it
 *   bnIfma: whether this CPU runs the IFMA kernel
 *   bnModPow(handle, base, exponent, out) → base^exponent mod m into `out` (modulus-width, big-endian); the base
 *       must already be reduced; constant-time in the exponent (BN_mod_exp_mont_consttime, or ifma.c's fixed
 *       windows), since Paillier's exponents are often secrets (p−1, key shares)
 *   bnModPowX2(handleA, baseA, expA, outA, handleB, baseB, expB, outB): two independent modPows in one call
 *       (BN_mod_exp_mont_consttime_x2, which OpenSSL runs as one interleaved AVX-512 IFMA computation where the
 *       CPU and modulus size allow, else as two exponentiations); with both handles on the IFMA kernel, its
 *       interleaved pair (two independent dependency chains in one loop)
 *   bnFixedBase(handle, base, windows, windowBits) → table of base^(d·2^(w·i)), d < 2^w, i < windows, w =
 *       windowBits ∈ [1, 8], in Montgomery form (the IFMA kernel's where the handle has it)
 *   bnEntryBytes(handle) → the bytes one entry of such a table takes (its budget is the caller's)
 *   bnFixedBasePow(table, digits, out) → base^e mod m for e = Σ digits[i]·2^(w·i) (one byte per window, each
 *       below 2^w; digits.length ≤ windows): one Montgomery product per window, none squared
 *   bnMultiExp(handle, bases, exponents, exponentBytes, out) → Π b_i^(e_i) mod m, the k bases concatenated at the
 *       modulus width (each reduced), the k exponents concatenated big-endian at `exponentBytes` each: Straus'
 *       simultaneous exponentiation with fixed windows (one run of squarings shared by every base, a product per
 *       non-zero window digit), the window width chosen from the exponents' non-zero spans. Not constant-time:
 *       it skips zero digits, as the BigInt code it replaces did (PROTOCOLS.md §4 weakness 5); its callers are the
 *       packed blinding, the gradient sums and the batch-proof combinations, none of which used a constant-time
 *       path before either.
 *   (bnFixedBase, bnMultiExp and the tables below keep their Montgomery products in the IFMA kernel's form where
 *       the handle has it: elem_t; OpenSSL's BIGNUMs otherwise)
 *   bnMultiExpTable(handle, bases, windowBits) → the window tables (b^1 … b^(2^w − 1), Montgomery form) of k fixed
 *       bases, concatenated at the modulus width: built once for many products over the same bases
 *   bnModInverse(value, modulus, out) → whether value has an inverse mod modulus, written into `out` if so
 *       (BN_mod_inverse; optional, registered where the process exports it)
 *   bnMultiExpWith(table, exponents, exponentBytes, out) → Π b_i^(e_i) mod m over a bnMultiExpTable, the same
 *       Straus pass as bnMultiExp without its per-call tables (SecureSVM's margins: ~20 bases, short exponents,
 *       one product per row; the tables were most of bnMultiExp's work there). Not constant-time, as bnMultiExp.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "napi_args.h"
#include "ifma.h"

typedef struct bignum_st BIGNUM;
typedef struct bignum_ctx BN_CTX;
typedef struct bn_mont_ctx_st BN_MONT_CTX;

static struct {
  int loaded;
  BIGNUM *(*new_)(void);
  void (*free_)(BIGNUM *a);
  void (*clear_free)(BIGNUM *a);
  BIGNUM *(*bin2bn)(const unsigned char *s, int len, BIGNUM *ret);
  int (*bn2binpad)(const BIGNUM *a, unsigned char *to, int tolen);
  int (*num_bits)(const BIGNUM *a);
  int (*is_odd)(const BIGNUM *a);
  int (*cmp)(const BIGNUM *a, const BIGNUM *b);
  BIGNUM *(*copy)(BIGNUM *a, const BIGNUM *b);
  BN_CTX *(*ctx_new)(void);
  void (*ctx_free)(BN_CTX *c);
  BN_MONT_CTX *(*mont_new)(void);
  void (*mont_free)(BN_MONT_CTX *m);
  int (*mont_set)(BN_MONT_CTX *m, const BIGNUM *mod, BN_CTX *ctx);
  int (*mod_mul_mont)(BIGNUM *r, const BIGNUM *a, const BIGNUM *b, BN_MONT_CTX *m, BN_CTX *ctx);
  int (*to_mont)(BIGNUM *r, const BIGNUM *a, BN_MONT_CTX *m, BN_CTX *ctx);
  int (*from_mont)(BIGNUM *r, const BIGNUM *a, BN_MONT_CTX *m, BN_CTX *ctx);
  int (*nnmod)(BIGNUM *r, const BIGNUM *m, const BIGNUM *d, BN_CTX *ctx);
  int (*exp_consttime)(BIGNUM *r, const BIGNUM *a, const BIGNUM *p, const BIGNUM *m, BN_CTX *ctx, BN_MONT_CTX *mont);
  int (*exp_consttime_x2)(BIGNUM *r1, const BIGNUM *a1, const BIGNUM *p1, const BIGNUM *m1, BN_MONT_CTX *mont1,
                          BIGNUM *r2, const BIGNUM *a2, const BIGNUM *p2, const BIGNUM *m2, BN_MONT_CTX *mont2, BN_CTX *ctx);
  BIGNUM *(*mod_inverse)(BIGNUM *r, const BIGNUM *a, const BIGNUM *n, BN_CTX *ctx);
} bn;

static int resolve(void *h) {
  bn.new_ = dlsym(h, "BN_new");
  bn.free_ = dlsym(h, "BN_free");
  bn.clear_free = dlsym(h, "BN_clear_free");
  bn.bin2bn = dlsym(h, "BN_bin2bn");
  bn.bn2binpad = dlsym(h, "BN_bn2binpad");
  bn.num_bits = dlsym(h, "BN_num_bits");
  bn.is_odd = dlsym(h, "BN_is_odd");
  bn.cmp = dlsym(h, "BN_cmp");
  bn.copy = dlsym(h, "BN_copy");
  bn.ctx_new = dlsym(h, "BN_CTX_new");
  bn.ctx_free = dlsym(h, "BN_CTX_free");
  bn.mont_new = dlsym(h, "BN_MONT_CTX_new");
  bn.mont_free = dlsym(h, "BN_MONT_CTX_free");
  bn.mont_set = dlsym(h, "BN_MONT_CTX_set");
  bn.mod_mul_mont = dlsym(h, "BN_mod_mul_montgomery");
  bn.to_mont = dlsym(h, "BN_to_montgomery");
  bn.from_mont = dlsym(h, "BN_from_montgomery");
  bn.nnmod = dlsym(h, "BN_nnmod");
  bn.exp_consttime = dlsym(h, "BN_mod_exp_mont_consttime");
  bn.exp_consttime_x2 = dlsym(h, "BN_mod_exp_mont_consttime_x2"); /* OpenSSL ≥ 3.0; optional */
  bn.mod_inverse = dlsym(h, "BN_mod_inverse"); /* optional: bnModInverse is left out without it */
  return bn.new_ && bn.free_ && bn.clear_free && bn.bin2bn && bn.bn2binpad && bn.num_bits && bn.is_odd && bn.cmp && bn.copy &&
         bn.ctx_new && bn.ctx_free && bn.mont_new && bn.mont_free && bn.mont_set && bn.mod_mul_mont && bn.to_mont &&
         bn.from_mont && bn.nnmod && bn.exp_consttime;
}

/* NULL when the kernels are usable, else why not. */
const char *bignum_load(void) {
  if (bn.loaded) return NULL;
  if (!openssl_resolve(resolve)) return "OpenSSL's BN API (BN_MONT_CTX_set, BN_mod_exp_mont_consttime…) is not exported by this process";
  bn.loaded = 1;
  return NULL;
}

/* A modulus set up for Montgomery arithmetic, with the scratch context its operations use. */
typedef struct {
  BIGNUM *modulus;
  BN_MONT_CTX *mont;
  BN_CTX *ctx;
  int bytes;
  ifma_mod *ifma; /* the IFMA kernel's set-up where the CPU has it, the size is covered and the caller asked; else NULL */
} modulus_t;

/*
 * A number mod m in Montgomery form, for the tables and products below: a BIGNUM (OpenSSL's form) or, where m has
 * the IFMA kernel, its limbs (ifma.c's form, below 2m). The elem_* functions pick by m; 0 on failure.
 */
typedef void elem_t;

static elem_t *elem_new(const modulus_t *m) {
  return m->ifma != NULL ? (elem_t *)ifma_alloc(ifma_limbs(m->ifma)) : (elem_t *)bn.new_();
}

static void elem_free(const modulus_t *m, elem_t *x) {
  if (x == NULL) return;
  if (m->ifma != NULL) free(x);
  else bn.free_(x);
}

/* x = base · R mod m from big-endian bytes, base below m. */
static int elem_set(modulus_t *m, elem_t *x, const unsigned char *base, size_t len) {
  if (m->ifma != NULL) return ifma_to_mont(m->ifma, x, base, len);
  return bn.bin2bn(base, (int)len, x) != NULL && bn.cmp(x, m->modulus) < 0 && bn.to_mont(x, x, m->mont, m->ctx);
}

static int elem_mul(modulus_t *m, elem_t *r, const elem_t *a, const elem_t *b) {
  if (m->ifma == NULL) return bn.mod_mul_mont(r, a, b, m->mont, m->ctx);
  ifma_mul(m->ifma, r, a, b);
  return 1;
}

static int elem_copy(const modulus_t *m, elem_t *r, const elem_t *a) {
  if (m->ifma == NULL) return bn.copy(r, a) != NULL;
  memcpy(r, a, ifma_limbs(m->ifma) * 8);
  return 1;
}

/* x = R mod m, the Montgomery one. */
static int elem_one(modulus_t *m, elem_t *x) {
  static const unsigned char one = 1;
  if (m->ifma == NULL) return bn.bin2bn(&one, 1, x) != NULL && bn.to_mont(x, x, m->mont, m->ctx);
  ifma_one(m->ifma, x);
  return 1;
}

/* out = x / R mod m, big-endian at out_len (m's width); x is left unusable. */
static int elem_out(modulus_t *m, elem_t *x, unsigned char *out, size_t out_len) {
  if (m->ifma == NULL) return bn.from_mont(x, x, m->mont, m->ctx) && bn.bn2binpad(x, out, (int)out_len) == (int)out_len;
  ifma_from_mont(m->ifma, out, out_len, x);
  return 1;
}

typedef struct {
  modulus_t *m; /* owned (modulus_copy) */
  elem_t **entries; /* windows × 2^w, Montgomery form; entry (i, 0) is R mod m, the Montgomery one */
  int windows;
  int width; /* 2^w: entries per window */
  int64_t footprint; /* bytes reported to V8 (napi_adjust_external_memory), so its GC sees the table's weight */
} table_t;

static void modulus_free(modulus_t *m) {
  if (m == NULL) return;
  ifma_mod_free(m->ifma);
  if (m->mont) bn.mont_free(m->mont);
  if (m->ctx) bn.ctx_free(m->ctx);
  if (m->modulus) bn.free_(m->modulus);
  free(m);
}

static modulus_t *modulus_new(const unsigned char *bytes, size_t length) {
  modulus_t *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->modulus = bn.bin2bn(bytes, (int)length, NULL);
  m->ctx = bn.ctx_new();
  m->mont = bn.mont_new();
  if (!m->modulus || !m->ctx || !m->mont || !bn.is_odd(m->modulus) || bn.num_bits(m->modulus) < 2 ||
      !bn.mont_set(m->mont, m->modulus, m->ctx)) {
    modulus_free(m);
    return NULL;
  }
  m->bytes = (bn.num_bits(m->modulus) + 7) / 8;
  return m;
}

/* A modulus of its own for a table, set up from `source`'s bytes, so the table outlives its creator's handle. */
static void modulus_ifma(modulus_t *m);

/* As `source`, IFMA set-up included where it has one. */
static modulus_t *modulus_copy(const modulus_t *source) {
  unsigned char *bytes = malloc(source->bytes);
  if (bytes == NULL) return NULL;
  bn.bn2binpad(source->modulus, bytes, source->bytes);
  modulus_t *m = modulus_new(bytes, source->bytes);
  free(bytes);
  if (m != NULL && source->ifma != NULL) modulus_ifma(m);
  return m;
}

/* Bytes one table entry takes: the IFMA kernel's limbs where m has it, else the modulus's width. */
static size_t entry_bytes(const modulus_t *m) {
  return m->ifma != NULL ? ifma_limbs(m->ifma) * 8 : (size_t)m->bytes;
}

/* Sets up the IFMA kernel for m (R² mod m from OpenSSL); leaves m->ifma NULL where it does not apply. */
static void modulus_ifma(modulus_t *m) {
  const size_t k = ifma_rr_exponent((size_t)bn.num_bits(m->modulus));
  if (k == 0) return;
  unsigned char *power = calloc(k / 8 + 1, 1), *rr = malloc((size_t)m->bytes), *bytes = malloc((size_t)m->bytes);
  BIGNUM *x = NULL;
  if (power && rr && bytes) {
    power[0] = 1; /* 2^k, k a multiple of 8 */
    x = bn.bin2bn(power, (int)(k / 8 + 1), NULL);
    if (x && bn.nnmod(x, x, m->modulus, m->ctx) && bn.bn2binpad(x, rr, m->bytes) == m->bytes && bn.bn2binpad(m->modulus, bytes, m->bytes) == m->bytes) {
      m->ifma = ifma_mod_new(bytes, (size_t)m->bytes, rr, (size_t)m->bytes);
    }
  }
  if (x) bn.free_(x);
  free(power);
  free(rr);
  free(bytes);
}

static void table_free(table_t *t) {
  if (t == NULL) return;
  if (t->entries) {
    for (size_t i = 0; i < (size_t)t->windows * t->width; i++) elem_free(t->m, t->entries[i]);
    free(t->entries);
  }
  modulus_free(t->m);
  free(t);
}

static void finalize_modulus(napi_env env, void *data, void *hint) { (void)env; (void)hint; modulus_free(data); }
static void finalize_table(napi_env env, void *data, void *hint) {
  (void)hint;
  int64_t ignored;
  napi_adjust_external_memory(env, -((table_t *)data)->footprint, &ignored);
  table_free(data);
}

/* ---- argument helpers ---- */

static int external_arg(napi_env env, napi_value v, void **data) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external || napi_get_value_external(env, v, data) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a handle from bnMont or bnFixedBase");
    return 0;
  }
  return 1;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

/*
 * Hands a table to JS as an external that frees it when collected, and tells V8 its native weight (so its GC sees
 * it). On failure the table is released here and NULL returned (a JS exception is pending).
 */
static napi_value handed_over(napi_env env, void *table, napi_finalize finalize, void (*release)(void *), int64_t footprint) {
  napi_value out;
  if (napi_create_external(env, table, finalize, NULL, &out) != napi_ok) {
    release(table);
    return NULL;
  }
  int64_t ignored;
  napi_adjust_external_memory(env, footprint, &ignored);
  return out;
}

/* ---- exports ---- */

static napi_value mont(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  unsigned char *bytes;
  size_t length;
  bool ifma;
  if (!args(env, info, 2, argv) || !bytes_of(env, argv[0], &bytes, &length, 1)) return NULL;
  if (napi_get_value_bool(env, argv[1], &ifma) != napi_ok) return fail(env, "bnMont: the second argument (use the IFMA kernel) must be a boolean");
  modulus_t *m = modulus_new(bytes, length);
  if (m == NULL) return fail(env, "bnMont: the modulus must be odd and greater than 1");
  if (ifma) modulus_ifma(m);
  if (napi_create_external(env, m, finalize_modulus, NULL, &out) != napi_ok) {
    modulus_free(m);
    return NULL;
  }
  return out;
}

/* r = base^exponent mod m, written big-endian into out (m->bytes long). 0 on failure. */
static int pow_into(modulus_t *m, const unsigned char *base, size_t base_len, const unsigned char *exp, size_t exp_len,
                    unsigned char *out, size_t out_len) {
  if (out_len != (size_t)m->bytes) return 0;
  if (m->ifma != NULL) return ifma_mod_exp(m->ifma, base, base_len, exp, exp_len, out, out_len);
  BIGNUM *a = bn.bin2bn(base, (int)base_len, NULL), *p = bn.bin2bn(exp, (int)exp_len, NULL), *r = bn.new_();
  int ok = a && p && r && bn.cmp(a, m->modulus) < 0 && bn.exp_consttime(r, a, p, m->modulus, m->ctx, m->mont) == 1 &&
           bn.bn2binpad(r, out, (int)out_len) == (int)out_len;
  if (a) bn.free_(a);
  if (p) bn.clear_free(p);
  if (r) bn.free_(r);
  return ok;
}

static napi_value table_entry_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  modulus_t *m;
  if (!args(env, info, 1, argv) || !external_arg(env, argv[0], (void **)&m)) return NULL;
  return number(env, (int64_t)entry_bytes(m));
}

static napi_value mod_pow(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  modulus_t *m;
  unsigned char *base, *exp, *out;
  size_t base_len, exp_len, out_len;
  if (!args(env, info, 4, argv) || !external_arg(env, argv[0], (void **)&m) || !bytes_of(env, argv[1], &base, &base_len, 1) ||
      !bytes_of(env, argv[2], &exp, &exp_len, 1) || !bytes_of(env, argv[3], &out, &out_len, 1)) return NULL;
  if (!pow_into(m, base, base_len, exp, exp_len, out, out_len)) return fail(env, "bnModPow: base not reduced, or output not modulus-width");
  return NULL;
}

static napi_value mod_pow_x2(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  modulus_t *m[2];
  unsigned char *base[2], *exp[2], *out[2];
  size_t base_len[2], exp_len[2], out_len[2];
  if (!args(env, info, 8, argv)) return NULL;
  for (int k = 0; k < 2; k++) {
    if (!external_arg(env, argv[4 * k], (void **)&m[k]) || !bytes_of(env, argv[4 * k + 1], &base[k], &base_len[k], 1) ||
        !bytes_of(env, argv[4 * k + 2], &exp[k], &exp_len[k], 1) || !bytes_of(env, argv[4 * k + 3], &out[k], &out_len[k], 1)) return NULL;
  }
  if (m[0]->ifma != NULL && m[1]->ifma != NULL) {
    if (!ifma_mod_exp_x2(m[0]->ifma, base[0], base_len[0], exp[0], exp_len[0], out[0], out_len[0], m[1]->ifma, base[1], base_len[1], exp[1],
                         exp_len[1], out[1], out_len[1])) return fail(env, "bnModPowX2: base not reduced, or output not modulus-width");
    return NULL;
  }
  if (bn.exp_consttime_x2 == NULL || m[0]->bytes != m[1]->bytes || m[0]->ifma != NULL || m[1]->ifma != NULL) {
    for (int k = 0; k < 2; k++) {
      if (!pow_into(m[k], base[k], base_len[k], exp[k], exp_len[k], out[k], out_len[k])) return fail(env, "bnModPowX2: base not reduced, or output not modulus-width");
    }
    return NULL;
  }
  BIGNUM *a[2], *p[2], *r[2];
  int ok = 1;
  for (int k = 0; k < 2; k++) {
    a[k] = bn.bin2bn(base[k], (int)base_len[k], NULL);
    p[k] = bn.bin2bn(exp[k], (int)exp_len[k], NULL);
    r[k] = bn.new_();
    ok = ok && a[k] && p[k] && r[k] && bn.cmp(a[k], m[k]->modulus) < 0 && out_len[k] == (size_t)m[k]->bytes;
  }
  ok = ok && bn.exp_consttime_x2(r[0], a[0], p[0], m[0]->modulus, m[0]->mont, r[1], a[1], p[1], m[1]->modulus, m[1]->mont, m[0]->ctx) == 1;
  for (int k = 0; k < 2; k++) {
    ok = ok && bn.bn2binpad(r[k], out[k], (int)out_len[k]) == (int)out_len[k];
    if (a[k]) bn.free_(a[k]);
    if (p[k]) bn.clear_free(p[k]);
    if (r[k]) bn.free_(r[k]);
  }
  if (!ok) return fail(env, "bnModPowX2: base not reduced, or output not modulus-width");
  return NULL;
}

static napi_value fixed_base(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  modulus_t *source;
  unsigned char *base;
  size_t base_len;
  int32_t windows, bits;
  if (!args(env, info, 4, argv) || !external_arg(env, argv[0], (void **)&source) || !bytes_of(env, argv[1], &base, &base_len, 1)) return NULL;
  if (napi_get_value_int32(env, argv[2], &windows) != napi_ok || windows < 1 || windows > 8192) return fail(env, "bnFixedBase: windows must be in [1, 8192]");
  if (napi_get_value_int32(env, argv[3], &bits) != napi_ok || bits < 1 || bits > 8) return fail(env, "bnFixedBase: windowBits must be in [1, 8]");
  const int width = 1 << bits;
  table_t *t = calloc(1, sizeof *t);
  if (t == NULL) return fail(env, "bnFixedBase: out of memory");
  t->m = modulus_copy(source);
  t->windows = windows;
  t->width = width;
  t->entries = t->m ? calloc((size_t)windows * width, sizeof(elem_t *)) : NULL;
  elem_t *unit = t->m ? elem_new(t->m) : NULL;
  int ok = t->entries && unit && elem_set(t->m, unit, base, base_len);
  for (int i = 0; ok && i < windows; i++) {
    elem_t **row = t->entries + (size_t)i * width;
    /* row[0] = R mod m (the Montgomery one), row[d] = row[d−1]·unit with unit = base^(2^(w·i)); then unit ← unit^(2^w). */
    for (int d = 0; ok && d < width; d++) {
      row[d] = elem_new(t->m);
      ok = row[d] != NULL && (d == 0 ? elem_one(t->m, row[d]) : elem_mul(t->m, row[d], row[d - 1], unit));
    }
    ok = ok && elem_mul(t->m, unit, row[width - 1], unit);
  }
  if (t->m) elem_free(t->m, unit);
  if (!ok) {
    table_free(t);
    return fail(env, "bnFixedBase: base not reduced, or out of memory");
  }
  t->footprint = (int64_t)windows * width * (int64_t)(entry_bytes(t->m) + 32);
  return handed_over(env, t, finalize_table, (void (*)(void *))table_free, t->footprint);
}

static napi_value fixed_base_pow(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  table_t *t;
  unsigned char *digits, *out;
  size_t digits_len, out_len;
  if (!args(env, info, 3, argv) || !external_arg(env, argv[0], (void **)&t) || !bytes_of(env, argv[1], &digits, &digits_len, 1) ||
      !bytes_of(env, argv[2], &out, &out_len, 1)) return NULL;
  if (digits_len > (size_t)t->windows || out_len != (size_t)t->m->bytes) return fail(env, "bnFixedBasePow: exponent wider than the table, or output not modulus-width");
  for (size_t i = 0; i < digits_len; i++) if (digits[i] >= t->width) return fail(env, "bnFixedBasePow: a digit is not below 2^windowBits");
  elem_t *acc = elem_new(t->m);
  /* Every window multiplies (a zero digit by the Montgomery one), so the count of products does not depend on r. */
  int ok = acc != NULL && elem_copy(t->m, acc, t->entries[digits_len > 0 ? digits[0] : 0]);
  for (size_t i = 1; ok && i < digits_len; i++) ok = elem_mul(t->m, acc, acc, t->entries[i * t->width + digits[i]]);
  ok = ok && elem_out(t->m, acc, out, out_len);
  elem_free(t->m, acc);
  if (!ok) return fail(env, "bnFixedBasePow: OpenSSL failed");
  return NULL;
}

/* Bit j (0 = least significant) of a big-endian exponent of `len` bytes. */
static inline int exponent_bit(const unsigned char *e, size_t len, size_t j) {
  return (e[len - 1 - (j >> 3)] >> (j & 7)) & 1;
}

/* Digit of window `pos` (bits [pos·w, pos·w + w)) of a big-endian exponent of `len` bytes. */
static inline unsigned exponent_digit(const unsigned char *e, size_t len, size_t pos, int w) {
  unsigned d = 0;
  for (int b = w - 1; b >= 0; b--) {
    size_t j = pos * (size_t)w + (size_t)b;
    d = (d << 1) | (j < len * 8 ? (unsigned)exponent_bit(e, len, j) : 0u);
  }
  return d;
}

/* Highest set bit + 1 and lowest set bit of a big-endian exponent (0 and 0 when it is zero). */
static void exponent_span(const unsigned char *e, size_t len, size_t *top, size_t *low) {
  *top = 0;
  *low = 0;
  for (size_t i = 0; i < len; i++) {
    if (e[i] == 0) continue;
    int b = 7;
    while (!((e[i] >> b) & 1)) b--;
    *top = (len - 1 - i) * 8 + (size_t)b + 1;
    break;
  }
  for (size_t i = len; i-- > 0;) {
    if (e[i] == 0) continue;
    int b = 0;
    while (!((e[i] >> b) & 1)) b++;
    *low = (len - 1 - i) * 8 + (size_t)b;
    break;
  }
}

/*
 * Straus over per-base window tables (`table[i·entries + d − 1]` = b_i^d in Montgomery form, d < 2^w): one run of
 * w squarings per window shared by every base, one product per non-zero digit. Writes Π b_i^(e_i) into `out`
 * (modulus-width, big-endian); `tops`/`lows` are each exponent's span, a zero exponent's base is skipped.
 */
static int straus(modulus_t *m, elem_t **table, size_t entries, size_t k, int w, const unsigned char *exps, size_t ew,
                  const size_t *tops, const size_t *lows, unsigned char *out, size_t out_len) {
  size_t max_top = 0;
  for (size_t i = 0; i < k; i++) if (tops[i] > max_top) max_top = tops[i];
  elem_t *acc = elem_new(m);
  int ok = acc != NULL, one = 1;
  const size_t windows = (max_top + (size_t)w - 1) / (size_t)w;
  for (size_t pos = windows; ok && pos-- > 0;) {
    if (!one) for (int s = 0; ok && s < w; s++) ok = elem_mul(m, acc, acc, acc);
    for (size_t i = 0; ok && i < k; i++) {
      if (tops[i] == 0 || pos * (size_t)w >= tops[i] || (pos + 1) * (size_t)w <= lows[i]) continue;
      unsigned d = exponent_digit(exps + i * ew, ew, pos, w);
      if (d == 0) continue;
      const elem_t *entry = table[i * entries + d - 1];
      if (one) {
        ok = elem_copy(m, acc, entry);
        one = 0;
      } else {
        ok = elem_mul(m, acc, acc, entry);
      }
    }
  }
  if (ok) {
    if (one) {
      /* Every exponent zero (or no bases): 1, already reduced since m > 1. */
      memset(out, 0, out_len);
      out[out_len - 1] = 1;
    } else {
      ok = elem_out(m, acc, out, out_len);
    }
  }
  elem_free(m, acc);
  return ok;
}

/* Fills b, b^2 … b^(entries) in Montgomery form into row[0 … entries), from b's big-endian bytes (reduced). */
static int window_row(modulus_t *m, const unsigned char *base, size_t width, elem_t **row, size_t entries) {
  row[0] = elem_new(m);
  int ok = row[0] != NULL && elem_set(m, row[0], base, width);
  /* Only the entries a digit can select are needed; filling all keeps the loop simple (2^w − 2 products). */
  for (size_t d = 1; ok && d < entries; d++) {
    row[d] = elem_new(m);
    ok = row[d] != NULL && elem_mul(m, row[d], row[d - 1], row[0]);
  }
  return ok;
}

/* The exponents' spans; 0 when out of memory. */
static int spans_of(const unsigned char *exps, size_t k, size_t ew, size_t **tops, size_t **lows) {
  *tops = calloc(k ? k : 1, sizeof **tops);
  *lows = calloc(k ? k : 1, sizeof **lows);
  if (*tops == NULL || *lows == NULL) {
    free(*tops);
    free(*lows);
    return 0;
  }
  for (size_t i = 0; i < k; i++) exponent_span(exps + i * ew, ew, &(*tops)[i], &(*lows)[i]);
  return 1;
}

static napi_value multi_exp(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  modulus_t *m;
  unsigned char *bases, *exps, *out;
  size_t bases_len, exps_len, out_len;
  int32_t exp_bytes;
  if (!args(env, info, 5, argv) || !external_arg(env, argv[0], (void **)&m) || !bytes_of(env, argv[1], &bases, &bases_len, 1) ||
      !bytes_of(env, argv[2], &exps, &exps_len, 1) || !bytes_of(env, argv[4], &out, &out_len, 1)) return NULL;
  if (napi_get_value_int32(env, argv[3], &exp_bytes) != napi_ok || exp_bytes < 1) return fail(env, "bnMultiExp: exponentBytes must be positive");
  const size_t width = (size_t)m->bytes, ew = (size_t)exp_bytes;
  if (out_len != width || bases_len % width != 0 || exps_len != (bases_len / width) * ew) {
    return fail(env, "bnMultiExp: bases not modulus-width, exponents not k × exponentBytes, or output not modulus-width");
  }
  const size_t k = bases_len / width;
  size_t *tops, *lows;
  if (!spans_of(exps, k, ew, &tops, &lows)) return fail(env, "bnMultiExp: out of memory");
  /* Window width: minimise Σ_i (table of 2^w − 2 products + one product per window of its non-zero span). */
  size_t cost_best = (size_t)-1;
  int w = 1;
  for (int c = 1; c <= 6; c++) {
    size_t cost = 0;
    for (size_t i = 0; i < k; i++) if (tops[i] > 0) cost += ((size_t)1 << c) - 2 + (tops[i] / c - lows[i] / c + 1);
    if (cost < cost_best) {
      cost_best = cost;
      w = c;
    }
  }
  const size_t entries = ((size_t)1 << w) - 1; /* b^1 … b^(2^w − 1) per base */
  elem_t **table = calloc(k * entries + 1, sizeof *table);
  int ok = table != NULL;
  for (size_t i = 0; ok && i < k; i++) {
    if (tops[i] == 0) continue; /* b^0 = 1: no table, no products */
    ok = window_row(m, bases + i * width, width, table + i * entries, entries);
  }
  ok = ok && straus(m, table, entries, k, w, exps, ew, tops, lows, out, out_len);
  if (table) {
    for (size_t i = 0; i < k * entries; i++) elem_free(m, table[i]);
    free(table);
  }
  free(tops);
  free(lows);
  if (!ok) return fail(env, "bnMultiExp: a base is not reduced, or OpenSSL failed");
  return NULL;
}

/* Window tables of k fixed bases, for many multi-exponentiations over the same bases (bnMultiExpTable). */
typedef struct {
  modulus_t *m; /* owned, as table_t's */
  elem_t **entries; /* k × (2^w − 1), Montgomery form */
  size_t k;
  int w;
  int64_t footprint;
} bases_t;

static void bases_free(bases_t *t) {
  if (t == NULL) return;
  if (t->entries) {
    for (size_t i = 0; i < t->k * (((size_t)1 << t->w) - 1); i++) elem_free(t->m, t->entries[i]);
    free(t->entries);
  }
  modulus_free(t->m);
  free(t);
}

static void finalize_bases(napi_env env, void *data, void *hint) {
  (void)hint;
  int64_t ignored;
  napi_adjust_external_memory(env, -((bases_t *)data)->footprint, &ignored);
  bases_free(data);
}

static napi_value multi_exp_table(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  modulus_t *source;
  unsigned char *bases;
  size_t bases_len;
  int32_t bits;
  if (!args(env, info, 3, argv) || !external_arg(env, argv[0], (void **)&source) || !bytes_of(env, argv[1], &bases, &bases_len, 1)) return NULL;
  if (napi_get_value_int32(env, argv[2], &bits) != napi_ok || bits < 1 || bits > 8) return fail(env, "bnMultiExpTable: windowBits must be in [1, 8]");
  const size_t width = (size_t)source->bytes;
  if (bases_len % width != 0) return fail(env, "bnMultiExpTable: bases not modulus-width");
  bases_t *t = calloc(1, sizeof *t);
  if (t == NULL) return fail(env, "bnMultiExpTable: out of memory");
  t->m = modulus_copy(source);
  t->k = bases_len / width;
  t->w = bits;
  const size_t entries = ((size_t)1 << bits) - 1;
  t->entries = t->m ? calloc(t->k * entries + 1, sizeof(elem_t *)) : NULL;
  int ok = t->entries != NULL;
  for (size_t i = 0; ok && i < t->k; i++) ok = window_row(t->m, bases + i * width, width, t->entries + i * entries, entries);
  if (!ok) {
    bases_free(t);
    return fail(env, "bnMultiExpTable: a base is not reduced, or out of memory");
  }
  t->footprint = (int64_t)(t->k * entries) * (int64_t)(entry_bytes(t->m) + 32);
  return handed_over(env, t, finalize_bases, (void (*)(void *))bases_free, t->footprint);
}

static napi_value multi_exp_with(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  bases_t *t;
  unsigned char *exps, *out;
  size_t exps_len, out_len;
  int32_t exp_bytes;
  if (!args(env, info, 4, argv) || !external_arg(env, argv[0], (void **)&t) || !bytes_of(env, argv[1], &exps, &exps_len, 1) ||
      !bytes_of(env, argv[3], &out, &out_len, 1)) return NULL;
  if (napi_get_value_int32(env, argv[2], &exp_bytes) != napi_ok || exp_bytes < 1) return fail(env, "bnMultiExpWith: exponentBytes must be positive");
  const size_t ew = (size_t)exp_bytes;
  if (out_len != (size_t)t->m->bytes || exps_len != t->k * ew) return fail(env, "bnMultiExpWith: exponents not k × exponentBytes, or output not modulus-width");
  size_t *tops, *lows;
  if (!spans_of(exps, t->k, ew, &tops, &lows)) return fail(env, "bnMultiExpWith: out of memory");
  int ok = straus(t->m, t->entries, ((size_t)1 << t->w) - 1, t->k, t->w, exps, ew, tops, lows, out, out_len);
  free(tops);
  free(lows);
  if (!ok) return fail(env, "bnMultiExpWith: OpenSSL failed");
  return NULL;
}

/*
 * bnModInverse(value, modulus, out) → true with value⁻¹ mod modulus in `out` (modulus-width, big-endian), false when
 * there is none. No handle: its callers (one inverse per model, per linear form with negative exponents, per key)
 * would otherwise keep Montgomery contexts of moduli they use once. Operands and result cleared when freed (key
 * generation inverts secrets).
 */
static napi_value mod_inverse(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  unsigned char *value, *modulus, *out;
  size_t value_len, modulus_len, out_len;
  if (!args(env, info, 3, argv) || !bytes_of(env, argv[0], &value, &value_len, 1) || !bytes_of(env, argv[1], &modulus, &modulus_len, 1) ||
      !bytes_of(env, argv[2], &out, &out_len, 1)) return NULL;
  BIGNUM *a = bn.bin2bn(value, (int)value_len, NULL), *n = bn.bin2bn(modulus, (int)modulus_len, NULL), *r = bn.new_();
  BN_CTX *ctx = bn.ctx_new();
  int ok = a && n && r && ctx && bn.mod_inverse(r, a, n, ctx) != NULL && bn.bn2binpad(r, out, (int)out_len) == (int)out_len;
  if (a) bn.clear_free(a);
  if (n) bn.free_(n);
  if (r) bn.clear_free(r);
  if (ctx) bn.ctx_free(ctx);
  napi_get_boolean(env, ok, &result);
  return result;
}

/* Adds the bignum kernels to `exports` (called from the addon's init once bignum_load succeeded). */
void bignum_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "bnMont", NULL, mont, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnModPow", NULL, mod_pow, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnModPowX2", NULL, mod_pow_x2, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnFixedBase", NULL, fixed_base, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnFixedBasePow", NULL, fixed_base_pow, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnMultiExp", NULL, multi_exp, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnMultiExpTable", NULL, multi_exp_table, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnMultiExpWith", NULL, multi_exp_with, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bnEntryBytes", NULL, table_entry_bytes, NULL, NULL, NULL, napi_enumerable, NULL }
  };
  napi_define_properties(env, exports, 9, props);
  napi_value ifma;
  napi_get_boolean(env, ifma_available(), &ifma);
  napi_set_named_property(env, exports, "bnIfma", ifma);
  if (bn.mod_inverse != NULL) {
    napi_property_descriptor inverse = { "bnModInverse", NULL, mod_inverse, NULL, NULL, NULL, napi_enumerable, NULL };
    napi_define_properties(env, exports, 1, &inverse);
  }
}
