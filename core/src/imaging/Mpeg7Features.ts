/**
 * MPEG-7 features for `query.similar` (PROTOCOLS.md §8 step 2, §11 item 29): each image's chosen descriptors —
 * edge histogram (EdgeHistogram.ts), colour structure (ColourStructure.ts), region shape (RegionShape.ts) —
 * concatenated into integer columns in [0, featureMax], the form `query.similar` commits and searches
 * (squared Euclidean distance on the codes). `featureMax` is the largest code of the chosen descriptors: 7
 * (EHD), 15 (RSD), 255 (CSD); a mix keeps each descriptor's own code range, so CSD codes dominate a distance they
 * share with EHD or RSD.
 */
import { Schema } from "effect"
import * as ColourStructure from "./ColourStructure.ts"
import * as EdgeHistogram from "./EdgeHistogram.ts"
import type { Image } from "./Image.ts"
import { fromGrey, make, resample } from "./Image.ts"
import * as RegionShape from "./RegionShape.ts"

export const Descriptor = Schema.Literals(["ehd", "csd", "rsd"])
export type Descriptor = typeof Descriptor.Type

export const Options = Schema.Struct({
  descriptors: Schema.NonEmptyArray(Descriptor),
  /** CSD bins: 32, 64, 128 or 256 (default 64). */
  csdBins: Schema.optional(Schema.Literals([32, 64, 128, 256])),
  /** RSD: luminance above this (0…255) is the region (default 128). */
  regionLevel: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 255 }))),
  /** Resample every image to this size first (bilinear), e.g. 32×32 for the 8×8 digits. */
  resample: Schema.optional(Schema.Struct({ width: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4096 })), height: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4096 })) }))
})
export type Options = typeof Options.Type

const pad = (i: number, width: number) => String(i).padStart(width, "0")

/** Column names, in extraction order: ehd_<sub-image>_<edge type>, csd_<bin>, rsd_<m>_<n>. */
export const columns = (options: Options): Array<string> =>
  options.descriptors.flatMap((d) => {
    switch (d) {
      case "ehd":
        return Array.from({ length: EdgeHistogram.BINS }, (_, i) => `ehd_${pad(Math.floor(i / 5), 2)}_${EdgeHistogram.EDGE_TYPES[i % 5]}`)
      case "csd":
        return Array.from({ length: options.csdBins ?? 64 }, (_, i) => `csd_${pad(i, 3)}`)
      case "rsd":
        return RegionShape.order.map(([m, n]) => `rsd_${pad(m, 2)}_${n}`)
    }
  })

/** The largest value any column can take. */
export const featureMax = (options: Options): number =>
  Math.max(...options.descriptors.map((d) => (d === "ehd" ? EdgeHistogram.CODE_MAX : d === "csd" ? ColourStructure.CODE_MAX : RegionShape.CODE_MAX)))

/** One image's feature row, in `columns(options)` order. */
export const extract = (image: Image, options: Options): Array<number> => {
  const input = options.resample ? resample(image, options.resample.width, options.resample.height) : image
  return options.descriptors.flatMap((d) =>
    d === "ehd" ? EdgeHistogram.extract(input) : d === "csd" ? ColourStructure.extract(input, options.csdBins ?? 64) : RegionShape.extract(input, options.regionLevel ?? 128)
  )
}

/** How pixel columns of a table make an image: `width × height × channels` samples on 0…max, row-major. */
export interface PixelLayout {
  readonly width: number
  readonly height: number
  readonly channels: 1 | 3 | 4
  readonly max: number
}

export const imageOf = (samples: ReadonlyArray<number>, layout: PixelLayout): Image =>
  layout.channels === 1
    ? fromGrey(layout.width, layout.height, samples, layout.max)
    : make(layout.width, layout.height, layout.channels, samples.map((v) => (v * 255) / layout.max))

export interface Row {
  readonly id: string
  readonly label?: string
  readonly image: Image
}

/**
 * The feature table as CSV text: `id`, `label` (when every row has one), then the feature columns — the owner's
 * dataset of a `query.similar` task with `features: columns(options)`, `featureMax: featureMax(options)`.
 */
export const toCsv = (rows: Iterable<Row>, options: Options): string => {
  const all = [...rows]
  const labelled = all.length > 0 && all.every((r) => r.label !== undefined)
  const header = ["id", ...(labelled ? ["label"] : []), ...columns(options)]
  const lines = all.map((r) => [r.id, ...(labelled ? [r.label!] : []), ...extract(r.image, options)].join(","))
  return [header.join(","), ...lines].join("\n") + "\n"
}
