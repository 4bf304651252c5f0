/** The portable (WASM) groups: x25519 against an independent implementation, commutativity, validation. */
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js"
import { sha512 } from "@noble/hashes/sha2.js"
import { concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { groupConformance } from "../../testing/kernel-conformance.ts"
import * as Compute from "./Compute.ts"
import * as ElementSet from "./ElementSet.ts"
import * as Group from "./Group.ts"

beforeAll(() => Group.ready())

groupConformance(() => Compute.wasmKernels)

const ids = ["alice", "bob", "", "ünïcødé", ...Array.from({ length: 50 }, (_, i) => `id-${i}`)]
const domain = Group.domain("psi", "group-test")

const invalidIndex = (f: () => unknown): number => {
  try {
    f()
  } catch (error) {
    if (error instanceof Group.InvalidPointError) return error.index
    throw error
  }
  throw new Error("did not throw")
}

describe("x25519 group", () => {
  it("is RFC 7748 X25519 (test vector), and matches @noble/curves on hashed ids", () => {
    // RFC 7748 §5.2, first vector.
    const k = hexToBytes("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    const u = hexToBytes("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    expect(Group.x25519.blind(u, k)).toEqual(hexToBytes("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"))
    const scalar = Group.x25519.randomScalar()
    const blinded = Group.x25519.hashBlindEncoded(domain, Group.encodeIds(ids), scalar)
    ids.forEach((id, i) => {
      const digest = sha512(concatBytes(domain, new Uint8Array([0]), utf8ToBytes(id)))
      const hashed = digest.slice(0, 32)
      hashed[31]! &= 0x7f
      expect(blinded.subarray(i * 32, (i + 1) * 32)).toEqual(nobleX25519.scalarMult(scalar, hashed))
    })
  })

  it("clamps its scalars and commutes: (H^a)^b = (H^b)^a, distinct ids stay distinct", () => {
    const [a, b] = [Group.x25519.randomScalar(), Group.x25519.randomScalar()]
    expect(Group.clamp(a)).toEqual(a)
    const encoded = Group.encodeIds(ids)
    const ab = Group.x25519.blind(Group.x25519.hashBlindEncoded(domain, encoded, a), b)
    const ba = Group.x25519.blind(Group.x25519.hashBlindEncoded(domain, encoded, b), a)
    expect(ab).toEqual(ba)
    expect(ElementSet.of(ab).size).toBe(ids.length)
    // Another task's domain gives unrelated values.
    const other = Group.x25519.blind(Group.x25519.hashBlindEncoded(Group.domain("psi", "other"), encoded, a), b)
    expect(ElementSet.of(ab).within(other)(0)).toBe(false)
  })

  it("rejects wrong lengths, non-canonical and small-order u, naming the element", () => {
    const good = Group.x25519.hashBlindEncoded(domain, Group.encodeIds(["a", "b"]), Group.x25519.randomScalar())
    const scalar = Group.x25519.randomScalar()
    expect(invalidIndex(() => Group.x25519.blind(good.subarray(0, 40), scalar))).toBe(1)
    const smallOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ]
    const nonCanonical = [
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // 2^255 − 1
      "0900000000000000000000000000000000000000000000000000000000000080" // the base point with bit 255 set
    ]
    for (const hex of [...smallOrder, ...nonCanonical]) {
      const chunk = concatBytes(good, hexToBytes(hex))
      expect(invalidIndex(() => Group.x25519.blind(chunk, scalar))).toBe(2)
      expect(invalidIndex(() => Group.x25519.validate(chunk))).toBe(2)
    }
    // Every listed small-order u really is of small order: X25519 sends it to zero (noble refuses it).
    for (const hex of smallOrder) expect(() => nobleX25519.scalarMult(scalar, hexToBytes(hex))).toThrow()
    expect(() => Group.x25519.validate(good)).not.toThrow()
  })

  it("surfaces a forged element through the compute service as InvalidPoint with its index", async () => {
    const points = await Effect.runPromise(Compute.inline(Compute.wasmKernels).hashBlind("x25519", domain, ids, Group.x25519.randomScalar()))
    points.fill(0xff, 5 * 32, 6 * 32)
    const error = await Effect.runPromise(Effect.flip(Compute.inline(Compute.wasmKernels).blind("x25519", points, Group.x25519.randomScalar())))
    expect(error._tag).toBe("InvalidPoint")
    expect(error.index).toBe(5)
    expect(error.message).toContain("x25519")
  })
})

describe("ristretto255 group", () => {
  it("commutes and rejects a non-canonical encoding", () => {
    const r = Group.ristretto255
    const [a, b] = [r.randomScalar(), r.randomScalar()]
    const encoded = Group.encodeIds(ids)
    const ab = r.blind(r.hashBlindEncoded(domain, encoded, a), b)
    expect(ab).toEqual(r.blind(r.hashBlindEncoded(domain, encoded, b), a))
    const forged = ab.slice()
    forged.fill(0xff, 3 * 32, 4 * 32)
    expect(invalidIndex(() => r.blind(forged, a))).toBe(3)
    expect(invalidIndex(() => r.validate(forged))).toBe(3)
  })

  it("differs from x25519 on the same ids (the task's group is part of what both parties agree on)", () => {
    const k = Group.x25519.randomScalar()
    const encoded = Group.encodeIds(["same"])
    expect(Group.ristretto255.hashBlindEncoded(domain, encoded, Group.ristretto255.randomScalar())).not.toEqual(Group.x25519.hashBlindEncoded(domain, encoded, k))
  })
})
