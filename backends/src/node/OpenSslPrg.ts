/**
 * The `node-openssl` PrgKernel (core/src/crypto/PrgKernel.ts): OpenSSL's ChaCha20 through node:crypto. OpenSSL's
 * 16-byte IV is the 32-bit little-endian block counter followed by the RFC 8439 nonce, so a zero counter gives the
 * keystream of @noble/ciphers' `chacha20` byte for byte (the PRG conformance suite).
 *
 * `addKeystreams` (the fused mask path of secure aggregation) runs in the native addon (../native/prg.c: OpenSSL's
 * ChaCha20 into a cache-sized scratch buffer, the ring addition in C) where the addon was built; without it the
 * kernel has no fused path and RingVector.addMasks streams through node:crypto as before.
 */
import * as crypto from "node:crypto"
import type { PrgKernel } from "@jointly/core/internal/crypto/PrgKernel"
import * as NativeAddon from "./NativeAddon.ts"

type NativeAdd = (keys: Uint8Array, signs: Uint8Array, acc: Uint32Array, limbs: number) => void

const nativeAdd = (): PrgKernel["addKeystreams"] => {
  const add = NativeAddon.open().exports?.prgAddKeystreams as NativeAdd | undefined
  if (add === undefined) return undefined
  return (keys, signs, acc, limbs) => {
    const packed = new Uint8Array(32 * keys.length)
    keys.forEach((key, i) => {
      if (key.length !== 32) throw new RangeError(`key ${i} must be 32 bytes, got ${key.length}`)
      packed.set(key, 32 * i)
    })
    add(packed, Uint8Array.from(signs, (s) => (s === 1 ? 1 : 0)), acc, limbs)
  }
}

const IV_BYTES = 16
const COUNTER_BYTES = 4

const checkNonce = (nonce: Uint8Array) => {
  if (nonce.length !== IV_BYTES - COUNTER_BYTES) throw new RangeError(`nonce must be ${IV_BYTES - COUNTER_BYTES} bytes, got ${nonce.length}`)
}

/** The kernel, or undefined on a Node whose OpenSSL lacks ChaCha20 (the Node backends then keep `noble`). */
export const make = (): PrgKernel | undefined => {
  if (!crypto.getCiphers().includes("chacha20")) return undefined
  const iv = new Uint8Array(IV_BYTES)
  let zeros = new Uint8Array(0)
  const addKeystreams = nativeAdd()
  return {
    name: "node-openssl",
    ...(addKeystreams === undefined ? {} : { addKeystreams }),
    keystream: (key, nonce, output) => {
      checkNonce(nonce)
      iv.set(nonce, COUNTER_BYTES) // bytes 0–3 stay zero: block counter 0
      const cipher = crypto.createCipheriv("chacha20", key, iv)
      output.fill(0)
      // Encrypting zeros yields the keystream; OpenSSL writes into a fresh Buffer, copied once into `output`.
      output.set(cipher.update(output))
      cipher.final()
    },
    stream: (key, nonce) => {
      checkNonce(nonce)
      const streamIv = new Uint8Array(IV_BYTES)
      streamIv.set(nonce, COUNTER_BYTES)
      // OpenSSL keeps the block position between updates, so successive calls continue one keystream.
      const cipher = crypto.createCipheriv("chacha20", key, streamIv)
      return (bytes) => {
        if (zeros.length < bytes) zeros = new Uint8Array(bytes)
        const out = cipher.update(zeros.subarray(0, bytes))
        // Small Buffers come from Node's pool at any offset: realign so callers may view them as 32-bit words.
        return out.byteOffset % 4 === 0 ? out : Uint8Array.from(out)
      }
    }
  }
}
