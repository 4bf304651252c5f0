import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import { kernelConformance } from "@jointly/core/internal/testing/kernel-conformance"
import { defaultWasmUrl, loadWasmKernels } from "./index.ts"
import { randomBits as randomBigInt } from "@jointly/core/internal/compute/Primes"
import { naiveModPow } from "./Reference.ts"

// The .wasm is a build product (gitignored); build it when a test run starts from a clean checkout.
const wasmFile = fileURLToPath(defaultWasmUrl())
if (!existsSync(wasmFile)) {
  execFileSync("npm", ["run", "build"], { cwd: fileURLToPath(new URL("..", import.meta.url)), stdio: "inherit" })
}

// Node cannot fetch file: URLs: the test reads the kernel's bytes, as the Node backends do.
const load = async () => loadWasmKernels(await readFile(wasmFile))

kernelConformance(load)

const oddModulus = (bits: number): bigint => randomBigInt(bits) | (1n << BigInt(bits - 1)) | 1n

describe("wasm kernels", () => {
  let kernels: BigIntKernels
  beforeAll(async () => {
    kernels = await load()
  })

  it("is named wasm", () => {
    expect(kernels.name).toBe("wasm")
  })

  // Sizes straddle limb and radix boundaries (27- and 28-bit radix limbs, 32-bit transfer limbs, k multiple of 4).
  for (const bits of [2, 3, 27, 28, 31, 32, 33, 64, 65, 108, 109, 127, 521, 1024, 2048, 3556, 3557, 4096]) {
    it(`modPow matches the reference at ${bits}-bit moduli`, () => {
      const trials = bits >= 2048 ? 3 : 12
      for (let i = 0; i < trials; i++) {
        const m = bits === 2 ? 3n : oddModulus(bits)
        const base = randomBigInt(bits + 40)
        const exponent = randomBigInt(1 + ((i * 97) % Math.min(bits + 64, 2048)))
        expect(kernels.modPow(base, exponent, m)).toBe(naiveModPow(base, exponent, m))
      }
    })
  }

  it("handles exponent 0 and 1, base 0, 1, m − 1 and bases ≥ m", () => {
    for (const bits of [32, 64, 1000, 4096]) {
      const m = oddModulus(bits)
      const e = randomBigInt(300) | 1n
      for (const base of [0n, 1n, 2n, m - 1n, m, m + 1n, 3n * m + 5n, -1n, -m - 2n]) {
        for (const exponent of [0n, 1n, 2n, e]) {
          expect(kernels.modPow(base, exponent, m)).toBe(naiveModPow(base, exponent, m))
        }
      }
    }
  })

  it("handles a one-limb modulus, modulus 1 and all-ones limbs", () => {
    expect(kernels.modPow(5n, 3n, 1n)).toBe(0n)
    for (const m of [3n, 5n, 0xffff_fffbn, 0xffff_ffffn]) {
      for (let i = 0; i < 20; i++) {
        const base = randomBigInt(40)
        const exponent = randomBigInt(64)
        expect(kernels.modPow(base, exponent, m)).toBe(naiveModPow(base, exponent, m))
      }
    }
    // Every limb all ones, in the modulus, the base and the exponent.
    for (const bits of [32, 64, 96, 1024, 2048, 4096]) {
      const m = (1n << BigInt(bits)) - 1n
      const ones = (1n << BigInt(bits - 1)) - 1n
      expect(kernels.modPow(ones, ones, m)).toBe(naiveModPow(ones, ones, m))
      expect(kernels.modPow(m - 2n, (1n << 2048n) - 1n, m)).toBe(naiveModPow(m - 2n, (1n << 2048n) - 1n, m))
    }
  })

  it("rejects even and non-positive moduli and negative exponents with RangeError", () => {
    expect(() => kernels.modPow(3n, 5n, 10n)).toThrow(RangeError)
    expect(() => kernels.modPow(3n, 5n, 1n << 2048n)).toThrow(RangeError)
    expect(() => kernels.modPow(3n, 5n, 0n)).toThrow(RangeError)
    expect(() => kernels.modPow(3n, 5n, -7n)).toThrow(RangeError)
    expect(() => kernels.modPow(3n, -5n, 7n)).toThrow(RangeError)
    expect(() => kernels.modPowBatch([3n], 5n, 10n)).toThrow(RangeError)
    expect(() => kernels.modPowBatch([3n], [-1n], 7n)).toThrow(RangeError)
  })

  it("modPowBatch equals element-wise modPow with shared and per-element exponents", () => {
    for (const bits of [64, 2048, 4096]) {
      const m = oddModulus(bits)
      const bases = [0n, 1n, m - 1n, m + 3n, ...Array.from({ length: 4 }, () => randomBigInt(bits))]
      const exponents = bases.map((_, i) => (i === 3 ? 0n : randomBigInt(1 + i * 150)))
      const shared = randomBigInt(bits / 2)
      expect(kernels.modPowBatch(bases, exponents, m)).toEqual(bases.map((b, i) => naiveModPow(b, exponents[i]!, m)))
      expect(kernels.modPowBatch(bases, shared, m)).toEqual(bases.map((b) => naiveModPow(b, shared, m)))
      expect(kernels.modPowBatch(bases, 0n, m)).toEqual(bases.map(() => 1n))
    }
  })

  it("keeps results apart when moduli of different sizes alternate (cached layout, grown memory)", () => {
    const small = oddModulus(100)
    const large = oddModulus(8192)
    const huge = oddModulus(16_384) // past 13,000 bits the radix narrows to 26 bits
    for (const m of [small, large, small, huge, small]) {
      const base = randomBigInt(200)
      const exponent = randomBigInt(300)
      expect(kernels.modPow(base, exponent, m)).toBe(naiveModPow(base, exponent, m))
    }
  })

  it("loads from bytes and from a compiled module as a worker would", async () => {
    const bytes = await readFile(wasmFile)
    const fromBytes = await loadWasmKernels(bytes)
    const module = await WebAssembly.compile(bytes)
    const fromModule = await loadWasmKernels(module)
    const m = oddModulus(1024)
    const expected = naiveModPow(7n, 65537n, m)
    expect(fromBytes.modPow(7n, 65537n, m)).toBe(expected)
    expect(fromModule.modPow(7n, 65537n, m)).toBe(expected)
  })
})
