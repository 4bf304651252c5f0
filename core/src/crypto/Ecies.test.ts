import { getBytes, SigningKey, Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import * as Ecies from "./Ecies.ts"

const text = new TextEncoder().encode("dataset key: 4f1c…")
const ad = new TextEncoder().encode("task-1|alice->bob")

const reasonOf = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(Ecies.EciesError)
    return (error as Ecies.EciesError).reason
  }
  throw new Error("expected an EciesError")
}

describe("Ecies", () => {
  it("round-trips to a fresh key and to an ethers wallet's uncompressed public key", () => {
    const recipient = Ecies.generateKeyPair()
    expect(Ecies.decrypt(recipient.secretKey, Ecies.encrypt(recipient.publicKey, text, ad), ad)).toEqual(text)
    const wallet = Wallet.createRandom()
    const uncompressed = SigningKey.computePublicKey(wallet.privateKey, false)
    const sealed = Ecies.encrypt(getBytes(uncompressed), text)
    expect(Ecies.decrypt(getBytes(wallet.privateKey), sealed)).toEqual(text)
  })

  it("is randomised: two encryptions of one message differ", () => {
    const recipient = Ecies.generateKeyPair()
    expect(Ecies.encrypt(recipient.publicKey, text)).not.toEqual(Ecies.encrypt(recipient.publicKey, text))
  })

  it("rejects a wrong key, tampering, other associated data, bad versions and truncation", () => {
    const recipient = Ecies.generateKeyPair()
    const other = Ecies.generateKeyPair()
    const sealed = Ecies.encrypt(recipient.publicKey, text, ad)
    expect(reasonOf(() => Ecies.decrypt(other.secretKey, sealed, ad))).toBe("AuthenticationFailed")
    for (const index of [40, sealed.length - 1]) {
      const tampered = sealed.slice()
      tampered[index]! ^= 1
      expect(reasonOf(() => Ecies.decrypt(recipient.secretKey, tampered, ad))).toBe("AuthenticationFailed")
    }
    expect(reasonOf(() => Ecies.decrypt(recipient.secretKey, sealed, new Uint8Array([1])))).toBe("AuthenticationFailed")
    const versioned = sealed.slice()
    versioned[0] = 2
    expect(reasonOf(() => Ecies.decrypt(recipient.secretKey, versioned, ad))).toBe("UnsupportedVersion")
    expect(reasonOf(() => Ecies.decrypt(recipient.secretKey, sealed.slice(0, 40), ad))).toBe("Malformed")
    const badPoint = sealed.slice()
    badPoint.fill(0xff, 1, 34)
    expect(reasonOf(() => Ecies.decrypt(recipient.secretKey, badPoint, ad))).toBe("InvalidKey")
    expect(reasonOf(() => Ecies.encrypt(new Uint8Array(33), text))).toBe("InvalidKey")
  })

  it("box: seals under a 32-byte key and rejects wrong keys, tampering and other associated data", () => {
    const key = crypto.getRandomValues(new Uint8Array(32))
    const box = Ecies.seal(key, text, ad)
    expect(Ecies.open(key, box, ad)).toEqual(text)
    expect(reasonOf(() => Ecies.open(crypto.getRandomValues(new Uint8Array(32)), box, ad))).toBe("AuthenticationFailed")
    const tampered = box.slice()
    tampered[20]! ^= 0x80
    expect(reasonOf(() => Ecies.open(key, tampered, ad))).toBe("AuthenticationFailed")
    expect(reasonOf(() => Ecies.open(key, box))).toBe("AuthenticationFailed")
    expect(reasonOf(() => Ecies.open(key, box.slice(0, 10), ad))).toBe("Malformed")
    expect(reasonOf(() => Ecies.open(new Uint8Array(16), box, ad))).toBe("InvalidKey")
  })
})
