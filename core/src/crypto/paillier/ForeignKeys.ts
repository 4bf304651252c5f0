/**
 * Keys made by other Paillier libraries (paillier-bigint's shape: `n`, `g`; `lambda`, `mu` and, when kept, the
 * factors `p`, `q`). Ours fix g = N+1; a library may pick another g of order a multiple of N in Z*_{N²} (paillier-
 * bigint's default variant does). Such a key is not wrong, but it is not ours: with g = (1+N)^k·y^N, their
 * ciphertext g^m·r^N is (1+N)^{km}·(y^m·r)^N, which our decryption reads as k·m, and ours of m is read by theirs as
 * m/k. Taking such a key as if g were N+1 makes every cross decryption silently wrong (issue 18).
 *
 * So an import checks g. g = N+1 maps as it is. Any other g needs the private key: from it N is factored (λ is a
 * multiple of the Carmichael function of N, whether the library keeps φ or lcm), k = L(g^φ mod N²)·φ⁻¹ mod N is
 * found, and ciphertexts cross by raising to k⁻¹ (theirs to ours) or k (ours to theirs), a homomorphic scaling
 * that keeps every sum. Without the private key k is as hard to find as N is to factor: refused, typed.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBelow } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { fromPrimes, publicKey, type KeySizePolicy, type PrivateKey, type PublicKey } from "./Keys.ts"
import { ciphertext, type Ciphertext } from "./Paillier.ts"
import { fail } from "./PaillierError.ts"

export interface ForeignPublicKey {
  readonly n: bigint
  readonly g: bigint
}

/** λ may be φ(N) or lcm(p−1, q−1); μ is not needed (it is recomputed for g = N+1). */
export interface ForeignPrivateKey {
  readonly lambda: bigint
  readonly p?: bigint
  readonly q?: bigint
}

export interface ImportedKey {
  readonly publicKey: PublicKey
  /** Present when the private key was given. */
  readonly privateKey?: PrivateKey
  /** True when their g was N+1: ciphertexts cross unchanged. */
  readonly standard: boolean
  /** Their ciphertext of m as ours of m. */
  readonly fromForeign: (value: bigint) => Ciphertext
  /** Our ciphertext of m as theirs of m (a residue mod N² their library decrypts to m). */
  readonly toForeign: (c: Ciphertext) => bigint
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

/**
 * N's factors from any multiple `m` of its Carmichael function: for a random a, the sequence a^t, a^{2t}, … (m =
 * 2^s·t, t odd) reaches 1; the element before it is a square root of 1, and a non-trivial one (probability ≥ 1/2
 * per a) shares exactly one factor with N.
 */
const factorFromMultiple = (n: bigint, m: bigint, kernels: BigIntKernels): readonly [bigint, bigint] => {
  let t = m
  let s = 0
  while ((t & 1n) === 0n) {
    t >>= 1n
    s++
  }
  for (let attempt = 0; attempt < 128; attempt++) {
    const a = randomBelow(n - 3n) + 2n
    const shared = gcd(a, n)
    if (shared !== 1n) return [shared, n / shared]
    let x = kernels.modPow(a, t, n)
    for (let i = 0; i < s && x !== 1n; i++) {
      const next = (x * x) % n
      if (next === 1n && x !== n - 1n) {
        const p = gcd(x - 1n, n)
        return [p, n / p]
      }
      x = next
    }
  }
  return fail("KeyFormat", "λ is not a multiple of the Carmichael function of N: the private key does not belong to N")
}

/**
 * Imports a foreign key. Refused with PaillierError("KeyFormat") when g is not a unit of Z*_{N²} of order a
 * multiple of N, when g ≠ N+1 and no private key is given, or when the private key does not fit N; with
 * PaillierError("KeySize") when N is not an allowed size.
 */
export const importKey = (
  foreign: ForeignPublicKey,
  secret?: ForeignPrivateKey,
  options: KeySizePolicy & { readonly kernels?: BigIntKernels } = {}
): ImportedKey => {
  const kernels = options.kernels ?? tsKernels
  const { n, g } = foreign
  const n2 = n * n
  if (g <= 1n || g >= n2 || gcd(g, n) !== 1n) fail("KeyFormat", "g must be an element of Z*_{N²} other than 1")
  const standard = g === n + 1n
  if (secret === undefined) {
    if (!standard) {
      fail("KeyFormat", "g ≠ N+1: this library's keys use g = N+1, and converting another g needs the private key (or generate the key with g = N+1, e.g. paillier-bigint's simple variant)")
    }
    const pk = publicKey(n, undefined, options)
    return { publicKey: pk, standard, fromForeign: (value) => ciphertext(pk, value), toForeign: (c) => (c.publicKey.n === n ? c.value : fail("KeyMismatch", "a ciphertext under another key")) }
  }
  const [p, q] = secret.p !== undefined && secret.q !== undefined ? [secret.p, secret.q] : factorFromMultiple(n, secret.lambda, kernels)
  if (p * q !== n) fail("KeyFormat", "p·q ≠ N")
  const pair = fromPrimes(p, q, options)
  const phi = pair.privateKey.lambda
  // g = (1+N)^k·y^N, so g^φ = (1+N)^{kφ} = 1 + kφN mod N².
  const k = (((kernels.modPow(g, phi, n2) - 1n) / n) * kernels.modInverse(phi % n, n)) % n
  if (k === 0n || gcd(k, n) !== 1n) fail("KeyFormat", "g's order in Z*_{N²} is not a multiple of N: not a Paillier generator")
  const kInverse = kernels.modInverse(k, n)
  const pk = pair.publicKey
  return {
    publicKey: pk,
    privateKey: pair.privateKey,
    standard,
    fromForeign: (value) => {
      const c = ciphertext(pk, value)
      return standard ? c : ciphertext(pk, kernels.modPow(c.value, kInverse, n2))
    },
    toForeign: (c) => {
      if (c.publicKey.n !== n) fail("KeyMismatch", `a ciphertext under ${c.publicKey.fingerprint.slice(0, 16)}, not under the imported key`)
      return standard ? c.value : kernels.modPow(c.value, k, n2)
    }
  }
}
