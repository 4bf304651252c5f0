import { ed25519 } from "@noble/curves/ed25519.js"
import { describe, expect, it } from "vitest"
import * as Ed25519 from "./Ed25519.ts"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"))

describe("Ed25519", () => {
  it("Node's OpenSSL Ed25519 (the default under Node) equals @noble/curves: RFC 8032 §7.1 test 2 and random keys", () => {
    const { noble, node } = Ed25519.backends
    expect(node?.name).toBe("node-openssl")
    expect(Ed25519.backendName).toBe("node-openssl")
    const secret = bytes("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
    const message = bytes("72")
    for (const backend of [noble, node!]) {
      expect(hex(backend.publicKey(secret))).toBe("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
      expect(hex(backend.sign(secret, message))).toBe(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
      )
    }
    for (let i = 0; i < 10; i++) {
      const key = Ed25519.generate()
      const m = crypto.getRandomValues(new Uint8Array(40))
      expect(node!.sign(key.secretKey, m)).toEqual(noble.sign(key.secretKey, m))
      expect(noble.publicKey(key.secretKey)).toEqual(key.publicKey)
    }
  })

  it("accepts only the signer's signature over the same message, on both backends", () => {
    const key = Ed25519.generate()
    const other = Ed25519.generate()
    const message = new TextEncoder().encode("advertisement")
    const signature = Ed25519.sign(key, message)
    for (const backend of [Ed25519.backends.noble, Ed25519.backends.node!]) {
      expect(backend.verify(key.publicKey, message, signature)).toBe(true)
      expect(backend.verify(other.publicKey, message, signature)).toBe(false)
      expect(backend.verify(key.publicKey, new TextEncoder().encode("advertisemenT"), signature)).toBe(false)
      const flipped = signature.slice()
      flipped[10]! ^= 1
      expect(backend.verify(key.publicKey, message, flipped)).toBe(false)
    }
    expect(Ed25519.verify(key.publicKey, message, signature.subarray(0, 63))).toBe(false)
    expect(Ed25519.verify(new Uint8Array(31), message, signature)).toBe(false)
    expect(ed25519.verify(signature, message, key.publicKey)).toBe(true)
  })
})
