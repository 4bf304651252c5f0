/**
 * Backend-held fixed-base tables (`BigIntKernels.fixedBase`), one per kernel object (one per thread) and per
 * owner object (a public key): a table lives as long as both do, and a kernel without tables gets none.
 */
import type { BigIntKernels, FixedBasePower } from "./BigIntKernels.ts"

const tables = new WeakMap<BigIntKernels, WeakMap<object, FixedBasePower>>()
const uses = new WeakMap<BigIntKernels, WeakMap<object, number>>()

/**
 * The kernel's table of `base` for `owner`; undefined where the kernel keeps no tables, and for the first
 * `afterUses` calls (a table costs about as much as that many exponentiations: one-off uses never pay for it).
 */
export const tableOf = (kernels: BigIntKernels, owner: object, base: bigint, modulus: bigint, exponentBits: number, afterUses = 0): FixedBasePower | undefined => {
  if (kernels.fixedBase === undefined) return undefined
  if (afterUses > 0 && !hasTable(kernels, owner)) {
    let counts = uses.get(kernels)
    if (counts === undefined) uses.set(kernels, (counts = new WeakMap()))
    const count = (counts.get(owner) ?? 0) + 1
    counts.set(owner, count)
    if (count <= afterUses) return undefined
  }
  let byOwner = tables.get(kernels)
  if (byOwner === undefined) tables.set(kernels, (byOwner = new WeakMap()))
  let table = byOwner.get(owner)
  if (table === undefined) byOwner.set(owner, (table = kernels.fixedBase(base, modulus, exponentBits)))
  return table
}

/** Whether the kernel already holds a table for `owner`. */
export const hasTable = (kernels: BigIntKernels, owner: object): boolean => tables.get(kernels)?.has(owner) === true
