/**
 * Test and benchmark fixture for `query.similar`: the 1,797 8×8 digits images of datasets/digits.csv as an
 * owner's collection (ids `img-0000`…, the digit as label, the 64 pixels as features, integers 0…16, or their
 * MPEG-7 descriptors: `described`), query images made from collection images with a few pixels changed
 * (seeded), and the plaintext k-NN on the same features — float distances, ties by row — that the encrypted
 * retrieval must reproduce.
 */
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import * as Mpeg7Features from "@jointly/core/internal/imaging/Mpeg7Features"
import { prng } from "@jointly/core/internal/protocols/federated-learning/Updates"
import { loadDigits } from "../../modeling/DigitsFixture.ts"

export const pixels = Array.from({ length: 64 }, (_, i) => `pixel_${Math.floor(i / 8)}_${i % 8}`)
export const featureMax = 16

export interface Gallery {
  readonly ids: ReadonlyArray<string>
  readonly labels: ReadonlyArray<number>
  /** Each image's features, in `columns` order. */
  readonly images: ReadonlyArray<ReadonlyArray<number>>
  readonly columns: ReadonlyArray<string>
  readonly featureMax: number
}

export const load = (): Gallery => {
  const digits = loadDigits()
  const at = pixels.map((p) => digits.header.indexOf(p))
  const label = digits.header.indexOf("label")
  return {
    ids: digits.rows.map((_, i) => `img-${String(i).padStart(4, "0")}`),
    labels: digits.rows.map((r) => r[label]!),
    images: digits.rows.map((r) => at.map((k) => r[k]!)),
    columns: pixels,
    featureMax
  }
}

/** A pixel image's MPEG-7 features. */
export const describe = (image: ReadonlyArray<number>, options: Mpeg7Features.Options): Array<number> =>
  Mpeg7Features.extract(Mpeg7Features.imageOf(image, { width: 8, height: 8, channels: 1, max: featureMax }), options)

/** The pixel gallery with MPEG-7 features in place of the pixels. */
export const described = (g: Gallery, options: Mpeg7Features.Options): Gallery => ({
  ids: g.ids,
  labels: g.labels,
  images: g.images.map((image) => describe(image, options)),
  columns: Mpeg7Features.columns(options),
  featureMax: Mpeg7Features.featureMax(options)
})

/** The owner's dataset: id, label and pixel columns. */
export const ownerTable = (g: Gallery, name = "gallery"): TabularData => ({
  name,
  rowCount: g.ids.length,
  columnNames: ["id", "label", ...g.columns],
  isNumeric: (c) => c !== "id",
  numeric: (c) => Float64Array.from(g.images, (img, i) => (c === "label" ? g.labels[i]! : img[g.columns.indexOf(c)]!)),
  strings: (c) => (c === "id" ? [...g.ids] : c === "label" ? g.labels.map(String) : g.images.map((img) => String(img[g.columns.indexOf(c)])))
})

/** A one-row querier dataset: `image` holds the features of `columns`. */
export const queryTable = (image: ReadonlyArray<number>, columns: ReadonlyArray<string> = pixels, name = "query"): TabularData => ({
  name,
  rowCount: 1,
  columnNames: [...columns],
  isNumeric: () => true,
  numeric: (c) => Float64Array.of(image[columns.indexOf(c)]!),
  strings: (c) => [String(image[columns.indexOf(c)])]
})

/** Query images: collection image `row` with `changed` pixels redrawn (seeded), so it is near but not in it. */
export const queries = (g: Gallery, count: number, seed = 11, changed = 6): Array<{ readonly row: number; readonly image: Array<number> }> => {
  const random = prng(seed)
  return Array.from({ length: count }, () => {
    const row = Math.floor(random() * g.images.length)
    const image = [...g.images[row]!]
    for (let c = 0; c < changed; c++) image[Math.floor(random() * 64)] = Math.floor(random() * (featureMax + 1))
    return { row, image }
  })
}

/** Plaintext k-NN by squared Euclidean distance in floats, ties broken by row: the ids and their distances. */
export const nearest = (g: Gallery, q: ReadonlyArray<number>, k: number) =>
  g.images
    .map((img, row) => ({ row, distance: img.reduce((s, v, i) => s + (v - q[i]!) ** 2, 0) }))
    .sort((a, b) => a.distance - b.distance || a.row - b.row)
    .slice(0, k)
    .map(({ row, distance }) => ({ id: g.ids[row]!, distance }))
