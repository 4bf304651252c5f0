/**
 * MPEG-7 Region Shape Descriptor (ISO/IEC 15938-3 §8.2; PROTOCOLS.md §8 step 2): magnitudes of the Angular Radial
 * Transform of a binary region — invariant to rotation (a rotation only turns each coefficient's phase), to
 * scale and translation (the region is mapped onto the unit disc), 35 coefficients of 4 bits.
 *
 * As the standard has it:
 *   - basis V_nm(ρ, θ) = R_n(ρ)·e^{jmθ}/2π with R_0 = 1 and R_n = 2·cos(πnρ), for n < 3 and m < 12;
 *   - F_nm = Σ over the region of conj(V_nm), on the unit disc centred on the region's centre of mass with the
 *     radius of its farthest point;
 *   - the 35 magnitudes |F_nm| other than (0, 0), divided by |F_00| (the area term), each quantised to 4 bits on
 *     the standard's non-linear table (the interval holding it), in the order m outer, n inner.
 * Simplified: the transform is summed over 4×4 sample points per pixel (the reference software samples a
 * 101×101 basis table instead), so the sums track the continuous integral a little better on tiny images; the
 * region comes from a luminance threshold (or a given mask), not a segmentation.
 */
import type { Image } from "./Image.ts"
import { luminance } from "./Image.ts"

export const RADIAL = 3
export const ANGULAR = 12
export const COEFFICIENTS = RADIAL * ANGULAR - 1
/** Largest code of a coefficient (4 bits). */
export const CODE_MAX = 15
/** Sample points per pixel side. */
export const SAMPLES = 4

/** ISO/IEC 15938-3's quantisation thresholds of the normalised magnitudes. */
export const QUANT_TABLE: ReadonlyArray<number> = [
  0, 0.003585473, 0.007418411, 0.01153552, 0.015982337, 0.020816302, 0.026111312, 0.031964674, 0.038508176, 0.045926586,
  0.054490513, 0.064619488, 0.077016351, 0.092998687, 0.115524524, 0.154032694, 1
]

/** A binary region: `width × height`, true inside. */
export interface Region {
  readonly width: number
  readonly height: number
  readonly inside: ReadonlyArray<boolean>
}

/** The pixels brighter than `threshold` (0…255) as the region. */
export const threshold = (image: Image, level = 128): Region => ({
  width: image.width,
  height: image.height,
  inside: Array.from(luminance(image), (v) => v > level)
})

/** (m, n) of each coefficient in descriptor order. */
export const order: ReadonlyArray<readonly [m: number, n: number]> = Array.from({ length: ANGULAR * RADIAL }, (_, i) => [Math.floor(i / RADIAL), i % RADIAL] as const).filter(
  ([m, n]) => m !== 0 || n !== 0
)

/** The 35 magnitudes |F_nm| / |F_00|, or all 0 for an empty region. */
export const magnitudes = (region: Region): Array<number> => {
  const points: Array<readonly [number, number]> = []
  for (let y = 0; y < region.height; y++) {
    for (let x = 0; x < region.width; x++) {
      if (!region.inside[y * region.width + x]) continue
      for (let sy = 0; sy < SAMPLES; sy++) for (let sx = 0; sx < SAMPLES; sx++) points.push([x + (sx + 0.5) / SAMPLES, y + (sy + 0.5) / SAMPLES])
    }
  }
  if (points.length === 0) return order.map(() => 0)
  const cx = points.reduce((s, p) => s + p[0], 0) / points.length
  const cy = points.reduce((s, p) => s + p[1], 0) / points.length
  let radius = 0
  for (const [x, y] of points) radius = Math.max(radius, Math.hypot(x - cx, y - cy))
  if (radius === 0) radius = 1
  const re = new Float64Array(ANGULAR * RADIAL)
  const im = new Float64Array(ANGULAR * RADIAL)
  for (const [x, y] of points) {
    const rho = Math.hypot(x - cx, y - cy) / radius
    const theta = Math.atan2(y - cy, x - cx)
    const r1 = 2 * Math.cos(Math.PI * rho)
    const r2 = 2 * Math.cos(2 * Math.PI * rho)
    // conj(e^{jmθ}) = e^{−jmθ} by repeated multiplication; the 1/2π factor cancels in the normalisation.
    const c = Math.cos(theta)
    const s = -Math.sin(theta)
    let zr = 1
    let zi = 0
    for (let at = 0; at < ANGULAR * RADIAL; at += RADIAL) {
      // R_0 = 1, R_1, R_2 (RADIAL = 3).
      re[at]! += zr
      im[at]! += zi
      re[at + 1]! += r1 * zr
      im[at + 1]! += r1 * zi
      re[at + 2]! += r2 * zr
      im[at + 2]! += r2 * zi
      const next = zr * c - zi * s
      zi = zr * s + zi * c
      zr = next
    }
  }
  const area = Math.hypot(re[0]!, im[0]!)
  return order.map(([m, n]) => Math.hypot(re[m * RADIAL + n]!, im[m * RADIAL + n]!) / area)
}

/** A normalised magnitude to its 4-bit code: the table interval holding it. */
export const quantise = (magnitude: number): number => {
  let code = 0
  while (code < CODE_MAX && magnitude >= QUANT_TABLE[code + 1]!) code++
  return code
}

/** The descriptor of a region: 35 codes 0…15. */
export const extractRegion = (region: Region): Array<number> => magnitudes(region).map(quantise)

/** The descriptor of an image's bright region (luminance above `level`). */
export const extract = (image: Image, level = 128): Array<number> => extractRegion(threshold(image, level))
