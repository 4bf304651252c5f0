/**
 * The `node-openssl` PrgKernel (core/src/crypto/PrgKernel.ts): OpenSSL's ChaCha20 and AES-128-CTR through
 * node:crypto. OpenSSL's 16-byte ChaCha20 IV is the 32-bit little-endian block counter followed by the RFC 8439
 * nonce, so a zero counter gives the keystream of @noble/ciphers' `chacha20` byte for byte; its `aes-128-ctr` IV is
 * the SP 800-38A initial counter block, incremented over all 128 bits as @noble/ciphers' `ctr` does (the PRG
 * conformance suite).
 *
 * `addKeystreams` (the fused mask path of secure aggregation) runs in the native addon (../native/prg.c: OpenSSL's
 * cipher into a cache-sized scratch buffer, the ring addition in C) where the addon was built; without it the
 * kernel has no fused path and RingVector.addMasks streams through node:crypto as before.
 */
import * as crypto from "node:crypto"
import { checkSizes, type Cipher, KEY_BYTES, type PrgKernel } from "@jointly/core/internal/crypto/PrgKernel"
import * as NativeAddon from "./NativeAddon.ts"

type NativeAdd = (keys: Uint8Array, signs: Uint8Array, acc: Uint32Array, limbs: number, cipher: number) => void

/** The addon's cipher numbers (prg.c). */
const NATIVE_CIPHER: Readonly<Record<Cipher, number>> = { "chacha20": 0, "aes128-ctr": 1 }
const OPENSSL_NAME: Readonly<Record<Cipher, string>> = { "chacha20": "chacha20", "aes128-ctr": "aes-128-ctr" }

const nativeAdd = (): PrgKernel["addKeystreams"] => {
  const add = NativeAddon.open().exports?.prgAddKeystreams as NativeAdd | undefined
  if (add === undefined) return undefined
  return (cipher, keys, signs, acc, limbs) => {
    const size = KEY_BYTES[cipher]
    const packed = new Uint8Array(size * keys.length)
    keys.forEach((key, i) => {
      if (key.length !== size) throw new RangeError(`${cipher} key ${i} must be ${size} bytes, got ${key.length}`)
      packed.set(key, size * i)
    })
    add(packed, Uint8Array.from(signs, (s) => (s === 1 ? 1 : 0)), acc, limbs, NATIVE_CIPHER[cipher])
  }
}

/** OpenSSL's 16-byte IV: ChaCha20's counter (0, little-endian) then its nonce; AES-CTR's counter block as is. */
const opensslIv = (cipher: Cipher, iv: Uint8Array): Uint8Array => {
  if (cipher === "aes128-ctr") return iv
  const full = new Uint8Array(16)
  full.set(iv, 4) // bytes 0–3 stay zero: block counter 0
  return full
}

/** The kernel, or undefined on a Node whose OpenSSL lacks either cipher (the Node backends then keep `noble`). */
export const make = (): PrgKernel | undefined => {
  const available = crypto.getCiphers()
  if (!available.includes("chacha20") || !available.includes("aes-128-ctr")) return undefined
  let zeros = new Uint8Array(0)
  const addKeystreams = nativeAdd()
  const cipherOf = (cipher: Cipher, key: Uint8Array, iv: Uint8Array) => {
    checkSizes(cipher, key, iv)
    return crypto.createCipheriv(OPENSSL_NAME[cipher], key, opensslIv(cipher, iv))
  }
  return {
    name: "node-openssl",
    ...(addKeystreams === undefined ? {} : { addKeystreams }),
    keystream: (cipher, key, iv, output) => {
      const stream = cipherOf(cipher, key, iv)
      output.fill(0)
      // Encrypting zeros yields the keystream; OpenSSL writes into a fresh Buffer, copied once into `output`.
      output.set(stream.update(output))
      stream.final()
    },
    stream: (cipher, key, iv) => {
      // OpenSSL keeps the block position between updates, so successive calls continue one keystream.
      const stream = cipherOf(cipher, key, iv)
      return (bytes) => {
        if (zeros.length < bytes) zeros = new Uint8Array(bytes)
        const out = stream.update(zeros.subarray(0, bytes))
        // Small Buffers come from Node's pool at any offset: realign so callers may view them as 32-bit words.
        return out.byteOffset % 4 === 0 ? out : Uint8Array.from(out)
      }
    }
  }
}
