/*
 * Montgomery exponentiation on AVX-512 IFMA (ifma.c), called by bignum.c where the CPU has it and the modulus size
 * is covered; everywhere else (other CPUs, other architectures) these report "not available" and bignum.c keeps
 * OpenSSL's BN_mod_exp_mont_consttime.
 */
#ifndef JOINTLY_IFMA_H
#define JOINTLY_IFMA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ifma_mod ifma_mod;

/* 1 when this CPU runs the IFMA kernel (x86-64 with avx512f, avx512vl and avx512ifma), else 0. */
int ifma_available(void);

/*
 * The exponent k of the Montgomery constant R² = 2^k mod m that ifma_mod_new needs, for an odd modulus of
 * `modulus_bits` bits; 0 when the kernel does not cover that size (or the CPU lacks IFMA).
 */
size_t ifma_rr_exponent(size_t modulus_bits);

/* A modulus set up for the kernel from its big-endian bytes and those of 2^ifma_rr_exponent(bits) mod m; NULL if not covered. */
ifma_mod *ifma_mod_new(const uint8_t *modulus, size_t modulus_len, const uint8_t *rr, size_t rr_len);
void ifma_mod_free(ifma_mod *m);

/*
 * out = base^exponent mod m (big-endian, out_len = the modulus's byte length), constant-time in the exponent's
 * bits (its byte length is public). 0 when the base is not below m or out_len is wrong; nothing is written then.
 */
int ifma_mod_exp(const ifma_mod *m, const uint8_t *base, size_t base_len, const uint8_t *exponent, size_t exponent_len,
                 uint8_t *out, size_t out_len);

/* Two independent exponentiations run interleaved (one dependency chain hides the other's latency). Moduli of the
 * same limb count run together, others one after the other. 0 as ifma_mod_exp. */
int ifma_mod_exp_x2(const ifma_mod *ma, const uint8_t *base_a, size_t base_a_len, const uint8_t *exp_a, size_t exp_a_len,
                    uint8_t *out_a, size_t out_a_len, const ifma_mod *mb, const uint8_t *base_b, size_t base_b_len,
                    const uint8_t *exp_b, size_t exp_b_len, uint8_t *out_b, size_t out_b_len);

/*
 * Montgomery products one at a time, for fixed-base tables (bignum.c's bnFixedBase): numbers of ifma_limbs(m) 64-bit
 * words (ifma_alloc'd: 64-byte aligned), in Montgomery form, below 2m. Not constant-time beyond what the product is
 * (no data-dependent branch or address in it).
 */
size_t ifma_limbs(const ifma_mod *m);
uint64_t *ifma_alloc(size_t words); /* free() it */
/* x = base · R mod m (below 2m) from big-endian bytes; 0 when the base is not below m. */
int ifma_to_mont(const ifma_mod *m, uint64_t *x, const uint8_t *base, size_t base_len);
/* x = R mod m, the Montgomery one. */
void ifma_one(const ifma_mod *m, uint64_t *x);
/* r = a · b / R mod m (below 2m); r may alias a or b. */
void ifma_mul(const ifma_mod *m, uint64_t *r, const uint64_t *a, const uint64_t *b);
/* out = x / R mod m, canonical, big-endian (out_len = the modulus's byte length). */
void ifma_from_mont(const ifma_mod *m, uint8_t *out, size_t out_len, const uint64_t *x);

#endif
