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
