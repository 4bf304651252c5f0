import { describe, expect, it } from "vitest"
import { primesConformance } from "../testing/kernel-conformance.ts"
import { generatePrimeSync, isProbablePrime, portable } from "./Primes.ts"

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
})
