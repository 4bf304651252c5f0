/**
 * The querier's threshold search (spec.ts): find T with exactly K tie-broken scores S' ≤ T, learning only the
 * count c(T) at each threshold it tries. A bracket (lo, hi] with c(lo) < K ≤ c(hi) shrinks each round by the
 * lanes' thresholds, spread evenly inside it; while the bracket spans more than one score value, thresholds sit
 * at the end of a score group (n·S + n − 1), so ties of S are only split when they straddle the K-th place.
 */
import { randomBits } from "../../compute/Primes.ts"

export interface Found {
  readonly round: number
  readonly lane: number
  readonly threshold: bigint
}

export interface Search {
  readonly target: number
  /** Entries per score group (the collection size n). */
  readonly group: bigint
  lo: bigint
  hi: bigint
  found?: Found
}

/** Over scores in [min, max], for the `k` nearest of n entries (all n when k ≥ n). */
export const start = (n: number, k: number, range: { readonly min: bigint; readonly max: bigint }): Search => ({
  target: Math.min(k, n),
  group: BigInt(n),
  lo: range.min - 1n,
  hi: range.max
})

const groupEnd = (s: Search, x: bigint) => {
  // The group end at or above x: g·n + n − 1 ≥ x.
  const g = x - s.group + 1n
  const q = g >= 0n ? (g + s.group - 1n) / s.group : -((-g) / s.group)
  return q * s.group + s.group - 1n
}

/** The next round's thresholds, one per lane, in a random lane order (the lane that succeeds says nothing). */
export const next = (s: Search, lanes: number): Array<bigint> => {
  const width = s.hi - s.lo
  const picked = new Set<bigint>()
  if (width <= BigInt(lanes)) {
    for (let t = s.lo + 1n; t <= s.hi; t++) picked.add(t)
  } else {
    for (let i = 1; i <= lanes; i++) {
      let t = s.lo + (width * BigInt(i)) / BigInt(lanes + 1)
      if (width > s.group) {
        const end = groupEnd(s, t)
        if (end > s.lo && end < s.hi) t = end
      }
      if (t > s.lo && t <= s.hi) picked.add(t)
    }
    if (picked.size === 0) picked.add(s.hi)
  }
  const thresholds = [...picked]
  while (thresholds.length < lanes) thresholds.push(thresholds[thresholds.length - 1]!)
  for (let i = thresholds.length - 1; i > 0; i--) {
    const j = Number(randomBits(32) % BigInt(i + 1))
    ;[thresholds[i], thresholds[j]] = [thresholds[j]!, thresholds[i]!]
  }
  return thresholds
}

/** Narrows the bracket by one round's counts; sets `found` at the first lane whose count is the target. */
export const observe = (s: Search, round: number, thresholds: ReadonlyArray<bigint>, counts: ReadonlyArray<number>): void => {
  thresholds.forEach((t, lane) => {
    const c = counts[lane]!
    if (c === s.target && s.found === undefined) s.found = { round, lane, threshold: t }
    if (c < s.target && t > s.lo) s.lo = t
    if (c >= s.target && t < s.hi) s.hi = t
  })
}
