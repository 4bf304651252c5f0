/**
 * The threshold-Paillier arithmetic of vertical training and prediction: slot layouts (how many values share
 * one ciphertext), the compute engine (encryption, partial decryption with proofs and proof checks fanned out
 * through the host's JobRunner, inline without one), and the packed homomorphic steps.
 *
 * Slot layouts (Packing.ts; signed slots, borrows included):
 * - judge (SVM): v = 2z − 2y·S² + y with |z| < 2^zBits, travelling one row per ciphertext (encrypted already
 *   shifted to its slot, `judgeRow`) until every party has blinded it with its own factor (`blindPacked`); each party's blinded value ρ·v + η (ρ < 2^(κ+1), η < ρ)
 *   needs zBits + κ + 4 bits, and the n parties' packed contributions are summed (headroom for n addends);
 * - gradient: Σ_j d_j·X_j over a batch plus the owner's mask of κ extra bits;
 * - prediction: Σ_p z^p, zBits + ⌈log2 n⌉ + 1 bits.
 */
import { Effect } from "effect"
import { type JobRunnerService, paillierRunner } from "../../compute/JobRunner.ts"
import * as Kernels from "../../compute/Kernels.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBelow, randomBits } from "../../compute/Primes.ts"
import * as PaillierJobs from "../../crypto/paillier/Jobs.ts"
import type { KeySizePolicy, PrivateKey, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as PaillierSerialization from "../../crypto/paillier/Serialization.ts"
import * as ThresholdJobs from "../../crypto/threshold-paillier/Jobs.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import type { KeyShare, PartialDecryptionBatch, ThresholdPublicKey } from "../../crypto/threshold-paillier/ThresholdPaillier.ts"
import * as Threshold from "../../crypto/threshold-paillier/ThresholdPaillier.ts"

const log2Ceil = (x: number): number => (x <= 1 ? 0 : Math.ceil(Math.log2(x)))

export interface Shape {
  readonly parties: number
  readonly kappa: number
  readonly scaleBits: number
  readonly featureBound: number
  readonly batchSize: number
  readonly model: "svm" | "logistic"
}

/** |Z| < 2^zBits: real scores below 2^12 in magnitude; each party checks its own |z^p| < 2^(zBits − 4). */
export const zBits = (s: Shape): number => 2 * s.scaleBits + 12

export const judgeLayout = (pk: PublicKey, s: Shape, slots?: number): Packing.Layout => {
  const valueBits = zBits(s) + 2 + (s.kappa + 1) + 1
  const max = Packing.capacity(pk, valueBits + log2Ceil(s.parties) + 1)
  return Packing.layout(pk, { valueBits, maxAddends: s.parties, slots: Math.min(slots ?? max, max) })
}

/** Bits of |Σ_j d_j·X_jk| over a batch. */
export const gradientBits = (s: Shape): number =>
  (s.model === "svm" ? 0 : zBits(s) + 1) + log2Ceil(s.batchSize) + s.scaleBits + log2Ceil(s.featureBound) + 1

export const gradientLayout = (pk: PublicKey, s: Shape): Packing.Layout => Packing.layout(pk, { valueBits: gradientBits(s) + s.kappa + 1 })

export const predictionLayout = (pk: PublicKey, s: Pick<Shape, "parties" | "scaleBits">): Packing.Layout =>
  Packing.layout(pk, { valueBits: 2 * s.scaleBits + 12, maxAddends: s.parties })

/** Global slot of feature `k` of party `p` given every party's feature count: (ciphertext, slot). */
export const gradientSlot = (features: ReadonlyArray<number>, party: number, k: number, slots: number) => {
  let offset = 0
  for (let i = 0; i < party; i++) offset += features[i]!
  const f = offset + k
  return { ciphertext: Math.floor(f / slots), slot: f % slots }
}

export const gradientCiphertexts = (features: ReadonlyArray<number>, slots: number): number =>
  Math.max(1, Math.ceil(features.reduce((a, b) => a + b, 0) / slots))

// ---- engine -------------------------------------------------------------------------------------------

export interface Engine {
  readonly tpk: ThresholdPublicKey
  readonly pk: PublicKey
  readonly kernels: BigIntKernels
  readonly runner: JobRunnerService
}

/** The host's big-integer kernels (the `BigIntKernels` service). */
export const kernels: Effect.Effect<BigIntKernels> = Kernels.BigIntKernels

/** The jobs vertical training and prediction run (in the host's pool, or inline), by name. */
export const jobs = (k: BigIntKernels, policy: KeySizePolicy) => ({ ...PaillierJobs.makePaillierJobs(k, policy), ...ThresholdJobs.makeThresholdJobs(k, policy) })

const runner = paillierRunner(jobs)

/**
 * The host's worker pool when it has one and the key is of a production size (the pool's jobs refuse test
 * sizes); else the same jobs inline.
 */
export const engine = (tpk: ThresholdPublicKey, policy: KeySizePolicy): Effect.Effect<Engine> =>
  Effect.map(runner(policy), ({ kernels, runner }) => ({ tpk, pk: tpk.publicKey, kernels, runner }))

const chunked = <A>(xs: ReadonlyArray<A>, parts: number): Array<Array<A>> => {
  const size = Math.max(1, Math.ceil(xs.length / Math.max(1, parts)))
  const out: Array<Array<A>> = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}

export class ComputeFailure extends Error {}

const run = (e: Engine, job: string, inputs: ReadonlyArray<Uint8Array>) =>
  Effect.mapError(e.runner.runAll(job, inputs), (error) => new ComputeFailure(error.message))

/**
 * Encryption randomness of one key made ahead of need (Paillier's offline/online split): the h_s^r factors of a
 * party's next encryptions, drawn by the pool's workers in time no other job wants (`JobRunnerService.runIdle`),
 * so that an encryption on a round's critical path is one multiplication, (1 + mN)·h_s^r mod N². Each value is
 * drawn from the CSPRNG exactly as `Randomness.automatic` draws an encryption's own (a fresh r of the key's
 * randomness bits), kept in this party's memory only, and taken once: `take` removes it (never reused).
 *
 * Why never reused and never stored: two ciphertexts sharing ρ give away the difference of their plaintexts
 * (c₁·c₂⁻¹ = (1+N)^(m₁−m₂)), and whoever holds a ρ strips it from its ciphertext (c·ρ⁻¹ = 1 + mN), so an unused
 * value is as secret as the plaintext it will hide. A stock therefore lives in one attempt's memory; a resumed
 * attempt, dealt new keys anyway, starts a new one at its keys stage (Training.ts).
 */
export interface Stock {
  readonly pool: Randomness.RandomnessPool
  /** How many values the stock holds when full. */
  readonly target: number
  /** Whether a refill is running (one at a time per stock). */
  filling: boolean
  /**
   * Encryptions offered this stock (`encryptSigned`): how many took their randomness from it, and how many found it
   * empty and drew their own.
   */
  readonly draws: { taken: number; missed: number }
}

export const stock = (pk: PublicKey, target: number): Stock => ({ pool: new Randomness.RandomnessPool(pk), target, filling: false, draws: { taken: 0, missed: 0 } })

/** Values per idle job: at 2048 bits ≈ 5 ms of a worker, the longest a job arriving meanwhile waits for it (fewer would
 * cost more in messages and decoding than they save in waiting). */
const STOCK_CHUNK = 8

/**
 * Tops `stock` up to its target, or to `need` if fewer, in the background (with `owner`, the private key of `e.pk`, by CRT), one small idle-time job at a time, and returns at once. Where
 * the runner has no time to spare (no `runIdle`) nothing is made and encryptions draw their randomness as before;
 * a refill that fails stops, leaving the stock as it is (encryptions then fall back the same way).
 */
export const refill = (e: Engine, s: Stock, options: { readonly owner?: PrivateKey; readonly need?: number } = {}): Effect.Effect<void> => {
  const runIdle = e.runner.runIdle
  // Never more than the rest of the task will take (`need`): what is left at the end is work thrown away.
  const target = Math.min(s.target, options.need ?? s.target)
  const owner = options.owner
  if (runIdle === undefined || s.filling || s.pool.size >= target || !sameModulus(s.pool.publicKey, e.pk)) return Effect.void
  s.filling = true
  // The key's holder (the label holder's judge key) draws by CRT, as its encryptions in the pool do.
  const [job, input] = owner === undefined
    ? [PaillierJobs.JobNames.randomnessBatch, PaillierJobs.randomnessBatchInput(e.pk, STOCK_CHUNK)]
    : [PaillierJobs.JobNames.randomnessBatchAsOwner, PaillierJobs.randomnessBatchAsOwnerInput(owner, STOCK_CHUNK)]
  const loop: Effect.Effect<void, unknown> = Effect.suspend(() =>
    s.pool.size >= target
      ? Effect.void
      : Effect.flatMap(runIdle(job, input.slice()), (bytes) => {
        s.pool.add(PaillierSerialization.decodeComputedRandomness(e.pk, bytes))
        return loop
      }))
  return Effect.asVoid(Effect.forkDetach(Effect.ensuring(Effect.ignore(loop), Effect.sync(() => (s.filling = false)))))
}

const sameModulus = (a: PublicKey, b: PublicKey) => a === b || a.n === b.n

/**
 * Encrypts signed integers (|x| < N/2): as many as `stock` holds values for on this thread, one multiplication
 * each, and the rest across the pool; with `owner`, the private key of `e.pk` (the SVM label holder's judge key),
 * each worker draws h_s^r by CRT on tables half as costly as the public key's.
 */
export const encryptSigned = (e: Engine, values: ReadonlyArray<bigint>, owner?: PrivateKey, s?: Stock): Effect.Effect<Array<Paillier.Ciphertext>, ComputeFailure> =>
  Effect.gen(function*() {
    if (values.length === 0) return []
    const all = values.map((v) => Paillier.toResidue(e.pk, v))
    const ready = s === undefined || !sameModulus(s.pool.publicKey, e.pk) ? 0 : Math.min(s.pool.size, all.length)
    const online = all.slice(0, ready).map((m) => Paillier.encrypt(e.pk, m, () => s!.pool.take()))
    if (s !== undefined) {
      s.draws.taken += ready
      s.draws.missed += all.length - ready
    }
    if (ready === all.length) return online
    const residues = chunked(all.slice(ready), e.runner.size)
    const outs = owner === undefined
      ? yield* run(e, PaillierJobs.JobNames.encryptBatch, residues.map((ms) => PaillierJobs.encryptBatchInput(e.pk, ms)))
      : yield* run(e, PaillierJobs.JobNames.encryptBatchAsOwner, residues.map((ms) => PaillierJobs.encryptBatchAsOwnerInput(owner, ms)))
    return [...online, ...outs.flatMap((bytes) => PaillierSerialization.decodeComputedCiphertexts(e.pk, bytes))]
  })

/**
 * Π_i c_i^(k_i) (signed k_i) for each group of terms, one pool job per group, off the protocol thread (which every
 * party of an in-process run shares). A group is not split over workers: each part would repeat the squarings.
 */
export const linearCombinations = (
  e: Engine,
  groups: ReadonlyArray<ReadonlyArray<readonly [Paillier.Ciphertext, bigint]>>
): Effect.Effect<Array<Paillier.Ciphertext>, ComputeFailure> =>
  Effect.map(
    run(e, PaillierJobs.JobNames.linearCombination, groups.map((terms) => PaillierJobs.linearCombinationInput(e.pk, terms))),
    (outs) => outs.map((bytes) => PaillierSerialization.decodeComputedCiphertexts(e.pk, bytes)[0]!)
  )

/**
 * The proof slot of a batch its maker decrypts for itself (a round sealed to the party that made the batch): it
 * keeps the batch and combines it with the other parties' checked batches (Party.collectPartials); the batch is
 * never sent, so a proof there would be computed and never read. Not a proof: a = 1 fails every check.
 */
export const UNPROVED = { a: 1n, b: 1n, z: 0n } as const

/**
 * This party's partial decryptions of a round's ciphertexts with one proof for all of them
 * (ThresholdPaillier.ts "Batched proof"): the values in parallel chunks across the pool, then one proof job —
 * none with `prove: false`, for a batch only its maker will combine (UNPROVED).
 */
export const partialDecrypt = (e: Engine, share: KeyShare, cs: ReadonlyArray<Paillier.Ciphertext>, options: { readonly prove?: boolean } = {}): Effect.Effect<PartialDecryptionBatch, ComputeFailure> =>
  Effect.gen(function*() {
    const outs = yield* run(e, ThresholdJobs.JobNames.partialDecryptValues, chunked(cs, e.runner.size).map((c) => ThresholdJobs.partialDecryptValuesInput(share, c)))
    const values = outs.flatMap((bytes) => ThresholdJobs.decodeValues(e.tpk, bytes))
    if (options.prove === false) return { _tag: "ThresholdPaillierPartialDecryptionBatch", index: share.index, values, proof: UNPROVED }
    const [proved] = yield* run(e, ThresholdJobs.JobNames.proveBatch, [ThresholdJobs.proveBatchInput(share, cs, values)])
    return ThresholdSerialization.decodePartialDecryptionBatch(e.tpk, proved!)
  })

/**
 * One flag per batch (one party's partials of all of `cs`): every batch's proof in one randomized test (one pool
 * job whose cost is about one batch's check, ThresholdPaillier.ts "Several parties' batches at once"); only when
 * that fails, each batch on its own, in parallel across the pool, to name the parties whose proofs fail.
 */
export const verify = (e: Engine, cs: ReadonlyArray<Paillier.Ciphertext>, batches: ReadonlyArray<PartialDecryptionBatch>): Effect.Effect<Array<boolean>, ComputeFailure> =>
  Effect.gen(function*() {
    if (cs.length === 0 || batches.length === 0) return batches.map(() => false)
    const encoded = batches.map((b) => ThresholdSerialization.encodePartialDecryptionBatch(e.tpk, b))
    const passed = (bytes: Uint8Array | undefined) => bytes !== undefined && bytes.length === 1 && bytes[0] === 1
    if (batches.length > 1) {
      const [together] = yield* run(e, ThresholdJobs.JobNames.verifyBatchProofs, [ThresholdJobs.verifyBatchProofsInput(e.tpk, cs, encoded)])
      if (passed(together)) return batches.map(() => true)
    }
    const outs = yield* run(e, ThresholdJobs.JobNames.verifyBatchProof, encoded.map((b) => ThresholdJobs.verifyBatchProofInput(e.tpk, cs, b)))
    return outs.map(passed)
  })

export const encodeCiphertexts = (pk: PublicKey, cs: ReadonlyArray<Paillier.Ciphertext>): Uint8Array => PaillierSerialization.encodeCiphertexts(pk, cs)
export const decodeCiphertexts = (pk: PublicKey, bytes: Uint8Array): Array<Paillier.Ciphertext> => PaillierSerialization.decodeCiphertexts(pk, bytes)
export const encodePartials = (tpk: ThresholdPublicKey, batch: PartialDecryptionBatch): Uint8Array => ThresholdSerialization.encodePartialDecryptionBatch(tpk, batch)
export const decodePartials = (tpk: ThresholdPublicKey, bytes: Uint8Array): PartialDecryptionBatch => ThresholdSerialization.decodePartialDecryptionBatch(tpk, bytes)

/**
 * What a party encrypts for row `row` of the batch in the SVM's score stage: its judge value already moved to
 * the row's slot, v·2^(w·(row mod slots)) (a public shift of the same value under the same key), so that the
 * blinding below packs rows by multiplying ciphertexts rather than by 2^w-powers of them.
 */
export const judgeRow = (layout: Packing.Layout, row: number, value: bigint): bigint => value << BigInt(layout.slotBits * (row % layout.slots))

/**
 * One party's share of the judge blinding (PROTOCOLS.md §6.3 (2), per slot): every row's ciphertext [[v_j]],
 * encrypted already in its slot (`judgeRow`), is raised to its own secret ρ_j ∈ [2^κ, 2^(κ+1)) and the rows of
 * a ciphertext multiplied together (Π_i [[v_i·2^(w·i)]]^(ρ_i): a multi-exponentiation of κ-bit exponents in the pool, no
 * squarings to move a row to its slot), and the packed η_j ∈ [0, ρ_j) are added as a fresh encryption, which
 * re-randomises the result. The parties blind the same rows side by side and their outputs are summed, so slot
 * j decrypts to (Σ_p ρ_j^p)·v_j + Σ_p η_j^p: the sign of v_j, under a factor no other slot shares.
 */
export const blindPacked = (e: Engine, layout: Packing.Layout, kappa: number, cs: ReadonlyArray<Paillier.Ciphertext>, stock?: Stock) =>
  Effect.gen(function*() {
    const low = 1n << BigInt(kappa)
    const rhos = cs.map(() => low + randomBelow(low))
    const groups: Array<Array<readonly [Paillier.Ciphertext, bigint]>> = []
    const etas: Array<bigint> = []
    for (let start = 0; start < cs.length; start += layout.slots) {
      const group = rhos.slice(start, start + layout.slots)
      groups.push(group.map((rho, i) => [cs[start + i]!, rho] as const))
      etas.push(Packing.pack(layout, group.map((rho) => randomBelow(rho))))
    }
    const [packed, noise] = yield* Effect.all([linearCombinations(e, groups), encryptSigned(e, etas, undefined, stock)], { concurrency: "unbounded" })
    return packed.map((c, i) => Paillier.add(c, noise[i]!))
  })

/** Slot-wise sum of several parties' ciphertext lists (public: anyone holding the ciphertexts may compute it). */
export const sumLists = (lists: ReadonlyArray<ReadonlyArray<Paillier.Ciphertext>>): Array<Paillier.Ciphertext> =>
  lists[0]!.map((_, i) => Paillier.sum(lists.map((l) => l[i]!)))

/**
 * Combines verified batches (at least t of them, each covering all of `cs`; `verify: false` because the caller
 * has checked every batch proof already) into the signed plaintexts of the ciphertexts at `which` (default all).
 */
export const combineAll = (e: Engine, cs: ReadonlyArray<Paillier.Ciphertext>, batches: ReadonlyArray<PartialDecryptionBatch>, which: ReadonlyArray<number> = cs.map((_, i) => i)): Array<bigint> => {
  const partials = batches.map(Threshold.unbatch)
  return which.map((i) => Paillier.toSigned(e.pk, Threshold.combine(e.tpk, cs[i]!, partials.map((p) => p[i]!), { verify: false, kernels: e.kernels })))
}

/** A uniform mask of `bits` bits (CSPRNG). */
export const mask = (bits: number): bigint => randomBits(bits)
