/**
 * Threshold-Paillier key generation by a dealer ceremony run by one participant (PROTOCOLS.md §6, dealer
 * setup steps 1–4):
 *
 * 1. safe primes p = 2p'+1, q = 2q'+1; N = pq, M = p'q';
 * 2. d = M·(M^(−1) mod N), so d ≡ 0 (mod M) and d ≡ 1 (mod N);
 * 3. f(X) = d + c_1X + … + c_{t−1}X^(t−1) over Z_{NM}, share s_i = f(i), Δ = n!;
 *    verification keys v (a random square of Z*_{N²}) and v_i = v^(Δs_i);
 * 4. each share is serialized and encrypted to its party's registered key (`encryptTo`, ECIES in
 *    core/src/crypto/Ecies.ts), then the dealer's secrets are erased.
 *
 * "Erased" means: every byte buffer that held a share is zeroed after encryption and no reference to p, q,
 * d, M or the coefficients outlives the call. JS bigints are immutable and cannot be overwritten in place, so
 * copies may survive in the heap until collected: run the ceremony in a short-lived worker.
 *
 * The ceremony's public transcript (domain, context, public key, and for each party its id, index and the
 * SHA-256 of its encrypted share) is hashed to `transcriptDigest`, the value to notarize on chain with
 * {N, t, n, verification keys} (§6 "Ours"). Each party recomputes it with `transcriptDigestOf` from what it
 * received and checks its own share against v_i with `acceptShare`.
 *
 * A dealer that knows p and q can decrypt everything until it erases them: participants must trust the dealer
 * for the ceremony's duration (or use an RSA-modulus DKG, not built here).
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { type PrimeGenerator, randomBelow, tsPrimeGenerator } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { bitLength, concat, frames, sha256, sha256Hex, u16 } from "../paillier/Bytes.ts"
import { checkBits, DEFAULT_BITS, drawHs, type KeySizePolicy, publicKey } from "../paillier/Keys.ts"
import * as Serialization from "./Serialization.ts"
import { factorial, type KeyShare, type ThresholdPublicKey } from "./ThresholdPaillier.ts"
import { fail } from "./ThresholdPaillierError.ts"

export interface CeremonyOptions extends KeySizePolicy {
  /** Bits of N: 2048 (default) or 3072. */
  readonly bits?: number
  readonly threshold: number
  /** Registered party ids; party i (1-based) is `parties[i − 1]`. */
  readonly parties: ReadonlyArray<string>
  /** Encrypts bytes to a party's registered key (ECIES); the dealer never sends a share in the clear. */
  readonly encryptTo: (recipient: string, plaintext: Uint8Array) => Uint8Array | Promise<Uint8Array>
  /** Binds the transcript to its task, e.g. the task id's bytes. */
  readonly context?: Uint8Array
  /** The host's generator (`Primes` service, e.g. OpenSSL's under Node); the portable one over `kernels` when absent. */
  readonly primes?: PrimeGenerator
  readonly kernels?: BigIntKernels
}

export interface EncryptedShare {
  readonly recipient: string
  readonly index: number
  readonly ciphertext: Uint8Array
}

export interface CeremonyResult {
  readonly publicKey: ThresholdPublicKey
  readonly encryptedShares: ReadonlyArray<EncryptedShare>
  /** Hex SHA-256 of the public transcript, for notarization. */
  readonly transcriptDigest: string
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

const DOMAIN = new TextEncoder().encode("jointly/threshold-paillier/dealer-ceremony/v1")

/** The digest every party can recompute from the public key and the encrypted shares it saw. */
export const transcriptDigestOf = (
  tpk: ThresholdPublicKey,
  parties: ReadonlyArray<string>,
  encryptedShares: ReadonlyArray<EncryptedShare>,
  context: Uint8Array = new Uint8Array(0)
): string => {
  const utf8 = new TextEncoder()
  const entries = encryptedShares.map((s) => concat([u16(s.index), sha256(utf8.encode(s.recipient)), sha256(s.ciphertext)]))
  return sha256Hex(frames([DOMAIN, context, Serialization.encodePublicKey(tpk), ...parties.map((p) => utf8.encode(p)), ...entries]))
}

/** Dealer setup over given safe primes; exported for tests and the bench (`runDealerCeremony` draws them). */
export const dealFromSafePrimes = (
  p: bigint,
  q: bigint,
  threshold: number,
  parties: number,
  options: KeySizePolicy & { readonly kernels?: BigIntKernels } = {}
): { readonly publicKey: ThresholdPublicKey; readonly shares: ReadonlyArray<KeyShare> } => {
  const kernels = options.kernels ?? tsKernels
  const n = p * q
  const pk = publicKey(n, drawHs(n, kernels), options)
  const m = ((p - 1n) / 2n) * ((q - 1n) / 2n)
  if (gcd(m, n) !== 1n) fail("InvalidParameters", "gcd(p'q', N) ≠ 1")
  const nm = n * m
  const d = m * kernels.modInverse(m, n)
  const coefficients = [d, ...Array.from({ length: threshold - 1 }, () => randomBelow(nm))]
  const f = (x: bigint) => coefficients.reduceRight((acc, c) => (acc * x + c) % nm, 0n)
  const delta = factorial(parties)
  let v = 0n
  while (v <= 1n) {
    const r = randomBelow(pk.n2)
    if (gcd(r % n, n) === 1n) v = (r * r) % pk.n2
  }
  const shareValues = Array.from({ length: parties }, (_, i) => f(BigInt(i + 1)))
  const tpk = Serialization.makePublicKey(
    pk,
    threshold,
    parties,
    v,
    shareValues.map((s) => kernels.modPow(v, delta * s, pk.n2))
  )
  coefficients.fill(0n)
  return { publicKey: tpk, shares: shareValues.map((share, i) => ({ _tag: "ThresholdPaillierKeyShare", publicKey: tpk, index: i + 1, share })) }
}

/** Runs the whole ceremony: safe primes, shares, encryption to each party, erasure, transcript digest. */
export const runDealerCeremony = async (options: CeremonyOptions): Promise<CeremonyResult> => {
  const bits = options.bits ?? DEFAULT_BITS
  checkBits(bits, options)
  const n = options.parties.length
  if (n < 1 || new Set(options.parties).size !== n || options.parties.some((p) => p.length === 0)) {
    fail("InvalidParameters", "parties must be distinct, non-empty ids")
  }
  if (!Number.isInteger(options.threshold) || options.threshold < 1 || options.threshold > n) {
    fail("InvalidParameters", `threshold must be in 1…${n}, got ${options.threshold}`)
  }
  const primes = options.primes ?? tsPrimeGenerator(options.kernels)
  let dealt: ReturnType<typeof dealFromSafePrimes> | undefined
  while (dealt === undefined) {
    const [p, q] = await Promise.all([primes(bits / 2, { safe: true }), primes(bits / 2, { safe: true })])
    if (p === q || bitLength(p * q) !== bits) continue
    dealt = dealFromSafePrimes(p, q, options.threshold, n, options)
  }
  const encryptedShares: Array<EncryptedShare> = []
  for (const share of dealt.shares) {
    const plaintext = Serialization.encodeKeyShare(share)
    try {
      const recipient = options.parties[share.index - 1]!
      encryptedShares.push({ recipient, index: share.index, ciphertext: await options.encryptTo(recipient, plaintext) })
    } finally {
      plaintext.fill(0)
    }
  }
  const publicKey = dealt.publicKey
  dealt = undefined
  return {
    publicKey,
    encryptedShares,
    transcriptDigest: transcriptDigestOf(publicKey, options.parties, encryptedShares, options.context)
  }
}

/**
 * A party's side: decode its decrypted share bytes and check them against the published verification key
 * (v^(Δs_i) = v_i), so a dealer that hands out a wrong share is caught before the share is ever used.
 */
export const acceptShare = (
  tpk: ThresholdPublicKey,
  shareBytes: Uint8Array,
  expectedIndex?: number,
  kernels: BigIntKernels = tsKernels
): KeyShare => {
  const share = Serialization.decodeKeyShare(tpk, shareBytes)
  if (expectedIndex !== undefined && share.index !== expectedIndex) {
    fail("ShareMismatch", `received the share of party ${share.index}, expected ${expectedIndex}`, [share.index])
  }
  if (kernels.modPow(tpk.v, tpk.delta * share.share, tpk.publicKey.n2) !== tpk.verificationKeys[share.index - 1]) {
    fail("ShareMismatch", "share does not match its verification key v_i", [share.index])
  }
  return share
}
