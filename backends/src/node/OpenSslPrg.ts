/**
 * The `node-openssl` PrgKernel (core/src/crypto/PrgKernel.ts): OpenSSL's ChaCha20 through node:crypto. OpenSSL's
 * 16-byte IV is the 32-bit little-endian block counter followed by the RFC 8439 nonce, so a zero counter gives the
 * keystream of @noble/ciphers' `chacha20` byte for byte (the PRG conformance suite).
 */
import * as crypto from "node:crypto"
import type { PrgKernel } from "@jointly/core/internal/crypto/PrgKernel"

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
  return {
    name: "node-openssl",
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
