/**
 * Which aligned rows train, which validate (early stopping) and which test: a public function of the row's id
 * and the task's seed, so every party derives the same split without a message, and the fixture script
 * (fixtures/xgboost_reference.py) derives it too.
 *
 *   u(id) = first 8 bytes of SHA-256("jointly/secureboost/split|<seed>|<id>") as a big-endian integer / 2^64
 *   test if u < testFraction, validation if u < testFraction + validationFraction, train otherwise.
 *
 * A hash of the id, not a position, so the split does not depend on the (pseudorandom) PSI order.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"

export const Role = { train: 0, validation: 1, test: 2 } as const
export type Role = (typeof Role)[keyof typeof Role]

export interface Fractions {
  readonly testFraction: number
  readonly validationFraction: number
  readonly seed: number
}

/** u(id) ∈ [0, 1) with 53 bits of the hash (exactly representable, so Python computes the same value). */
export const uniform = (id: string, seed: number): number => {
  const digest = sha256(utf8ToBytes(`jointly/secureboost/split|${seed}|${id}`))
  let x = 0
  // 53 bits: the first 6 bytes and the top 5 bits of the seventh.
  for (let i = 0; i < 6; i++) x = x * 256 + digest[i]!
  x = x * 32 + (digest[6]! >> 3)
  return x / 2 ** 53
}

export const roleOf = (id: string, f: Fractions): Role => {
  const u = uniform(id, f.seed)
  return u < f.testFraction ? Role.test : u < f.testFraction + f.validationFraction ? Role.validation : Role.train
}

export interface Split {
  /** Role per aligned row. */
  readonly roles: Uint8Array
  /** Aligned row indices of each role, ascending. */
  readonly train: Uint32Array
  readonly validation: Uint32Array
  readonly test: Uint32Array
}

export const split = (ids: ReadonlyArray<string>, f: Fractions): Split => {
  const roles = Uint8Array.from(ids, (id) => roleOf(id, f))
  const pick = (r: Role) => {
    const out: Array<number> = []
    roles.forEach((x, i) => {
      if (x === r) out.push(i)
    })
    return Uint32Array.from(out)
  }
  return { roles, train: pick(Role.train), validation: pick(Role.validation), test: pick(Role.test) }
}
