/*
 * Node-native ristretto255 batch kernels for the joint-query protocols (NativeGroups.ts loads this addon,
 * which also carries the x25519 kernels of x25519.c; each half is exported only when its library is found, and
 * the addon loads when at least one is).
 *
 * The arithmetic is libsodium's own (the same ristretto255 code libsodium-wrappers-sumo compiles to WASM, so the
 * encodings are identical), taken from the system's shared libsodium at run time with dlopen: no libsodium headers
 * are needed to build, and a machine without the library just keeps the WASM path. Each call handles a whole
 * chunk, so the JS↔native crossing is paid once per chunk, not per element.
 *
 * Exports (all buffers are typed arrays; results are written into `out`):
 *   hashBlind(prefix, ids, ends: Uint32Array, scalar, out) → -1, or the index whose blinding failed
 *       element i is scalar · from_hash(SHA-512(prefix ‖ ids[ends[i-1]..ends[i]]))
 *   blind(points, scalar, out) → -1, or the index of the first element that is not a canonical point
 *   validate(points) → -1, or the index of the first invalid element
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "napi_args.h"

#define DIGEST 64

typedef int (*init_fn)(void);
typedef int (*from_hash_fn)(unsigned char *p, const unsigned char *r);
typedef int (*scalarmult_fn)(unsigned char *q, const unsigned char *n, const unsigned char *p);
typedef int (*valid_fn)(const unsigned char *p);
typedef int (*sha512_init_fn)(void *state);
typedef int (*sha512_update_fn)(void *state, const unsigned char *in, unsigned long long inlen);
typedef int (*sha512_final_fn)(void *state, unsigned char *out);
typedef size_t (*statebytes_fn)(void);

static struct {
  int loaded;
  from_hash_fn from_hash;
  scalarmult_fn scalarmult;
  valid_fn is_valid;
  sha512_init_fn sha_init;
  sha512_update_fn sha_update;
  sha512_final_fn sha_final;
  size_t state_bytes;
} lib;

static const char *load_libsodium(void) {
  static const char *names[] = { "libsodium.so.26", "libsodium.so.23", "libsodium.so", "libsodium.dylib", NULL };
  void *handle = NULL;
  for (int i = 0; names[i] != NULL && handle == NULL; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) return "libsodium shared library not found";
  init_fn init = (init_fn)dlsym(handle, "sodium_init");
  statebytes_fn statebytes = (statebytes_fn)dlsym(handle, "crypto_hash_sha512_statebytes");
  lib.from_hash = (from_hash_fn)dlsym(handle, "crypto_core_ristretto255_from_hash");
  lib.scalarmult = (scalarmult_fn)dlsym(handle, "crypto_scalarmult_ristretto255");
  lib.is_valid = (valid_fn)dlsym(handle, "crypto_core_ristretto255_is_valid_point");
  lib.sha_init = (sha512_init_fn)dlsym(handle, "crypto_hash_sha512_init");
  lib.sha_update = (sha512_update_fn)dlsym(handle, "crypto_hash_sha512_update");
  lib.sha_final = (sha512_final_fn)dlsym(handle, "crypto_hash_sha512_final");
  if (!init || !statebytes || !lib.from_hash || !lib.scalarmult || !lib.is_valid || !lib.sha_init || !lib.sha_update || !lib.sha_final) {
    return "libsodium lacks ristretto255 (needs 1.0.18 or later)";
  }
  if (init() < 0) return "sodium_init failed";
  lib.state_bytes = statebytes();
  lib.loaded = 1;
  return NULL;
}

static napi_value hash_blind(napi_env env, napi_callback_info info) {
  hash_blind_args a;
  if (!parse_hash_blind(env, info, "hashBlind", &a)) return NULL;
  unsigned char *state = malloc(lib.state_bytes);
  if (state == NULL) {
    napi_throw_error(env, NULL, "hashBlind: out of memory");
    return NULL;
  }
  unsigned char digest[DIGEST], point[POINT];
  uint32_t start = 0;
  int64_t failed = -1;
  for (size_t i = 0; i < a.n; i++) {
    uint32_t end = a.ends[i];
    if (end < start) { failed = (int64_t)i; break; }
    lib.sha_init(state);
    lib.sha_update(state, a.prefix, a.prefix_len);
    lib.sha_update(state, a.ids + start, end - start);
    lib.sha_final(state, digest);
    lib.from_hash(point, digest);
    if (lib.scalarmult(a.out + i * POINT, a.scalar, point) != 0) { failed = (int64_t)i; break; }
    start = end;
  }
  free(state);
  return number(env, failed);
}

static napi_value blind(napi_env env, napi_callback_info info) {
  blind_args a;
  if (!parse_blind(env, info, "blind", &a)) return NULL;
  for (size_t i = 0; i < a.n; i++) {
    if (lib.scalarmult(a.out + i * POINT, a.scalar, a.points + i * POINT) != 0) return number(env, (int64_t)i);
  }
  return number(env, -1);
}

static napi_value validate(napi_env env, napi_callback_info info) {
  size_t points_len;
  unsigned char *points;
  if (!parse_points(env, info, &points, &points_len)) return NULL;
  if (points_len % POINT != 0) return number(env, (int64_t)(points_len / POINT));
  for (size_t i = 0; i < points_len / POINT; i++) {
    if (lib.is_valid(points + i * POINT) != 1) return number(env, (int64_t)i);
  }
  return number(env, -1);
}

const char *x25519_load(void);
void x25519_register(napi_env env, napi_value exports);
const char *bignum_load(void);
void bignum_register(napi_env env, napi_value exports);
const char *prg_load(void);
void prg_register(napi_env env, napi_value exports);

static napi_value text(napi_env env, const char *s) {
  napi_value out;
  if (s == NULL) napi_get_undefined(env, &out);
  else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  const char *sodium_problem = lib.loaded ? NULL : load_libsodium();
  const char *x25519_problem = x25519_load();
  const char *bignum_problem = bignum_load();
  const char *prg_problem = prg_load();
  if (sodium_problem != NULL && x25519_problem != NULL && bignum_problem != NULL && prg_problem != NULL) {
    napi_throw_error(env, "NativeUnavailable", sodium_problem);
    return NULL;
  }
  if (sodium_problem == NULL) {
    napi_property_descriptor props[] = {
      { "hashBlind", NULL, hash_blind, NULL, NULL, NULL, napi_enumerable, NULL },
      { "blind", NULL, blind, NULL, NULL, NULL, napi_enumerable, NULL },
      { "validate", NULL, validate, NULL, NULL, NULL, napi_enumerable, NULL }
    };
    napi_define_properties(env, exports, 3, props);
  }
  if (x25519_problem == NULL) x25519_register(env, exports);
  if (bignum_problem == NULL) bignum_register(env, exports);
  if (prg_problem == NULL) prg_register(env, exports);
  /* Why a half is missing, for NativeGroups.load()'s report. */
  napi_set_named_property(env, exports, "ristretto255Problem", text(env, sodium_problem));
  napi_set_named_property(env, exports, "x25519Problem", text(env, x25519_problem));
  napi_set_named_property(env, exports, "bignumProblem", text(env, bignum_problem));
  napi_set_named_property(env, exports, "prgProblem", text(env, prg_problem));
  return exports;
}
