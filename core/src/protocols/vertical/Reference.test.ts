import { describe, expect, it } from "vitest"
import * as Linear from "./Linear.ts"
import * as Reference from "./Reference.ts"

// A float model's test split: row "d" sits inside the fixed-point drift of the boundary, the others clear of it.
const ref = {
  testIds: ["a", "b", "c", "d"],
  scores: [1.5, -0.4, 0.03, 0.004],
  predicted: [true, false, true, true],
  actual: [true, false, false, false]
} as unknown as ReturnType<typeof Reference.reference>

describe("Reference.agreement", () => {
  it("names a secure label that differs on a row clear of the boundary", () => {
    expect(Reference.agreement(ref, { ids: ["a", "b", "c", "d"], positive: [true, true, true, true] }).disagreements).toEqual(["b"])
    expect(Reference.agreement(ref, { ids: ["c"], positive: [false] }).disagreements).toEqual(["c"])
  })

  it("accepts either label inside the margin and scores the metrics with the secure one", () => {
    const agreed = Reference.agreement(ref, { ids: ["a", "b", "c", "d"], positive: [true, false, true, false] })
    expect(agreed.disagreements).toEqual([])
    expect(agreed.metrics).toEqual(Linear.metrics(Linear.confusion([true, false, true, false], [true, false, false, false])))
    expect(agreed.metrics.accuracy).not.toBe(Linear.metrics(Linear.confusion(ref.predicted, ref.actual)).accuracy)
  })

  it("refuses an id that is not a test row", () => {
    expect(() => Reference.agreement(ref, { ids: ["z"], positive: [true] })).toThrow("z is not a test row")
  })
})
