/**
 * Differential privacy for federated updates: each participant clips its model delta to L2 norm C and adds
 * Gaussian noise, so the sum over contributors carries noise of standard deviation z·C (participant-level
 * DP: neighbouring datasets differ in one participant's whole contribution). The accountant is Rényi DP of
 * the **sampled Gaussian mechanism** (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled
 * Gaussian Mechanism", §3.3, the exact sum for integer orders α): per round
 *     A_α = Σ_{k=0..α} C(α,k) (1−q)^(α−k) q^k exp((k²−k) / (2z²)),   ε_α = log(A_α) / (α−1),
 * composed over T rounds (T·ε_α) and converted to (ε, δ) by ε = min_α T·ε_α + log(1/δ)/(α−1). The formula is
 * for Poisson sampling at rate q; we sample a fixed number k of N participants per round and use q = k/N,
 * the usual approximation (stated in the result). With q = 1 it is the plain Gaussian mechanism, α/(2z²).
 *
 * Noise is drawn from the CSPRNG (Box–Muller over 53-bit uniforms). Floating-point Gaussian samples are
 * known to leak through their low bits (Mironov 2012); the fixed-point encoding before secure aggregation
 * rounds them away at 2^-16, which blunts but does not formally close that channel.
 */

export const orders: ReadonlyArray<number> = [...Array.from({ length: 63 }, (_, i) => i + 2), 80, 96, 128, 192, 256]

const logAdd = (a: number, b: number) => (a === -Infinity ? b : b === -Infinity ? a : Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b))))

const logBinomial = (n: number, k: number) => {
  let s = 0
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i)
  return s
}

/** ε_α of one round of the sampled Gaussian mechanism (integer α ≥ 2). */
export const rdpSampledGaussian = (q: number, noiseMultiplier: number, alpha: number): number => {
  if (q <= 0) return 0
  if (q >= 1) return alpha / (2 * noiseMultiplier ** 2)
  let logA = -Infinity
  for (let k = 0; k <= alpha; k++) {
    const term = logBinomial(alpha, k) + (alpha - k) * Math.log1p(-q) + k * Math.log(q) + ((k * k - k) / (2 * noiseMultiplier ** 2))
    logA = logAdd(logA, term)
  }
  return logA / (alpha - 1)
}

export interface Spent {
  readonly epsilon: number
  readonly delta: number
  /** The order α the bound was taken at. */
  readonly order: number
}

/** (ε, δ) after `rounds` rounds at sampling rate q and noise multiplier z. */
export const epsilon = (q: number, noiseMultiplier: number, rounds: number, delta: number): Spent => {
  let best: Spent = { epsilon: Infinity, delta, order: orders[0]! }
  for (const alpha of orders) {
    const eps = rounds * rdpSampledGaussian(q, noiseMultiplier, alpha) + Math.log(1 / delta) / (alpha - 1)
    if (eps < best.epsilon) best = { epsilon: eps, delta, order: alpha }
  }
  return best
}

/** Scales `delta` in place so that ‖delta‖₂ ≤ clipNorm; returns the norm before clipping. */
export const clip = (delta: Float64Array, clipNorm: number): number => {
  let squares = 0
  for (let i = 0; i < delta.length; i++) squares += delta[i]! * delta[i]!
  const norm = Math.sqrt(squares)
  if (norm > clipNorm) {
    const factor = clipNorm / norm
    for (let i = 0; i < delta.length; i++) delta[i]! *= factor
  }
  return norm
}

/** Adds N(0, σ²) to every element, from the CSPRNG. */
export const addGaussianNoise = (values: Float64Array, sigma: number): void => {
  if (sigma === 0) return
  const buffer = new Uint32Array(4096)
  let at = buffer.length
  const uniform = () => {
    if (at + 2 > buffer.length) {
      crypto.getRandomValues(buffer)
      at = 0
    }
    const hi = buffer[at++]! >>> 5
    const lo = buffer[at++]! >>> 6
    return (hi * 67108864 + lo + 1) / 9007199254740993 // in (0, 1): never log(0)
  }
  for (let i = 0; i < values.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()))
    const theta = 2 * Math.PI * uniform()
    values[i]! += sigma * r * Math.cos(theta)
    if (i + 1 < values.length) values[i + 1]! += sigma * r * Math.sin(theta)
  }
}
