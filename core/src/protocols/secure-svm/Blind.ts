/**
 * Mode B's batched sign-hidden comparison (PROTOCOLS.md §5.4 Mode B, the per-value form of
 * crypto/comparison/SecureComparison.ts), packed so the analyst decrypts one ciphertext per `slots` margins.
 *
 * For row i (features x_i at scale S, label y_i, s_i ∈ {±1}, r1_i ∈ [2^κ, 2^(κ+1)), r'_i ∈ [0, r1_i)):
 *   [[s_i·a_i]] = Π_k [[w_k]]^(s_i·y_i·x_ik) · [[b]]^(s_i·y_i)         (linear form, §4; fixed-base tables per [[w_k]])
 *   z_i = s_i·(r1_i·u_i + r'_i),  u_i = 2(a_i − θ) + 1                  (θ = S² for "a < 1", 0 for "score < 0")
 *       = 2r1_i·(s_i·a_i) + s_i·(r1_i·(1 − 2θ) + r'_i)
 *   [[Z]] = Σ_i 2^(W·i)·z_i by Horner over ciphertexts: acc ← acc^(2^W) · [[s_i·a_i]]^(2·r1_i), then one
 *   plaintext addition of Σ_i 2^(W·i)·s_i·(r1_i(1 − 2θ) + r'_i) and one re-randomisation per packed ciphertext.
 * The slot width W comes from the analyst (who alone knows ‖w‖₁ and |b|) and is checked against N here
 * (Packing.layout); the analyst decrypts, unpacks and returns β_i = [z_i < 0]; the provider sets
 * I_i = β_i XOR [s_i = −1] = [a_i < θ] (u is odd, so z_i ≠ 0 and its sign is exact at a = θ).
 *
 * Work per row: d fixed-base exponentiations of ~(scaleBits + 5)-bit exponents (window 4), one 2κ-bit
 * exponentiation and W squarings mod N²; per `slots` rows: one re-randomisation and one decryption. With a
 * native multi-exponentiation (`BigIntKernels.multiExp`) a row's margin is one multiExp over [[b]]^(±1) and the
 * [[w_k]]^(±1) — or, where the kernel has `multiExpTable`, over [[w_k]], [[b]] and one correction with offset
 * exponents on window tables built once per model (`offsetTablesOf`: no inverses) — and a chunk's Horner packing one
 * multiExp over its margins (the same squarings) with the re-randomisation h_s^r as one more base. Where inverses are
 * needed, the model's d + 1 cost one modInverse (Montgomery's trick). The per-row margins stay in the job: the provider's hinge sum is a linear form over [[w]] (participant.ts).
 */
import { Schema } from "effect"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { randomBits, randomStream } from "../../compute/Primes.ts"
import { batchInverse, tsKernels } from "../../compute/TsKernels.ts"
import * as JobCodec from "../../compute/JobCodec.ts"
import * as Comparison from "../../crypto/comparison/SecureComparison.ts"
import * as Bytes from "../../crypto/paillier/Bytes.ts"
import { bitLength, sha256Hex } from "../../crypto/paillier/Bytes.ts"
import * as FixedBase from "../../crypto/paillier/FixedBase.ts"
import { keyCache, makePaillierJobs } from "../../crypto/paillier/Jobs.ts"
import type { KeySizePolicy, PrivateKey, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"

export const JobNames = { blindCompare: "svm.blind-compare" } as const

const TABLE_WINDOW = 4

/**
 * What a worker keeps of one encrypted model for exponents below 2^exponentBits in absolute value: [[w_k]], [[b]]
 * and either, with a kernel's `multiExpTable`, `margin` on window tables built once per model, or [[w_k]]^(−1),
 * [[b]]^(−1) and, where the kernel has no native multi-exponentiation, the portable fixed-base tables of both
 * (with one, a row's margin is a single `multiExp` over these values: no tables to build).
 */
export interface ModelTables {
  readonly exponentBits: number
  readonly weights: ReadonlyArray<bigint>
  readonly inverses?: ReadonlyArray<bigint>
  readonly tables?: { readonly positive: ReadonlyArray<FixedBase.FixedBaseTable>; readonly negative: ReadonlyArray<FixedBase.FixedBaseTable> }
  readonly bias: bigint
  readonly biasInverse?: bigint
  /** With a kernel's `multiExpTable`: Π [[w_k]]^(e_k) · [[b]]^(e_b) mod N² for signed e_k (|e_k| < 2^exponentBits), e_b = ±1. */
  readonly margin?: (exponents: ReadonlyArray<bigint>, biasExponent: bigint) => bigint
}

export const modelTables = (
  pk: PublicKey,
  model: ReadonlyArray<Paillier.Ciphertext>,
  exponentBits: number,
  kernels: BigIntKernels = tsKernels,
  /** The model's d + 1 inverses mod N², when the caller inverted several models at once (`modelTablesOf`). */
  modelInverses?: ReadonlyArray<bigint>
): ModelTables => {
  const n2 = pk.n2
  const d = model.length - 1
  // Whole windows: a table serves every exponent up to its window count, so round up and share it more often.
  const bits = Math.ceil(exponentBits / TABLE_WINDOW) * TABLE_WINDOW
  const weights = model.slice(0, d).map((c) => c.value)
  const bias = model[d]!.value
  // One modInverse for the model (Montgomery's trick): the kernels' modInverse mod N² is a BigInt extended
  // Euclid, and d + 1 of them per model and worker had cost as much as a round's margins.
  const allInverses = modelInverses ?? batchInverse([...weights, bias], n2, kernels)
  if (allInverses.length !== d + 1) throw new RangeError(`${allInverses.length} inverses for a ${d + 1}-ciphertext model`)
  const inverses = allInverses.slice(0, d)
  const biasInverse = allInverses[d]!
  return {
    exponentBits: kernels.multiExp !== undefined ? Number.POSITIVE_INFINITY : bits,
    weights,
    inverses,
    ...(kernels.multiExp !== undefined ? {} : {
      tables: {
        positive: weights.map((w) => FixedBase.build(w, n2, bits, TABLE_WINDOW)),
        negative: inverses.map((w) => FixedBase.build(w, n2, bits, TABLE_WINDOW))
      }
    }),
    bias,
    biasInverse
  }
}

/**
 * `ModelTables` on a kernel's window tables without the model's inverses: with B = 2^exponentBits and the
 * correction C = [[b]]·Π [[w_k]]^B, a margin is C^(−1) · [[b]]^(e_b + 1) · Π [[w_k]]^(e_k + B), every exponent ≥ 0
 * and one bit longer. So the tables hold d + 2 bases a model instead of 2d + 2 (the inverses' half was built by
 * both workers every round), and a job inverts one C per copy instead of every ciphertext (Montgomery's trick
 * over 3(d + 1) values had cost ~3(d + 1) BigInt products mod N² of ~45 µs each). Same residues as before.
 */
const offsetTablesOf = (
  pk: PublicKey,
  models: ReadonlyArray<ReadonlyArray<Paillier.Ciphertext>>,
  exponentBits: number,
  kernels: BigIntKernels & { readonly multiExp: NonNullable<BigIntKernels["multiExp"]>; readonly multiExpTable: NonNullable<BigIntKernels["multiExpTable"]> }
): Array<ModelTables> => {
  const n2 = pk.n2
  const offset = 1n << BigInt(exponentBits)
  const values = models.map((m) => m.map((c) => c.value))
  const corrections = values.map((v) => kernels.multiExp(v, v.map((_, k) => (k === v.length - 1 ? 1n : offset)), n2))
  const inverses = batchInverse(corrections, n2, kernels)
  return values.map((v, g) => {
    const d = v.length - 1
    const table = kernels.multiExpTable([inverses[g]!, ...v], n2, exponentBits + 1)
    return {
      exponentBits,
      weights: v.slice(0, d),
      bias: v[d]!,
      margin: (exponents, biasExponent) => {
        if (exponents.length !== d) throw new RangeError(`${exponents.length} exponents for a ${d}-weight model`)
        return table([1n, ...exponents.map((e) => e + offset), biasExponent + 1n])
      }
    }
  })
}

/**
 * `modelTables` of the model and its shifted copies with one modInverse for all of them (Montgomery's trick
 * across the copies too): a BigInt modInverse mod N² costs ~2 ms, and each copy had paid its own in every job
 * that met a new model — 3 per round and worker, a tenth of the compare stage's CPU outside the margins.
 */
export const modelTablesOf = (pk: PublicKey, models: ReadonlyArray<ReadonlyArray<Paillier.Ciphertext>>, exponentBits: number, kernels: BigIntKernels = tsKernels): Array<ModelTables> => {
  const { multiExp, multiExpTable } = kernels
  if (multiExp !== undefined && multiExpTable !== undefined) return offsetTablesOf(pk, models, exponentBits, { ...kernels, multiExp, multiExpTable })
  const inverses = batchInverse(models.flatMap((m) => m.map((c) => c.value)), pk.n2, kernels)
  let at = 0
  return models.map((m) => modelTables(pk, m, exponentBits, kernels, inverses.slice(at, (at += m.length))))
}

export interface BlindInput {
  readonly publicKey: Uint8Array
  /** [[w_1]] … [[w_d]], [[b]]. */
  readonly model: Uint8Array
  /** The analyst's shifted copies (EncryptedModel.shifted; empty for none). */
  readonly shifted: Uint8Array
  /** Row-major y_i·x_ik (scale S), count × d. */
  readonly rows: ReadonlyArray<bigint>
  /** y_i (all +1 when scoring test rows). */
  readonly labels: ReadonlyArray<number>
  readonly theta: bigint
  readonly kappa: number
  readonly slotBits: number
}

export interface BlindOutput {
  /** Packed [[Z]] per chunk of `slots` rows. */
  readonly packed: ReadonlyArray<Paillier.Ciphertext>
  /** s_i = −1, per row. */
  readonly flips: Uint8Array
  readonly exponentiations: number
}

/**
 * Where ρ comes from: OpenSSL through Diffie–Hellman contexts computes h_s^r about as fast as the portable
 * fixed-base table (Randomness.ts), which would cost ~30,000 multiplications mod N² to build per key and thread,
 * so it draws directly; every other kernel takes `automatic` (the table after a few draws: the kernel's own
 * native table where it has one, several times faster than a direct draw).
 */
export const randomnessFor = (pk: PublicKey, kernels: BigIntKernels): Randomness.RandomnessSource =>
  kernels.name === "node-openssl-dh" ? Randomness.direct(pk, kernels) : Randomness.automatic(pk, kernels)

/**
 * The analyst's source for the encrypted model: G·(d + 1) encryptions every round under its own key, so a kernel
 * that keeps native tables gets them at once rather than after `automatic`'s 24 direct draws of ~4 ms, which sit on
 * the round's critical path; and as the key's holder it builds them mod p² and q² (`Randomness.withFactors`: the
 * same h_s^r, half the table build and half the draw); other kernels as `randomnessFor`.
 */
export const modelRandomnessFor = (sk: PrivateKey, kernels: BigIntKernels): Randomness.RandomnessSource =>
  kernels.fixedBase !== undefined ? Randomness.withFactors(sk, kernels) : randomnessFor(sk.publicKey, kernels)

export const layoutFor = (pk: PublicKey, slotBits: number): Packing.Layout => Packing.layout(pk, { valueBits: slotBits - 1 })

/**
 * Slot groups of a packed chunk: the analyst sends the model also multiplied by 2^(W·m·g) for g = 1 … G − 1
 * (m = ⌈slots/G⌉ slots a group), so a row in slot g·m + q takes its margin from copy g and needs only q slot
 * shifts: a chunk's Horner packing costs W·(m − 1) squarings instead of W·(slots − 1), for (G − 1)·(d + 1) more
 * encryptions by the analyst per round. Three groups cut the packing's squarings by two thirds.
 */
export const SLOT_GROUPS = 3

/** Slots a group for G groups: ⌈slots/G⌉; G is usable when every group holds a slot ((G − 1)·m < slots). */
const perGroupOf = (layout: Packing.Layout, groups: number): number => Math.ceil(layout.slots / groups)
const usable = (layout: Packing.Layout, groups: number): boolean => groups >= 1 && (groups - 1) * perGroupOf(layout, groups) < layout.slots

/** The analyst's choice: up to SLOT_GROUPS groups, each holding at least one slot. */
export const groupsOf = (layout: Packing.Layout): { readonly groups: number; readonly perGroup: number } => {
  let groups = Math.max(1, Math.min(SLOT_GROUPS, layout.slots))
  while (!usable(layout, groups)) groups--
  return { groups, perGroup: perGroupOf(layout, groups) }
}

/**
 * The analyst's copies 2^(W·m·g)·(w, b) for g = 1 … G − 1, as `groupsOf` picks G; each fits below N/2 because
 * slotBitsFor sized a slot for 2^(κ+1)·|u| ≥ |w_k|, |b| and g·m ≤ slots − 1 (encryptSigned refuses one that would not).
 */
export const shiftedCopies = (pk: PublicKey, values: ReadonlyArray<bigint>, slotBits: number, randomness: Randomness.RandomnessSource): Array<Array<Paillier.Ciphertext>> => {
  const { groups, perGroup } = groupsOf(layoutFor(pk, slotBits))
  return Array.from({ length: groups - 1 }, (_, g) => values.map((v) => Paillier.encryptSigned(pk, v << BigInt(slotBits * perGroup * (g + 1)), randomness)))
}

/** Granularity of `randomnessPowers`: h_s^(2^(64·i)), i = 0 … ⌈randomnessBits/64⌉ − 1. */
const POWER_STEP = 64

/**
 * h_s^(2^(64·i)) for the key's randomness exponents (≈ randomnessBits squarings, once per key and worker). With
 * them, h_s^r joins a packing multiExp as a few bases with exponents no longer than the slot exponents, so the
 * N/2-bit r no longer sets the multiExp's squaring count (W·(m − 1) + κ + 2 bits with slot groups, < N/2).
 */
export const randomnessPowers = (pk: PublicKey, kernels: BigIntKernels): Array<bigint> => {
  const powers = [pk.hs]
  for (let i = 1; i * POWER_STEP < pk.randomnessBits; i++) powers.push(kernels.modPow(powers[i - 1]!, 1n << BigInt(POWER_STEP), pk.n2))
  return powers
}

/** h_s^r as multiExp terms over `powers`: r cut into pieces of `spanBits` (rounded up to whole steps) bits. */
export const randomnessTerms = (powers: ReadonlyArray<bigint>, r: bigint, spanBits: number): { readonly bases: Array<bigint>; readonly exponents: Array<bigint> } => {
  const step = Math.max(1, Math.ceil(spanBits / POWER_STEP))
  const span = BigInt(step * POWER_STEP)
  const mask = (1n << span) - 1n
  const bases: Array<bigint> = []
  const exponents: Array<bigint> = []
  for (let j = 0, rest = r; rest > 0n; j++, rest >>= span) {
    if (j * step >= powers.length) throw new RangeError("randomness exponent longer than the powers cover")
    bases.push(powers[j * step]!)
    exponents.push(rest & mask)
  }
  return { bases, exponents }
}

/**
 * h_s^r mod N² for a given r < 2^randomnessBits over the key's `randomnessPowers`: one product of ⌈randomnessBits/64⌉
 * powers with 64-bit exponents (r's 64-bit digits), on window tables built once where the kernel has
 * `multiExpTable` — 64 squarings and ≈ randomnessBits/5 products a value (≈ 1 ms at 2048 bits) against ≈ 4 ms for
 * one exponentiation by r. Undefined without a native multiExp.
 */
export const powersPower = (pk: PublicKey, kernels: BigIntKernels, powers: ReadonlyArray<bigint> = randomnessPowers(pk, kernels)): ((r: bigint) => bigint) | undefined => {
  const multiExp = kernels.multiExp
  if (multiExp === undefined) return undefined
  if (powers.length * POWER_STEP < pk.randomnessBits) throw new RangeError("randomness powers shorter than the key's randomness exponents")
  const table = kernels.multiExpTable?.(powers, pk.n2, POWER_STEP)
  const mask = (1n << BigInt(POWER_STEP)) - 1n
  return (r) => {
    if (r < 0n || r >> BigInt(powers.length * POWER_STEP) !== 0n) throw new RangeError("randomness exponent outside the powers' range")
    const exponents = powers.map((_, i) => (r >> BigInt(i * POWER_STEP)) & mask)
    return table !== undefined ? table(exponents) : multiExp(powers, exponents, pk.n2)
  }
}

/**
 * A provider's source for its pad encryptions (`b-indicators`, one or two a round and task): `powersPower` at a
 * fresh r of randomnessBits bits, as `direct` draws it (same values, same distribution). A provider makes too few
 * draws for `automatic`'s table to pay (its first 24 are direct exponentiations of ≈ 4 ms on the round's
 * single-threaded path); `randomnessFor` where the kernel has no multiExp.
 */
export const padRandomnessFor = (pk: PublicKey, kernels: BigIntKernels): Randomness.RandomnessSource => {
  const power = kernels.name === "node-openssl-dh" ? undefined : powersPower(pk, kernels)
  return power === undefined ? randomnessFor(pk, kernels) : () => power(randomBits(pk.randomnessBits))
}

/** The groups a provider reads off the copies it got (1 + copies/(d + 1)); RangeError when they cannot be. */
export const groupsFromCopies = (layout: Packing.Layout, copies: number, d: number): { readonly groups: number; readonly perGroup: number } => {
  if (copies % (d + 1) !== 0) throw new RangeError(`${copies} shifted ciphertexts do not make whole copies of a ${d + 1}-ciphertext model`)
  const groups = 1 + copies / (d + 1)
  if (!usable(layout, groups)) throw new RangeError(`${groups} slot groups do not fit ${layout.slots} slots`)
  return { groups, perGroup: perGroupOf(layout, groups) }
}

/**
 * The analyst's slot width for a model: |a| ≤ Σ|w_k|·xMax + |b| (integers at S²), u and the blinding as in
 * SecureComparison (|z| < 2^(κ+1)·(|u| + 1)). Throws ComparisonError("HeadroomExceeded") or
 * PaillierError("PackingOverflow") when one slot would not fit.
 */
export const slotBitsFor = (pk: PublicKey, weights: ReadonlyArray<bigint>, bias: bigint, maxFeature: bigint, scaleSquared: bigint, kappa: number): number => {
  const abs = (x: bigint) => (x < 0n ? -x : x)
  const maxAbsA = weights.reduce((s, w) => s + abs(w) * maxFeature, abs(bias))
  const maxAbsU = Comparison.maxAbsU(maxAbsA, scaleSquared)
  Comparison.checkHeadroom(pk, maxAbsU, 1, kappa)
  const slotBits = bitLength((maxAbsU + 1n) << BigInt(kappa + 1)) + 1
  layoutFor(pk, slotBits)
  return slotBits
}

/** The provider's blinding, for one job's rows (a whole number of chunks). */
export const blindCompare = (
  pk: PublicKey,
  model: ReadonlyArray<Paillier.Ciphertext>,
  input: Omit<BlindInput, "publicKey" | "model" | "shifted"> & {
    /** The analyst's copies g = 1 … G − 1 (`groupsOf`), each d + 1 ciphertexts; used with a native multiExp only. */
    readonly shifted?: ReadonlyArray<ReadonlyArray<Paillier.Ciphertext>>
  },
  kernels: BigIntKernels = tsKernels,
  /** Tables of this very model (and copies) from an earlier job (the worker caches them by the models' digest). */
  cached?: ReadonlyArray<ModelTables>,
  /** `randomnessPowers` of this key (a native multiExp takes h_s^r over them; h_s alone otherwise). */
  powers?: ReadonlyArray<bigint>
): BlindOutput & { readonly tables: ReadonlyArray<ModelTables> } => {
  const n2 = pk.n2
  const d = model.length - 1
  const count = input.labels.length
  if (input.rows.length !== count * d) throw new RangeError(`expected ${count}×${d} row entries, got ${input.rows.length}`)
  const layout = layoutFor(pk, input.slotBits)
  const w = BigInt(layout.slotBits)
  const shift = 1n << w
  let exponentBits = 1
  for (const e of input.rows) exponentBits = Math.max(exponentBits, bitLength(e < 0n ? -e : e))
  const native = kernels.multiExp
  // Portable kernels pack by Horner over the unshifted model alone (the copies save squarings in a multiExp only).
  const models = [model, ...(native !== undefined ? input.shifted ?? [] : [])]
  for (const copy of models) if (copy.length !== d + 1) throw new RangeError(`a model copy of ${copy.length} ciphertexts, expected ${d + 1}`)
  const { perGroup } = native !== undefined ? groupsFromCopies(layout, (models.length - 1) * (d + 1), d) : { perGroup: layout.slots }
  const reuse = cached !== undefined && cached.length === models.length &&
    cached.every((t) => t.exponentBits >= exponentBits && t.weights.length === d && (native !== undefined || t.tables !== undefined))
  const tableList = reuse ? cached : modelTablesOf(pk, models, exponentBits, kernels)
  let exponentiations = reuse || tableList[0]!.tables === undefined ? 0 : 2 * d * Math.ceil(tableList[0]!.exponentBits / TABLE_WINDOW) // table builds, in window units
  // Without a native multiExp each packed ciphertext is re-randomised by a fresh ρ from `randomnessFor`; with
  // one, ρ = h_s^r (r fresh, as Randomness.direct draws it) joins the chunk's multiExp as one more base, where
  // it shares the packing's squarings: no separate ~1,000-bit exponentiation, and no per-worker table to build.
  const randomness = native === undefined ? randomnessFor(pk, kernels) : undefined
  // Signs, r1, r' and r for the whole job from 64 KiB CSPRNG blocks: one getRandomValues call per draw had cost
  // ~4 calls (~15 µs each) a row, a tenth of the job.
  const random = randomStream()
  const flips = new Uint8Array(count)
  const packedValues: Array<bigint> = []
  const constants: Array<bigint> = []
  const kappa = BigInt(input.kappa)
  const oneMinusTwoTheta = 1n - 2n * input.theta
  for (let start = 0; start < count; start += layout.slots) {
    const end = Math.min(count, start + layout.slots)
    let acc = 1n
    let constant = 0n
    // Native: the chunk's margins and their slot exponents 2r1_i·2^(W·(i − start)), packed in one multiExp.
    const margins: Array<bigint> = []
    const slotExponents: Array<bigint> = []
    for (let i = end - 1; i >= start; i--) {
      // Slot i − start = g·perGroup + q: the margin from copy g (2^(W·perGroup·g) times it), shifted q slots more.
      const group = Math.floor((i - start) / perGroup)
      const q = i - start - group * perGroup
      const tables = tableList[group]!
      const { weights, bias } = tables
      const s = random.sign()
      flips[i] = s === -1n ? 1 : 0
      const y = BigInt(input.labels[i]!)
      const { margin, inverses, biasInverse } = tables
      let c: bigint
      if (margin !== undefined) {
        const exponents = new Array<bigint>(d)
        for (let k = 0; k < d; k++) exponents[k] = s * input.rows[i * d + k]!
        c = margin(exponents, s * y)
      } else if (inverses === undefined || biasInverse === undefined) {
        throw new RangeError("model tables with neither a margin table nor the model's inverses")
      } else if (native !== undefined) {
        c = s * y > 0n ? bias : biasInverse
        const bases = [c]
        const exponents = [1n]
        for (let k = 0; k < d; k++) {
          const e = s * input.rows[i * d + k]!
          if (e !== 0n) {
            bases.push(e > 0n ? weights[k]! : inverses[k]!)
            exponents.push(e > 0n ? e : -e)
          }
        }
        c = native(bases, exponents, n2)
      } else {
        c = s * y > 0n ? bias : biasInverse
        const { positive, negative } = tables.tables!
        for (let k = 0; k < d; k++) {
          const e = s * input.rows[i * d + k]!
          if (e > 0n) c = (c * FixedBase.pow(positive[k]!, e)) % n2
          else if (e < 0n) c = (c * FixedBase.pow(negative[k]!, -e)) % n2
        }
      }
      const r1 = (1n << kappa) + random.bits(input.kappa)
      const r2 = random.below(r1)
      if (native !== undefined) {
        margins.push(c)
        slotExponents.push((2n * r1) << (w * BigInt(q)))
      } else {
        const blinded = kernels.modPow(c, 2n * r1, n2)
        acc = acc === 1n ? blinded : (kernels.modPow(acc, shift, n2) * blinded) % n2
      }
      constant = (constant << w) + s * (r1 * oneMinusTwoTheta + r2)
      exponentiations += d + (i === end - 1 ? 1 : 2)
    }
    if (native !== undefined) {
      const r = random.bits(pk.randomnessBits)
      const span = slotExponents.reduce((m, e) => Math.max(m, bitLength(e)), 1)
      const rho = powers === undefined ? { bases: [pk.hs], exponents: [r] } : randomnessTerms(powers, r, span)
      acc = native([...margins, ...rho.bases], [...slotExponents, ...rho.exponents], n2)
    }
    packedValues.push(acc)
    constants.push(constant)
  }
  // Products of the model's ciphertexts (and of h_s), valid by construction: a range pass, no gcd.
  const packed = Paillier.computedCiphertexts(pk, packedValues).map((c, j) => {
    const plain = Paillier.addPlain(c, constants[j]!)
    return randomness === undefined ? plain : Paillier.rerandomize(plain, randomness)
  })
  return { packed, flips, exponentiations, tables: tableList }
}

/** Analyst: β_i = [z_i < 0] from the decrypted packed plaintexts (signed residues). */
export const signs = (layout: Packing.Layout, plaintexts: ReadonlyArray<bigint>, pk: PublicKey, count: number): Uint8Array => {
  const beta = new Uint8Array(count)
  let i = 0
  for (const m of plaintexts) {
    const slots = Packing.unpack(layout, Paillier.toSigned(pk, m), Math.min(layout.slots, count - i))
    for (const z of slots) beta[i++] = z < 0n ? 1 : 0
  }
  if (i !== count) throw new RangeError(`decoded ${i} comparisons, expected ${count}`)
  return beta
}

export const packBits = (bits: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(bits.length / 8))
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7)
  })
  return out
}

export const unpackBits = (bytes: Uint8Array, count: number): Uint8Array => {
  if (bytes.length !== Math.ceil(count / 8)) throw new RangeError(`expected ${Math.ceil(count / 8)} bytes for ${count} bits, got ${bytes.length}`)
  return Uint8Array.from({ length: count }, (_, i) => (bytes[i >> 3]! >> (i & 7)) & 1)
}

// ---------- as worker jobs (only bytes cross) ----------

const encodeInput = (input: BlindInput): Uint8Array =>
  JobCodec.encode({
    publicKey: input.publicKey,
    model: input.model,
    rows: [...input.rows],
    labels: [...input.labels],
    theta: input.theta,
    kappa: input.kappa,
    slotBits: input.slotBits,
    shifted: input.shifted
  })

export const blindCompareInput = encodeInput

/** What crosses the worker boundary, decoded by Schema on arrival (the job bytes are not trusted to have the shape). */
const BlindInputBytes = Schema.Struct({
  publicKey: Schema.Uint8Array,
  model: Schema.Uint8Array,
  rows: Schema.Array(Schema.BigInt),
  labels: Schema.Array(Schema.Number),
  theta: Schema.BigInt,
  kappa: Schema.Number,
  slotBits: Schema.Number,
  shifted: Schema.Uint8Array
})
const BlindOutputBytes = Schema.Struct({
  packed: Schema.Uint8Array,
  flips: Schema.Uint8Array,
  exponentiations: Schema.Number
})

/** Encrypted models whose tables a worker keeps: a round's jobs (every provider's, in one pool) share one [[w_t]]. */
const TABLE_CACHE_SIZE = 4

export const makeSecureSvmJobs = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}) => {
  const publicKeys = keyCache<PublicKey>((b) => Serialization.decodePublicKey(b, { ...policy, kernels }))
  const tables = new Map<string, ReadonlyArray<ModelTables>>()
  // Per decoded key (keyCache keeps the objects): the randomness powers, built on the key's first job here.
  const powers = new WeakMap<PublicKey, ReadonlyArray<bigint>>()
  return {
    [JobNames.blindCompare]: (bytes: Uint8Array): Uint8Array => {
      const v: BlindInput = Schema.decodeUnknownSync(BlindInputBytes)(JobCodec.decode(bytes))
      const pk = publicKeys(v.publicKey)
      // Keyed by the digest of key and model bytes together: a table is only valid for that very [[w]] mod N².
      const id = sha256Hex(Bytes.frames([v.publicKey, v.model, v.shifted]))
      // The provider validated the model and its copies before it made the job (participant.ts `compare`): each job
      // checks their framing, key and range, not the gcd again.
      const model = Serialization.decodeComputedCiphertexts(pk, v.model)
      const copies = v.shifted.length === 0 ? [] : Serialization.decodeComputedCiphertexts(pk, v.shifted)
      const shifted = Array.from({ length: Math.ceil(copies.length / model.length) }, (_, g) => copies.slice(g * model.length, (g + 1) * model.length))
      let keyPowers = powers.get(pk)
      if (keyPowers === undefined && kernels.multiExp !== undefined) powers.set(pk, (keyPowers = randomnessPowers(pk, kernels)))
      const out = blindCompare(pk, model, { ...v, shifted }, kernels, tables.get(id), keyPowers)
      tables.delete(id)
      tables.set(id, out.tables)
      if (tables.size > TABLE_CACHE_SIZE) tables.delete(tables.keys().next().value!)
      return JobCodec.encode({
        packed: Serialization.encodeCiphertexts(pk, out.packed),
        flips: out.flips,
        exponentiations: out.exponentiations
      })
    }
  }
}

export const decodeBlindOutput = (pk: PublicKey, bytes: Uint8Array): BlindOutput => {
  const v = Schema.decodeUnknownSync(BlindOutputBytes)(JobCodec.decode(bytes))
  return {
    // The provider's own job's output (products of checked ciphertexts): no gcd.
    packed: Serialization.decodeComputedCiphertexts(pk, v.packed),
    flips: v.flips,
    exponentiations: v.exponentiations
  }
}

/** The job table SecureSVM uses (its own job plus the Paillier batch jobs), for inline runs and worker registries. */
export const jobTable = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}) => ({
  ...makePaillierJobs(kernels, policy),
  ...makeSecureSvmJobs(kernels, policy)
})
