import { describe, expect, it } from "vitest"
import * as Image from "./Image.ts"
import * as RegionShape from "./RegionShape.ts"

const SIZE = 96

/** A shape drawn analytically, turned by `degrees` about the image centre: 255 inside, 0 outside. */
const draw = (inside: (x: number, y: number) => boolean, degrees = 0) => {
  const a = (degrees * Math.PI) / 180
  const c = SIZE / 2
  return Image.make(SIZE, SIZE, 1, Array.from({ length: SIZE * SIZE }, (_, i) => {
    const x = (i % SIZE) + 0.5 - c
    const y = Math.floor(i / SIZE) + 0.5 - c
    // The point in the shape's own frame (the inverse rotation).
    return inside(x * Math.cos(a) + y * Math.sin(a), -x * Math.sin(a) + y * Math.cos(a)) ? 255 : 0
  }))
}

/** An "L": a bar and a foot, no rotational symmetry. */
const ell = (x: number, y: number) => (x >= -20 && x < -6 && y >= -30 && y < 30) || (x >= -20 && x < 22 && y >= 16 && y < 30)
const disc = (x: number, y: number) => x * x + y * y < 30 * 30
const cross = (x: number, y: number) => (Math.abs(x) < 6 && Math.abs(y) < 32) || (Math.abs(y) < 6 && Math.abs(x) < 32)

const l1 = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0)

describe("MPEG-7 region shape (ART)", () => {
  it("35 coefficients in m-outer, n-inner order without (0, 0), each 4 bits", () => {
    expect(RegionShape.order).toHaveLength(RegionShape.COEFFICIENTS)
    expect(RegionShape.order.slice(0, 4)).toEqual([[0, 1], [0, 2], [1, 0], [1, 1]])
    const codes = RegionShape.extract(draw(ell))
    expect(codes).toHaveLength(35)
    expect(codes.every((c) => Number.isInteger(c) && c >= 0 && c <= RegionShape.CODE_MAX)).toBe(true)
  })

  it("magnitudes are invariant under rotation: exactly for 90°, within quantisation for 30° and 45°", () => {
    const upright = draw(ell)
    const magnitudes = RegionShape.magnitudes(RegionShape.threshold(upright))
    const quarter = RegionShape.magnitudes(RegionShape.threshold(Image.rotate90(upright)))
    for (const [i, m] of magnitudes.entries()) expect(quarter[i]).toBeCloseTo(m, 9)
    const codes = RegionShape.extract(upright)
    expect(RegionShape.extract(Image.rotate90(upright))).toEqual(codes)
    for (const degrees of [30, 45]) {
      const turned = RegionShape.extract(draw(ell, degrees))
      // Rasterising the turned shape moves a few magnitudes across a quantisation threshold, no further.
      expect(Math.max(...turned.map((c, i) => Math.abs(c - codes[i]!)))).toBeLessThanOrEqual(1)
    }
  })

  it("different shapes differ by far more than a rotation moves them", () => {
    const ellCodes = RegionShape.extract(draw(ell))
    const rotation = l1(ellCodes, RegionShape.extract(draw(ell, 30)))
    for (const other of [disc, cross]) expect(l1(ellCodes, RegionShape.extract(draw(other)))).toBeGreaterThan(4 * Math.max(rotation, 5))
    // A disc is round: every angular coefficient (m > 0) is near 0.
    const round = RegionShape.magnitudes(RegionShape.threshold(draw(disc)))
    for (const [i, [m]] of RegionShape.order.entries()) if (m > 0) expect(round[i]).toBeLessThan(0.01)
  })

  it("is scale and translation invariant: the same shape smaller and off-centre keeps its codes within one step", () => {
    const big = RegionShape.extract(draw(cross))
    const small = RegionShape.extract(Image.make(SIZE, SIZE, 1, Array.from({ length: SIZE * SIZE }, (_, i) => {
      const x = (i % SIZE) - 20
      const y = Math.floor(i / SIZE) - 60
      return (Math.abs(x) < 3 && Math.abs(y) < 16) || (Math.abs(y) < 3 && Math.abs(x) < 16) ? 255 : 0
    })))
    expect(Math.max(...small.map((c, i) => Math.abs(c - big[i]!)))).toBeLessThanOrEqual(1)
  })

  it("an empty region has all-zero codes", () => {
    expect(RegionShape.extract(Image.make(8, 8, 1, Array(64).fill(0)))).toEqual(Array(35).fill(0))
  })
})
