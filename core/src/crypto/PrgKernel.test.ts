import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, hexToBytes, randomBytes } from "@noble/hashes/utils.js"
import { describe, expect, it } from "vitest"
import * as NodePrgKernel from "./NodePrgKernel.ts"
import * as Prg from "./Prg.ts"
import * as PrgKernel from "./PrgKernel.ts"

const node = NodePrgKernel.load()!
const kernels = [PrgKernel.noble, node]
const stream = (kernel: PrgKernel.PrgKernel, key: Uint8Array, nonce: Uint8Array, length: number) => {
  const out = new Uint8Array(length).fill(0xaa) // stale bytes must not leak into the keystream
  kernel.keystream(key, nonce, out)
  return out
}

describe("PrgKernel", () => {
  it("loads the OpenSSL kernel under Node and makes it the platform default", () => {
    expect(node?.name).toBe("node-openssl")
    expect(PrgKernel.platform.name).toBe("node-openssl")
  })

  it.each(kernels.map((k) => [k.name, k] as const))("%s matches RFC 8439 A.1 test vector #1 (zero key, zero nonce, counter 0)", (_, kernel) => {
    expect(bytesToHex(stream(kernel, new Uint8Array(32), new Uint8Array(12), 64))).toBe(
      "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    )
  })

  it("node-openssl gives noble's keystream byte for byte, at block edges and at mask sizes", () => {
    for (const length of [0, 1, 63, 64, 65, 127, 4096 + 3, 800_000]) {
      const key = randomBytes(32)
      const nonce = randomBytes(12)
      const a = stream(node, key, nonce, length)
      const b = stream(PrgKernel.noble, key, nonce, length)
      // First differing byte (−1: none); element-wise toEqual on 800 kB takes seconds.
      expect(a.length === b.length ? a.findIndex((byte, i) => byte !== b[i]) : 0).toBe(-1)
    }
  })

  it("keeps Prg.expandLimbs bit-identical to the expansion before kernels existed, with either kernel", () => {
    // Digests of the pre-kernel Prg.ts (noble inlined) for seed 00 01 … 1f, the pair-mask label.
    const pinned: ReadonlyArray<readonly [number, number, string]> = [
      [1000, 64, "64b86dfe4ade8eff2002c5e24548d6f12eb27e69b8f5f5848ba07bcade55d3b8"],
      [777, 33, "60e07b0b6b86b21daa5fc17a565dae88549397b924cad55ac66d15f6a3b41e00"],
      [5000, 32, "9cacb025f32b34b38babb5359d813ac50fc5fc8ff7a6007044fd6fcd1a8dd3b5"]
    ]
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i)
    for (const kernel of kernels) {
      for (const [length, bits, digest] of pinned) {
        const limbs = Prg.expandLimbs(seed, "jointly/secagg/v1/pair-mask", length, bits, undefined, kernel)
        expect(bytesToHex(sha256(new Uint8Array(limbs.buffer)))).toBe(digest)
      }
    }
  })

  it("rejects a nonce of the wrong size rather than shifting the counter", () => {
    expect(() => node.keystream(new Uint8Array(32), hexToBytes("00".repeat(8)), new Uint8Array(64))).toThrow(RangeError)
  })
})
