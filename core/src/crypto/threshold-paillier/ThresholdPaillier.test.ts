import { beforeAll, describe, expect, it } from "vitest"
import * as OpenSslKernels from "@jointly/backends/internal/node/OpenSslKernels"
import { generator as nodePrimeGenerator } from "@jointly/backends/internal/node/OpenSslPrimes"
import { randomBelow } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { concat, unframe } from "../paillier/Bytes.ts"
import * as Keys from "../paillier/Keys.ts"
import * as Paillier from "../paillier/Paillier.ts"
import { expectTypedError, TEST_KEYS } from "../paillier/TestSupport.ts"
import * as Dealer from "./Dealer.ts"
import * as Jobs from "./Jobs.ts"
import * as Serialization from "./Serialization.ts"
import * as Threshold from "./ThresholdPaillier.ts"

const PARTIES = ["clinic-north", "clinic-south", "clinic-east", "lab-west", "insurer"]
const T = 3

// Stand-in for ECIES (core/src/crypto/Ecies.ts): tags the bytes with the recipient so misrouting is visible.
const fakeEncryptTo = (recipient: string, plaintext: Uint8Array) => concat([new TextEncoder().encode(recipient + "|"), plaintext])
const fakeDecrypt = (recipient: string, ciphertext: Uint8Array) => {
  const prefix = new TextEncoder().encode(recipient + "|")
  expect(Array.from(ciphertext.subarray(0, prefix.length))).toEqual(Array.from(prefix))
  return ciphertext.slice(prefix.length)
}

const subsets = <A>(xs: ReadonlyArray<A>, k: number): Array<Array<A>> =>
  k === 0 ? [[]] : xs.flatMap((x, i) => subsets(xs.slice(i + 1), k - 1).map((rest) => [x, ...rest]))

const expectThresholdError = (f: () => unknown, reason: string, parties?: ReadonlyArray<number>) => {
  expectTypedError(f, "ThresholdPaillierError", reason)
  if (parties !== undefined) {
    try {
      f()
    } catch (e) {
      expect((e as { parties: ReadonlyArray<number> }).parties).toEqual(parties)
    }
  }
}

/** The Node backends' OpenSSL kernel, on the Paillier values the TS kernel is checked on. */
const nodeKernels = OpenSslKernels.make()

describe("Threshold Paillier", () => {
  let ceremony: Dealer.CeremonyResult
  let tpk: Threshold.ThresholdPublicKey
  let shares: Array<Threshold.KeyShare>
  let otherTpk: Threshold.ThresholdPublicKey

  beforeAll(async () => {
    ceremony = await Dealer.runDealerCeremony({ bits: 256, ...TEST_KEYS, threshold: T, parties: PARTIES, encryptTo: fakeEncryptTo })
    tpk = ceremony.publicKey
    shares = ceremony.encryptedShares.map((s) => Dealer.acceptShare(tpk, fakeDecrypt(s.recipient, s.ciphertext), s.index))
    otherTpk = (await Dealer.runDealerCeremony({ bits: 256, ...TEST_KEYS, threshold: 2, parties: ["a", "b"], encryptTo: fakeEncryptTo })).publicKey
  })

  it("ceremony: shares routed to their parties, transcript digest recomputable and binding", () => {
    expect(ceremony.encryptedShares.map((s) => s.recipient)).toEqual(PARTIES)
    expect(tpk.publicKey.bits).toBe(256)
    expect(tpk.delta).toBe(120n)
    expect(Dealer.transcriptDigestOf(tpk, PARTIES, ceremony.encryptedShares)).toBe(ceremony.transcriptDigest)
    const tampered = ceremony.encryptedShares.map((s, i) => (i === 2 ? { ...s, ciphertext: s.ciphertext.slice(1) } : s))
    expect(Dealer.transcriptDigestOf(tpk, PARTIES, tampered)).not.toBe(ceremony.transcriptDigest)
    expect(Dealer.transcriptDigestOf(tpk, PARTIES, ceremony.encryptedShares, new Uint8Array([1]))).not.toBe(ceremony.transcriptDigest)
  })

  it("ceremony refuses bad parameters and production code refuses test sizes", async () => {
    const base = { bits: 256, ...TEST_KEYS, encryptTo: fakeEncryptTo }
    await expect(Dealer.runDealerCeremony({ ...base, threshold: 4, parties: ["a", "b", "c"] })).rejects.toMatchObject({ reason: "InvalidParameters" })
    await expect(Dealer.runDealerCeremony({ ...base, threshold: 0, parties: ["a"] })).rejects.toMatchObject({ reason: "InvalidParameters" })
    await expect(Dealer.runDealerCeremony({ ...base, threshold: 1, parties: ["a", "a"] })).rejects.toMatchObject({ reason: "InvalidParameters" })
    await expect(Dealer.runDealerCeremony({ bits: 256, threshold: 1, parties: ["a"], encryptTo: fakeEncryptTo })).rejects.toMatchObject({ reason: "KeySize" })
  })

  it("acceptShare catches a share inconsistent with v_i and a misrouted share", () => {
    const tamperedShare = Serialization.encodeKeyShare({ ...shares[1]!, share: shares[1]!.share + 1n })
    expectThresholdError(() => Dealer.acceptShare(tpk, tamperedShare), "ShareMismatch", [2])
    expectThresholdError(() => Dealer.acceptShare(tpk, Serialization.encodeKeyShare(shares[0]!), 2), "ShareMismatch", [1])
    expectThresholdError(() => Dealer.acceptShare(otherTpk, Serialization.encodeKeyShare(shares[0]!)), "KeyMismatch")
  })

  it("randomized: any t of n shares decrypt to the plain value; more than t too", () => {
    const pk = tpk.publicKey
    const m = randomBelow(pk.n)
    const c = Paillier.encrypt(pk, m)
    const partials = shares.map((s) => Threshold.partialDecrypt(s, c))
    for (const subset of subsets(partials, T)) expect(Threshold.combine(tpk, c, subset)).toBe(m)
    expect(Threshold.combine(tpk, c, partials)).toBe(m)
    expect(Threshold.combine(tpk, c, partials.slice(1), { kernels: nodeKernels })).toBe(m)
  })

  it("fewer than t shares fail; duplicates and unknown indices are named", () => {
    const c = Paillier.encrypt(tpk.publicKey, 5n)
    const partials = shares.map((s) => Threshold.partialDecrypt(s, c))
    for (const subset of subsets(partials, T - 1)) expectThresholdError(() => Threshold.combine(tpk, c, subset), "NotEnoughShares")
    expectThresholdError(() => Threshold.combine(tpk, c, [partials[0]!, partials[0]!, partials[1]!]), "DuplicateShare", [1])
    expectThresholdError(() => Threshold.combine(tpk, c, [...partials.slice(0, 3), { ...partials[0]!, index: 9 }]), "UnknownParty", [9])
  })

  it("homomorphic sums of signed values decrypt jointly", () => {
    const pk = tpk.publicKey
    const values = [-1200n, 3400n, -5n, 77n]
    const c = Paillier.sum(values.map((v) => Paillier.encryptSigned(pk, v)))
    const partials = Threshold.partialDecryptBatch(shares[4]!, [c]).concat([shares[0]!, shares[2]!].map((s) => Threshold.partialDecrypt(s, c)))
    expect(Paillier.toSigned(pk, Threshold.combine(tpk, c, partials))).toBe(2272n)
  })

  it("a cheating party is named: wrong key share, stale ciphertext, forged value", () => {
    const pk = tpk.publicKey
    const c = Paillier.encrypt(pk, 11n)
    const honest = shares.map((s) => Threshold.partialDecrypt(s, c))
    const wrongShare = Threshold.partialDecrypt({ ...shares[1]!, share: shares[1]!.share + 1n }, c)
    expect(Threshold.verifyPartialDecryption(tpk, c, wrongShare)).toBe(false)
    expectThresholdError(() => Threshold.combine(tpk, c, [honest[0]!, wrongShare, honest[2]!]), "InvalidPartialDecryption", [2])
    const stale = Threshold.partialDecrypt(shares[3]!, Paillier.encrypt(pk, 11n))
    expectThresholdError(() => Threshold.combine(tpk, c, [honest[0]!, honest[1]!, stale]), "InvalidPartialDecryption", [4])
    const forged = { ...honest[4]!, value: (honest[4]!.value * 2n) % pk.n2 }
    const swapped = { ...honest[2]!, index: 1 } // party 3's share claimed as party 1's
    expectThresholdError(() => Threshold.combine(tpk, c, [swapped, honest[1]!, forged]), "InvalidPartialDecryption", [1, 5])
    for (const h of honest) expect(Threshold.verifyPartialDecryption(tpk, c, h)).toBe(true)
    // Unverified combination with a bad share gives a wrong answer: why verification is the default.
    expect(Threshold.combine(tpk, c, [honest[0]!, wrongShare, honest[2]!], { verify: false })).not.toBe(11n)
    // A ciphertext or share under another key.
    const foreign = Paillier.encrypt(otherTpk.publicKey, 1n)
    expectThresholdError(() => Threshold.partialDecrypt(shares[0]!, foreign), "KeyMismatch")
    expectThresholdError(() => Threshold.combine(tpk, foreign, honest), "KeyMismatch")
  })

  it("serialization round-trips and rejects foreign or malformed bytes", () => {
    const bytes = Serialization.encodePublicKey(tpk)
    const decoded = Serialization.decodePublicKey(bytes, TEST_KEYS)
    expect([decoded.v, decoded.verificationKeys, decoded.delta, decoded.threshold]).toEqual([tpk.v, tpk.verificationKeys, tpk.delta, T])
    expectTypedError(() => Serialization.decodePublicKey(bytes), "PaillierError", "KeySize")
    expectTypedError(() => Serialization.decodePublicKey(bytes.subarray(0, bytes.length - 2), TEST_KEYS), "PaillierError", "Encoding")
    const c = Paillier.encrypt(tpk.publicKey, 8n)
    const partials = shares.slice(0, 3).map((s) => Threshold.partialDecrypt(s, c))
    const roundTripped = partials.map((p) => Serialization.decodePartialDecryption(decoded, Serialization.encodePartialDecryption(tpk, p)))
    expect(Threshold.combine(decoded, c, roundTripped)).toBe(8n)
    expectThresholdError(() => Serialization.decodePartialDecryption(otherTpk, Serialization.encodePartialDecryption(tpk, partials[0]!)), "KeyMismatch")
    expectTypedError(() => Serialization.decodePartialDecryption(tpk, Serialization.encodeKeyShare(shares[0]!)), "PaillierError", "Encoding")
  })

  it("job functions: batch partial decryption and verification", () => {
    const jobs = Jobs.makeThresholdJobs(tsKernels, TEST_KEYS)
    const pk = tpk.publicKey
    const cs = [Paillier.encrypt(pk, 1n), Paillier.encrypt(pk, 2n)]
    const perParty = shares.slice(1, 4).map((s) =>
      unframe(jobs[Jobs.JobNames.partialDecryptBatch]!(Jobs.partialDecryptBatchInput(s, cs)), "test").map((b) => Serialization.decodePartialDecryption(tpk, b))
    )
    expect(cs.map((c, i) => Threshold.combine(tpk, c, perParty.map((ps) => ps[i]!)))).toEqual([1n, 2n])
    const bad = { ...perParty[0]![1]!, value: 7n }
    expect(Array.from(jobs[Jobs.JobNames.verifyBatch]!(Jobs.verifyBatchInput(tpk, cs, [perParty[0]![0]!, bad])))).toEqual([1, 0])
  })

  it("batched proof: one proof per party covers every partial; a single forged partial in a batch is caught and its party named", () => {
    const pk = tpk.publicKey
    const plain = [5n, -3n, 0n, 1234567n, 42n]
    const cs = plain.map((m) => Paillier.encrypt(pk, Paillier.toResidue(pk, m)))
    const batches = shares.map((s) => Threshold.partialDecryptBatchProved(s, cs))
    for (const b of batches) expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, b)).toBe(true)
    const chosen = [batches[0]!, batches[2]!, batches[4]!].map(Threshold.unbatch)
    expect(cs.map((c, j) => Paillier.toSigned(pk, Threshold.combine(tpk, c, chosen.map((p) => p[j]!), { verify: false })))).toEqual(plain)
    // Each position forged alone (×2, ×(−1), or another party's honest value) fails the whole batch.
    const n2 = pk.n2
    for (let j = 0; j < cs.length; j++) {
      for (const forge of [(v: bigint) => (v * 2n) % n2, (v: bigint) => n2 - v, () => batches[1]!.values[j]!]) {
        const forged = { ...batches[3]!, values: batches[3]!.values.map((v, i) => (i === j ? forge(v) : v)) }
        expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, forged)).toBe(false)
      }
    }
    // Two values swapped, a batch over other ciphertexts, a truncated batch, another party's batch claimed as ours.
    const swapped = { ...batches[0]!, values: [batches[0]!.values[1]!, batches[0]!.values[0]!, ...batches[0]!.values.slice(2)] }
    expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, swapped)).toBe(false)
    expect(Threshold.verifyPartialDecryptionBatch(tpk, [...cs].reverse(), batches[0]!)).toBe(false)
    expect(Threshold.verifyPartialDecryptionBatch(tpk, cs.slice(1), { ...batches[0]!, values: batches[0]!.values.slice(1) })).toBe(false)
    expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, { ...batches[2]!, index: 1 })).toBe(false)
    // A wrong key share gives a batch whose proof fails.
    expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, Threshold.partialDecryptBatchProved({ ...shares[1]!, share: shares[1]!.share + 1n }, cs))).toBe(false)
    // Coefficients: never 0, 128 bits, and fixed by the seed.
    const alphas = Threshold.batchCoefficients(new Uint8Array(32), 64)
    expect(alphas.every((a) => a >= 1n && a <= 1n << 128n)).toBe(true)
    expect(new Set(alphas).size).toBe(64)
    expect(Threshold.batchCoefficients(new Uint8Array(32), 64)).toEqual(alphas)

    // Serialization and the pool's jobs (values in chunks, one proof, one check per batch) agree.
    const jobs = Jobs.makeThresholdJobs(tsKernels, TEST_KEYS)
    const values = [cs.slice(0, 2), cs.slice(2)].flatMap((chunk) => Jobs.decodeValues(tpk, jobs[Jobs.JobNames.partialDecryptValues]!(Jobs.partialDecryptValuesInput(shares[3]!, chunk))))
    expect(values).toEqual(batches[3]!.values)
    const proved = jobs[Jobs.JobNames.proveBatch]!(Jobs.proveBatchInput(shares[3]!, cs, values))
    const decoded = Serialization.decodePartialDecryptionBatch(tpk, proved)
    expect(decoded.values).toEqual(values)
    expect(Array.from(jobs[Jobs.JobNames.verifyBatchProof]!(Jobs.verifyBatchProofInput(tpk, cs, proved)))).toEqual([1])
    const forgedBytes = Serialization.encodePartialDecryptionBatch(tpk, { ...decoded, values: decoded.values.map((v, i) => (i === 4 ? (v * 4n) % n2 : v)) })
    expect(Array.from(jobs[Jobs.JobNames.verifyBatchProof]!(Jobs.verifyBatchProofInput(tpk, cs, forgedBytes)))).toEqual([0])
    expectThresholdError(() => Serialization.decodePartialDecryptionBatch(otherTpk, proved), "KeyMismatch")
    expectTypedError(() => Serialization.decodePartialDecryptionBatch(tpk, proved.subarray(0, proved.length - 1)), "PaillierError", "Encoding")
  })

  it("several parties' batches checked in one randomized test: honest ones pass, one forged partial or proof among them fails the test, and the pool job agrees", () => {
    const pk = tpk.publicKey
    const cs = [3n, -8n, 99n].map((m) => Paillier.encrypt(pk, Paillier.toResidue(pk, m)))
    const batches = shares.slice(0, 4).map((s) => Threshold.partialDecryptBatchProved(s, cs, nodeKernels))
    for (const kernels of [nodeKernels, tsKernels]) {
      expect(Threshold.verifyPartialDecryptionBatches(tpk, cs, batches, kernels)).toBe(true)
      expect(Threshold.verifyPartialDecryptionBatches(tpk, cs, batches.slice(2, 3), kernels)).toBe(true)
    }
    const n2 = pk.n2
    const forgeries: Array<Threshold.PartialDecryptionBatch> = [
      // One value forged (×2, ×(−1): a factor of order 2 is caught too), the proof's a or b times −1 or 2, z off by one.
      { ...batches[2]!, values: batches[2]!.values.map((v, i) => (i === 1 ? (v * 2n) % n2 : v)) },
      { ...batches[2]!, values: batches[2]!.values.map((v, i) => (i === 2 ? n2 - v : v)) },
      { ...batches[2]!, proof: { ...batches[2]!.proof, a: (batches[2]!.proof.a * 2n) % n2 } },
      { ...batches[2]!, proof: { ...batches[2]!.proof, b: (batches[2]!.proof.b * 2n) % n2 } },
      { ...batches[2]!, proof: { ...batches[2]!.proof, z: batches[2]!.proof.z + 1n } },
      // Another party's honest batch claimed under this index; a truncated batch.
      { ...batches[1]!, index: batches[2]!.index },
      { ...batches[2]!, values: batches[2]!.values.slice(1) }
    ]
    for (const forged of forgeries) {
      const mixed = batches.map((b, i) => (i === 2 ? forged : b))
      expect(Threshold.verifyPartialDecryptionBatches(tpk, cs, mixed, nodeKernels)).toBe(false)
      expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, forged, nodeKernels)).toBe(false)
    }
    // Two batches forged by inverse factors (×2 in one, ×1/2 in the other) fail together as they fail alone.
    const up = { ...batches[0]!, values: batches[0]!.values.map((v, i) => (i === 0 ? (v * 2n) % n2 : v)) }
    const down = { ...batches[1]!, values: batches[1]!.values.map((v, i) => (i === 0 ? (v * nodeKernels.modInverse(2n, n2)) % n2 : v)) }
    expect(Threshold.verifyPartialDecryptionBatches(tpk, cs, [up, down], nodeKernels)).toBe(false)
    expect(Threshold.verifyPartialDecryptionBatches(tpk, cs.slice(1), batches, nodeKernels)).toBe(false)
    const jobs = Jobs.makeThresholdJobs(nodeKernels, TEST_KEYS)
    const encoded = batches.map((b) => Serialization.encodePartialDecryptionBatch(tpk, b))
    expect(Array.from(jobs[Jobs.JobNames.verifyBatchProofs]!(Jobs.verifyBatchProofsInput(tpk, cs, encoded)))).toEqual([1])
    const withForged = encoded.map((b, i) => (i === 2 ? Serialization.encodePartialDecryptionBatch(tpk, forgeries[0]!) : b))
    expect(Array.from(jobs[Jobs.JobNames.verifyBatchProofs]!(Jobs.verifyBatchProofsInput(tpk, cs, withForged)))).toEqual([0])
  })

  it("with a kernel that keeps tables, v^r and v^z come from one once the key is in use: proofs made and checked that way verify, forged ones do not", () => {
    expect(nodeKernels.fixedBase).toBeDefined()
    const pk = tpk.publicKey
    const cs = [7n, -11n, 13n].map((m) => Paillier.encrypt(pk, Paillier.toResidue(pk, m)))
    // Past V_TABLE_AFTER uses every proof below is made and checked through the table (a fresh key object: its own count).
    const key = { ...tpk }
    const mine = shares.map((s) => ({ ...s, publicKey: key }))
    for (let round = 0; round <= Threshold.V_TABLE_AFTER; round++) {
      const batch = Threshold.partialDecryptBatchProved(mine[round % mine.length]!, cs, nodeKernels)
      expect(Threshold.verifyPartialDecryptionBatch(key, cs, batch, nodeKernels)).toBe(true)
      expect(Threshold.verifyPartialDecryptionBatch(tpk, cs, batch, tsKernels)).toBe(true) // the same proof without tables
      const forged = { ...batch, values: batch.values.map((v, i) => (i === round % cs.length ? (v * 2n) % pk.n2 : v)) }
      expect(Threshold.verifyPartialDecryptionBatch(key, cs, forged, nodeKernels)).toBe(false)
      expect(Threshold.verifyPartialDecryptionBatch(key, cs, { ...batch, proof: { ...batch.proof, z: batch.proof.z + 1n } }, nodeKernels)).toBe(false)
      const single = Threshold.partialDecrypt(mine[0]!, cs[0]!, nodeKernels)
      expect(Threshold.verifyPartialDecryption(key, cs[0]!, single, nodeKernels)).toBe(true)
      expect(Threshold.verifyPartialDecryption(key, cs[0]!, { ...single, proof: { ...single.proof, b: (single.proof.b * 4n) % pk.n2 } }, nodeKernels)).toBe(false)
    }
  })

  it("a dealt 512-bit key agrees with plain Paillier decryption by the dealer's primes", async () => {
    const [p, q] = await Promise.all([nodePrimeGenerator(256, { safe: true }), nodePrimeGenerator(256, { safe: true })])
    const dealt = Dealer.dealFromSafePrimes(p, q, 2, 3, TEST_KEYS)
    const plain = Keys.fromPrimes(p, q, { ...TEST_KEYS, hs: dealt.publicKey.publicKey.hs })
    for (let i = 0; i < 3; i++) {
      const c = Paillier.encrypt(dealt.publicKey.publicKey, randomBelow(plain.publicKey.n))
      const joint = Threshold.combine(dealt.publicKey, c, [dealt.shares[2]!, dealt.shares[0]!].map((s) => Threshold.partialDecrypt(s, c)))
      expect(joint).toBe(Paillier.decrypt(plain.privateKey, Paillier.ciphertext(plain.publicKey, c.value)))
    }
  })
})
