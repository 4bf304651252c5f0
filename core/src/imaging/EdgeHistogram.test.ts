import { describe, expect, it } from "vitest"
import * as EdgeHistogram from "./EdgeHistogram.ts"
import * as Image from "./Image.ts"

/** Vertical stripes `stripe` pixels wide, alternating 0 and 255. */
const stripes = (width: number, height: number, stripe: number) =>
  Image.make(width, height, 1, Array.from({ length: width * height }, (_, i) => (Math.floor((i % width) / stripe) % 2 === 0 ? 0 : 255)))

const byType = (codes: ReadonlyArray<number>) => EdgeHistogram.EDGE_TYPES.map((_, t) => codes.filter((_, i) => i % 5 === t))

describe("MPEG-7 edge histogram", () => {
  it("sizes image blocks for about 1,100 per image, at least one pixel per sub-block", () => {
    expect(EdgeHistogram.blockSize(640, 480)).toBe(16)
    expect(EdgeHistogram.blockSize(256, 128)).toBe(4)
    expect(EdgeHistogram.blockSize(8, 8)).toBe(2)
  })

  it("vertical stripes fill the vertical bins; turned 90° they fill the horizontal ones", () => {
    for (const [width, height, stripe] of [[64, 64, 1], [256, 128, 2]] as const) {
      const image = stripes(width, height, stripe)
      const [vertical, horizontal, d45, d135, none] = byType(EdgeHistogram.extract(image))
      expect(vertical).toEqual(Array(16).fill(EdgeHistogram.CODE_MAX))
      expect([...horizontal!, ...d45!, ...d135!, ...none!].every((c) => c === 0)).toBe(true)
      const turned = byType(EdgeHistogram.extract(Image.rotate90(image)))
      expect(turned[1]).toEqual(Array(16).fill(EdgeHistogram.CODE_MAX))
      expect([...turned[0]!, ...turned[2]!, ...turned[3]!, ...turned[4]!].every((c) => c === 0)).toBe(true)
    }
  })

  it("a flat image has no edges; a step below the threshold is no edge either", () => {
    expect(EdgeHistogram.extract(Image.make(64, 64, 3, Array(64 * 64 * 3).fill(180))).every((c) => c === 0)).toBe(true)
    const faint = Image.make(64, 64, 1, Array.from({ length: 64 * 64 }, (_, i) => (i % 2 === 0 ? 100 : 105)))
    expect(Array.from(EdgeHistogram.localHistogram(faint)).every((s) => s === 0)).toBe(true)
  })

  it("a diagonal edge lands in the 135° bins of the sub-images it crosses, and nowhere else", () => {
    // Bright below the main diagonal (x < y); 6-pixel blocks, so the diagonal cuts blocks through a0 and a3.
    const image = Image.make(256, 256, 1, Array.from({ length: 256 * 256 }, (_, i) => ((i % 256) < Math.floor(i / 256) ? 255 : 0)))
    const histogram = EdgeHistogram.localHistogram(image)
    const sums = byType(Array.from(histogram)).map((bins) => bins.reduce((s, v) => s + v, 0))
    expect(sums[3]).toBeGreaterThan(0)
    expect(sums[3]).toBe(Math.max(...sums))
    // Sub-images off the diagonal (top-right, bottom-left) see none; those on it, the 135° bin only.
    for (const sub of [3, 12]) expect(histogram.slice(sub * 5, sub * 5 + 5).every((s) => s === 0)).toBe(true)
    for (const sub of [0, 5, 10, 15]) expect(Array.from(histogram.slice(sub * 5, sub * 5 + 5)).map((s) => s > 0)).toEqual([false, false, false, true, false])
  })

  it("quantises each share to the nearest of its edge type's reconstruction levels", () => {
    expect(EdgeHistogram.quantise(0, 0)).toBe(0)
    expect(EdgeHistogram.quantise(1, 4)).toBe(7)
    expect(EdgeHistogram.quantise(0.06, 0)).toBe(1) // nearest 0.057915
    expect(EdgeHistogram.quantise(0.05, 2)).toBe(2) // 45°: nearest 0.04686
    expect(EdgeHistogram.quantise(0.06, 2)).toBe(3) // 45°: nearest 0.068519
    expect(EdgeHistogram.matchingBins(Array(80).fill(7))).toHaveLength(150)
    expect(EdgeHistogram.distance(Array(80).fill(0), Array(80).fill(0))).toBe(0)
  })
})
