/**
 * The one hot primitive of mask expansion (`Prg.ts`): the raw ChaCha20 keystream (RFC 8439: 32-byte key,
 * 12-byte nonce, block counter starting at 0). Named once here and implemented by backends, like the big-integer
 * kernels (`compute/Kernels.ts`): `noble` here (pure JS, @noble/ciphers, runs in browsers and Web Workers) and
 * `node-openssl` in `@jointly/backends` (OpenSSL's ChaCha20, ~10× faster). Both produce the same bytes (the
 * conformance suite in `testing/kernel-conformance.ts`), so the choice changes speed only, never a mask.
 *
 * Protocols reach the host's kernel through the `PrgKernel` service and pass it down to the synchronous
 * expansion (`Prg.expandLimbs(…, kernel)`); a host that composes no backend gets `noble`.
 */
import { chacha20 } from "@noble/ciphers/chacha.js"
import { Context } from "effect"

export interface PrgKernel {
  /** Backend name reported in benchmarks: "noble" or "node-openssl". */
  readonly name: string
  /** Overwrites `output` with the ChaCha20 keystream under `key` (32 bytes) and `nonce` (12 bytes), counter 0. */
  readonly keystream: (key: Uint8Array, nonce: Uint8Array, output: Uint8Array) => void
  /**
   * The same keystream in pieces: each call of the returned function yields the next `bytes` bytes (a multiple
   * of 64 except in the last call), in an array valid until the next call. Lets a caller consume a long stream
   * in cache-sized chunks without materializing it (`RingVector.addMasks`).
   */
  readonly stream: (key: Uint8Array, nonce: Uint8Array) => (bytes: number) => Uint8Array
  /**
   * Optional fused path of `RingVector.addMasks` (32- and 64-bit rings, little-endian hosts): acc ← acc +
   * Σ_m signs[m]·keystream(keys[m], zero nonce) read as little-endian `limbs`-limb elements, mod 2^(32·limbs).
   * The same result as streaming each keystream and adding it; a backend offers it when it can do both without
   * a JS buffer per chunk (`node-openssl`'s native addon).
   */
  readonly addKeystreams?: (keys: ReadonlyArray<Uint8Array>, signs: ReadonlyArray<1 | -1>, acc: Uint32Array, limbs: 1 | 2) => void
}

export const noble: PrgKernel = {
  name: "noble",
  keystream: (key, nonce, output) => {
    output.fill(0)
    // XOR over zeros in place yields the raw keystream without a second buffer.
    chacha20(key, nonce, output, output)
  },
  stream: (key, nonce) => {
    let counter = 0
    let buffer = new Uint8Array(0)
    return (bytes) => {
      if (counter < 0) throw new RangeError("keystream already ended with a partial block")
      if (buffer.length < bytes) buffer = new Uint8Array(bytes)
      const out = buffer.subarray(0, bytes)
      out.fill(0)
      chacha20(key, nonce, out, out, counter)
      counter = bytes % 64 === 0 ? counter + bytes / 64 : -1
      return out
    }
  }
}

/** The host's keystream kernel; `noble` where the host composed none. */
export const PrgKernel = Context.Reference<PrgKernel>("jointly/PrgKernel", { defaultValue: () => noble })
