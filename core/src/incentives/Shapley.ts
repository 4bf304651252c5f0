/**
 * Shapley-value revenue sharing (PROTOCOLS.md §9): exact values over all coalitions (Eq. 7.3), Monte-Carlo
 * permutation sampling with a standard error beyond `exactLimit` owners, the owners-only split (Eq. 7.8) with
 * negative contributions clamped and renormalised (and reported), the simple model of Thm. 2 (owners, miners,
 * one third party), mining shares under PoW / PoS / PBFT, and integer payouts whose sum is exactly the revenue.
 * Pure: no I/O; randomness from a CSPRNG.
 */

/** Worth of a coalition given as a bit mask over players 0..n-1 (bit i = player i). */
export type Worth = (coalition: number) => number

export const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1))
export const binomial = (n: number, k: number): number => factorial(n) / (factorial(k) * factorial(n - k))
const popcount = (x: number) => {
  let c = 0
  for (; x; x &= x - 1) c++
  return c
}

/** w(s) = (N - s - 1)! s! / N! (Eq. 7.3). */
export const weight = (n: number, s: number): number => (factorial(n - s - 1) * factorial(s)) / factorial(n)

/** Exact Shapley values (Eq. 7.3) over 2^n coalitions. */
export const exact = (n: number, v: Worth): Array<number> => {
  if (n > 20) throw new RangeError(`exact Shapley values over ${n} players need 2^${n} coalitions`)
  const memo = new Map<number, number>()
  const worth = (s: number) => {
    let x = memo.get(s)
    if (x === undefined) memo.set(s, (x = s === 0 ? 0 : v(s)))
    return x
  }
  return Array.from({ length: n }, (_, i) => {
    let phi = 0
    for (let s = 0; s < 1 << n; s++) {
      if (s & (1 << i)) continue
      phi += weight(n, popcount(s)) * (worth(s | (1 << i)) - worth(s))
    }
    return phi
  })
}

/** Eq. 7.2 literally: the average marginal contribution over all n! orderings (for tests; n ≤ 8). */
export const bruteForce = (n: number, v: Worth): Array<number> => {
  const phi = new Array<number>(n).fill(0)
  let count = 0
  const permute = (order: Array<number>, rest: Array<number>) => {
    if (rest.length === 0) {
      count++
      let s = 0
      for (const i of order) {
        phi[i]! += v(s | (1 << i)) - (s === 0 ? 0 : v(s))
        s |= 1 << i
      }
      return
    }
    for (const [k, i] of rest.entries()) permute([...order, i], [...rest.slice(0, k), ...rest.slice(k + 1)])
  }
  permute([], Array.from({ length: n }, (_, i) => i))
  return phi.map((x) => x / count)
}

const uniform = (bound: number): number => {
  // Rejection sampling over 32-bit CSPRNG words: no modulo bias.
  const limit = Math.floor(0x1_0000_0000 / bound) * bound
  const word = new Uint32Array(1)
  for (;;) {
    crypto.getRandomValues(word)
    if (word[0]! < limit) return word[0]! % bound
  }
}

export interface Estimate {
  readonly phi: ReadonlyArray<number>
  /** Standard error of each phi (sample std of the marginal contributions / sqrt(permutations)). */
  readonly standardError: ReadonlyArray<number>
  readonly permutations: number
}

/** Monte-Carlo permutation sampling (§9 "Cost": above 10 owners, e.g. 1000 permutations, with the standard error). */
export const monteCarlo = (n: number, v: Worth, permutations = 1000): Estimate => {
  const sum = new Array<number>(n).fill(0)
  const sumSq = new Array<number>(n).fill(0)
  const memo = new Map<number, number>()
  const worth = (s: number) => {
    let x = memo.get(s)
    if (x === undefined) memo.set(s, (x = s === 0 ? 0 : v(s)))
    return x
  }
  for (let p = 0; p < permutations; p++) {
    const order = Array.from({ length: n }, (_, i) => i)
    for (let i = n - 1; i > 0; i--) {
      const j = uniform(i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    let s = 0
    for (const i of order) {
      const delta = worth(s | (1 << i)) - worth(s)
      sum[i]! += delta
      sumSq[i]! += delta * delta
      s |= 1 << i
    }
  }
  const phi = sum.map((x) => x / permutations)
  const standardError = sumSq.map((q, i) => {
    const variance = permutations > 1 ? (q - permutations * phi[i]! ** 2) / (permutations - 1) : 0
    return Math.sqrt(Math.max(0, variance) / permutations)
  })
  return { phi, standardError, permutations }
}

export const exactLimit = 10

export interface OwnerShares {
  /** phi_H^i of Eq. 7.8 (sums to 1 after clamping). */
  readonly shares: ReadonlyArray<number>
  /** Unclamped Shapley values of the worth (F1), before dividing by F1(H). */
  readonly raw: ReadonlyArray<number>
  readonly method: "exact" | "monte-carlo"
  readonly standardError?: ReadonlyArray<number>
  /** Owners whose contribution was negative and clamped to 0 (§9 "Negative contributions"). */
  readonly clamped: ReadonlyArray<number>
}

/**
 * Owners-only split (Eq. 7.8) with worth = F1 of the coalition's model (F1(∅) = 0): exact up to `exactLimit`
 * owners, Monte Carlo beyond. Negative values are clamped to 0 and the rest renormalised to sum to 1; `log`
 * hears about it.
 */
export const ownerShares = (n: number, f1: Worth, options: { readonly permutations?: number; readonly log?: (message: string) => void } = {}): OwnerShares => {
  const estimate = n <= exactLimit ? undefined : monteCarlo(n, f1, options.permutations ?? 1000)
  const raw = estimate?.phi ?? exact(n, f1)
  const clamped = raw.flatMap((x, i) => (x < 0 ? [i] : []))
  if (clamped.length > 0) options.log?.(`negative Shapley contributions of owners ${clamped.join(", ")} clamped to 0 and the rest renormalised (PROTOCOLS.md §9)`)
  const kept = raw.map((x) => Math.max(0, x))
  const total = kept.reduce((a, b) => a + b, 0)
  const shares = total === 0 ? kept.map(() => 1 / n) : kept.map((x) => x / total)
  return { shares, raw, method: estimate ? "monte-carlo" : "exact", standardError: estimate?.standardError, clamped }
}

export interface SimpleModel {
  /** phi_H^i per owner. */
  readonly owners: ReadonlyArray<number>
  /** phi_M of each (symmetric) miner. */
  readonly perMiner: number
  /** phi_T of the third party. */
  readonly thirdParty: number
}

/**
 * Thm. 2 (Eqs. 7.9-7.10): one third party T0, `miners` identical miners, owners with worth F1 (a mask over
 * owners); weights over N = |H| + |M| + 1.
 */
export const simpleModel = (owners: number, miners: number, f1: Worth): SimpleModel => {
  const n = owners + miners + 1
  const full = f1((1 << owners) - 1)
  const f = (s: number) => (s === 0 ? 0 : f1(s))
  const ownerPhi = Array.from({ length: owners }, (_, i) => {
    let phi = 0
    for (let s = 0; s < 1 << owners; s++) {
      if (s & (1 << i)) continue
      let w = 0
      for (let m = 1; m <= miners; m++) w += binomial(miners, m) * weight(n, popcount(s) + m + 1)
      phi += w * (f(s | (1 << i)) - f(s))
    }
    return phi / full
  })
  let perMiner = 0
  let thirdParty = 0
  for (let s = 1; s < 1 << owners; s++) {
    const h = popcount(s)
    // A miner joins a coalition holding T0, some other miners and owners H': its marginal worth is v only when
    // it is the first miner, i.e. the others hold no miner (Eq. 7.10, "each miner").
    perMiner += weight(n, h + 1) * (f(s) / full)
    for (let m = 1; m <= miners; m++) thirdParty += binomial(miners, m) * weight(n, h + m) * (f(s) / full)
  }
  return { owners: ownerPhi, perMiner, thirdParty }
}

// ---------------------------------------------------------------- mining shares P_k (§9.3)

export const powShares = (hashRates: ReadonlyArray<number>): Array<number> => {
  const total = hashRates.reduce((a, b) => a + b, 0)
  return hashRates.map((c) => c / total)
}

/** Coin age grows alike for everyone, so the share is the stake (Eq. 7.14). */
export const posShares = (stakes: ReadonlyArray<number>): Array<number> => powShares(stakes)

/** Eqs. 7.15/7.16: healthy[k] = the rounds (0..rounds-1) in which node k was healthy. */
export const pbftShares = (rounds: number, healthy: ReadonlyArray<ReadonlyArray<number>>): Array<number> => {
  const q = Array.from({ length: rounds }, (_, i) => healthy.filter((a) => a.includes(i)).length)
  return healthy.map((a) => a.reduce((sum, i) => sum + 1 / q[i]!, 0) / rounds)
}

// ---------------------------------------------------------------- integer settlement (§9 "Settlement")

/**
 * Integer points whose sum is exactly `revenue`: each quota is revenue·share/Σshares; "largest-remainder" gives
 * the leftover units to the largest fractional parts (ties to the lower index), "floor-treasury" floors every
 * quota and sends the remainder to the treasury. Shares are scaled to 1e12 integer units first, so the split is
 * computed in exact bigint arithmetic.
 */
export const payouts = (
  revenue: bigint,
  shares: ReadonlyArray<number>,
  rule: "largest-remainder" | "floor-treasury" = "largest-remainder"
): { readonly amounts: ReadonlyArray<bigint>; readonly toTreasury: bigint } => {
  if (shares.some((s) => !(s >= 0) || !Number.isFinite(s))) throw new RangeError("shares must be finite and non-negative")
  const scaled = shares.map((s) => BigInt(Math.round(s * 1e12)))
  const total = scaled.reduce((a, b) => a + b, 0n)
  if (total === 0n) throw new RangeError("shares sum to zero")
  const floors = scaled.map((s) => (revenue * s) / total)
  const left = revenue - floors.reduce((a, b) => a + b, 0n)
  if (rule === "floor-treasury") return { amounts: floors, toTreasury: left }
  const remainders = scaled.map((s, i) => ({ i, r: (revenue * s) % total }))
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1))
  const amounts = [...floors]
  for (let k = 0n; k < left; k++) amounts[remainders[Number(k)]!.i]! += 1n
  return { amounts, toTreasury: 0n }
}
