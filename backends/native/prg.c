/*
 * The fused mask kernel of secure aggregation (core's PrgKernel.addKeystreams, used by RingVector.addMasks):
 *   acc ← acc + Σ_m ±keystream(key_m) (mod 2^(32·limbs)), the keystream read as little-endian 32- or 64-bit elements.
 * The keystream is OpenSSL's, resolved at load time like x25519.c, for one of the PRG's two ciphers:
 *   cipher 0  ChaCha20 (RFC 8439; 32-byte keys; zero nonce, block counter 0: OpenSSL's 16-byte IV all zero);
 *   cipher 1  AES-128-CTR (SP 800-38A; 16-byte keys; all-zero initial counter block, 128-bit big-endian increment).
 * Through node:crypto the same keystream costs a fresh Buffer per call, a zero-filled input
 * and a copy, and the ring addition a JS loop: ~1.2 GB/s against OpenSSL's ~5 GB/s on the development machine.
 * Here every mask's keystream is produced chunk by chunk into one cache-resident scratch buffer and added in C.
 *
 * Export: prgAddKeystreams(keys: Uint8Array (32·m or 16·m bytes), signs: Uint8Array (m; 1 adds, 0 subtracts),
 *                          acc: Uint32Array, limbs: 1 | 2, cipher: 0 | 1) → undefined; acc's length must be a
 *                          multiple of limbs.
 * Little-endian hosts only (the caller checks): the keystream bytes are the limbs' bytes.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "napi_args.h"

typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct engine_st ENGINE;

static struct {
  int loaded;
  EVP_CIPHER_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_CIPHER_CTX *ctx);
  const EVP_CIPHER *(*chacha20)(void);
  const EVP_CIPHER *(*aes_128_ctr)(void);
  int (*init)(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key, const unsigned char *iv);
  int (*update)(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl);
} ssl;

static int resolve(void *handle) {
  ssl.ctx_new = dlsym(handle, "EVP_CIPHER_CTX_new");
  ssl.ctx_free = dlsym(handle, "EVP_CIPHER_CTX_free");
  ssl.chacha20 = dlsym(handle, "EVP_chacha20");
  ssl.aes_128_ctr = dlsym(handle, "EVP_aes_128_ctr");
  ssl.init = dlsym(handle, "EVP_EncryptInit_ex");
  ssl.update = dlsym(handle, "EVP_EncryptUpdate");
  return ssl.ctx_new && ssl.ctx_free && ssl.chacha20 && ssl.aes_128_ctr && ssl.init && ssl.update;
}

const char *prg_load(void) {
  if (ssl.loaded) return NULL;
  if (!openssl_resolve(resolve)) return "OpenSSL's ChaCha20 and AES-128-CTR (EVP_chacha20, EVP_aes_128_ctr…) are not exported by this process";
  ssl.loaded = 1;
  return NULL;
}

/* 16 KiB: every mask's chunk and the accumulator's stay in L1/L2 across the masks of a chunk. */
#define CHUNK 16384
static const unsigned char zeros[CHUNK];

/*
 * acc ± ks over `bytes`, as little-endian words of W bytes (one ring element each); memcpy keeps it alignment-safe.
 * 32 bytes at a time through the compiler's vector extension (SIMD lanes of T), then the tail word by word. One loop
 * per sign: no branch inside.
 */
typedef uint32_t v32 __attribute__((vector_size(32)));
typedef uint64_t v64 __attribute__((vector_size(32)));

#define ADD_WORDS(T, V, W, OP)                                  \
  {                                                             \
    size_t i = 0;                                               \
    for (; i + 32 <= bytes; i += 32) {                          \
      V a, k;                                                   \
      memcpy(&a, acc + i, 32);                                  \
      memcpy(&k, ks + i, 32);                                   \
      a = a OP k;                                               \
      memcpy(acc + i, &a, 32);                                  \
    }                                                           \
    for (; i < bytes; i += W) {                                 \
      T a, k;                                                   \
      memcpy(&a, acc + i, W);                                   \
      memcpy(&k, ks + i, W);                                    \
      a = a OP k;                                               \
      memcpy(acc + i, &a, W);                                   \
    }                                                           \
  }

#define ADD_CHUNK_BODY                                                            \
  if (limbs == 1) {                                                               \
    if (add) ADD_WORDS(uint32_t, v32, 4, +) else ADD_WORDS(uint32_t, v32, 4, -)   \
  } else {                                                                        \
    if (add) ADD_WORDS(uint64_t, v64, 8, +) else ADD_WORDS(uint64_t, v64, 8, -)   \
  }

typedef void add_chunk_fn(unsigned char *acc, const unsigned char *ks, size_t bytes, int limbs, int add);

/* The portable build (-O2, no -m flags): on x86-64 the 32-byte vectors run as pairs of SSE2 operations. */
static void add_chunk_portable(unsigned char *acc, const unsigned char *ks, size_t bytes, int limbs, int add) {
  ADD_CHUNK_BODY
}

/*
 * The same loop compiled for AVX2 (one 256-bit operation per 32 bytes), chosen at load time where the CPU has it:
 * the ring addition was ~17 % of the kernel's time next to OpenSSL's ChaCha20 (itself AVX2/AVX-512), ~9 % with this.
 */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
__attribute__((target("avx2"))) static void add_chunk_avx2(unsigned char *acc, const unsigned char *ks, size_t bytes, int limbs, int add) {
  ADD_CHUNK_BODY
}
static add_chunk_fn *pick_add_chunk(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? add_chunk_avx2 : add_chunk_portable;
}
#else
static add_chunk_fn *pick_add_chunk(void) { return add_chunk_portable; }
#endif

static napi_value add_keystreams(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return NULL;
  unsigned char *keys, *signs, *acc;
  size_t keys_len, signs_len, acc_len;
  uint32_t limbs, cipher;
  if (!bytes_of(env, argv[0], &keys, &keys_len, 1) || !bytes_of(env, argv[1], &signs, &signs_len, 1) ||
      !bytes_of(env, argv[2], &acc, &acc_len, 4)) return NULL;
  if (napi_get_value_uint32(env, argv[3], &limbs) != napi_ok || (limbs != 1 && limbs != 2) ||
      napi_get_value_uint32(env, argv[4], &cipher) != napi_ok || cipher > 1 ||
      keys_len != (cipher == 0 ? 32 : 16) * signs_len || acc_len % (4 * limbs) != 0) {
    napi_throw_range_error(env, NULL, "prgAddKeystreams: inconsistent arguments");
    return NULL;
  }
  size_t m = signs_len;
  size_t key_bytes = cipher == 0 ? 32 : 16;
  const EVP_CIPHER *evp = cipher == 0 ? ssl.chacha20() : ssl.aes_128_ctr();
  EVP_CIPHER_CTX **ctx = calloc(m > 0 ? m : 1, sizeof *ctx);
  static const unsigned char iv[16];
  int ok = ctx != NULL;
  for (size_t i = 0; ok && i < m; i++) {
    ctx[i] = ssl.ctx_new();
    ok = ctx[i] != NULL && ssl.init(ctx[i], evp, NULL, keys + key_bytes * i, iv) == 1;
  }
  add_chunk_fn *add_chunk = pick_add_chunk();
  unsigned char *ks = ok ? malloc(CHUNK) : NULL;
  ok = ok && ks != NULL;
  for (size_t offset = 0; ok && offset < acc_len; offset += CHUNK) {
    size_t bytes = acc_len - offset < CHUNK ? acc_len - offset : CHUNK;
    for (size_t i = 0; ok && i < m; i++) {
      int written = 0;
      ok = ssl.update(ctx[i], ks, &written, zeros, (int)bytes) == 1 && (size_t)written == bytes;
      if (ok) add_chunk(acc + offset, ks, bytes, (int)limbs, signs[i] != 0);
    }
  }
  free(ks);
  if (ctx != NULL) for (size_t i = 0; i < m; i++) if (ctx[i] != NULL) ssl.ctx_free(ctx[i]);
  free(ctx);
  if (!ok) napi_throw_error(env, NULL, "prgAddKeystreams: OpenSSL's cipher failed");
  return NULL;
}

void prg_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "prgAddKeystreams", NULL, add_keystreams, NULL, NULL, NULL, napi_enumerable, NULL }
  };
  napi_define_properties(env, exports, 1, props);
}
