import { describe, expect, it } from "vitest"
import * as KeyAgreement from "./KeyAgreement.ts"

describe("KeyAgreement", () => {
  it("derives the same 32-byte key on both sides, separated by context and by peer", () => {
    const alice = KeyAgreement.generateKeyPair()
    const bob = KeyAgreement.generateKeyPair()
    const carol = KeyAgreement.generateKeyPair()
    const ab = KeyAgreement.agree(alice.secretKey, bob.publicKey, "ctx")
    expect(ab).toHaveLength(32)
    expect(KeyAgreement.agree(bob.secretKey, alice.publicKey, "ctx")).toEqual(ab)
    expect(KeyAgreement.agree(alice.secretKey, bob.publicKey, "other")).not.toEqual(ab)
    expect(KeyAgreement.agree(alice.secretKey, carol.publicKey, "ctx")).not.toEqual(ab)
    expect(KeyAgreement.publicKeyOf(alice.secretKey)).toEqual(alice.publicKey)
  })

  it("rejects malformed and low-order public keys", () => {
    const alice = KeyAgreement.generateKeyPair()
    expect(() => KeyAgreement.agree(alice.secretKey, new Uint8Array(31), "ctx")).toThrow(KeyAgreement.KeyAgreementError)
    // u = 0 is a low-order point: the shared secret would be all zeros whatever the secret key.
    try {
      KeyAgreement.agree(alice.secretKey, new Uint8Array(32), "ctx")
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(KeyAgreement.KeyAgreementError)
      expect((error as KeyAgreement.KeyAgreementError).reason).toBe("LowOrderPoint")
    }
  })

  it("Node's OpenSSL X25519 (the default under Node) equals @noble/curves: RFC 7748 §6.1 and random keys", () => {
    const { noble, node } = KeyAgreement.backends
    expect(node?.name).toBe("node-openssl")
    expect(KeyAgreement.backendName).toBe("node-openssl")
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
    const bytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"))
    const aliceSecret = bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    const bobPublic = bytes("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    for (const backend of [noble, node!]) {
      expect(hex(backend.publicKey(aliceSecret))).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
      expect(hex(backend.sharedSecret(aliceSecret, bobPublic))).toBe("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    }
    for (let i = 0; i < 20; i++) {
      const a = crypto.getRandomValues(new Uint8Array(32))
      const b = noble.publicKey(crypto.getRandomValues(new Uint8Array(32)))
      expect(node!.publicKey(a)).toEqual(noble.publicKey(a))
      expect(node!.sharedSecret(a, b)).toEqual(noble.sharedSecret(a, b))
      // Keys from OpenSSL's generator (the default path) are ordinary RFC 7748 keys for @noble/curves too.
      const generated = node!.generate!()
      expect(noble.publicKey(generated.secretKey)).toEqual(generated.publicKey)
      expect(node!.sharedSecret(generated.secretKey, b)).toEqual(noble.sharedSecret(generated.secretKey, b))
    }
  })
})
