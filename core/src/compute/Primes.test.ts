import { describe, expect, it } from "vitest"
import { primesConformance } from "../testing/kernel-conformance.ts"
import { generatePrimeSync, isProbablePrime, portable, randomStream } from "./Primes.ts"

primesConformance(() => portable())

describe("Primes", () => {
  it("isProbablePrime on known primes, composites and Carmichael numbers", () => {
    for (const p of [2n, 3n, 65537n, (1n << 127n) - 1n, (1n << 521n) - 1n]) expect(isProbablePrime(p)).toBe(true)
    for (const c of [0n, 1n, 4n, 561n, 41041n, 3215031751n, ((1n << 127n) - 1n) * 65537n]) expect(isProbablePrime(c)).toBe(false)
  })

  it("TS fallback makes primes and safe primes of exactly the requested size", () => {
    const p = generatePrimeSync(256, { safe: false })
    expect(p.toString(2).length).toBe(256)
    expect(p >> 254n).toBe(3n)
    expect(isProbablePrime(p)).toBe(true)
    const s = generatePrimeSync(128, { safe: true })
    expect(s.toString(2).length).toBe(128)
    expect(isProbablePrime(s) && isProbablePrime((s - 1n) / 2n)).toBe(true)
  })

  it("randomStream draws every bit of a value, stays below its bounds and crosses its 64 KiB blocks", () => {
    const stream = randomStream()
    // 41-bit draws (the Number path) and 1024-bit draws (the hex path): all bits reachable, none beyond.
    for (const bits of [41, 1024]) {
      let or = 0n
      for (let i = 0; i < 200; i++) {
        const x = stream.bits(bits)
        expect(x >> BigInt(bits)).toBe(0n)
        or |= x
      }
      expect(or).toBe((1n << BigInt(bits)) - 1n)
    }
    // ≈ 120 KiB of draws: past the first block's end and into the next; a draw wider than a block comes whole.
    const bound = (1n << 40n) + 12345n
    const seen = new Set<string>()
    let negative = 0
    for (let i = 0; i < 20_000; i++) {
      const x = stream.below(bound)
      expect(x >= 0n && x < bound).toBe(true)
      seen.add(x.toString())
      if (stream.sign() === -1n) negative++
    }
    expect(seen.size).toBe(20_000)
    expect(negative).toBeGreaterThan(9_000)
    expect(negative).toBeLessThan(11_000)
    const wide = stream.bits(8 * 70_000)
    expect(wide >> BigInt(8 * 70_000 - 64)).not.toBe(0n)
    expect(() => stream.below(0n)).toThrow(RangeError)
  })
})
