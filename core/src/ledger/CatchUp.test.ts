import { describe, expect, it } from "vitest"
import { catchUpProbability, confirmationsFor } from "./CatchUp.ts"

// Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System" (2008), §11: the published tables, 7 decimals.
const nakamotoQ01 = [1.0, 0.2045873, 0.0509779, 0.0131722, 0.0034552, 0.0009137, 0.0002428, 0.0000647, 0.0000173, 0.0000046, 0.0000012]
const nakamotoQ03 = new Map([[0, 1.0], [5, 0.1773523], [10, 0.0416605], [15, 0.0101008], [20, 0.0024804], [25, 0.0006132], [30, 0.0001522], [35, 0.0000379], [40, 0.0000095], [45, 0.0000024], [50, 0.0000006]])
// PROTOCOLS.md §10 (the source's Fig. 5 curves, computed with python3), q = 0.3 for z = 0..10.
const sourceQ03 = [1.0, 0.6277491, 0.4457171, 0.3245841, 0.2391269, 0.1773523, 0.1321112, 0.0987125, 0.0739244, 0.0554572, 0.0416605]

const round7 = (x: number) => Math.round(x * 1e7) / 1e7

describe("attacker catch-up probability (seed 001 Eq. 3)", () => {
  it("reproduces Nakamoto's table for q = 0.1, z = 0..10", () => {
    nakamotoQ01.forEach((expected, z) => expect(round7(catchUpProbability(0.1, z))).toBe(expected))
  })

  it("reproduces Nakamoto's table for q = 0.3, z = 0..50 and the source's curve for z = 0..10", () => {
    for (const [z, expected] of nakamotoQ03) expect(round7(catchUpProbability(0.3, z))).toBe(expected)
    sourceQ03.forEach((expected, z) => expect(round7(catchUpProbability(0.3, z))).toBe(expected))
  })

  it("reproduces Nakamoto's confirmations needed for P < 0.1%", () => {
    const table: Array<[number, number]> = [[0.1, 5], [0.15, 8], [0.2, 11], [0.25, 15], [0.3, 24], [0.35, 41], [0.4, 89], [0.45, 340]]
    for (const [q, z] of table) expect(confirmationsFor(q, 0.001)).toBe(z)
  })

  it("stays accurate where 1 − Σ cancels: tiny probabilities keep their digits and fall monotonically", () => {
    const p200 = catchUpProbability(0.1, 200)
    const p201 = catchUpProbability(0.1, 201)
    expect(p200).toBeGreaterThan(0)
    expect(p201).toBeLessThan(p200)
    expect(p200).toBeLessThan(1e-100)
  })

  it("an attacker with half the power or more always catches up; bad input is named", () => {
    expect(catchUpProbability(0.5, 10)).toBe(1)
    expect(catchUpProbability(0.7, 3)).toBe(1)
    expect(catchUpProbability(0, 3)).toBe(0)
    expect(() => catchUpProbability(1.2, 3)).toThrow(/q must be a probability/)
    expect(() => catchUpProbability(0.1, 2.5)).toThrow(/z must be a whole number/)
    expect(() => confirmationsFor(0.5, 0.001)).toThrow(/always catches up/)
  })
})
