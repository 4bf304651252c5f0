/**
 * The `node-openssl` prime generator (core/src/compute/Primes.ts): OpenSSL's BN_generate_prime_ex2 (top two bits
 * set, safe primes on request) on the libuv thread pool, so the p and q of one key are found in parallel.
 */
import { generatePrime } from "node:crypto"
import type { PrimeGenerator } from "@jointly/core/internal/compute/Primes"

export const generator: PrimeGenerator = (bits, options) =>
  new Promise((resolve, reject) => {
    generatePrime(bits, { safe: options.safe, bigint: true }, (error, prime) => {
      if (error) reject(error)
      else resolve(prime as bigint)
    })
  })
