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

/** `randomBits`, `randomBelow` and a random sign over one buffer of CSPRNG bytes (`randomStream`). */
export interface RandomStream {
  readonly bits: (bits: number) => bigint
  readonly below: (bound: bigint) => bigint
  /** −1 or +1, each with probability 1/2. */
  readonly sign: () => 1n | -1n
}

/** getRandomValues fills at most 65,536 bytes per call. */
const STREAM_BLOCK = 65_536

/**
 * The same draws as `randomBits`/`randomBelow` (big-endian bytes, masked; rejection sampling), from the platform
 * CSPRNG in 64 KiB blocks: a `getRandomValues` call costs ~10–20 µs whatever its length, and a loop that draws a
 * few small values per item (SecureSVM Mode B's blinding: a sign, r1 and r' per row) spent more there than in
 * the values. Bytes leave the buffer once; a stream lives as long as its caller's batch.
 */
export const randomStream = (): RandomStream => {
  const block = new Uint8Array(STREAM_BLOCK)
  let at = STREAM_BLOCK
  const take = (count: number): Uint8Array => {
    if (count > STREAM_BLOCK) {
      const out = new Uint8Array(count)
      for (let from = 0; from < count; from += STREAM_BLOCK) crypto.getRandomValues(out.subarray(from, Math.min(count, from + STREAM_BLOCK)))
      return out
    }
    if (at + count > STREAM_BLOCK) {
      crypto.getRandomValues(block)
      at = 0
    }
    const out = block.subarray(at, at + count)
    at += count
    return out
  }
  const bits = (n: number): bigint => {
    const bytes = take(Math.ceil(n / 8))
    let x: bigint
    if (bytes.length <= 6) {
      let v = 0
      for (const b of bytes) v = v * 256 + b
      x = BigInt(v)
    } else {
      x = BigInt(`0x${Array.from(bytes, (b) => HEX[b]!).join("")}`)
    }
    bytes.fill(0)
    return x & ((1n << BigInt(n)) - 1n)
  }
  const below = (bound: bigint): bigint => {
    if (bound <= 0n) throw new RangeError("randomBelow: bound must be positive")
    const n = bound.toString(2).length
    for (;;) {
      const x = bits(n)
      if (x < bound) return x
    }
  }
  return { bits, below, sign: () => ((take(1)[0]! & 1) === 1 ? -1n : 1n) }
}

const HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

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
