import { beforeAll, describe, expect, it } from "vitest"
import { randomBelow } from "../../compute/Primes.ts"
import * as Keys from "./Keys.ts"
import * as Packing from "./Packing.ts"
import * as Paillier from "./Paillier.ts"
import { expectPaillierError } from "./TestSupport.ts"

describe("Packing", () => {
  let keys: Keys.KeyPair
  beforeAll(async () => {
    keys = await Keys.generateKeyPair({ bits: 512, unsafeAllowTestKeySizes: true })
  })

  it("layout: slot width from value bits and headroom; capacity within N/2", () => {
    const l = Packing.layout(keys.publicKey, { valueBits: 32, maxAddends: 100 })
    expect(l.slotBits).toBe(32 + 7 + 1)
    expect(l.slots).toBe(Math.floor(510 / 40))
    expectPaillierError(() => Packing.layout(keys.publicKey, { valueBits: 32, maxAddends: 100, slots: 13 }), "PackingOverflow")
    expectPaillierError(() => Packing.layout(keys.publicKey, { valueBits: 600 }), "PackingOverflow")
  })

  it("randomized round trips through encryption, sums and signed linear combinations", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const l = Packing.layout(pk, { valueBits: 24, maxAddends: 16 })
    const bound = 1n << 24n
    const vector = () => Array.from({ length: l.slots }, () => randomBelow(2n * bound - 1n) - bound + 1n)
    for (let i = 0; i < 5; i++) {
      const vs = Array.from({ length: 4 }, vector)
      expect(Packing.unpack(l, Packing.pack(l, vs[0]!))).toEqual(vs[0])
      const cs = vs.map((v) => Packing.encryptPacked(pk, l, v))
      expect(Packing.decryptPacked(sk, l, cs[1]!)).toEqual(vs[1])
      // Weights with Σ|k| = 16 = maxAddends: the headroom the layout promised.
      const weights = [5n, -4n, 3n, -4n]
      const combined = Paillier.linearCombination(cs.map((c, j) => [c, weights[j]!] as const))
      const expected = vs[0]!.map((_, s) => vs.reduce((acc, v, j) => acc + weights[j]! * v[s]!, 0n))
      expect(Packing.decryptPacked(sk, l, combined)).toEqual(expected)
    }
    // Fewer values than slots.
    expect(Packing.decryptPacked(sk, l, Packing.encryptPacked(pk, l, [-1n, 2n]), 2)).toEqual([-1n, 2n])
  })

  it("refuses values past the bound, too many values, and detects an overflowed slot", () => {
    const { publicKey: pk } = keys
    const l = Packing.layout(pk, { valueBits: 8, maxAddends: 1, slots: 3 })
    expectPaillierError(() => Packing.pack(l, [256n]), "PackingOverflow")
    expectPaillierError(() => Packing.pack(l, [-256n]), "PackingOverflow")
    expectPaillierError(() => Packing.pack(l, [1n, 2n, 3n, 4n]), "PackingOverflow")
    // Slot width 9: a top-slot sum past 2^8 carries beyond the last slot.
    expectPaillierError(() => Packing.unpack(l, Packing.pack(l, [0n, 0n, 255n]) * 2n), "PackingOverflow")
  })
})
