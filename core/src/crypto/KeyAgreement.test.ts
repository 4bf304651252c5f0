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
})
