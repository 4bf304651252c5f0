import { describe, expect, it } from "vitest"
import * as Metrics from "./Metrics.ts"

describe("classification metrics", () => {
  it("counts a confusion matrix and reads accuracy, binary and macro F1, precision and recall from it", () => {
    const actual = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    const predicted = [0, 1, 0, 1, 1, 0, 1, 2, 2, 1]
    const c = Metrics.confusion(["a", "b", "c"], actual, predicted)
    expect(c.matrix).toEqual([[2, 1, 0], [1, 3, 0], [0, 1, 2]])
    expect(Metrics.accuracy(c)).toBeCloseTo(0.7, 12)
    // Class b: tp 3, fp 2, fn 1 → 6/9.
    expect(Metrics.classF1(c, 1)).toBeCloseTo(6 / 9, 12)
    expect(Metrics.f1(c)).toBeCloseTo((4 / 6 + 6 / 9 + 4 / 5) / 3, 12)
    const binary = Metrics.confusion(["no", "yes"], [0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    expect(Metrics.f1(binary, 1)).toBeCloseTo((2 * 2) / (2 * 2 + 1 + 1), 12)
    expect(Metrics.precisionRecall(binary, 1)).toEqual({ precision: 2 / 3, recall: 2 / 3 })
    expect(Metrics.f1(Metrics.confusion(["no", "yes"], [0, 0], [0, 0]), 1)).toBe(0)
  })

  it("reads classes from sigmoid and softmax outputs", () => {
    expect([...Metrics.predictedClasses(Float32Array.from([0.2, 0.5, 0.9]), 3)]).toEqual([0, 1, 1])
    expect([...Metrics.predictedClasses(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.2, 0.3]), 2)]).toEqual([1, 0])
    expect([...Metrics.positiveScores(Float32Array.from([0.25, 0.75]), 2, 0)]).toEqual([0.75, 0.25])
  })

  it("draws the ROC curve whose area is the probability a positive outranks a negative (ties count half)", () => {
    let seed = 11
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const positive = Array.from({ length: 300 }, () => random() < 0.4)
    // Rounded scores make ties, which the curve must take together.
    const scores = positive.map((p) => Math.round((random() + (p ? 0.35 : 0)) * 20) / 20)
    const curve = Metrics.roc(scores, positive, 1, 1000)
    let wins = 0
    let pairs = 0
    scores.forEach((s, i) => scores.forEach((t, j) => {
      if (!positive[i] || positive[j]) return
      pairs++
      wins += s > t ? 1 : s === t ? 0.5 : 0
    }))
    expect(Metrics.auc(curve)).toBeCloseTo(wins / pairs, 12)
    expect(curve.points[0]).toMatchObject({ tp: 0, fp: 0 })
    expect(curve.points.at(-1)).toMatchObject({ tp: curve.positives, fp: curve.negatives })
    // Thinned to at most maxPoints, ends kept.
    const thin = Metrics.roc(scores, positive, 1, 5)
    expect(thin.points).toHaveLength(5)
    expect(thin.points.at(-1)).toEqual(curve.points.at(-1))
  })
})
