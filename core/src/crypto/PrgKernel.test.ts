import { bytesToHex } from "@noble/hashes/utils.js"
import { describe, expect, it } from "vitest"
import { prgConformance } from "../testing/kernel-conformance.ts"
import * as PrgKernel from "./PrgKernel.ts"

prgConformance(() => PrgKernel.noble)
// The portable backends' kernel: noble, and AES-128-CTR through WebCrypto on the asynchronous path.
prgConformance(() => PrgKernel.webCrypto(globalThis.crypto.subtle))

describe("webCrypto's asynchronous keystream", () => {
  /** WebCrypto as it is, noting the buffer behind each plaintext it is asked to encrypt. */
  const watched = () => {
    const plaintexts: Array<ArrayBufferLike> = []
    const subtle = globalThis.crypto.subtle
    const spy = {
      importKey: subtle.importKey.bind(subtle),
      encrypt: (algorithm: AlgorithmIdentifier, key: CryptoKey, data: Uint8Array) => {
        plaintexts.push(data.buffer)
        return subtle.encrypt(algorithm, key, data as Uint8Array<ArrayBuffer>)
      }
    } as unknown as SubtleCrypto
    return { kernel: PrgKernel.webCrypto(spy), plaintexts }
  }
  const seeded = (seed: number, length: number) => Uint8Array.from({ length }, (_, i) => (seed * 31 + i * 7) & 0xff)

  it("masks of several sizes at once, on one zero plaintext: each keystream is noble's", async () => {
    const { kernel, plaintexts } = watched()
    const iv = new Uint8Array(16)
    const sizes = [4096, 16 * 1000 + 8, 64, 4096 + 16, 4096]
    const keys = sizes.map((_, i) => seeded(i + 1, 16))
    // The largest first, then the rest at once: all of them read views of the buffer it grew.
    const largest = await kernel.keystreamAsync!.run("aes128-ctr", keys[1]!, iv, sizes[1]!)
    const rest = await Promise.all(sizes.map((bytes, i) => kernel.keystreamAsync!.run("aes128-ctr", keys[i]!, iv, bytes)))
    const expected = (i: number) => {
      const out = new Uint8Array(sizes[i]!)
      PrgKernel.noble.keystream("aes128-ctr", keys[i]!, iv, out)
      return bytesToHex(out)
    }
    expect(bytesToHex(largest)).toBe(expected(1))
    expect(rest.map(bytesToHex)).toEqual(sizes.map((_, i) => expected(i)))
    expect(new Set(plaintexts).size).toBe(1)
  })
})
