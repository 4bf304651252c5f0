import { describe, expect, it } from "vitest"
import * as ColourStructure from "./ColourStructure.ts"
import * as Image from "./Image.ts"

const RED = [200, 30, 30] as const
const BLUE = [20, 40, 220] as const

const painted = (width: number, height: number, colourAt: (x: number, y: number) => readonly [number, number, number]) =>
  Image.make(width, height, 3, Array.from({ length: width * height }, (_, i) => colourAt(i % width, Math.floor(i / width))).flat())

/** The plain colour histogram (pixels per bin): what CSD must see past. */
const colourHistogram = (image: Image.Image, size: ColourStructure.Size) => {
  const counts = Array<number>(size).fill(0)
  for (let i = 0; i < image.width * image.height; i++) counts[ColourStructure.bin(ColourStructure.hmmd(...Image.rgb(image, i)), size)]!++
  return counts
}

describe("MPEG-7 colour structure", () => {
  it("quantises HMMD into the standard's subspaces: saturated colours first, greys last", () => {
    expect(ColourStructure.hmmd(...RED)).toEqual({ hue: 0, sum: 115, diff: 170 })
    expect(ColourStructure.hmmd(0, 255, 0)).toEqual({ hue: 120, sum: 128, diff: 255 })
    for (const size of ColourStructure.SIZES) {
      // Every RGB colour lands inside the space, and the greys fill its last bins (the Sum levels of subspace 0).
      const greys = new Set(Array.from({ length: 256 }, (_, v) => ColourStructure.bin(ColourStructure.hmmd(v, v, v), size)))
      const greyLevels = { 32: 8, 64: 8, 128: 16, 256: 32 }[size]
      expect([...greys].sort((a, b) => a - b)).toEqual(Array.from({ length: greyLevels }, (_, i) => size - greyLevels + i))
      for (let r = 0; r < 256; r += 15) for (let g = 0; g < 256; g += 15) for (let b = 0; b < 256; b += 15) {
        const bin = ColourStructure.bin(ColourStructure.hmmd(r, g, b), size)
        expect(bin >= 0 && bin < size).toBe(true)
      }
    }
  })

  it("sizes the structuring element with the image: 8×8 up to 256×256 pixels, sub-sampled above", () => {
    expect(ColourStructure.window(256, 256)).toEqual({ side: 8, step: 1 })
    expect(ColourStructure.window(512, 512)).toEqual({ side: 16, step: 2 })
    expect(ColourStructure.window(2048, 1024)).toEqual({ side: 64, step: 8 })
  })

  it("a one-colour image has one full bin and nothing else", () => {
    for (const size of ColourStructure.SIZES) {
      const codes = ColourStructure.extract(painted(40, 30, () => RED), size)
      expect(codes).toHaveLength(size)
      expect(codes.filter((c) => c === ColourStructure.CODE_MAX)).toHaveLength(1)
      expect(codes.filter((c) => c !== 0)).toHaveLength(1)
    }
    // A greyscale image is hue-less: its one bin is a grey one.
    const grey = ColourStructure.extract(Image.fromGrey(16, 16, Array(256).fill(9), 16), 64)
    expect(grey.findIndex((c) => c === ColourStructure.CODE_MAX)).toBeGreaterThanOrEqual(56)
  })

  it("tells apart two images with the same colour histogram and different structure", () => {
    const halves = painted(32, 32, (x) => (x < 16 ? RED : BLUE))
    const checkerboard = painted(32, 32, (x, y) => ((x + y) % 2 === 0 ? RED : BLUE))
    expect(colourHistogram(halves, 64)).toEqual(colourHistogram(checkerboard, 64))
    const red = ColourStructure.bin(ColourStructure.hmmd(...RED), 64)
    const blue = ColourStructure.bin(ColourStructure.hmmd(...BLUE), 64)
    const scattered = ColourStructure.structureHistogram(checkerboard, 64)
    const compact = ColourStructure.structureHistogram(halves, 64)
    // Every 8×8 window of the checkerboard holds both; a half is seen by 16 of the 25 window columns.
    expect([scattered[red], scattered[blue]]).toEqual([1, 1])
    expect([compact[red], compact[blue]]).toEqual([16 / 25, 16 / 25])
    expect(ColourStructure.extract(checkerboard, 64)).not.toEqual(ColourStructure.extract(halves, 64))
  })

  it("quantises the bin amplitudes non-linearly to 8 bits", () => {
    expect(ColourStructure.quantise(0)).toBe(0)
    expect(ColourStructure.quantise(1e-6)).toBe(1)
    expect(ColourStructure.quantise(0.037)).toBe(26)
    expect(ColourStructure.quantise(0.32)).toBe(116)
    expect(ColourStructure.quantise(1)).toBe(255)
  })
})
