/**
 * The integer arithmetic of encrypted similarity retrieval (spec.ts), shared by the querier, the owner and the
 * plaintext reference: slot geometry, tie-broken scores and their public bounds, the owner's per-round blinded
 * plaintexts, and reading a round's decrypted slots back.
 *
 * Scores. For features f (the owner's entry of rank r among n) and the query q, all integers in [0, M]:
 *   S  = ‖f‖² − 2⟨f, q⟩              the squared Euclidean distance minus ‖q‖² (constant over the collection)
 *   S' = n·S + r                      unique; orders as (distance, rank), the plaintext k-NN order
 * and a threshold T of the querier is compared through u = 2S' − (2T + 1), an odd integer: u < 0 ⇔ S' ≤ T.
 *
 * Packing (one ciphertext, N slots; period p = the power of two ≥ the dimension d): the querier's q repeats
 * every p slots, so its row rotation by i holds q[(s + i) mod p] in slot s. Slot s = ℓ·L + j of lane ℓ carries
 * the owner's entry π_ℓ(j) (a fresh permutation per lane and round), and
 *   z_s = Σ_{i<p} P_i[s]·rot_i(q)[s] + W[s]·(2T_ℓ + 1) + C[s]
 *       = ρ_s·u_s + η_s
 * with P_i[s] = −4n·ρ_s·f_{π(j)}[(s + i) mod p], W[s] = −ρ_s, C[s] = ρ_s·(2n‖f‖² + 2r) + η_s, a blind
 * ρ_s ≥ 1 drawn log-uniformly up to ρ_max and η_s uniform in [0, ρ_s): the sign of z is the sign of u
 * (|u| ≥ 1), and ρ_max keeps |z| < t/2 for every threshold in the public score range.
 */

/** More lanes test more thresholds per round (fewer rounds) but reveal more counts. */
export const MAX_LANES = 4

export interface Geometry {
  readonly dimension: number
  /** p: the power of two ≥ dimension that the query repeats with. */
  readonly period: number
  /** Entries in the collection. */
  readonly n: number
  readonly slots: number
  /** L: the power of two ≥ n; a lane is L consecutive slots. */
  readonly laneSize: number
  readonly lanes: number
}

export class GeometryError extends Error {
  override readonly name = "GeometryError"
}

const powerOfTwoAtLeast = (x: number) => {
  let p = 1
  while (p < x) p *= 2
  return p
}

/** @throws GeometryError when the collection or the feature vector does not fit one ciphertext. */
export const geometry = (dimension: number, n: number, slots: number): Geometry => {
  const period = powerOfTwoAtLeast(dimension)
  if (period > slots / 2) throw new GeometryError(`${dimension} features do not fit rows of ${slots / 2} slots`)
  if (n < 1) throw new GeometryError("the collection is empty")
  const laneSize = powerOfTwoAtLeast(n)
  if (laneSize > slots) throw new GeometryError(`${n} entries exceed the ${slots} slots of one ciphertext (a larger collection needs N = 16384 or shards)`)
  return { dimension, period, n, slots, laneSize, lanes: Math.min(MAX_LANES, slots / laneSize) }
}

/** S = ‖f‖² − 2⟨f, q⟩ (exact: |S| ≤ 2·d·M² < 2^53 for the sizes spec.ts allows). */
export const score = (f: ArrayLike<number>, q: ArrayLike<number>): number => {
  let s = 0
  for (let k = 0; k < f.length; k++) s += f[k]! * (f[k]! - 2 * q[k]!)
  return s
}

export const tieBroken = (s: number, rank: number, n: number): bigint => BigInt(s) * BigInt(n) + BigInt(rank)

/** Bounds on S' over every collection of n entries in [0, M]^d: S ∈ [−2dM², dM²]. */
export const scoreBounds = (dimension: number, featureMax: number, n: number) => {
  const b = BigInt(dimension) * BigInt(featureMax) ** 2n
  return { min: -2n * b * BigInt(n), max: b * BigInt(n) + BigInt(n) - 1n }
}

/** The querier's tighter range of S for its own q: S = ‖f − q‖² − ‖q‖² ∈ [−‖q‖², Σ max(q_k, M − q_k)² − ‖q‖²]. */
export const queryRange = (q: ArrayLike<number>, featureMax: number, n: number) => {
  let norm = 0
  let far = 0
  for (let k = 0; k < q.length; k++) {
    norm += q[k]! * q[k]!
    far += Math.max(q[k]!, featureMax - q[k]!) ** 2
  }
  return { min: tieBroken(-norm, 0, n), max: tieBroken(far - norm, n - 1, n) }
}

/** ρ_max: the largest blind with ρ·(|u| + 1) < t/2 for every threshold in the public range. */
export const maxBlind = (plainModulus: bigint, bounds: { readonly min: bigint; readonly max: bigint }): bigint => {
  const maxU = 2n * (bounds.max - bounds.min + 1n) + 1n
  return (plainModulus / 2n - 1n) / (maxU + 1n)
}

/** The plaintext k-NN the protocol must reproduce: ranks of the k smallest S' (distance, then rank). */
export const nearest = (features: ReadonlyArray<ArrayLike<number>>, q: ArrayLike<number>, k: number): Array<number> =>
  features
    .map((f, rank) => ({ rank, key: tieBroken(score(f, q), rank, features.length) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, k)
    .map((e) => e.rank)

// ---------- randomness (CSPRNG only: these blinds hide scores)

/** `count` uniform doubles in [0, 1), 53 random bits each, from one CSPRNG draw. */
const uniforms = (count: number): Float64Array => {
  const words = new Uint32Array(2 * count)
  // getRandomValues fills at most 65,536 bytes per call.
  for (let at = 0; at < words.length; at += 16_384) crypto.getRandomValues(words.subarray(at, Math.min(words.length, at + 16_384)))
  const out = new Float64Array(count)
  for (let i = 0; i < count; i++) out[i] = ((words[2 * i]! >>> 5) * 67108864 + (words[2 * i + 1]! >>> 6)) / 9007199254740992
  return out
}

/** A random permutation of 0…n−1 (Fisher–Yates). */
export const permutation = (n: number): Uint32Array => {
  const out = Uint32Array.from({ length: n }, (_, i) => i)
  const u = uniforms(n)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1))
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

// ---------- the owner's round

export interface Collection {
  /** Features in rank order, row-major n × d. */
  readonly features: Int32Array
  readonly geometry: Geometry
}

export interface RoundPlan {
  /** Per lane: position j → rank. */
  readonly permutations: ReadonlyArray<Uint32Array>
  /** P_0 … P_{p−1}: the multipliers of the query's rotations. */
  readonly terms: ReadonlyArray<BigInt64Array>
  /** W: the multiplier of the thresholds ciphertext. */
  readonly threshold: BigInt64Array
  /** C: the constant. */
  readonly constant: BigInt64Array
}

/** ρ log-uniform in [1, ρ_max] (below 2^52) and η uniform in [0, ρ), from two uniforms. */
const blind = (logMax: number, u: number, v: number): { rho: number; eta: number } => {
  const rho = Math.max(1, Math.floor(2 ** (u * logMax)))
  return { rho, eta: Math.floor(v * rho) }
}

/**
 * Writes the exact integer v (|v| < 2^53) into slot s of a BigInt64Array through its 32-bit words: the round's
 * ~n·p multiplier entries stay in double arithmetic instead of allocating a BigInt each (the same bytes, since
 * every platform Node and browsers run on is little-endian; `roundPlan` checks).
 */
const writeInt = (words: Uint32Array, s: number, v: number) => {
  const hi = Math.floor(v / 4294967296)
  words[2 * s] = v - hi * 4294967296
  words[2 * s + 1] = hi
}
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** ρ_max for one collection: the plaintext range's bound, capped so every multiplier 4n·ρ·M is an exact double. */
export const maxBlindFor = (plainModulus: bigint, g: Geometry, featureMax: number): bigint => {
  const byRange = maxBlind(plainModulus, scoreBounds(g.dimension, featureMax, g.n))
  const byDouble = BigInt(Math.floor((2 ** 53 - 1) / (4 * g.n * featureMax)))
  return byRange < byDouble ? byRange : byDouble
}

/** One round's blinded plaintexts: fresh permutations and blinds, nothing reused from another round. */
export const roundPlan = (c: Collection, rhoMax: bigint): RoundPlan => {
  if (!littleEndian) throw new GeometryError("a big-endian platform: roundPlan writes little-endian words")
  const g = c.geometry
  const n = g.n
  const logMax = Math.log2(Number(rhoMax > 1n << 52n ? 1n << 52n : rhoMax))
  const terms = Array.from({ length: g.period }, () => new BigInt64Array(g.slots))
  const words = terms.map((t) => new Uint32Array(t.buffer))
  const threshold = new BigInt64Array(g.slots)
  const constant = new BigInt64Array(g.slots)
  const permutations: Array<Uint32Array> = []
  for (let lane = 0; lane < g.lanes; lane++) {
    const order = permutation(n)
    permutations.push(order)
    const u = uniforms(2 * n)
    for (let j = 0; j < n; j++) {
      const s = lane * g.laneSize + j
      const rank = order[j]!
      const f = c.features.subarray(rank * g.dimension, (rank + 1) * g.dimension)
      let norm = 0
      for (let k = 0; k < g.dimension; k++) norm += f[k]! * f[k]!
      const { rho, eta } = blind(logMax, u[2 * j]!, u[2 * j + 1]!)
      const base = -4 * n * rho
      for (let i = 0; i < g.period; i++) {
        const k = (s + i) % g.period
        if (k < g.dimension && f[k] !== 0) writeInt(words[i]!, s, base * f[k]!)
      }
      threshold[s] = BigInt(-rho)
      constant[s] = BigInt(rho) * (2n * BigInt(n) * BigInt(norm) + 2n * BigInt(rank)) + BigInt(eta)
    }
  }
  return { permutations, terms, threshold, constant }
}

// ---------- the querier's side

/** q repeated every `period` slots (zero past the dimension). */
export const queryVector = (g: Geometry, q: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(g.slots)
  for (let s = 0; s < g.slots; s++) {
    const k = s % g.period
    if (k < g.dimension) out[s] = BigInt(q[k]!)
  }
  return out
}

/** 2T_ℓ + 1 in the real slots of lane ℓ. */
export const thresholdVector = (g: Geometry, thresholds: ReadonlyArray<bigint>): BigInt64Array => {
  const out = new BigInt64Array(g.slots)
  thresholds.forEach((t, lane) => out.fill(2n * t + 1n, lane * g.laneSize, lane * g.laneSize + g.n))
  return out
}

/** Per lane, the positions j whose score is at or below the lane's threshold (z < 0). */
export const below = (g: Geometry, z: BigInt64Array): Array<Array<number>> =>
  Array.from({ length: g.lanes }, (_, lane) => {
    const out: Array<number> = []
    for (let j = 0; j < g.n; j++) if (z[lane * g.laneSize + j]! < 0n) out.push(j)
    return out
  })
