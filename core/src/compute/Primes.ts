/**
 * Prime generation for Paillier keys, a compute-kernel family of its own (DESIGN.md §6). Here: the portable
 * generator (random candidates, a small-prime sieve, then Miller–Rabin over a big-integer kernel), and the
 * `Primes` service through which protocols reach the host's generator. Under Node the host composes
 * OpenSSL's generator on the libuv thread pool instead (`@jointly/backends/node`, far faster, above all for
 * safe primes); a host that composes none gets the portable generator over the TS kernel.
 */
import { Context } from "effect"
import type { BigIntKernels } from "./Kernels.ts"
import { tsKernels } from "./TsKernels.ts"

/** Resolves to a random prime of exactly `bits` bits whose top two bits are set (so p·q has 2·bits bits). */
export type PrimeGenerator = (bits: number, options: { readonly safe: boolean }) => Promise<bigint>

const SMALL_PRIMES: ReadonlyArray<bigint> = (() => {
  const out: Array<bigint> = []
  for (let n = 3; out.length < 1500; n += 2) {
    if (out.every((p) => p * p > BigInt(n) || BigInt(n) % p !== 0n)) out.push(BigInt(n))
  }
  return out
})()

/** Uniform random integer with exactly `bytes` random bytes (big-endian), from the platform CSPRNG. */
export const randomBits = (bits: number): bigint => {
  const bytes = new Uint8Array(Math.ceil(bits / 8))
  crypto.getRandomValues(bytes)
  let x = 0n
  for (const b of bytes) x = (x << 8n) | BigInt(b)
  return x & ((1n << BigInt(bits)) - 1n)
}

/** Uniform random integer in [0, bound) by rejection sampling. */
export const randomBelow = (bound: bigint): bigint => {
  if (bound <= 0n) throw new RangeError("randomBelow: bound must be positive")
  const bits = bound.toString(2).length
  for (;;) {
    const x = randomBits(bits)
    if (x < bound) return x
  }
}

/**
 * Miller–Rabin with random bases. For adversarial inputs use the default 40 rounds (error ≤ 2^-80); random
 * candidates from `generatePrime` need far fewer (Damgård–Landrock–Pomerance).
 */
export const isProbablePrime = (n: bigint, rounds = 40, kernels: BigIntKernels = tsKernels): boolean => {
  if (n < 2n) return false
  for (const p of SMALL_PRIMES) {
    if (n === p) return true
    if (n % p === 0n) return false
  }
  if (n === 2n) return true
  if ((n & 1n) === 0n) return false
  let d = n - 1n
  let s = 0
  while ((d & 1n) === 0n) {
    d >>= 1n
    s++
  }
  witness: for (let i = 0; i < rounds; i++) {
    const a = i === 0 ? 2n : 2n + randomBelow(n - 3n)
    let x = kernels.modPow(a, d, n)
    if (x === 1n || x === n - 1n) continue
    for (let r = 1; r < s; r++) {
      x = (x * x) % n
      if (x === n - 1n) continue witness
    }
    return false
  }
  return true
}

const roundsFor = (bits: number): number => (bits >= 1024 ? 6 : bits >= 512 ? 8 : 20)

const candidate = (bits: number): bigint => randomBits(bits) | (3n << BigInt(bits - 2)) | 1n

/** Browser-safe prime generation over a kernel. Safe primes (p = 2p'+1) sieve both p and p' first. */
export const generatePrimeSync = (bits: number, options: { readonly safe: boolean }, kernels: BigIntKernels = tsKernels): bigint => {
  if (!Number.isInteger(bits) || bits < 16) throw new RangeError(`prime bits must be an integer ≥ 16, got ${bits}`)
  const rounds = roundsFor(bits)
  for (;;) {
    const p = candidate(bits)
    if (!options.safe) {
      if (SMALL_PRIMES.some((s) => p % s === 0n && p !== s)) continue
      if (isProbablePrime(p, rounds, kernels)) return p
      continue
    }
    // p ≡ 3 (mod 4) so p' = (p−1)/2 is odd; p' and p must both avoid every small factor.
    if ((p & 3n) !== 3n) continue
    const q = p >> 1n
    if (SMALL_PRIMES.some((s) => (q % s === 0n && q !== s) || (p % s === 0n && p !== s))) continue
    if (kernels.modPow(2n, q - 1n, q) !== 1n) continue
    if (kernels.modPow(2n, p - 1n, p) !== 1n) continue
    if (isProbablePrime(q, rounds, kernels) && isProbablePrime(p, rounds, kernels)) return p
  }
}

export const tsPrimeGenerator = (kernels: BigIntKernels = tsKernels): PrimeGenerator => (bits, options) =>
  new Promise((resolve, reject) => {
    try {
      resolve(generatePrimeSync(bits, options, kernels))
    } catch (e) {
      reject(e)
    }
  })

/** A prime generator and the name benchmarks report it by. */
export interface Primes {
  readonly name: string
  readonly generate: PrimeGenerator
}

/** The portable generator over `kernels`. */
export const portable = (kernels: BigIntKernels = tsKernels): Primes => ({ name: `portable (${kernels.name})`, generate: tsPrimeGenerator(kernels) })

/** The host's prime generator (`(yield* Primes.Primes).generate`); the portable one over the TS kernel where the host composed none. */
export const Primes = Context.Reference<Primes>("jointly/Primes", { defaultValue: () => portable() })
