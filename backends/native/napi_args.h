/*
 * Argument parsing shared by the group kernels (ristretto.c, x25519.c): every kernel takes typed arrays and
 * writes into a caller-provided `out`, so the checks are the same for both groups.
 */
#ifndef JOINTLY_NAPI_ARGS_H
#define JOINTLY_NAPI_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#define POINT 32

/* hashBlind(prefix, ids, ends: Uint32Array, scalar, out): element i hashes prefix ‖ ids[ends[i-1]..ends[i]]. */
typedef struct {
  unsigned char *prefix, *ids, *scalar, *out;
  const uint32_t *ends;
  size_t prefix_len, ids_len, n;
} hash_blind_args;

/* blind(points, scalar, out): n points of POINT bytes each. */
typedef struct {
  unsigned char *points, *scalar, *out;
  size_t n;
} blind_args;

/* Each returns 0 with a JS exception pending (naming `kernel`) when the arguments are malformed. */
int parse_hash_blind(napi_env env, napi_callback_info info, const char *kernel, hash_blind_args *a);
int parse_blind(napi_env env, napi_callback_info info, const char *kernel, blind_args *a);
/* validate(points): the points buffer, whose length need not be a multiple of POINT (the caller reports it). */
int parse_points(napi_env env, napi_callback_info info, unsigned char **points, size_t *length);

napi_value number(napi_env env, int64_t n);

/* A typed-array argument of `element`-byte items (1: Uint8Array, 4: Uint32Array); 0 with a JS error pending otherwise. */
int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length, size_t element);
/* Exactly `expected` arguments into argv; 0 with a JS error pending otherwise. */
int args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv);

/*
 * Runs `resolve` (dlsym of the symbols a kernel needs) over this process's symbols, where `node` exports its
 * OpenSSL, then over the system's libcrypto; 1 when one of them has every symbol.
 */
int openssl_resolve(int (*resolve)(void *handle));

#endif
