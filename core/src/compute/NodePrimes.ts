/**
 * Node-only prime generation: OpenSSL's BN_generate_prime_ex2 (top two bits set, safe primes on request)
 * run on the libuv thread pool, so the p and q of one key are found in parallel. Selected at runtime by
 * `Primes.selectPrimeGenerator`; browsers use the Miller–Rabin fallback in Primes.ts.
 */
import { generatePrime } from "node:crypto"
import type { PrimeGenerator } from "./Primes.ts"

export const nodePrimeGenerator: PrimeGenerator = (bits, options) =>
  new Promise((resolve, reject) => {
    generatePrime(bits, { safe: options.safe, bigint: true }, (error, prime) => {
      if (error) reject(error)
      else resolve(prime as bigint)
    })
  })
