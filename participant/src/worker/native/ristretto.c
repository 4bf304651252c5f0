/*
 * Node-native ristretto255 batch kernels for the joint-query protocols (NativeRistretto.ts loads this addon).
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

#define POINT 32
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

/* Pointer and byte length of a typed-array argument of `element`-byte items; 0 (a JS error pending) otherwise. */
static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length, size_t element) {
  napi_typedarray_type type;
  size_t count, offset;
  void *raw;
  napi_value buffer;
  if (napi_get_typedarray_info(env, value, &type, &count, &raw, &buffer, &offset) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a typed array");
    return 0;
  }
  if ((element == 4) != (type == napi_uint32_array) || (element == 1 && type != napi_uint8_array)) {
    napi_throw_type_error(env, NULL, element == 4 ? "expected a Uint32Array" : "expected a Uint8Array");
    return 0;
  }
  *data = (unsigned char *)raw;
  *length = count * element;
  return 1;
}

static napi_value number(napi_env env, int64_t n) {
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

static int args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != expected) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return 0;
  }
  return 1;
}

static napi_value hash_blind(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return NULL;
  size_t prefix_len, ids_len, ends_len, scalar_len, out_len;
  unsigned char *prefix, *ids, *ends_bytes, *scalar, *out;
  if (!bytes_of(env, argv[0], &prefix, &prefix_len, 1) || !bytes_of(env, argv[1], &ids, &ids_len, 1) ||
      !bytes_of(env, argv[2], &ends_bytes, &ends_len, 4) || !bytes_of(env, argv[3], &scalar, &scalar_len, 1) ||
      !bytes_of(env, argv[4], &out, &out_len, 1)) return NULL;
  const uint32_t *ends = (const uint32_t *)ends_bytes;
  size_t n = ends_len / 4;
  if (scalar_len != 32 || out_len != n * POINT || (n > 0 && ends[n - 1] > ids_len)) {
    napi_throw_range_error(env, NULL, "hashBlind: inconsistent buffer sizes");
    return NULL;
  }
  unsigned char *state = malloc(lib.state_bytes);
  if (state == NULL) {
    napi_throw_error(env, NULL, "hashBlind: out of memory");
    return NULL;
  }
  unsigned char digest[DIGEST], point[POINT];
  uint32_t start = 0;
  int64_t failed = -1;
  for (size_t i = 0; i < n; i++) {
    uint32_t end = ends[i];
    if (end < start) { failed = (int64_t)i; break; }
    lib.sha_init(state);
    lib.sha_update(state, prefix, prefix_len);
    lib.sha_update(state, ids + start, end - start);
    lib.sha_final(state, digest);
    lib.from_hash(point, digest);
    if (lib.scalarmult(out + i * POINT, scalar, point) != 0) { failed = (int64_t)i; break; }
    start = end;
  }
  free(state);
  return number(env, failed);
}

static napi_value blind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  size_t points_len, scalar_len, out_len;
  unsigned char *points, *scalar, *out;
  if (!bytes_of(env, argv[0], &points, &points_len, 1) || !bytes_of(env, argv[1], &scalar, &scalar_len, 1) ||
      !bytes_of(env, argv[2], &out, &out_len, 1)) return NULL;
  if (scalar_len != 32 || points_len % POINT != 0 || out_len != points_len) {
    napi_throw_range_error(env, NULL, "blind: inconsistent buffer sizes");
    return NULL;
  }
  size_t n = points_len / POINT;
  for (size_t i = 0; i < n; i++) {
    if (lib.scalarmult(out + i * POINT, scalar, points + i * POINT) != 0) return number(env, (int64_t)i);
  }
  return number(env, -1);
}

static napi_value validate(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return NULL;
  size_t points_len;
  unsigned char *points;
  if (!bytes_of(env, argv[0], &points, &points_len, 1)) return NULL;
  if (points_len % POINT != 0) return number(env, (int64_t)(points_len / POINT));
  for (size_t i = 0; i < points_len / POINT; i++) {
    if (lib.is_valid(points + i * POINT) != 1) return number(env, (int64_t)i);
  }
  return number(env, -1);
}

NAPI_MODULE_INIT() {
  const char *problem = lib.loaded ? NULL : load_libsodium();
  if (problem != NULL) {
    napi_throw_error(env, "NativeUnavailable", problem);
    return NULL;
  }
  napi_property_descriptor props[] = {
    { "hashBlind", NULL, hash_blind, NULL, NULL, NULL, napi_enumerable, NULL },
    { "blind", NULL, blind, NULL, NULL, NULL, napi_enumerable, NULL },
    { "validate", NULL, validate, NULL, NULL, NULL, napi_enumerable, NULL }
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}
