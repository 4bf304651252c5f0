import { describe, expect, it } from "vitest"
import * as Linear from "./Linear.ts"

/** A seeded stream, so the cases are the same every run. */
const lcg = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)

describe("ROC curve at the label holder", () => {
  const random = lcg(11)
  const actual = Array.from({ length: 157 }, () => random() < 0.4)
  // Informative but noisy scores, with ties (rounded to 1 decimal).
  const scores = actual.map((a) => Math.round(((a ? 0.6 : 0) + random()) * 10) / 10)

  it("gives the exact AUC (every positive-negative pair, ties ½) and a curve of aggregate steps", () => {
    const roc = Linear.roc(scores, actual)!
    let pairs = 0
    let wins = 0
    scores.forEach((s, i) => scores.forEach((t, j) => {
      if (!actual[i] || actual[j]) return
      pairs++
      wins += s > t ? 1 : s === t ? 0.5 : 0
    }))
    expect(roc.auc).toBeCloseTo(wins / pairs, 12)
    expect(roc.auc).toBeGreaterThan(0.6)
    expect(roc.points[0]).toEqual({ fpr: 0, tpr: 0 })
    expect(roc.points.at(-1)).toEqual({ fpr: 1, tpr: 1 })
    expect(roc.points.length).toBeLessThanOrEqual(Linear.rocMaxPoints + 1)
    // Monotone, and each step spans at least the minimum rows (counted back from the rates).
    const positives = actual.filter(Boolean).length
    const negatives = actual.length - positives
    for (let k = 1; k < roc.points.length; k++) {
      const [a, b] = [roc.points[k - 1]!, roc.points[k]!]
      expect(b.fpr).toBeGreaterThanOrEqual(a.fpr)
      expect(b.tpr).toBeGreaterThanOrEqual(a.tpr)
      const rows = Math.round((b.fpr - a.fpr) * negatives + (b.tpr - a.tpr) * positives)
      expect(rows).toBeGreaterThanOrEqual(Linear.rocMinRowsPerPoint)
    }
  })

  it("publishes fewer points for a small split, none for a split of one class", () => {
    expect(Linear.roc(scores.slice(0, 25), actual.slice(0, 25))!.points.length).toEqual(3)
    expect(Linear.roc([0.1, 0.2, 0.3], [true, true, true])).toBeUndefined()
  })
})
