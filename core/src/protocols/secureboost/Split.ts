/**
 * The tree-growing arithmetic shared by the secure parties and the plaintext reference: hyper-parameters,
 * fixed-point gradients, split gain, best split and leaf weight. Sharing it is what makes the two produce the
 * same trees: both sum the same integers (exact in float64, checked by GhPacking.layoutFor), so both compute
 * bit-identical gains from bit-identical sums, and both break ties in the same canonical order.
 *
 *   gain(b)  = G_L²/(H_L + λ) + G_R²/(H_R + λ) − G²/(H + λ)        (XGBoost's loss change: twice the paper's
 *                                                                  Eq. 5 before γ)
 *   valid    H_L ≥ minChildWeight and H_R ≥ minChildWeight
 *   split    best gain > 1e−6 and ≥ γ (γ applied when the split is made; XGBoost prunes bottom-up afterwards,
 *            which differs only when γ > 0)
 *   leaf     w = −η·G/(H + λ)
 *   ties     the first in (party order, feature order within the party, bin) wins: strict ">" in that order.
 */
export interface Hyper {
  readonly objective: "binary:logistic" | "reg:squarederror"
  readonly trees: number
  readonly maxDepth: number
  readonly learningRate: number
  readonly lambda: number
  readonly gamma: number
  readonly minChildWeight: number
  readonly maxBins: number
  /** g and h are rounded to multiples of 2^−scaleBits before they are summed (and encrypted). */
  readonly scaleBits: number
  /** Stop when the validation loss has not improved for this many trees; keep the best prefix. */
  readonly earlyStoppingRounds?: number
  /** The first tree uses the label holder's features only (SecureBoost §6 "reduced leakage"). */
  readonly firstTreeByLabelHolder: boolean
}

/** XGBoost's kRtEps: a smaller loss change is rounding noise, not a split. */
export const MIN_GAIN = 1e-6

/** round(v·2^scaleBits) for every value (integers held as float64, exact below 2^53). */
export const quantize = (values: Float64Array, scaleBits: number): Float64Array => {
  const s = 2 ** scaleBits
  return values.map((v) => Math.round(v * s))
}

export interface Totals {
  /** Σ g and Σ h of a node, fixed point (integers). */
  readonly g: number
  readonly h: number
}

/** Left-cumulative sums of one feature at one node: cell b holds Σ over rows with bin ≤ b, for b < bins − 1. */
export interface Cumulative {
  readonly g: Float64Array
  readonly h: Float64Array
}

export interface FeatureHistogram extends Cumulative {
  readonly party: number
  readonly feature: number
}

export interface Choice {
  readonly party: number
  readonly feature: number
  readonly bin: number
  readonly gain: number
}

const score = (g: number, h: number, lambda: number): number => (g * g) / (h + lambda)

/** A node may be split only below maxDepth, with two rows or more and enough hessian for two children. */
export const splittable = (hyper: Hyper, depth: number, rows: number, totals: Totals): boolean =>
  depth < hyper.maxDepth && rows >= 2 && totals.h / 2 ** hyper.scaleBits >= 2 * hyper.minChildWeight

/** The best valid split over `histograms` (iterated in canonical order), or undefined when none gains. */
export const bestSplit = (hyper: Hyper, totals: Totals, histograms: Iterable<FeatureHistogram>): Choice | undefined => {
  const s = 2 ** hyper.scaleBits
  const G = totals.g / s
  const H = totals.h / s
  const parent = score(G, H, hyper.lambda)
  let best: Choice | undefined
  for (const f of histograms) {
    for (let b = 0; b < f.g.length; b++) {
      const gl = f.g[b]! / s
      const hl = f.h[b]! / s
      const hr = H - hl
      if (hl < hyper.minChildWeight || hr < hyper.minChildWeight) continue
      const gain = score(gl, hl, hyper.lambda) + score(G - gl, hr, hyper.lambda) - parent
      if (best === undefined || gain > best.gain) best = { party: f.party, feature: f.feature, bin: b, gain }
    }
  }
  return best !== undefined && best.gain > MIN_GAIN && best.gain >= hyper.gamma ? best : undefined
}

export const leafWeight = (hyper: Hyper, totals: Totals): number => {
  const s = 2 ** hyper.scaleBits
  const denominator = totals.h / s + hyper.lambda
  return denominator > 0 ? (-hyper.learningRate * (totals.g / s)) / denominator : 0
}

/** Cumulative histogram of one feature over `rows` from per-row bins and fixed-point g, h (by row index). */
export const cumulative = (codes: Uint8Array, bins: number, rows: ArrayLike<number>, gq: Float64Array, hq: Float64Array): Cumulative => {
  const g = new Float64Array(bins)
  const h = new Float64Array(bins)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!
    g[codes[r]!]! += gq[r]!
    h[codes[r]!]! += hq[r]!
  }
  for (let b = 1; b < bins; b++) {
    g[b]! += g[b - 1]!
    h[b]! += h[b - 1]!
  }
  return { g: g.subarray(0, bins - 1), h: h.subarray(0, bins - 1) }
}

export const totalsOf = (rows: ArrayLike<number>, gq: Float64Array, hq: Float64Array): Totals => {
  let g = 0
  let h = 0
  for (let i = 0; i < rows.length; i++) {
    g += gq[rows[i]!]!
    h += hq[rows[i]!]!
  }
  return { g, h }
}
