/**
 * Where an encryption's random factor ρ (an N-th residue, c = (1+mN)·ρ mod N²) comes from. Each source
 * returns a fresh ρ per call:
 *
 * - `direct`: h_s^r by one kernel exponentiation with a ⌈bits/2⌉-bit r (no setup);
 * - `fixedBase`: the same value from a precomputed table: the kernel's own where it has one (`fixedBase` of
 *   BigIntKernels: the Node backends keep it in native memory in Montgomery form), else core's portable
 *   FixedBase.ts table, ~10× faster than `direct` after a ~1 s build;
 * - `withFactors`: for the private key's holder, the same value as `fixedBase` from two half-width tables joined
 *   by CRT (about half the build and half the draw);
 * - `classic`: r^N with r uniform in Z*_N, textbook Paillier, for callers that do not want the DJN assumption;
 * - `automatic` (the default): direct for the first few draws of a key, then the table, so one-off
 *   encryptions never pay for the table and bulk encryption always gets it;
 * - `RandomnessPool`: values precomputed ahead of time (in idle slices or by worker jobs) so that the online
 *   cost of an encryption is one multiplication.
 */
import type { BigIntKernels, FixedBasePower } from "../../compute/Kernels.ts"
import * as KernelTables from "../../compute/KernelTables.ts"
import { randomBelow, randomBits } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import * as FixedBase from "./FixedBase.ts"
import type { PrivateKey, PublicKey } from "./Keys.ts"

export type RandomnessSource = () => bigint

export const direct = (pk: PublicKey, kernels: BigIntKernels = tsKernels): RandomnessSource => () =>
  kernels.modPow(pk.hs, randomBits(pk.randomnessBits), pk.n2)

export const classic = (pk: PublicKey, kernels: BigIntKernels = tsKernels): RandomnessSource => () => {
  for (;;) {
    const r = randomBelow(pk.n)
    // r shares a factor with N with negligible probability; skip 0 and 1 anyway.
    if (r > 1n) return kernels.modPow(r, pk.n, pk.n2)
  }
}

const tables = new WeakMap<PublicKey, FixedBase.FixedBaseTable>()

/** The key's portable fixed-base table, built on first use and kept as long as the key object lives. */
export const tableFor = (pk: PublicKey): FixedBase.FixedBaseTable => {
  let table = tables.get(pk)
  if (table === undefined) {
    table = FixedBase.build(pk.hs, pk.n2, pk.randomnessBits, FixedBase.defaultWindowBits(pk.bits * 2))
    tables.set(pk, table)
  }
  return table
}

const kernelTable = (pk: PublicKey, kernels: BigIntKernels) => KernelTables.tableOf(kernels, pk, pk.hs, pk.n2, pk.randomnessBits)

const hasTable = (pk: PublicKey, kernels: BigIntKernels): boolean =>
  kernels.fixedBase !== undefined ? KernelTables.hasTable(kernels, pk) : tables.has(pk)

/** A fresh h_s^r from the kernel's table where it has one, else from the key's portable table. */
const fromTable = (pk: PublicKey, kernels: BigIntKernels): bigint => {
  const native = kernelTable(pk, kernels)
  return native !== undefined ? native.powRandom() : FixedBase.powRandom(tableFor(pk))
}

export const fixedBase = (pk: PublicKey, kernels: BigIntKernels = tsKernels): RandomnessSource => {
  const native = kernelTable(pk, kernels)
  if (native !== undefined) return () => native.powRandom()
  const table = tableFor(pk)
  return () => FixedBase.powRandom(table)
}

interface FactorTables {
  readonly p: FixedBasePower
  readonly q: FixedBasePower
  /** (p²)⁻¹ mod q², for Garner's recombination. */
  readonly p2InvModQ2: bigint
}

const factorTables = new WeakMap<BigIntKernels, WeakMap<PrivateKey, FactorTables>>()

const factorTablesOf = (sk: PrivateKey, kernels: BigIntKernels & { readonly fixedBase: NonNullable<BigIntKernels["fixedBase"]> }): FactorTables => {
  let byKey = factorTables.get(kernels)
  if (byKey === undefined) factorTables.set(kernels, (byKey = new WeakMap()))
  let tablesOfKey = byKey.get(sk)
  if (tablesOfKey === undefined) {
    const { p2, q2, publicKey: pk } = sk
    tablesOfKey = {
      p: kernels.fixedBase(pk.hs % p2, p2, pk.randomnessBits),
      q: kernels.fixedBase(pk.hs % q2, q2, pk.randomnessBits),
      p2InvModQ2: kernels.modInverse(p2 % q2, q2)
    }
    byKey.set(sk, tablesOfKey)
  }
  return tablesOfKey
}

/**
 * h_s^r mod N² for a given r, computed by the private key's holder as h_s^r mod p² and mod q² on the kernel's
 * tables of h_s there, joined by CRT (Garner): the very residue `direct` and `fixedBase` give for this r, from
 * tables whose entries are half as wide (at 2048 bits: ≈ 90 ms to build both against ≈ 170 ms for the one mod N²,
 * ≈ 0.4 ms a value against ≈ 0.7 ms). Undefined where the kernel keeps no tables.
 */
export const factorPower = (sk: PrivateKey, kernels: BigIntKernels = tsKernels): ((r: bigint) => bigint) | undefined => {
  if (kernels.fixedBase === undefined) return undefined
  const t = factorTablesOf(sk, kernels as BigIntKernels & { readonly fixedBase: NonNullable<BigIntKernels["fixedBase"]> })
  const { p2, q2 } = sk
  return (r) => {
    const a = t.p.pow(r)
    const b = t.q.pow(r)
    const diff = (b - a) % q2
    return a + p2 * ((((diff < 0n ? diff + q2 : diff) * t.p2InvModQ2) % q2))
  }
}

/**
 * The key holder's source: `factorPower` at a fresh r of `randomnessBits` bits (as `direct` draws it), so the
 * values are distributed exactly as every other source's h_s^r; `automatic` where the kernel keeps no tables.
 */
export const withFactors = (sk: PrivateKey, kernels: BigIntKernels = tsKernels): RandomnessSource => {
  const power = factorPower(sk, kernels)
  if (power === undefined) return automatic(sk.publicKey, kernels)
  const bits = sk.publicKey.randomnessBits
  return () => power(randomBits(bits))
}

/** Draws before `automatic` builds the table: the table costs roughly this many direct exponentiations. */
export const AUTOMATIC_TABLE_AFTER = 24

const drawCounts = new WeakMap<PublicKey, number>()

export const automatic = (pk: PublicKey, kernels: BigIntKernels = tsKernels): RandomnessSource => {
  const slow = direct(pk, kernels)
  return () => {
    if (hasTable(pk, kernels)) return fromTable(pk, kernels)
    const count = (drawCounts.get(pk) ?? 0) + 1
    drawCounts.set(pk, count)
    return count > AUTOMATIC_TABLE_AFTER ? fromTable(pk, kernels) : slow()
  }
}

/**
 * Precomputed randomness. `take()` never blocks on an empty pool: it falls back to the pool's source.
 * Fill it synchronously (`fill`) or from worker jobs (`add`, with the output of the
 * `paillier.randomness-batch` job), which keep the event loop free.
 */
export class RandomnessPool {
  private readonly values: Array<bigint> = []
  constructor(
    readonly publicKey: PublicKey,
    private readonly source: RandomnessSource = automatic(publicKey)
  ) {}

  get size(): number {
    return this.values.length
  }

  fill(count: number): void {
    for (let i = 0; i < count; i++) this.values.push(this.source())
  }

  add(values: ReadonlyArray<bigint>): void {
    for (const v of values) {
      if (v <= 0n || v >= this.publicKey.n2) throw new RangeError("randomness value outside Z_{N²}")
      this.values.push(v)
    }
  }

  take(): bigint {
    return this.values.pop() ?? this.source()
  }

  /** The pool as a source, for `Paillier.encrypt(pk, m, pool.asSource())`. */
  asSource(): RandomnessSource {
    return () => this.take()
  }

}
