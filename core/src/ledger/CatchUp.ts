/**
 * The attacker catch-up probability of seed 001 (PROTOCOLS.md §10, Eq. 3; Nakamoto 2008 §11): an attacker with
 * a share q of the hash power, z blocks behind, ever overtakes the honest chain with probability
 *
 *   P_z = 1 − Σ_{k=0..z} Pois(k; λ) · (1 − (q/p)^(z−k)),   λ = z·q/p,  p = 1 − q.
 *
 * Written as the sum of two non-negative parts — the Poisson upper tail P(K > z) plus Σ_{k≤z} Pois(k)·(q/p)^(z−k) —
 * so no large terms cancel and the value stays accurate for large z, where the source's `1 − Σ` loses every digit.
 * Poisson terms are built in log space (the source's running product overflows past z ≈ 700).
 *
 * It bounds the risk of a record on a longest-chain proof-of-work network only; under PBFT/QBFT finality a
 * committed block is final and the risk to bound is more than f faulty validators out of 3f + 1.
 */

/** Probability that an attacker with hash-power share `q`, `z` blocks behind, ever catches up. */
export const catchUpProbability = (q: number, z: number): number => {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`q must be a probability in [0, 1], got ${q}`)
  if (!Number.isInteger(z) || z < 0) throw new RangeError(`z must be a whole number of blocks ≥ 0, got ${z}`)
  const p = 1 - q
  if (q >= p) return 1
  if (q === 0) return z === 0 ? 1 : 0
  const lambda = (z * q) / p
  const logLambda = Math.log(lambda)
  const logRatio = Math.log(q / p)
  // log Pois(k; λ) = −λ + k·log λ − log k!
  let logPois = -lambda
  let caughtUpFromBehind = 0
  for (let k = 0; k <= z; k++) {
    if (k > 0) logPois += logLambda - Math.log(k)
    caughtUpFromBehind += Math.exp(logPois + (z - k) * logRatio)
  }
  // Upper tail Σ_{k>z} Pois(k; λ); λ < z here (q < p), so terms shrink geometrically past k = z.
  let tail = 0
  for (let k = z + 1; ; k++) {
    logPois += logLambda - Math.log(k)
    const term = Math.exp(logPois)
    tail += term
    if (term <= tail * 1e-17 || term === 0) break
  }
  return Math.min(1, tail + caughtUpFromBehind)
}

/** The least number of confirmations z with catch-up probability below `risk` (Nakamoto's second table). */
export const confirmationsFor = (q: number, risk: number, maxZ = 100_000): number => {
  if (!(risk > 0 && risk < 1)) throw new RangeError(`risk must be in (0, 1), got ${risk}`)
  if (q >= 0.5) throw new RangeError(`an attacker with q = ${q} ≥ 0.5 always catches up; no number of confirmations suffices`)
  for (let z = 0; z <= maxZ; z++) if (catchUpProbability(q, z) < risk) return z
  throw new RangeError(`more than ${maxZ} confirmations needed for q = ${q}, risk ${risk}`)
}
