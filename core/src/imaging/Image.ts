/**
 * A raster image as the MPEG-7 descriptors read it (PROTOCOLS.md §8 step 2): `width × height` pixels in row-major
 * order, `channels` interleaved samples per pixel (1 grey, 3 RGB, 4 RGBA — alpha ignored), each 0…255.
 * Decoded once here: a wrong length or a sample outside 0…255 is an ImageError naming it, so the descriptor
 * modules read plain numbers.
 */
import { Schema } from "effect"

export type Channels = 1 | 3 | 4

export interface Image {
  readonly width: number
  readonly height: number
  readonly channels: Channels
  readonly data: Float64Array
}

export class ImageError extends Schema.TaggedError<ImageError>()("ImageError", {
  reason: Schema.Literals(["BadShape", "BadSample"]),
  detail: Schema.String
}) {
  override get message() {
    return `image: ${this.reason}: ${this.detail}`
  }
}

/** Samples 0…255 (fractions allowed: resampled images keep them). */
export const make = (width: number, height: number, channels: Channels, samples: ArrayLike<number>): Image => {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError({ reason: "BadShape", detail: `${width}×${height} is not a positive integer size` })
  }
  if (samples.length !== width * height * channels) {
    throw new ImageError({ reason: "BadShape", detail: `${samples.length} samples for ${width}×${height}×${channels}` })
  }
  const data = Float64Array.from(samples)
  const bad = data.findIndex((v) => !(v >= 0 && v <= 255))
  if (bad >= 0) throw new ImageError({ reason: "BadSample", detail: `sample ${bad} is ${samples[bad]}, outside 0…255` })
  return { width, height, channels, data }
}

/** A greyscale image from values on 0…max (e.g. the digits' 0…16), rescaled to 0…255. */
export const fromGrey = (width: number, height: number, values: ArrayLike<number>, max = 255): Image => {
  const bad = Array.prototype.findIndex.call(values, (v: number) => !(v >= 0 && v <= max))
  if (bad >= 0) throw new ImageError({ reason: "BadSample", detail: `value ${bad} is ${values[bad]}, outside 0…${max}` })
  return make(width, height, 1, Array.from(values, (v) => (v * 255) / max))
}

/** Red, green, blue of pixel `i` (a grey pixel has all three equal). */
export const rgb = (image: Image, i: number): readonly [number, number, number] => {
  const at = i * image.channels
  return image.channels === 1 ? [image.data[at]!, image.data[at]!, image.data[at]!] : [image.data[at]!, image.data[at + 1]!, image.data[at + 2]!]
}

/** Luminance per pixel, 0…255 (ITU-R BT.601 weights, as the MPEG-7 reference software takes Y). */
export const luminance = (image: Image): Float64Array => {
  if (image.channels === 1) return image.data
  const out = new Float64Array(image.width * image.height)
  for (let i = 0; i < out.length; i++) {
    const [r, g, b] = rgb(image, i)
    out[i] = 0.299 * r + 0.587 * g + 0.114 * b
  }
  return out
}

/** The image turned 90° clockwise. */
export const rotate90 = (image: Image): Image => {
  const { width: w, height: h, channels: c } = image
  const out = new Float64Array(image.data.length)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // (x, y) goes to column h−1−y, row x of the h-wide result.
      const from = (y * w + x) * c
      const to = (x * h + (h - 1 - y)) * c
      for (let k = 0; k < c; k++) out[to + k] = image.data[from + k]!
    }
  }
  return { width: h, height: w, channels: c, data: out }
}

/**
 * Bilinear resampling to `width × height` (pixel centres aligned). Used to bring tiny images (the 8×8 digits) to
 * a size where the descriptors' blocks and windows hold more than one pixel; it adds no detail.
 */
export const resample = (image: Image, width: number, height: number): Image => {
  const { width: w, height: h, channels: c } = image
  const out = new Float64Array(width * height * c)
  const at = (x: number, y: number, k: number) => image.data[(y * w + x) * c + k]!
  for (let y = 0; y < height; y++) {
    const sy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / height - 0.5))
    const y0 = Math.floor(sy)
    const y1 = Math.min(h - 1, y0 + 1)
    const fy = sy - y0
    for (let x = 0; x < width; x++) {
      const sx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / width - 0.5))
      const x0 = Math.floor(sx)
      const x1 = Math.min(w - 1, x0 + 1)
      const fx = sx - x0
      for (let k = 0; k < c; k++) {
        const top = at(x0, y0, k) * (1 - fx) + at(x1, y0, k) * fx
        const bottom = at(x0, y1, k) * (1 - fx) + at(x1, y1, k) * fx
        out[(y * width + x) * c + k] = top * (1 - fy) + bottom * fy
      }
    }
  }
  return { width, height, channels: c, data: out }
}
