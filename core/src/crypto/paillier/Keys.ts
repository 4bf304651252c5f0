/**
 * Paillier keys (PROTOCOLS.md §4) with g = N+1 and the Damgård–Jurik–Nielsen short-exponent randomness base
 * h_s = (−x²)^N mod N²: an encryption's random factor is h_s^r with r of ⌈bits/2⌉ bits instead of r^N with r
 * of `bits` bits, half the exponent length, and a fixed base, so a precomputed table applies (FixedBase.ts).
 * Security rests on DCR plus the DJN assumption that h_s^r with short r is indistinguishable from a random
 * N-th residue of Jacobi symbol 1 (DJN 2010, §4.2).
 *
 * N is 2048 bits by default, 3072 as an option, never less (PROTOCOLS.md §0): smaller keys exist only for
 * tests and must be asked for with `unsafeAllowTestKeySizes`.
 */
import { Effect, Schema } from "effect"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { type PrimeGenerator, randomBelow, tsPrimeGenerator } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { bitLength, sha256Hex, toFixed } from "./Bytes.ts"
import { fail } from "./PaillierError.ts"

export const DEFAULT_BITS = 2048
export const ALLOWED_BITS: ReadonlyArray<number> = [2048, 3072]
/** The smallest N a test may ask for; below it the plaintext packing and proof arithmetic stop making sense. */
export const MIN_TEST_BITS = 128

export interface KeySizePolicy {
  /**
   * Accept any even N of at least 128 bits. Only for tests: a 512-bit N factors in hours. Production code
   * never sets it, and keys decoded from the wire are held to 2048/3072 unless the decoder is told otherwise.
   */
  readonly unsafeAllowTestKeySizes?: boolean
}

export interface PublicKey {
  readonly _tag: "PaillierPublicKey"
  readonly bits: number
  readonly n: bigint
  readonly n2: bigint
  /** ⌊N/2⌋: residues above it stand for negatives (PROTOCOLS.md §0). */
  readonly halfN: bigint
  /** h_s = (−x²)^N mod N², the fixed base of the randomness (DJN). */
  readonly hs: bigint
  /** Bit length of the short exponent r: ⌈bits/2⌉. */
  readonly randomnessBits: number
  /** Hex SHA-256 of N (fixed width): names the key in serialized ciphertexts and mismatch errors. */
  readonly fingerprint: string
}

export interface PrivateKey {
  readonly _tag: "PaillierPrivateKey"
  readonly publicKey: PublicKey
  readonly p: bigint
  readonly q: bigint
  // CRT decryption constants (Paillier 1999, §7): m_p = L_p(c^(p−1) mod p²)·h_p mod p.
  readonly p2: bigint
  readonly q2: bigint
  readonly hp: bigint
  readonly hq: bigint
  readonly qInvModP: bigint
  // N^(−1) mod (p−1) and mod (q−1): the exponents that recover a ciphertext's randomness r mod p and mod q
  // (Paillier.decryptWithProof), kept so an opening costs two exponentiations and no inversions.
  readonly rootExponentP: bigint
  readonly rootExponentQ: bigint
  // Non-CRT constants, kept for cross-checks: m = L(c^λ mod N²)·μ mod N with λ = φ(N).
  readonly lambda: bigint
  readonly mu: bigint
}

export interface KeyPair {
  readonly publicKey: PublicKey
  readonly privateKey: PrivateKey
}

export const checkBits = (bits: number, policy: KeySizePolicy = {}): void => {
  if (ALLOWED_BITS.includes(bits)) return
  if (policy.unsafeAllowTestKeySizes === true && Number.isInteger(bits) && bits >= MIN_TEST_BITS && bits % 16 === 0) return
  fail(
    "KeySize",
    policy.unsafeAllowTestKeySizes === true
      ? `N must have a multiple of 16 bits, at least ${MIN_TEST_BITS}; got ${bits}`
      : `N must have ${ALLOWED_BITS.join(" or ")} bits; got ${bits}`
  )
}

export const fingerprintOf = (n: bigint): string => sha256Hex(toFixed(n, Math.ceil(bitLength(n) / 8)))

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

/** Draws h_s = (−x²)^N mod N² for a fresh random x ∈ Z*_N. */
export const drawHs = (n: bigint, kernels: BigIntKernels = tsKernels): bigint => {
  for (;;) {
    const x = randomBelow(n)
    if (x < 2n || gcd(x, n) !== 1n) continue
    const h = n - ((x * x) % n)
    return kernels.modPow(h, n, n * n)
  }
}

/**
 * A public key from N and h_s, validated: N odd with an allowed size, h_s in Z*_{N²}. Omitting h_s derives one
 * from a local random x, which is as good for encryption (anyone may pick x). It assumes g = N+1: a key from
 * another library goes through `ForeignKeys.importKey`, which checks its g.
 */
export const publicKey = (
  n: bigint,
  hs?: bigint,
  options: KeySizePolicy & { readonly kernels?: BigIntKernels } = {}
): PublicKey => {
  if (n <= 0n || (n & 1n) === 0n) fail("KeyFormat", "N must be a positive odd integer")
  const bits = bitLength(n)
  checkBits(bits, options)
  const n2 = n * n
  const base = hs ?? drawHs(n, options.kernels)
  if (base <= 1n || base >= n2 || gcd(base % n, n) !== 1n) fail("KeyFormat", "h_s must be an element of Z*_{N²} other than 1")
  return {
    _tag: "PaillierPublicKey",
    bits,
    n,
    n2,
    halfN: n / 2n,
    hs: base,
    randomnessBits: Math.ceil(bits / 2),
    fingerprint: fingerprintOf(n)
  }
}

/** The private key from the factors of N (validated: distinct odd factors of similar length, gcd(N, φ) = 1). */
export const fromPrimes = (
  p: bigint,
  q: bigint,
  options: KeySizePolicy & { readonly hs?: bigint; readonly kernels?: BigIntKernels } = {}
): KeyPair => {
  const kernels = options.kernels ?? tsKernels
  if (p === q || p < 3n || q < 3n || (p & 1n) === 0n || (q & 1n) === 0n) fail("KeyFormat", "p and q must be distinct odd primes")
  // Equal lengths (±1 bit, as paillier-bigint draws them) keep both factors near √N.
  if (Math.abs(bitLength(p) - bitLength(q)) > 1) fail("KeyFormat", "p and q must have (nearly) the same bit length")
  const n = p * q
  const lambda = (p - 1n) * (q - 1n)
  if (gcd(n, lambda) !== 1n) fail("KeyFormat", "gcd(N, φ(N)) ≠ 1")
  const pk = publicKey(n, options.hs, options)
  const p2 = p * p
  const q2 = q * q
  const g = n + 1n
  // h_p = L_p(g^(p−1) mod p²)^(−1) mod p.
  const hp = kernels.modInverse((kernels.modPow(g, p - 1n, p2) - 1n) / p, p)
  const hq = kernels.modInverse((kernels.modPow(g, q - 1n, q2) - 1n) / q, q)
  return {
    publicKey: pk,
    privateKey: {
      _tag: "PaillierPrivateKey",
      publicKey: pk,
      p,
      q,
      p2,
      q2,
      hp,
      hq,
      qInvModP: kernels.modInverse(q, p),
      // They exist: gcd(N, φ(N)) = 1 was checked above, and p − 1, q − 1 divide φ(N).
      rootExponentP: kernels.modInverse(n % (p - 1n), p - 1n),
      rootExponentQ: kernels.modInverse(n % (q - 1n), q - 1n),
      lambda,
      mu: kernels.modInverse(lambda, n)
    }
  }
}

export interface GenerateOptions extends KeySizePolicy {
  /** Bits of N: 2048 (default) or 3072. */
  readonly bits?: number
  /** The host's generator (`Primes` service, e.g. OpenSSL's under Node); the portable one over `kernels` when absent. */
  readonly primes?: PrimeGenerator
  readonly kernels?: BigIntKernels
}

/** Key generation: two primes of bits/2 bits with the top two bits set, so N has exactly `bits` bits. */
export const generateKeyPair = async (options: GenerateOptions = {}): Promise<KeyPair> => {
  const bits = options.bits ?? DEFAULT_BITS
  checkBits(bits, options)
  const primes = options.primes ?? tsPrimeGenerator(options.kernels)
  for (;;) {
    const [p, q] = await Promise.all([primes(bits / 2, { safe: false }), primes(bits / 2, { safe: false })])
    if (p === q || bitLength(p * q) !== bits) continue
    return fromPrimes(p, q, options)
  }
}

/**
 * A key pair was not generated: the size refused (`checkBits`), or the prime generator failed (a worker that
 * exited, a host generator that rejected). `detail` names the cause; nothing of a key was kept.
 */
export class KeyGenerationFailed extends Schema.TaggedError<KeyGenerationFailed>()("PaillierKeyGenerationFailed", {
  bits: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `paillier key generation (${this.bits} bits) failed: ${this.detail}`
  }
}

/** `generateKeyPair` as an Effect whose failure is typed (KeyGenerationFailed), never a defect. */
export const generate = (options: GenerateOptions = {}): Effect.Effect<KeyPair, KeyGenerationFailed> =>
  Effect.tryPromise({
    try: () => generateKeyPair(options),
    catch: (cause) => new KeyGenerationFailed({ bits: options.bits ?? DEFAULT_BITS, detail: cause instanceof Error ? cause.message : String(cause) })
  })

export const sameKey = (a: PublicKey, b: PublicKey): boolean => a === b || a.n === b.n
