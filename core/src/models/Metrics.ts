/**
 * Classification metrics from a model's outputs on labelled rows: the confusion matrix, accuracy, F1 (binary
 * for two classes, macro-averaged beyond, PROTOCOLS.md §9: F1 = 2PR/(P+R)), and the ROC curve with its area for
 * two classes. Counts only, so a party may compute them on its own rows and hand over (or securely add) the counts.
 * Pure: no I/O.
 */
import { Schema } from "effect"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** `matrix[actual][predicted]`: rows are the true classes, columns the predicted ones, in `classes` order. */
export const Confusion = Schema.Struct({
  classes: Schema.Array(Schema.String),
  matrix: Schema.Array(Schema.Array(Count))
})
export type Confusion = typeof Confusion.Type

/** One point of a ROC curve: at `threshold`, the rows scored at or above it are called positive. */
export const RocPoint = Schema.Struct({ threshold: Schema.Finite, tp: Count, fp: Count })
export type RocPoint = typeof RocPoint.Type

export const Roc = Schema.Struct({
  /** Index into `classes` of the class the scores are for. */
  positive: Count,
  positives: Count,
  negatives: Count,
  /** Thresholds from high to low, so the curve runs from (0, 0) towards (1, 1). */
  points: Schema.Array(RocPoint)
})
export type Roc = typeof Roc.Type

/**
 * The predicted class of each row from a model's outputs (rows × units, row-major): the arg-max unit, or for one
 * sigmoid unit class 1 when the output is at least 0.5.
 */
export const predictedClasses = (outputs: Float32Array | Float64Array, rows: number): Uint32Array => {
  const units = rows === 0 ? 1 : outputs.length / rows
  const out = new Uint32Array(rows)
  for (let i = 0; i < rows; i++) {
    if (units === 1) {
      out[i] = outputs[i]! >= 0.5 ? 1 : 0
      continue
    }
    let best = 0
    for (let u = 1; u < units; u++) if (outputs[i * units + u]! > outputs[i * units + best]!) best = u
    out[i] = best
  }
  return out
}

/** The score of class `positive` per row: the sigmoid output itself, or that unit's output (a probability). */
export const positiveScores = (outputs: Float32Array | Float64Array, rows: number, positive: number): Float64Array => {
  const units = rows === 0 ? 1 : outputs.length / rows
  const out = new Float64Array(rows)
  for (let i = 0; i < rows; i++) out[i] = units === 1 ? (positive === 1 ? outputs[i]! : 1 - outputs[i]!) : outputs[i * units + positive]!
  return out
}

export const confusion = (classes: ReadonlyArray<string>, actual: ArrayLike<number>, predicted: ArrayLike<number>): Confusion => {
  const k = classes.length
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!
    const p = predicted[i]!
    if (a < k && p < k) matrix[a]![p]!++
  }
  return { classes: [...classes], matrix }
}

const total = (c: Confusion) => c.matrix.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0)

export const accuracy = (c: Confusion): number => {
  const n = total(c)
  return n === 0 ? 0 : c.matrix.reduce((s, row, i) => s + row[i]!, 0) / n
}

/** F1 of one class: 2TP / (2TP + FP + FN); 0 when the class is neither predicted nor present. */
export const classF1 = (c: Confusion, positive: number): number => {
  const tp = c.matrix[positive]![positive]!
  const fn = c.matrix[positive]!.reduce((a, b) => a + b, 0) - tp
  const fp = c.matrix.reduce((s, row) => s + row[positive]!, 0) - tp
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
}

/** PROTOCOLS.md §9's F1: of class `positive` for two classes, the unweighted mean over classes beyond. */
export const f1 = (c: Confusion, positive = 1): number =>
  c.classes.length === 2 ? classF1(c, positive) : c.classes.reduce((s, _c, i) => s + classF1(c, i), 0) / Math.max(1, c.classes.length)

/** Precision and recall of class `positive`. */
export const precisionRecall = (c: Confusion, positive = 1): { readonly precision: number; readonly recall: number } => {
  const tp = c.matrix[positive]![positive]!
  const predicted = c.matrix.reduce((s, row) => s + row[positive]!, 0)
  const present = c.matrix[positive]!.reduce((a, b) => a + b, 0)
  return { precision: predicted === 0 ? 0 : tp / predicted, recall: present === 0 ? 0 : tp / present }
}

/**
 * The ROC curve of `scores` against `isPositive`, at every distinct score (at most `maxPoints` of them, taken at
 * evenly spaced ranks, plus the two ends), from the highest threshold down.
 */
export const roc = (scores: ArrayLike<number>, isPositive: ArrayLike<boolean>, positive: number, maxPoints = 64): Roc => {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!)
  const positives = order.filter((i) => isPositive[i]).length
  const negatives = order.length - positives
  const all: Array<RocPoint> = [{ threshold: Number.MAX_VALUE, tp: 0, fp: 0 }]
  let tp = 0
  let fp = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!
    if (isPositive[i]) tp++
    else fp++
    // One point per distinct score: rows that tie are called positive together.
    if (k === order.length - 1 || scores[order[k + 1]!]! !== scores[i]!) all.push({ threshold: scores[i]!, tp, fp })
  }
  if (all.length <= maxPoints) return { positive, positives, negatives, points: all }
  const step = (all.length - 1) / (maxPoints - 1)
  const points = Array.from({ length: maxPoints }, (_, j) => all[Math.round(j * step)]!)
  return { positive, positives, negatives, points }
}

/** Area under the ROC curve by the trapezoid rule over its points (0.5 for a curve with one class missing). */
export const auc = (curve: Roc): number => {
  if (curve.positives === 0 || curve.negatives === 0) return 0.5
  let area = 0
  for (let k = 1; k < curve.points.length; k++) {
    const a = curve.points[k - 1]!
    const b = curve.points[k]!
    area += ((b.fp - a.fp) / curve.negatives) * ((a.tp + b.tp) / 2 / curve.positives)
  }
  return area
}
