/**
 * MPEG-7 Edge Histogram Descriptor (ISO/IEC 15938-3 §8.4; PROTOCOLS.md §8 step 2): the spatial distribution of
 * five edge types in 16 sub-images, 80 bins of 3 bits.
 *
 * As the standard (and its reference software) has it:
 *   - the image is split into 4×4 sub-images; image blocks of 2×2 sub-blocks tile the whole image, their side
 *     sized for about 1,100 blocks — ⌊√(W·H/1100)/2⌋·2 pixels, at least 2 (one pixel per sub-block) — and each
 *     block counts in the sub-image holding its top-left corner;
 *   - per block, the mean luminance of its four sub-blocks (a0 a1 / a2 a3) against the five filters: vertical
 *     (1 −1 / 1 −1), horizontal (1 1 / −1 −1), 45° (√2 0 / 0 −√2), 135° (0 √2 / −√2 0), non-directional
 *     (2 −2 / −2 2); the strongest is the block's edge if its strength exceeds the threshold 11, else none;
 *   - the local histogram: per sub-image the share of its blocks with each edge type (bins in the order
 *     vertical, horizontal, 45°, 135°, non-directional, sub-images row by row);
 *   - each bin quantised to 3 bits against the standard's non-linear table of its edge type (the nearest of the
 *     eight reconstruction levels).
 * The 150 matching bins (80 local, 5 global, 65 semi-global: rows, columns, five 2×2 groups) follow the
 * reference matching; `query.similar` takes the 80 codes themselves (squared Euclidean, not the standard's L1).
 * Simplified: luminance is BT.601 Y of the given samples (no colour conversion of the source file's own).
 */
import type { Image } from "./Image.ts"
import { luminance } from "./Image.ts"

export const SUB_IMAGES = 16
export const EDGE_TYPES = ["vertical", "horizontal", "diagonal45", "diagonal135", "nonDirectional"] as const
export const BINS = SUB_IMAGES * EDGE_TYPES.length
/** Largest code of a bin (3 bits). */
export const CODE_MAX = 7
export const EDGE_THRESHOLD = 11
export const DESIRED_BLOCKS = 1100

/** ISO/IEC 15938-3's reconstruction levels per edge type (rows in EDGE_TYPES order). */
export const QUANT_TABLE: ReadonlyArray<ReadonlyArray<number>> = [
  [0.010867, 0.057915, 0.099526, 0.144849, 0.195573, 0.260504, 0.358031, 0.530128],
  [0.012266, 0.069934, 0.125879, 0.182307, 0.243396, 0.314563, 0.411728, 0.564319],
  [0.004193, 0.025852, 0.04686, 0.068519, 0.093286, 0.12349, 0.161505, 0.22896],
  [0.004174, 0.025924, 0.046232, 0.067163, 0.089655, 0.115391, 0.151904, 0.217745],
  [0.006778, 0.051667, 0.10865, 0.166257, 0.224226, 0.285691, 0.356375, 0.450972]
]

export const blockSize = (width: number, height: number) => Math.max(2, Math.floor(Math.sqrt((width * height) / DESIRED_BLOCKS) / 2) * 2)

/** The edge type index of one block's sub-block means, or −1 for no edge. */
export const edgeOf = (a0: number, a1: number, a2: number, a3: number, threshold = EDGE_THRESHOLD): number => {
  const strengths = [
    Math.abs(a0 - a1 + a2 - a3),
    Math.abs(a0 + a1 - a2 - a3),
    Math.abs(Math.SQRT2 * a0 - Math.SQRT2 * a3),
    Math.abs(Math.SQRT2 * a1 - Math.SQRT2 * a2),
    Math.abs(2 * a0 - 2 * a1 - 2 * a2 + 2 * a3)
  ]
  let best = 0
  for (let t = 1; t < strengths.length; t++) if (strengths[t]! > strengths[best]!) best = t
  return strengths[best]! > threshold ? best : -1
}

/** The normalised local histogram: 80 shares in 0…1. */
export const localHistogram = (image: Image, threshold = EDGE_THRESHOLD): Float64Array => {
  const { width, height } = image
  const grey = luminance(image)
  const size = blockSize(width, height)
  const half = size / 2
  const histogram = new Float64Array(BINS)
  const blocks = new Float64Array(SUB_IMAGES)
  const mean = (x0: number, y0: number) => {
    let sum = 0
    for (let y = y0; y < y0 + half; y++) for (let x = x0; x < x0 + half; x++) sum += grey[y * width + x]!
    return sum / (half * half)
  }
  for (let y = 0; y + size <= height; y += size) {
    for (let x = 0; x + size <= width; x += size) {
      const sub = Math.floor((y * 4) / height) * 4 + Math.floor((x * 4) / width)
      blocks[sub]!++
      const edge = edgeOf(mean(x, y), mean(x + half, y), mean(x, y + half), mean(x + half, y + half), threshold)
      if (edge >= 0) histogram[sub * 5 + edge]!++
    }
  }
  for (let i = 0; i < BINS; i++) histogram[i] = blocks[Math.floor(i / 5)]! > 0 ? histogram[i]! / blocks[Math.floor(i / 5)]! : 0
  return histogram
}

/** A share to its 3-bit code: the nearest reconstruction level of its edge type. */
export const quantise = (share: number, edgeType: number): number => {
  const levels = QUANT_TABLE[edgeType]!
  let code = 0
  while (code < CODE_MAX && share > (levels[code]! + levels[code + 1]!) / 2) code++
  return code
}

/** The descriptor: 80 codes 0…7. */
export const extract = (image: Image, threshold = EDGE_THRESHOLD): Array<number> =>
  Array.from(localHistogram(image, threshold), (share, i) => quantise(share, i % 5))

/** The 150 bins the reference matching compares: the 80 reconstructed shares, 5 global, 65 semi-global. */
export const matchingBins = (codes: ReadonlyArray<number>): Array<number> => {
  const local = codes.map((code, i) => QUANT_TABLE[i % 5]![code]!)
  const meanOf = (subs: ReadonlyArray<number>) => EDGE_TYPES.map((_, t) => subs.reduce((s, sub) => s + local[sub * 5 + t]!, 0) / subs.length)
  const all = Array.from({ length: SUB_IMAGES }, (_, i) => i)
  const rows = [0, 1, 2, 3].map((r) => all.filter((i) => Math.floor(i / 4) === r))
  const columns = [0, 1, 2, 3].map((c) => all.filter((i) => i % 4 === c))
  const quarters = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15], [5, 6, 9, 10]]
  return [...local, ...meanOf(all), ...[...rows, ...columns, ...quarters].flatMap(meanOf)]
}

/** The reference matching distance: L1 over the 150 bins, the global bins weighted 5. */
export const distance = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  const x = matchingBins(a)
  const y = matchingBins(b)
  return x.reduce((s, v, i) => s + Math.abs(v - y[i]!) * (i >= BINS && i < BINS + 5 ? 5 : 1), 0)
}
