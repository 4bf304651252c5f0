/**
 * Shapley-value revenue sharing (PROTOCOLS.md §9): exact values over all coalitions (Eq. 7.3), Monte-Carlo
 * permutation sampling with a standard error beyond `exactLimit` owners, the owners-only split (Eq. 7.8) with
 * negative contributions clamped and renormalised (and reported), the simple model of Thm. 2 (owners, miners,
 * one third party), mining shares under PoW / PoS / PBFT, and integer payouts whose sum is exactly the revenue.
 * Round reconstruction (MR / GTG-Shapley) sums per-round values over coalition models rebuilt from one training.
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

/**
 * Random orderings of players 0..n-1 from a CSPRNG (Fisher–Yates). `guided` starts ordering k with player
 * k mod n, so every player leads equally often (GTG-Shapley's guided sampling, Liu et al. 2022).
 */
export const samplePermutations = (n: number, count: number, options: { readonly guided?: boolean } = {}): Array<Array<number>> =>
  Array.from({ length: count }, (_, k) => {
    const order = Array.from({ length: n }, (_, i) => i)
    const fixed = options.guided ? 1 : 0
    if (options.guided) [order[0], order[k % n]] = [order[k % n]!, order[0]!]
    for (let i = n - 1; i > fixed; i--) {
      const j = fixed + uniform(i - fixed + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    return order
  })

/** The coalitions (masks) an estimate over `orders` evaluates: every non-empty prefix of every ordering. */
export const prefixCoalitions = (orders: ReadonlyArray<ReadonlyArray<number>>): Array<number> => {
  const masks = new Set<number>()
  for (const order of orders) {
    let s = 0
    for (const i of order) masks.add((s |= 1 << i))
  }
  return [...masks].sort((a, b) => a - b)
}

/** The Monte-Carlo estimate over given orderings (a caller that must know the coalitions before scoring them). */
export const monteCarloOver = (n: number, v: Worth, orders: ReadonlyArray<ReadonlyArray<number>>): Estimate => {
  const sum = new Array<number>(n).fill(0)
  const sumSq = new Array<number>(n).fill(0)
  const memo = new Map<number, number>()
  const worth = (s: number) => {
    let x = memo.get(s)
    if (x === undefined) memo.set(s, (x = s === 0 ? 0 : v(s)))
    return x
  }
  for (const order of orders) {
    let s = 0
    for (const i of order) {
      const delta = worth(s | (1 << i)) - worth(s)
      sum[i]! += delta
      sumSq[i]! += delta * delta
      s |= 1 << i
    }
  }
  const permutations = orders.length
  const phi = sum.map((x) => x / permutations)
  const standardError = sumSq.map((q, i) => {
    const variance = permutations > 1 ? (q - permutations * phi[i]! ** 2) / (permutations - 1) : 0
    return Math.sqrt(Math.max(0, variance) / permutations)
  })
  return { phi, standardError, permutations }
}

/** Monte-Carlo permutation sampling (§9 "Cost": above 10 owners, e.g. 1000 permutations, with the standard error). */
export const monteCarlo = (n: number, v: Worth, permutations = 1000): Estimate => monteCarloOver(n, v, samplePermutations(n, permutations))

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
  return { ...clampShares(raw, options.log), raw, method: estimate ? "monte-carlo" : "exact", standardError: estimate?.standardError }
}

/**
 * §9 "Negative contributions": values below 0 become 0 and the rest are renormalised to sum to 1 (equal shares
 * when nothing is left); `log` hears which owners were clamped.
 */
export const clampShares = (raw: ReadonlyArray<number>, log?: (message: string) => void): { readonly shares: ReadonlyArray<number>; readonly clamped: ReadonlyArray<number> } => {
  const clamped = raw.flatMap((x, i) => (x < 0 ? [i] : []))
  if (clamped.length > 0) log?.(`negative Shapley contributions of owners ${clamped.join(", ")} clamped to 0 and the rest renormalised (PROTOCOLS.md §9)`)
  const kept = raw.map((x) => Math.max(0, x))
  const total = kept.reduce((a, b) => a + b, 0)
  return { shares: total === 0 ? kept.map(() => 1 / raw.length) : kept.map((x) => x / total), clamped }
}

export interface RoundUtilities {
  /** U of the model the round started from: the empty coalition's worth in this round. */
  readonly base: number
  /** U of the start model plus coalition S's aggregate update (S ≠ ∅, a mask over owners). */
  readonly worth: Worth
  /** Orderings to estimate with; without them, exact over all 2^n coalitions. */
  readonly orders?: ReadonlyArray<ReadonlyArray<number>>
}

export interface RoundEstimate {
  readonly phi: ReadonlyArray<number>
  /** Each round's values; undefined for a round skipped by truncation. */
  readonly perRound: ReadonlyArray<ReadonlyArray<number> | undefined>
  /** Monte-Carlo rounds: the per-round standard errors added in quadrature. */
  readonly standardError?: ReadonlyArray<number>
}

/**
 * Round reconstruction (Song et al. 2019, "MR"; GTG-Shapley, Liu et al. 2022): in round r the worth of S is
 * v_r(S) = U(w_{r-1} + Δ_S) − U(w_{r-1}), where Δ_S averages only S's updates of that round, so one training of
 * the whole coalition values every coalition. φ = Σ_r φ_r. A round whose whole-coalition gain |v_r(N)| is at most
 * `truncation` is skipped (GTG's between-round truncation). Σ_i φ_i = U(w_R) − U(w_0) over the rounds kept, not
 * v(N) as in the exact game: compare shares, not raw values.
 */
export const roundReconstruction = (n: number, rounds: ReadonlyArray<RoundUtilities>, options: { readonly truncation?: number } = {}): RoundEstimate => {
  const phi = new Array<number>(n).fill(0)
  const variance = new Array<number>(n).fill(0)
  let sampled = false
  const perRound = rounds.map((round) => {
    const gain = (s: number) => round.worth(s) - round.base
    if (options.truncation !== undefined && Math.abs(gain((1 << n) - 1)) <= options.truncation) return undefined
    let values: ReadonlyArray<number>
    if (round.orders === undefined) {
      values = exact(n, gain)
    } else {
      sampled = true
      const estimate = monteCarloOver(n, gain, round.orders)
      estimate.standardError.forEach((se, i) => (variance[i]! += se * se))
      values = estimate.phi
    }
    values.forEach((x, i) => (phi[i]! += x))
    return values
  })
  return { phi, perRound, ...(sampled ? { standardError: variance.map(Math.sqrt) } : {}) }
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
