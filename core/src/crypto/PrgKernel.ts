/**
 * The one hot primitive of mask expansion (`Prg.ts`): the raw keystream of one of the PRG's two stream ciphers,
 *
 *   "chacha20"    RFC 8439: 32-byte key, 12-byte nonce, 32-bit block counter starting at 0;
 *   "aes128-ctr"  NIST SP 800-38A CTR mode over AES-128: 16-byte key, 16-byte initial counter block, incremented
 *                 as one 128-bit big-endian integer per 16-byte block (the standard incrementing function over
 *                 the whole block; OpenSSL's, WebCrypto's with `length: 128`, @noble/ciphers' `ctr`).
 *
 * Named once here and implemented by backends, like the big-integer kernels (`compute/Kernels.ts`): `noble` here
 * (pure JS, @noble/ciphers, runs in browsers and Web Workers) and `node-openssl` in `@jointly/backends` (OpenSSL
 * through node:crypto and the native addon). Every kernel produces the same bytes for both ciphers (the
 * conformance suite in `testing/kernel-conformance.ts`, against RFC 8439 and SP 800-38A F.5.1), so the choice of
 * kernel changes speed only, never a mask. The choice of cipher is the task's (`Prg.Name`).
 *
 * Protocols reach the host's kernel through the `PrgKernel` service and pass it down to the synchronous
 * expansion (`Prg.expandLimbs(…, kernel, prg)`); a host that composes no backend gets `noble`.
 */
import { ctr } from "@noble/ciphers/aes.js"
import { chacha20 } from "@noble/ciphers/chacha.js"
import { Context } from "effect"

/** The stream ciphers a PRG may run on (`Prg.Name`). */
export type Cipher = "chacha20" | "aes128-ctr"

/** Key and IV sizes: ChaCha20's IV is the RFC 8439 nonce (counter 0 in front), AES-CTR's the initial counter block. */
export const KEY_BYTES: Readonly<Record<Cipher, number>> = { "chacha20": 32, "aes128-ctr": 16 }
export const IV_BYTES: Readonly<Record<Cipher, number>> = { "chacha20": 12, "aes128-ctr": 16 }
/** Bytes a keystream advances per counter step: a stream may be cut only at multiples of this. */
export const BLOCK_BYTES: Readonly<Record<Cipher, number>> = { "chacha20": 64, "aes128-ctr": 16 }

export interface PrgKernel {
  /** Backend name reported in benchmarks: "noble" or "node-openssl". */
  readonly name: string
  /** Overwrites `output` with the keystream of `cipher` under `key` and `iv` (sizes above), from the first block. */
  readonly keystream: (cipher: Cipher, key: Uint8Array, iv: Uint8Array, output: Uint8Array) => void
  /**
   * The same keystream in pieces: each call of the returned function yields the next `bytes` bytes (a multiple
   * of 64 except in the last call), in an array valid until the next call. Lets a caller consume a long stream
   * in cache-sized chunks without materializing it (`RingVector.addMasks`).
   */
  readonly stream: (cipher: Cipher, key: Uint8Array, iv: Uint8Array) => (bytes: number) => Uint8Array
  /**
   * Optional fused path of `RingVector.addMasks` (32- and 64-bit rings, little-endian hosts): acc ← acc +
   * Σ_m signs[m]·keystream(cipher, keys[m], all-zero IV) read as little-endian `limbs`-limb elements, mod
   * 2^(32·limbs). The same result as streaming each keystream and adding it; a backend offers it when it can do
   * both without a JS buffer per chunk (`node-openssl`'s native addon).
   */
  readonly addKeystreams?: (cipher: Cipher, keys: ReadonlyArray<Uint8Array>, signs: ReadonlyArray<1 | -1>, acc: Uint32Array, limbs: 1 | 2) => void
  /**
   * Optional asynchronous keystream for the `ciphers` listed, where the fast implementation sits behind a promise
   * (WebCrypto's AES-CTR in browsers and workers: native AES, where noble's is pure JS). The same bytes as
   * `keystream`; `RingVector.addMasksEffect` uses it.
   */
  readonly keystreamAsync?: {
    readonly ciphers: ReadonlyArray<Cipher>
    readonly run: (cipher: Cipher, key: Uint8Array, iv: Uint8Array, bytes: number) => Promise<Uint8Array>
  }
}

/** @throws RangeError when `key` or `iv` has the wrong size for `cipher` (never a silently shifted counter). */
export const checkSizes = (cipher: Cipher, key: Uint8Array, iv: Uint8Array): void => {
  if (key.length !== KEY_BYTES[cipher]) throw new RangeError(`${cipher} key must be ${KEY_BYTES[cipher]} bytes, got ${key.length}`)
  if (iv.length !== IV_BYTES[cipher]) throw new RangeError(`${cipher} IV must be ${IV_BYTES[cipher]} bytes, got ${iv.length}`)
}

/** The AES-CTR counter block `blocks` steps after `iv` (128-bit big-endian addition, wrapping mod 2^128). */
export const advanceCounter = (iv: Uint8Array, blocks: number): Uint8Array => {
  if (!Number.isSafeInteger(blocks) || blocks < 0) throw new RangeError(`bad block count ${blocks}`)
  const out = Uint8Array.from(iv)
  let carry = blocks
  for (let j = 15; j >= 0 && carry > 0; j--) {
    const sum = out[j]! + (carry % 256)
    out[j] = sum & 0xff
    carry = Math.floor(carry / 256) + (sum >> 8)
  }
  return out
}

/** `output` ← the keystream of noble's cipher from counter position `block` (zeros XORed in place: no second buffer). */
const nobleKeystream = (cipher: Cipher, key: Uint8Array, iv: Uint8Array, output: Uint8Array, block: number) => {
  output.fill(0)
  if (cipher === "chacha20") {
    chacha20(key, iv, output, output, block)
    return
  }
  // noble's CTR wants a 4-byte-aligned destination; views of limb arrays are, a caller's odd slice gets a copy.
  const counter = advanceCounter(iv, block)
  if (output.byteOffset % 4 === 0) ctr(key, counter).encrypt(output, output)
  else output.set(ctr(key, counter).encrypt(output))
}

export const noble: PrgKernel = {
  name: "noble",
  keystream: (cipher, key, iv, output) => {
    checkSizes(cipher, key, iv)
    nobleKeystream(cipher, key, iv, output, 0)
  },
  stream: (cipher, key, iv) => {
    checkSizes(cipher, key, iv)
    const block = BLOCK_BYTES[cipher]
    let counter = 0
    let buffer = new Uint8Array(0)
    return (bytes) => {
      if (counter < 0) throw new RangeError("keystream already ended with a partial block")
      if (buffer.length < bytes) buffer = new Uint8Array(bytes)
      const out = buffer.subarray(0, bytes)
      nobleKeystream(cipher, key, iv, out, counter)
      counter = bytes % block === 0 ? counter + bytes / block : -1
      return out
    }
  }
}

/**
 * `noble`, plus AES-128-CTR through WebCrypto (`subtle`) for the asynchronous path: the portable backends' kernel.
 * WebCrypto has no ChaCha20, and its calls are asynchronous only, so every synchronous path stays noble's.
 */
export const webCrypto = (subtle: SubtleCrypto): PrgKernel => {
  // The plaintext every keystream encrypts: one zero buffer of the largest size asked so far, views of it for
  // smaller ones (a mask as long as the model each time, not a fresh one per mask). Nothing ever writes to it —
  // WebCrypto returns its ciphertext in a new buffer — so calls under way at once share it safely, and growing
  // it only replaces the reference (a call still reading the old one reads zeros).
  let zeros = new Uint8Array(0)
  return {
    ...noble,
    name: "noble+webcrypto",
    keystreamAsync: {
      ciphers: ["aes128-ctr"],
      run: async (cipher, key, iv, bytes) => {
        checkSizes(cipher, key, iv)
        if (cipher !== "aes128-ctr") throw new RangeError(`WebCrypto has no ${cipher}`)
        if (zeros.length < bytes) zeros = new Uint8Array(bytes)
        const plaintext = zeros.subarray(0, bytes)
        const imported = await subtle.importKey("raw", Uint8Array.from(key), { name: "AES-CTR" }, false, ["encrypt"])
        // `length: 128`: the whole block is the counter, incremented as SP 800-38A's standard function does.
        const out = await subtle.encrypt({ name: "AES-CTR", counter: Uint8Array.from(iv), length: 128 }, imported, plaintext)
        return new Uint8Array(out)
      }
    }
  }
}

/** The host's keystream kernel; `noble` where the host composed none. */
export const PrgKernel = Context.Reference<PrgKernel>("jointly/PrgKernel", { defaultValue: () => noble })
