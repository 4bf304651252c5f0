/**
 * The `node-openssl` AES of the OT-based PSI (`Aes` in core's joint-query/ot-psi/Aes.ts): node:crypto, i.e.
 * OpenSSL with AES-NI, synchronously: one `createCipheriv` per batch, no promise hop. Byte for byte the same as the
 * portable WebCrypto service (the AES conformance suite; whole transcripts in OpenSslAes.test.ts), so a Node party
 * and a browser party interoperate.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto"
import * as Aes from "@jointly/core/internal/protocols/joint-query/ot-psi/Aes"
import { Effect } from "effect"

let zeros = new Uint8Array(0)

/** A node:crypto Buffer realigned when it does not start on a word boundary (small Buffers come from a pool). */
const aligned = (buffer: Uint8Array): Uint8Array => (buffer.byteOffset % 4 === 0 ? buffer : Uint8Array.from(buffer))

export const aes: Aes.AesService = {
  name: "node-openssl",
  importKey: (raw) =>
    Effect.try({ catch: Aes.aesError("importKey"), try: () => {
      if (raw.length !== Aes.KEY_BYTES) throw new RangeError(`AES-128 key must be 16 bytes, got ${raw.length}`)
      return createSecretKey(Uint8Array.from(raw)) as unknown as Aes.AesKey
    } }),
  keystream: (key, block, bytes) =>
    Effect.try({ catch: Aes.aesError("keystream"), try: () => {
      if (bytes % Aes.BLOCK_BYTES !== 0) throw new RangeError(`keystream: ${bytes} bytes is not a whole number of blocks`)
      if (zeros.length < bytes) zeros = new Uint8Array(bytes)
      const cipher = createCipheriv("aes-128-ctr", key as unknown as KeyObject, Aes.counterBlock(block))
      return aligned(cipher.update(zeros.subarray(0, bytes)))
    } }),
  decryptBlocks: (key, blocks) =>
    Effect.try({ catch: Aes.aesError("decryptBlocks"), try: () => {
      if (blocks.length % Aes.BLOCK_BYTES !== 0) throw new RangeError(`decryptBlocks: ${blocks.length} bytes is not a whole number of blocks`)
      const decipher = createDecipheriv("aes-128-ecb", key as unknown as KeyObject, null).setAutoPadding(false)
      return aligned(decipher.update(blocks))
    } })
}
