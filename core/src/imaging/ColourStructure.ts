/**
 * MPEG-7 Colour Structure Descriptor (ISO/IEC 15938-3 §6.6; PROTOCOLS.md §8 step 2): for each quantised HMMD
 * colour, the share of structuring-window positions whose window contains it at least once — unlike a colour
 * histogram, it tells a scattered colour from a compact blob of the same area.
 *
 * As the standard (and its reference software) has it:
 *   - HMMD: Max, Min of R, G, B; Diff = Max − Min; Sum = (Max + Min)/2; Hue as in HSV, undefined for grey
 *     (taken as 0); each rounded to an integer;
 *   - quantisation to 256, 128, 64 or 32 bins: Diff picks a subspace (thresholds 6, 20, 60, 110; 6, 60, 110 for
 *     32 bins), each subspace splits Hue and Sum uniformly into the standard's numbers of levels; subspaces are
 *     numbered from the most saturated (bin 0) to grey (the last bins);
 *   - the structuring element: 8×8 samples; for images above 256×256 pixels, sub-sampled by K = 2^p with
 *     p = max(0, round(½·log2(W·H)) − 8), so the window spans 8K pixels;
 *   - every window position (step K) adds one to each colour present in it; bins are divided by the number of
 *     positions and quantised non-linearly to 8 bits (thresholds 0, 10⁻¹², 0.037, 0.08, 0.195, 0.32; 1, 25, 20,
 *     35, 35 and 140 levels).
 * Differences: bins are counted in the requested space directly (the reference software counts at 256 bins and
 * merges bins for smaller sizes, which can count a merged colour twice in one window before clipping); an image
 * smaller than the window gets one window over the whole image (the standard assumes at least 8×8, so the 8×8
 * digits have exactly one window: the descriptor is then which colours occur). Greyscale images are hue-less
 * HMMD: every pixel falls in the grey subspace.
 */
import type { Image } from "./Image.ts"
import { rgb } from "./Image.ts"

export type Size = 32 | 64 | 128 | 256
export const SIZES: ReadonlyArray<Size> = [32, 64, 128, 256]
/** Largest code of a bin (8 bits). */
export const CODE_MAX = 255

const DIFF_THRESHOLDS: Record<Size, ReadonlyArray<number>> = {
  32: [0, 6, 60, 110, 256],
  64: [0, 6, 20, 60, 110, 256],
  128: [0, 6, 20, 60, 110, 256],
  256: [0, 6, 20, 60, 110, 256]
}
const HUE_LEVELS: Record<Size, ReadonlyArray<number>> = { 32: [1, 4, 4, 4], 64: [1, 4, 4, 8, 8], 128: [1, 4, 8, 8, 8], 256: [1, 4, 16, 16, 16] }
const SUM_LEVELS: Record<Size, ReadonlyArray<number>> = { 32: [8, 4, 1, 1], 64: [8, 4, 4, 2, 1], 128: [16, 4, 4, 4, 4], 256: [32, 8, 4, 4, 4] }
const AMPLITUDE_THRESHOLDS = [0, 1e-12, 0.037, 0.08, 0.195, 0.32, 1]
const AMPLITUDE_LEVELS = [1, 25, 20, 35, 35, 140]

export interface Hmmd {
  /** 0…360; 0 for grey (undefined hue). */
  readonly hue: number
  readonly sum: number
  readonly diff: number
}

export const hmmd = (r: number, g: number, b: number): Hmmd => {
  const max = Math.max(r, g, b)
  const min = Math.min(r, g, b)
  let hue = 0
  if (max > min) {
    const d = max - min
    hue = 60 * (r === max ? (g - b) / d : g === max ? 2 + (b - r) / d : 4 + (r - g) / d)
    if (hue < 0) hue += 360
  }
  return { hue: Math.round(hue), sum: Math.round((max + min) / 2), diff: Math.round(max - min) }
}

/** The bin of one HMMD colour in a space of `size` bins. */
export const bin = ({ hue, sum, diff }: Hmmd, size: Size): number => {
  const thresholds = DIFF_THRESHOLDS[size]
  let sub = 0
  while (thresholds[sub + 1]! <= diff) sub++
  const hues = HUE_LEVELS[size][sub]!
  const sums = SUM_LEVELS[size][sub]!
  const h = hue >= 360 ? 0 : Math.floor((hue / 360) * hues)
  // Sum ranges over [Diff/2, 255 − Diff/2] in a subspace: the levels split that span.
  const s = Math.min(sums - 1, Math.max(0, Math.floor(((sum - thresholds[sub]! / 2) * sums) / (255 - thresholds[sub]!))))
  // Bins of the subspaces after this one (more saturated) come first.
  let offset = 0
  for (let later = sub + 1; later < thresholds.length - 1; later++) offset += HUE_LEVELS[size][later]! * SUM_LEVELS[size][later]!
  return offset + h * sums + s
}

/** The structuring window's side in pixels and its sub-sampling step for a W×H image. */
export const window = (width: number, height: number) => {
  const power = Math.max(0, Math.round(0.5 * Math.log2(width * height)) - 8)
  const step = 2 ** power
  return { side: 8 * step, step }
}

/** The structure histogram: per bin the share of window positions containing the colour, 0…1. */
export const structureHistogram = (image: Image, size: Size = 64): Float64Array => {
  const { width, height } = image
  const bins = new Int32Array(width * height)
  for (let i = 0; i < bins.length; i++) bins[i] = bin(hmmd(...rgb(image, i)), size)
  const { side, step } = window(width, height)
  const across = Math.min(side, width)
  const down = Math.min(side, height)
  const counts = new Float64Array(size)
  // seen[b] = the position that last counted colour b: each colour counts once per position.
  const seen = new Int32Array(size).fill(-1)
  let positions = 0
  for (let y = 0; y + down <= height; y += step) {
    for (let x = 0; x + across <= width; x += step) {
      for (let wy = y; wy < y + down; wy += step) {
        for (let wx = x; wx < x + across; wx += step) {
          const b = bins[wy * width + wx]!
          if (seen[b] !== positions) {
            seen[b] = positions
            counts[b]!++
          }
        }
      }
      positions++
    }
  }
  return counts.map((c) => c / positions)
}

/** A share 0…1 to its 8-bit code. */
export const quantise = (share: number): number => {
  let region = 0
  let base = 0
  while (region + 1 < AMPLITUDE_LEVELS.length && share >= AMPLITUDE_THRESHOLDS[region + 1]!) base += AMPLITUDE_LEVELS[region++]!
  const lo = AMPLITUDE_THRESHOLDS[region]!
  const code = Math.floor(base + ((share - lo) * AMPLITUDE_LEVELS[region]!) / (AMPLITUDE_THRESHOLDS[region + 1]! - lo))
  return Math.min(CODE_MAX, code)
}

/** The descriptor: `size` codes 0…255. */
export const extract = (image: Image, size: Size = 64): Array<number> => Array.from(structureHistogram(image, size), quantise)
