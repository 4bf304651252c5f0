#include <dlfcn.h>
#include <stdio.h>
#include "napi_args.h"

/* Pointer and byte length of a typed-array argument of `element`-byte items; 0 (a JS error pending) otherwise. */
int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length, size_t element) {
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

int args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != expected) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return 0;
  }
  return 1;
}

static int inconsistent(napi_env env, const char *kernel) {
  char message[96];
  snprintf(message, sizeof message, "%s: inconsistent buffer sizes", kernel);
  napi_throw_range_error(env, NULL, message);
  return 0;
}

int parse_hash_blind(napi_env env, napi_callback_info info, const char *kernel, hash_blind_args *a) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return 0;
  size_t ends_len, scalar_len, out_len;
  unsigned char *ends;
  if (!bytes_of(env, argv[0], &a->prefix, &a->prefix_len, 1) || !bytes_of(env, argv[1], &a->ids, &a->ids_len, 1) ||
      !bytes_of(env, argv[2], &ends, &ends_len, 4) || !bytes_of(env, argv[3], &a->scalar, &scalar_len, 1) ||
      !bytes_of(env, argv[4], &a->out, &out_len, 1)) return 0;
  a->ends = (const uint32_t *)ends;
  a->n = ends_len / 4;
  if (scalar_len != 32 || out_len != a->n * POINT || (a->n > 0 && a->ends[a->n - 1] > a->ids_len)) return inconsistent(env, kernel);
  return 1;
}

int parse_blind(napi_env env, napi_callback_info info, const char *kernel, blind_args *a) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return 0;
  size_t points_len, scalar_len, out_len;
  if (!bytes_of(env, argv[0], &a->points, &points_len, 1) || !bytes_of(env, argv[1], &a->scalar, &scalar_len, 1) ||
      !bytes_of(env, argv[2], &a->out, &out_len, 1)) return 0;
  if (scalar_len != 32 || points_len % POINT != 0 || out_len != points_len) return inconsistent(env, kernel);
  a->n = points_len / POINT;
  return 1;
}

int parse_points(napi_env env, napi_callback_info info, unsigned char **points, size_t *length) {
  napi_value argv[1];
  return args(env, info, 1, argv) && bytes_of(env, argv[0], points, length, 1);
}

napi_value number(napi_env env, int64_t n) {
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

int openssl_resolve(int (*resolve)(void *handle)) {
  if (resolve(RTLD_DEFAULT)) return 1;
  static const char *names[] = { "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib", NULL };
  void *handle = NULL;
  for (int i = 0; names[i] != NULL && handle == NULL; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  return handle != NULL && resolve(handle);
}
