/**
 * Merkle proofs of every leaf at once (`proofs`, used by the similarity index) equal the per-leaf `proof` for
 * every tree shape up to 33 leaves (odd levels included), and verify against `root`; a proof fails for another
 * leaf.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { describe, expect, it } from "vitest"
import * as Merkle from "./Merkle.ts"

const digests = (n: number) => Array.from({ length: n }, (_, i) => "0x" + bytesToHex(sha256(utf8ToBytes(`leaf ${i}`))))

describe("Merkle proofs of every leaf", () => {
  it("equal the per-leaf proofs and verify against the root, for 1 to 33 leaves", () => {
    for (let n = 1; n <= 33; n++) {
      const leaves = digests(n)
      const root = Merkle.root(leaves)
      const all = Merkle.proofs(leaves)
      expect(all.length).toBe(n)
      leaves.forEach((leaf, i) => {
        expect(all[i], `n = ${n}, leaf ${i}`).toEqual(Merkle.proof(leaves, i))
        expect(Merkle.verify(leaf, all[i]!, root)).toBe(true)
        if (n > 1) expect(Merkle.verify(leaves[(i + 1) % n]!, all[i]!, root)).toBe(false)
      })
    }
  })
})

describe("Merkle.roundDigest", () => {
  it("hashes the stage and each reply with its byte fields by their sha256, and any change of a byte changes it", () => {
    const bytes = Uint8Array.from([1, 2, 3])
    const replies = [["0xa", { ciphertexts: bytes, count: 2 }], ["0xb", { partials: [{ participant: "0xa", payload: new Uint8Array(0) }], value: 5n }]] as const
    const h = (b: Uint8Array) => bytesToHex(sha256(b))
    const text = `stage.x\n0xa:{"ciphertexts":"${h(bytes)}","count":2}\n0xb:{"partials":[{"participant":"0xa","payload":"${h(new Uint8Array(0))}"}],"value":"5"}\n`
    expect(Merkle.roundDigest("stage.x", replies)).toBe("0x" + bytesToHex(sha256(utf8ToBytes(text))))
    const changed = [["0xa", { ciphertexts: Uint8Array.from([1, 2, 4]), count: 2 }], replies[1]] as const
    expect(Merkle.roundDigest("stage.x", changed)).not.toBe(Merkle.roundDigest("stage.x", replies))
    expect(Merkle.roundDigest("stage.y", replies)).not.toBe(Merkle.roundDigest("stage.x", replies))
    expect(() => Merkle.roundDigest("stage.x", [["0xa", { m: new Map() }]])).toThrow(TypeError)
  })
})
