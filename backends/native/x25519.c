/*
 * Node-native X25519 batch kernels for the joint-query protocols (the `x25519` group of core's
 * joint-query/Group.ts; NativeGroups.ts loads them from the same addon as the ristretto255 ones).
 *
 * The arithmetic is OpenSSL's X25519 through its public EVP API, resolved at load time with dlsym: the `node`
 * binary carries OpenSSL and exports these symbols, so nothing is linked and no OpenSSL header is needed (the
 * few declarations below are OpenSSL's stable public prototypes). A Node without them (a build against a
 * shared libcrypto that is not global, BoringSSL in Electron…) tries the system's libcrypto, then leaves the
 * x25519 kernels out: the addon still loads and the participant keeps the WASM x25519 (libsodium).
 * Internal ossl_* symbols are never used.
 *
 * The same function as libsodium's crypto_scalarmult (RFC 7748 X25519 with clamping), so outputs are
 * byte-identical to the WASM build. Before multiplying, every received u must be canonical (bit 255 clear,
 * u < 2^255 − 19); a small-order u gives an all-zero result, which OpenSSL refuses (derive fails) — both are
 * reported as the index of the element, as Group.ts' InvalidPointError.
 *
 * Exports (buffers are typed arrays; results are written into `out`):
 *   x25519HashBlind(prefix, ids, ends: Uint32Array, scalar, out) → -1, or the index whose blinding failed
 *       element i is X25519(scalar, u) with u = SHA-512(prefix ‖ ids[ends[i-1]..ends[i]])[0..32], bit 255 cleared
 *   x25519Blind(points, scalar, out) → -1, or the index of the first non-canonical or small-order element
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "napi_args.h"

#define DIGEST 64
#define NID_X25519 1034 /* OpenSSL's EVP_PKEY_X25519 (obj_mac.h), fixed since 1.1.0 */

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct engine_st ENGINE;

static struct {
  int loaded;
  EVP_PKEY *(*new_raw_private_key)(int type, ENGINE *e, const unsigned char *key, size_t keylen);
  EVP_PKEY *(*new_raw_public_key)(int type, ENGINE *e, const unsigned char *key, size_t keylen);
  void (*pkey_free)(EVP_PKEY *key);
  int (*set1_encoded_public_key)(EVP_PKEY *key, const unsigned char *pub, size_t publen); /* OpenSSL ≥ 3.0 */
  EVP_PKEY_CTX *(*ctx_new)(EVP_PKEY *pkey, ENGINE *e);
  void (*ctx_free)(EVP_PKEY_CTX *ctx);
  int (*derive_init)(EVP_PKEY_CTX *ctx);
  int (*set_peer)(EVP_PKEY_CTX *ctx, EVP_PKEY *peer);
  int (*set_peer_ex)(EVP_PKEY_CTX *ctx, EVP_PKEY *peer, int validate_peer); /* OpenSSL ≥ 3.0 */
  int (*derive)(EVP_PKEY_CTX *ctx, unsigned char *key, size_t *keylen);
  unsigned char *(*sha512)(const unsigned char *d, size_t n, unsigned char *md);
} ssl;

static int resolve(void *handle) {
  ssl.new_raw_private_key = dlsym(handle, "EVP_PKEY_new_raw_private_key");
  ssl.new_raw_public_key = dlsym(handle, "EVP_PKEY_new_raw_public_key");
  ssl.pkey_free = dlsym(handle, "EVP_PKEY_free");
  ssl.set1_encoded_public_key = dlsym(handle, "EVP_PKEY_set1_encoded_public_key");
  ssl.ctx_new = dlsym(handle, "EVP_PKEY_CTX_new");
  ssl.ctx_free = dlsym(handle, "EVP_PKEY_CTX_free");
  ssl.derive_init = dlsym(handle, "EVP_PKEY_derive_init");
  ssl.set_peer = dlsym(handle, "EVP_PKEY_derive_set_peer");
  ssl.set_peer_ex = dlsym(handle, "EVP_PKEY_derive_set_peer_ex");
  ssl.derive = dlsym(handle, "EVP_PKEY_derive");
  ssl.sha512 = dlsym(handle, "SHA512");
  return ssl.new_raw_private_key && ssl.new_raw_public_key && ssl.pkey_free && ssl.ctx_new && ssl.ctx_free &&
         ssl.derive_init && ssl.set_peer && ssl.derive && ssl.sha512;
}

/* NULL when the kernels are usable, else why not. */
const char *x25519_load(void) {
  if (ssl.loaded) return NULL;
  if (!openssl_resolve(resolve)) return "OpenSSL's X25519 (EVP_PKEY_derive…) is not exported by this process";
  ssl.loaded = 1;
  return NULL;
}

/* u < 2^255 − 19 and bit 255 clear (little-endian). */
static int canonical(const unsigned char *u) {
  if (u[31] > 0x7f) return 0;
  if (u[31] < 0x7f) return 1;
  for (int i = 30; i >= 1; i--) if (u[i] != 0xff) return 1;
  return u[0] < 0xed;
}

/*
 * One private key and one derive context per chunk; only the peer changes per element. Where OpenSSL has
 * EVP_PKEY_set1_encoded_public_key (3.0+), one peer key is re-encoded per element instead of allocated: a key
 * object per element cost ~4 µs of the ~43 µs an element takes (measured with this machine's libcrypto 3).
 */
typedef struct {
  EVP_PKEY *key;
  EVP_PKEY_CTX *ctx;
  EVP_PKEY *peer;
} deriver;

static int deriver_open(deriver *d, const unsigned char *scalar) {
  d->ctx = NULL;
  d->peer = NULL;
  d->key = ssl.new_raw_private_key(NID_X25519, NULL, scalar, POINT); /* OpenSSL clamps, as libsodium does */
  if (d->key == NULL) return 0;
  d->ctx = ssl.ctx_new(d->key, NULL);
  return d->ctx != NULL && ssl.derive_init(d->ctx) == 1;
}

static void deriver_close(deriver *d) {
  if (d->peer != NULL) ssl.pkey_free(d->peer);
  if (d->ctx != NULL) ssl.ctx_free(d->ctx);
  if (d->key != NULL) ssl.pkey_free(d->key);
}

/* out = X25519(key, u); 0 when OpenSSL refuses (all-zero result: u of small order). */
static int derive_one(deriver *d, const unsigned char *u, unsigned char *out) {
  EVP_PKEY *peer;
  if (d->peer != NULL && ssl.set1_encoded_public_key(d->peer, u, POINT) == 1) {
    peer = d->peer;
  } else {
    peer = ssl.new_raw_public_key(NID_X25519, NULL, u, POINT);
    if (peer == NULL) return 0;
  }
  /* The peer check is ours (canonical, non-zero result); OpenSSL's would only cost a context per element. */
  int ok = ssl.set_peer_ex ? ssl.set_peer_ex(d->ctx, peer, 0) : ssl.set_peer(d->ctx, peer);
  size_t length = POINT;
  ok = ok == 1 && ssl.derive(d->ctx, out, &length) == 1 && length == POINT;
  if (peer != d->peer) {
    /* Kept for the next element when it can be re-encoded; the context holds its own reference meanwhile. */
    if (ssl.set1_encoded_public_key != NULL && d->peer == NULL) d->peer = peer;
    else ssl.pkey_free(peer);
  }
  if (!ok) return 0;
  unsigned char any = 0;
  for (int i = 0; i < POINT; i++) any |= out[i];
  return any != 0;
}

static napi_value hash_blind(napi_env env, napi_callback_info info) {
  hash_blind_args a;
  if (!parse_hash_blind(env, info, "x25519HashBlind", &a)) return NULL;
  /* SHA512() is one-shot: prefix ‖ id is assembled in a scratch buffer as large as the longest id needs. */
  size_t longest = 0;
  for (size_t i = 0, start = 0; i < a.n; start = a.ends[i], i++) {
    if (a.ends[i] < start) return number(env, (int64_t)i);
    if (a.ends[i] - start > longest) longest = a.ends[i] - start;
  }
  unsigned char *message = malloc(a.prefix_len + longest + 1);
  deriver d;
  if (message == NULL || !deriver_open(&d, a.scalar)) {
    free(message);
    if (message != NULL) deriver_close(&d);
    napi_throw_error(env, NULL, "x25519HashBlind: OpenSSL refused the key or memory ran out");
    return NULL;
  }
  memcpy(message, a.prefix, a.prefix_len);
  unsigned char digest[DIGEST];
  uint32_t start = 0;
  int64_t failed = -1;
  for (size_t i = 0; i < a.n; i++) {
    uint32_t end = a.ends[i];
    memcpy(message + a.prefix_len, a.ids + start, end - start);
    ssl.sha512(message, a.prefix_len + (end - start), digest);
    digest[31] &= 0x7f; /* Hg(id) = first 32 bytes, bit 255 cleared (Group.hashToU) */
    if (!derive_one(&d, digest, a.out + i * POINT)) { failed = (int64_t)i; break; }
    start = end;
  }
  deriver_close(&d);
  free(message);
  return number(env, failed);
}

static napi_value blind(napi_env env, napi_callback_info info) {
  blind_args a;
  if (!parse_blind(env, info, "x25519Blind", &a)) return NULL;
  deriver d;
  if (!deriver_open(&d, a.scalar)) {
    deriver_close(&d);
    napi_throw_error(env, NULL, "x25519Blind: OpenSSL refused the key");
    return NULL;
  }
  int64_t failed = -1;
  for (size_t i = 0; i < a.n; i++) {
    const unsigned char *u = a.points + i * POINT;
    if (!canonical(u) || !derive_one(&d, u, a.out + i * POINT)) { failed = (int64_t)i; break; }
  }
  deriver_close(&d);
  return number(env, failed);
}

/* Adds the x25519 kernels to `exports` (called from the addon's init in ristretto.c once x25519_load succeeded). */
void x25519_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "x25519HashBlind", NULL, hash_blind, NULL, NULL, NULL, napi_enumerable, NULL },
    { "x25519Blind", NULL, blind, NULL, NULL, NULL, napi_enumerable, NULL }
  };
  napi_define_properties(env, exports, 2, props);
}
