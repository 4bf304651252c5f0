/**
 * Paillier encryption, decryption and the homomorphic operations of PROTOCOLS.md §4, over keys from Keys.ts.
 *
 * - Encrypt: c = (1 + m·N)·ρ mod N² with ρ from a RandomnessSource (DJN h_s^r by default; Randomness.ts).
 * - Decrypt: CRT over p² and q² (Paillier 1999 §7), about 4× cheaper than c^λ mod N²; `decryptWithoutCrt`
 *   keeps the textbook formula for cross-checks. `decryptWithProof` also reveals the randomness r, which anyone
 *   holding c checks (`verifyDecryption`): a proof of correct decryption for a plaintext revealed anyway.
 * - Homomorphic: add, subtract (inverse by extended Euclid mod N², never the source's c^(φ−1): §4 weakness 2),
 *   plaintext add, scalar multiply with negative scalars (invert, then exponentiate), re-randomise.
 *
 * Ciphertexts carry their public key; mixing keys is a PaillierError("KeyMismatch"). Range and invertibility
 * are checked where a ciphertext enters (`ciphertext`, Serialization.decodeCiphertext); results of the
 * operations here are valid by construction. BigInt arithmetic is not constant-time (§4 weakness 5).
 */
import * as FixedPoint from "../FixedPoint.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { signedMultiExp, tsKernels } from "../../compute/TsKernels.ts"
import { type PrivateKey, type PublicKey, sameKey } from "./Keys.ts"
import { fail } from "./PaillierError.ts"
import * as Randomness from "./Randomness.ts"

export interface Ciphertext {
  readonly _tag: "PaillierCiphertext"
  readonly publicKey: PublicKey
  readonly value: bigint
}

const make = (publicKey: PublicKey, value: bigint): Ciphertext => ({ _tag: "PaillierCiphertext", publicKey, value })

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

const checkRange = (pk: PublicKey, value: bigint): void => {
  if (value < 0n || value >= pk.n2) fail("CiphertextOutOfRange", `ciphertext must lie in [1, N²) for key ${pk.fingerprint.slice(0, 16)}`)
  if (value === 0n) fail("CiphertextZero", "ciphertext 0 is not an element of Z*_{N²}")
}

const checkInvertible = (pk: PublicKey, value: bigint): void => {
  if (gcd(value % pk.n, pk.n) !== 1n) fail("CiphertextNotInvertible", "ciphertext shares a factor with N")
}

/** Validates an untrusted ciphertext value: 0 < c < N² and gcd(c, N) = 1. */
export const ciphertext = (pk: PublicKey, value: bigint): Ciphertext => {
  checkRange(pk, value)
  checkInvertible(pk, value)
  return make(pk, value)
}

/**
 * Validates a list of untrusted ciphertext values as `ciphertext` does each, with one gcd for the whole list:
 * Π c_i mod N is a unit iff every c_i is (a BigInt gcd at 2048 bits costs as much as thousands of products).
 * Where the product is not, the first offending value is named as `ciphertext` would.
 */
export const ciphertexts = (pk: PublicKey, values: ReadonlyArray<bigint>): Array<Ciphertext> => {
  let product = 1n
  for (const value of values) {
    checkRange(pk, value)
    product = (product * (value % pk.n)) % pk.n
  }
  if (values.length > 0 && gcd(product, pk.n) !== 1n) for (const value of values) checkInvertible(pk, value)
  return values.map((value) => make(pk, value))
}

/**
 * Ciphertext values this process computed from valid ciphertexts and keys (fresh encryptions, products and powers,
 * e.g. its own pool jobs' outputs) or validated already (a job's inputs that the caller checked before making it):
 * checked to lie in [1, N²), not for invertibility, which holds by construction (products of units are units) and
 * whose gcd costs as much as thousands of products. Values from anyone else go through `ciphertexts`.
 */
export const computedCiphertexts = (pk: PublicKey, values: ReadonlyArray<bigint>): Array<Ciphertext> =>
  values.map((value) => {
    checkRange(pk, value)
    return make(pk, value)
  })

const checkSameKey = (a: Ciphertext, b: Ciphertext): void => {
  if (!sameKey(a.publicKey, b.publicKey)) {
    fail("KeyMismatch", `operands under keys ${a.publicKey.fingerprint.slice(0, 16)} and ${b.publicKey.fingerprint.slice(0, 16)}`)
  }
}

const checkPlaintext = (pk: PublicKey, m: bigint): void => {
  if (m < 0n || m >= pk.n) fail("PlaintextOutOfRange", "plaintext residue must lie in [0, N)")
}

/** Signed integer → residue; |x| must stay below N/2 so decryptSigned returns it unchanged. */
export const toResidue = (pk: PublicKey, x: bigint): bigint => {
  if (x >= pk.halfN || -x >= pk.halfN) fail("PlaintextOutOfRange", "signed plaintext must satisfy |x| < N/2")
  return x < 0n ? pk.n + x : x
}

/** Residue → signed integer (m > N/2 stands for m − N, PROTOCOLS.md §0). */
export const toSigned = (pk: PublicKey, m: bigint): bigint => (m > pk.halfN ? m - pk.n : m)

// (1 + mN) mod N² for m in [0, N) needs no reduction: it is below N².
const gToThe = (pk: PublicKey, m: bigint): bigint => 1n + m * pk.n

/**
 * Encrypts a residue m ∈ [0, N). (1 + mN)·ρ ≡ ρ + N·(m·ρ mod N) (mod N²), since N·x mod N² = N·(x mod N): a
 * product reduced mod N instead of one reduced mod N² (2–16× less BigInt time in a microbenchmark on the shared
 * development machine; it is all an encryption costs
 * once ρ is made ahead); the sum is below 2N², one subtraction from its residue.
 */
export const encrypt = (pk: PublicKey, m: bigint, randomness: Randomness.RandomnessSource = Randomness.automatic(pk)): Ciphertext => {
  checkPlaintext(pk, m)
  const rho = randomness()
  const c = rho + pk.n * ((m * rho) % pk.n)
  return make(pk, c >= pk.n2 ? c - pk.n2 : c)
}

/** Encrypts a signed integer, |x| < N/2. */
export const encryptSigned = (pk: PublicKey, x: bigint, randomness?: Randomness.RandomnessSource): Ciphertext =>
  encrypt(pk, toResidue(pk, x), randomness)

export const encryptBatch = (
  pk: PublicKey,
  messages: ReadonlyArray<bigint>,
  randomness: Randomness.RandomnessSource = Randomness.automatic(pk)
): Array<Ciphertext> => messages.map((m) => encrypt(pk, m, randomness))

const checkOwner = (sk: PrivateKey, c: Ciphertext): void => {
  if (!sameKey(sk.publicKey, c.publicKey)) {
    fail("KeyMismatch", `ciphertext under key ${c.publicKey.fingerprint.slice(0, 16)}, private key for ${sk.publicKey.fingerprint.slice(0, 16)}`)
  }
}

// The x mod N with x ≡ a_p (mod p), x ≡ a_q (mod q) (Garner).
const crt = (sk: PrivateKey, ap: bigint, aq: bigint): bigint => {
  let diff = ((ap - aq) * sk.qInvModP) % sk.p
  if (diff < 0n) diff += sk.p
  return aq + sk.q * diff
}

// m = CRT(m_p, m_q) from x_p = c^(p−1) mod p² and x_q = c^(q−1) mod q².
const recombine = (sk: PrivateKey, xp: bigint, xq: bigint): bigint =>
  crt(sk, (((xp - 1n) / sk.p) * sk.hp) % sk.p, (((xq - 1n) / sk.q) * sk.hq) % sk.q)

/** CRT decryption to the residue in [0, N); the two halves in one kernel call where the kernel pairs them. */
export const decrypt = (sk: PrivateKey, c: Ciphertext, kernels: BigIntKernels = tsKernels): bigint => {
  checkOwner(sk, c)
  if (kernels.modPowPair !== undefined) {
    const [xp, xq] = kernels.modPowPair([c.value % sk.p2, sk.p - 1n, sk.p2], [c.value % sk.q2, sk.q - 1n, sk.q2])
    return recombine(sk, xp, xq)
  }
  return recombine(sk, kernels.modPow(c.value % sk.p2, sk.p - 1n, sk.p2), kernels.modPow(c.value % sk.q2, sk.q - 1n, sk.q2))
}

export const decryptSigned = (sk: PrivateKey, c: Ciphertext, kernels?: BigIntKernels): bigint =>
  toSigned(sk.publicKey, decrypt(sk, c, kernels))

/** Batch CRT decryption: two kernel batch calls with a shared exponent each (one per prime square), or pairs. */
export const decryptBatch = (sk: PrivateKey, cs: ReadonlyArray<Ciphertext>, kernels: BigIntKernels = tsKernels): Array<bigint> => {
  for (const c of cs) checkOwner(sk, c)
  if (kernels.modPowPair !== undefined) return cs.map((c) => decrypt(sk, c, kernels))
  const xp = kernels.modPowBatch(cs.map((c) => c.value % sk.p2), sk.p - 1n, sk.p2)
  const xq = kernels.modPowBatch(cs.map((c) => c.value % sk.q2), sk.q - 1n, sk.q2)
  return xp.map((x, i) => recombine(sk, x, xq[i]!))
}

/**
 * A decryption with its proof: the plaintext residue m and the N-th root r with c = (1+N)^m·r^N mod N²
 * (Paillier 1999 §3: the key holder can recover the randomness of any ciphertext).
 */
export interface OpenedCiphertext {
  readonly m: bigint
  readonly r: bigint
}

/**
 * Decrypts and recovers the randomness r, the proof of correct decryption `verifyDecryption` checks. Since
 * (1+N)^(−m) ≡ 1 (mod N), c·(1+N)^(−m) ≡ r^N and c ≡ r^N (mod N), so r = (c mod N)^(N^(−1) mod φ(N)) mod N;
 * computed by CRT (two half-size exponentiations, about one more decryption's cost) with the exponents
 * N^(−1) mod (p−1) and mod (q−1) kept in the private key (Keys.fromPrimes: they exist since gcd(N, φ(N)) = 1).
 *
 * Revealing r discloses nothing beyond m. For one fresh ciphertext, (c, m, r) is simulated from m alone: draw r
 * uniform in Z*_N and set c = (1+N)^m·r^N, exactly the real distribution (DJN's r = h^x mod N lies in ⟨h⟩
 * instead, indistinguishable under DJN's assumption). For a homomorphic sum c = Π c_i opened at m = Σ m_i, r is
 * Π r_i, and the view (c_1..c_k, m, r) is simulated from m and any split m'_i: draw s, t_i uniform in Z*_N, let
 * c_i = (1+N)^(m'_i)·t_i^N for i < k and c_k = (1+N)^m·s^N / Π_{i<k} c_i. Telling that from the real split
 * needs telling (1+N)^(m_i − m'_i)·t^N from t^N: decisional composite residuosity, the assumption Paillier's
 * secrecy already rests on. So r adds nothing to m about any contribution. Do not open a ciphertext whose
 * randomness also protects a ciphertext that stays secret (one re-randomised from the other: r would link them).
 */
export const decryptWithProof = (sk: PrivateKey, c: Ciphertext, kernels: BigIntKernels = tsKernels): OpenedCiphertext => {
  const m = decrypt(sk, c, kernels)
  const atP = [c.value % sk.p, sk.rootExponentP, sk.p] as const
  const atQ = [c.value % sk.q, sk.rootExponentQ, sk.q] as const
  const [rp, rq] = kernels.modPowPair !== undefined ? kernels.modPowPair(atP, atQ) : [kernels.modPow(...atP), kernels.modPow(...atQ)]
  return { m, r: crt(sk, rp, rq) }
}

/**
 * Checks a revealed decryption against the ciphertext the verifier itself holds: 0 ≤ m < N, 0 < r < N,
 * gcd(r, N) = 1 and (1+N)^m·r^N ≡ c (mod N²); else PaillierError("InvalidDecryptionProof"). Since
 * x ↦ (1+N)^m·r^N is a bijection Z_N × Z*_N → Z*_{N²}, no other (m, r) opens c: a key holder cannot
 * claim another plaintext. Costs one N-bit exponentiation mod N².
 */
export const verifyDecryption = (c: Ciphertext, opened: OpenedCiphertext, kernels: BigIntKernels = tsKernels): void => {
  const pk = c.publicKey
  const { m, r } = opened
  if (m < 0n || m >= pk.n) fail("InvalidDecryptionProof", "claimed plaintext outside [0, N)")
  if (r <= 0n || r >= pk.n) fail("InvalidDecryptionProof", "randomness outside (0, N)")
  if (gcd(r, pk.n) !== 1n) fail("InvalidDecryptionProof", "randomness shares a factor with N")
  if ((gToThe(pk, m) * kernels.modPow(r, pk.n, pk.n2)) % pk.n2 !== c.value) {
    fail("InvalidDecryptionProof", `(m, r) does not open the ciphertext under key ${pk.fingerprint.slice(0, 16)}`)
  }
}

/** Textbook decryption m = L(c^λ mod N²)·μ mod N, for cross-checking the CRT path. */
export const decryptWithoutCrt = (sk: PrivateKey, c: Ciphertext, kernels: BigIntKernels = tsKernels): bigint => {
  checkOwner(sk, c)
  const n = sk.publicKey.n
  return (((kernels.modPow(c.value, sk.lambda, sk.publicKey.n2) - 1n) / n) * sk.mu) % n
}

/** [[a + b]] = [[a]]·[[b]] mod N². */
export const add = (a: Ciphertext, b: Ciphertext): Ciphertext => {
  checkSameKey(a, b)
  return make(a.publicKey, (a.value * b.value) % a.publicKey.n2)
}

/** Σ of one or more ciphertexts under one key. */
export const sum = (cs: ReadonlyArray<Ciphertext>): Ciphertext => {
  if (cs.length === 0) throw new RangeError("sum of no ciphertexts")
  return cs.reduce(add)
}

/** [[−a]] = [[a]]^(−1) mod N². */
export const negate = (a: Ciphertext, kernels: BigIntKernels = tsKernels): Ciphertext =>
  make(a.publicKey, kernels.modInverse(a.value, a.publicKey.n2))

/** [[a − b]] = [[a]]·[[b]]^(−1) mod N². */
export const subtract = (a: Ciphertext, b: Ciphertext, kernels: BigIntKernels = tsKernels): Ciphertext => {
  checkSameKey(a, b)
  return add(a, negate(b, kernels))
}

/** [[a + k]] = [[a]]·(1 + kN) mod N² for a signed plaintext k (reduced mod N). Deterministic: re-randomise before forwarding. */
export const addPlain = (a: Ciphertext, k: bigint): Ciphertext => {
  const pk = a.publicKey
  const residue = ((k % pk.n) + pk.n) % pk.n
  return make(pk, (a.value * gToThe(pk, residue)) % pk.n2)
}

/**
 * [[k·a]] = [[a]]^k mod N² for any signed integer k; a negative k inverts first (PROTOCOLS.md §4 linear form).
 * k = 0 yields 1, a valid but deterministic encryption of 0: re-randomise before forwarding.
 */
export const multiplyScalar = (a: Ciphertext, k: bigint, kernels: BigIntKernels = tsKernels): Ciphertext => {
  const pk = a.publicKey
  if (k < 0n) return make(pk, kernels.modPow(kernels.modInverse(a.value, pk.n2), -k, pk.n2))
  return make(pk, kernels.modPow(a.value, k, pk.n2))
}

/**
 * Σ k_i·[[a_i]] = Π [[a_i]]^(k_i) (PROTOCOLS.md §4 Eq. 4.15) for signed k_i, in one multi-exponentiation (the
 * kernel's `multiExp`: the squarings shared by every term) rather than a modPow per term.
 */
export const linearCombination = (
  terms: ReadonlyArray<readonly [Ciphertext, bigint]>,
  kernels: BigIntKernels = tsKernels
): Ciphertext => {
  if (terms.length === 0) throw new RangeError("linear combination of no ciphertexts")
  const [first] = terms[0]!
  for (const [c] of terms) checkSameKey(first, c)
  return make(first.publicKey, signedMultiExp(kernels, terms.map(([c]) => c.value), terms.map(([, k]) => k), first.publicKey.n2))
}

/** Multiplies by a fresh N-th residue: same plaintext, unlinkable ciphertext (§4 "re-randomise before forwarding"). */
export const rerandomize = (a: Ciphertext, randomness: Randomness.RandomnessSource = Randomness.automatic(a.publicKey)): Ciphertext =>
  make(a.publicKey, (a.value * randomness()) % a.publicKey.n2)

/** A fixed-point codec over this key's plaintext space (PROTOCOLS.md §4 "ours"; S = 2^scaleBits). */
export const fixedPointCodec = (pk: PublicKey, scaleBits = 16): FixedPoint.Codec => FixedPoint.make({ scaleBits, modulus: pk.n })

/** Encrypts round(v·2^scaleBits); FixedPointError on NaN, ±∞, or |encoded| ≥ N/2. */
export const encryptReal = (
  pk: PublicKey,
  codec: FixedPoint.Codec,
  v: number,
  randomness?: Randomness.RandomnessSource
): Ciphertext => {
  if (codec.modulus !== pk.n) fail("KeyMismatch", "fixed-point codec built for a different modulus")
  return encrypt(pk, FixedPoint.encode(codec, v), randomness)
}

/** Decrypts and divides by S^scaleMultiplier (2 after multiplying two encodings). */
export const decryptReal = (
  sk: PrivateKey,
  codec: FixedPoint.Codec,
  c: Ciphertext,
  scaleMultiplier = 1,
  kernels?: BigIntKernels
): number => FixedPoint.decode(codec, decrypt(sk, c, kernels), scaleMultiplier)
