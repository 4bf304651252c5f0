/**
 * Where an encryption's random factor ρ (an N-th residue, c = (1+mN)·ρ mod N²) comes from. Each source
 * returns a fresh ρ per call:
 *
 * - `direct`: h_s^r by one kernel exponentiation with a ⌈bits/2⌉-bit r (no setup);
 * - `fixedBase`: the same value from a precomputed table: the kernel's own where it has one (`fixedBase` of
 *   BigIntKernels: the Node backends keep it in native memory in Montgomery form), else core's portable
 *   FixedBase.ts table, ~10× faster than `direct` after a ~1 s build;
 * - `classic`: r^N with r uniform in Z*_N, textbook Paillier, for callers that do not want the DJN assumption;
 * - `automatic` (the default): direct for the first few draws of a key, then the table, so one-off
 *   encryptions never pay for the table and bulk encryption always gets it;
 * - `RandomnessPool`: values precomputed ahead of time (in idle slices or by worker jobs) so that the online
 *   cost of an encryption is one multiplication.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import * as KernelTables from "../../compute/KernelTables.ts"
import { randomBelow, randomBits } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import * as FixedBase from "./FixedBase.ts"
import type { PublicKey } from "./Keys.ts"

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
