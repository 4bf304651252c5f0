/**
 * Losses, their first and second derivatives in the margin, and the metrics of the label holder — the same
 * definitions as XGBoost's `binary:logistic` and `reg:squarederror`, so the fixture's XGBoost run and ours
 * optimise the same thing:
 *
 *   binary:logistic   p = σ(m), g = p − y, h = max(p(1 − p), 1e−16); initial margin 0 (base_score 0.5);
 *                     validation metric logloss (p clipped to [1e−16, 1 − 1e−16]).
 *   reg:squarederror  g = m − y, h = 1; initial margin the mean training label (given to XGBoost as
 *                     base_score); validation metric RMSE.
 */
import { fail } from "./Errors.ts"

export const objectives = ["binary:logistic", "reg:squarederror"] as const
export type Objective = (typeof objectives)[number]

export const sigmoid = (m: number): number => 1 / (1 + Math.exp(-m))

/** The prediction a margin stands for: a probability (binary) or the value (regression). */
export const transform = (objective: Objective, margin: number): number => (objective === "binary:logistic" ? sigmoid(margin) : margin)

/** Every aligned row's label (test rows too: the evaluation reads them). */
export const checkLabels = (objective: Objective, labels: Float64Array, party: number): void => {
  for (let r = 0; r < labels.length; r++) {
    const y = labels[r]!
    if (objective === "binary:logistic" ? y !== 0 && y !== 1 : !Number.isFinite(y)) {
      fail("InvalidData", party, `aligned row ${r}: label ${y} is not ${objective === "binary:logistic" ? "0 or 1" : "a finite number"}`)
    }
  }
}

export const initialMargin = (objective: Objective, labels: Float64Array, train: Uint32Array): number => {
  if (objective === "binary:logistic" || train.length === 0) return 0
  let sum = 0
  for (const r of train) sum += labels[r]!
  return sum / train.length
}

/** g and h of `rows` (in that order) at the current margins. */
export const gradients = (objective: Objective, margins: Float64Array, labels: Float64Array, rows: Uint32Array) => {
  const g = new Float64Array(rows.length)
  const h = new Float64Array(rows.length)
  rows.forEach((r, i) => {
    if (objective === "binary:logistic") {
      const p = sigmoid(margins[r]!)
      g[i] = p - labels[r]!
      h[i] = Math.max(p * (1 - p), 1e-16)
    } else {
      g[i] = margins[r]! - labels[r]!
      h[i] = 1
    }
  })
  return { g, h }
}

/** Validation loss (smaller is better): logloss or RMSE over `rows`. */
export const loss = (objective: Objective, margins: Float64Array, labels: Float64Array, rows: Uint32Array): number => {
  if (rows.length === 0) return Number.NaN
  let sum = 0
  for (const r of rows) {
    const y = labels[r]!
    if (objective === "binary:logistic") {
      const p = Math.min(Math.max(sigmoid(margins[r]!), 1e-16), 1 - 1e-16)
      sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p)
    } else {
      const e = margins[r]! - y
      sum += e * e
    }
  }
  return objective === "binary:logistic" ? sum / rows.length : Math.sqrt(sum / rows.length)
}

/** Area under the ROC curve (Mann–Whitney, ties counted half). */
export const auc = (scores: ArrayLike<number>, labels: ArrayLike<number>): number => {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  let positives = 0
  let rankSum = 0
  for (let i = 0; i < order.length;) {
    let j = i
    while (j < order.length && scores[order[j]!] === scores[order[i]!]) j++
    const midRank = (i + j + 1) / 2
    for (let k = i; k < j; k++) {
      if (labels[order[k]!] === 1) {
        positives++
        rankSum += midRank
      }
    }
    i = j
  }
  const negatives = order.length - positives
  return positives === 0 || negatives === 0 ? Number.NaN : (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}

export interface Metrics {
  readonly rows: number
  /** Binary: AUC and accuracy at p ≥ ½ (margin ≥ 0). */
  readonly auc?: number
  readonly accuracy?: number
  /** Regression. */
  readonly rmse?: number
}

export const metrics = (objective: Objective, margins: ArrayLike<number>, labels: ArrayLike<number>): Metrics => {
  const n = margins.length
  if (objective === "reg:squarederror") {
    let sum = 0
    for (let i = 0; i < n; i++) sum += (margins[i]! - labels[i]!) ** 2
    return { rows: n, rmse: Math.sqrt(sum / n) }
  }
  let correct = 0
  for (let i = 0; i < n; i++) if ((margins[i]! >= 0 ? 1 : 0) === labels[i]) correct++
  return { rows: n, auc: auc(margins, labels), accuracy: correct / n }
}
