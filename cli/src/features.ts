/**
 * `jointly features mpeg7`: an image collection — a CSV of pixels (one image per row, e.g. datasets/digits.csv)
 * or a directory of PNG files (fast-png decodes them; ids are the file names) — to the CSV of its MPEG-7
 * descriptors (id, label, feature columns) that an owner or a querier declares as its `query.similar` dataset;
 * prints the `features` and `featureMax` the task takes. A ragged row, a pixel value that is not a number in
 * 0…max, or a file that is not a PNG fails naming it, and no file is written.
 */
import { readdir, readFile, writeFile } from "node:fs/promises"
import { basename, extname, join } from "node:path"
import { Schema } from "effect"
import { convertIndexedToRgb, decode } from "fast-png"
import * as Image from "@jointly/core/internal/imaging/Image"
import * as Mpeg7Features from "@jointly/core/internal/imaging/Mpeg7Features"
import { records } from "@jointly/participant/internal/datasets/Csv"

export class FeatureExtractionError extends Schema.TaggedError<FeatureExtractionError>()("FeatureExtractionError", {
  file: Schema.String,
  line: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    return `features: ${this.file}${this.line === undefined ? "" : `:${this.line}`}: ${this.detail}`
  }
}

export interface PixelCsv {
  readonly input: string
  readonly layout: Mpeg7Features.PixelLayout
  /** Pixel columns: those whose name starts with this, in file order (default `pixel_`). */
  readonly pixelPrefix: string
  readonly idColumn?: string
  readonly labelColumn?: string
}

export interface Mpeg7Arguments {
  /** A CSV of pixels, or a directory of PNG files. */
  readonly source: { readonly csv: PixelCsv } | { readonly pngDirectory: string }
  readonly out: string
  readonly options: Mpeg7Features.Options
  readonly json: boolean
}

/** One decoded PNG as an Image: any bit depth to 0…255, a palette expanded, a grey image's alpha dropped. */
export const pngImage = (bytes: Uint8Array, file: string): Image.Image => {
  let png
  try {
    png = decode(bytes)
  } catch (cause) {
    throw new FeatureExtractionError({ file, detail: `not a readable PNG: ${cause instanceof Error ? cause.message : String(cause)}` })
  }
  const { width, height } = png
  if (png.palette) {
    const rgb = convertIndexedToRgb(png)
    const channels = rgb.length === width * height * 4 ? 4 : 3
    return Image.make(width, height, channels, rgb)
  }
  const scale = 255 / (2 ** png.depth - 1)
  const samples = Array.from(png.data, (v) => v * scale)
  switch (png.channels) {
    case 1:
    case 3:
    case 4:
      return Image.make(width, height, png.channels, samples)
    case 2:
      return Image.make(width, height, 1, samples.filter((_, i) => i % 2 === 0))
    default:
      throw new FeatureExtractionError({ file, detail: `${png.channels} channels per pixel` })
  }
}

/** The PNG files of a directory in name order, each as a row (id: the file name without `.png`). */
const pngRows = async (directory: string): Promise<Array<Mpeg7Features.Row>> => {
  const files = (await readdir(directory)).filter((f) => extname(f).toLowerCase() === ".png").sort()
  if (files.length === 0) throw new FeatureExtractionError({ file: directory, detail: "no .png file" })
  return Promise.all(files.map(async (f) => ({ id: basename(f, extname(f)), image: pngImage(await readFile(join(directory, f)), join(directory, f)) })))
}

/** The rows of a CSV of pixels (id: the id column's value, or `img-0000`… by row). */
const csvRows = async (args: PixelCsv): Promise<Array<Mpeg7Features.Row>> => {
  const rows: Array<Mpeg7Features.Row> = []
  let header: Array<string> | undefined
  let pixelAt: Array<number> = []
  let idAt = -1
  let labelAt = -1
  const expected = args.layout.width * args.layout.height * args.layout.channels
  for await (const { line, fields } of records(args.input)) {
    if (header === undefined) {
      header = fields
      pixelAt = header.flatMap((name, i) => (name.startsWith(args.pixelPrefix) ? [i] : []))
      if (pixelAt.length !== expected) {
        throw new FeatureExtractionError({ file: args.input, line, detail: `${pixelAt.length} columns start with "${args.pixelPrefix}", ${args.layout.width}×${args.layout.height}×${args.layout.channels} needs ${expected}` })
      }
      idAt = args.idColumn === undefined ? -1 : header.indexOf(args.idColumn)
      labelAt = header.indexOf(args.labelColumn ?? "label")
      if (args.idColumn !== undefined && idAt < 0) throw new FeatureExtractionError({ file: args.input, line, detail: `no id column "${args.idColumn}"` })
      if (args.labelColumn !== undefined && labelAt < 0) throw new FeatureExtractionError({ file: args.input, line, detail: `no label column "${args.labelColumn}"` })
      continue
    }
    if (fields.length !== header.length) throw new FeatureExtractionError({ file: args.input, line, detail: `${fields.length} fields, the header has ${header.length}` })
    const samples = pixelAt.map((i) => {
      const value = Number(fields[i])
      if (fields[i]!.trim() === "" || !(value >= 0 && value <= args.layout.max)) {
        throw new FeatureExtractionError({ file: args.input, line, detail: `${header![i]} is "${fields[i]}", not a number in 0…${args.layout.max}` })
      }
      return value
    })
    const image = Mpeg7Features.imageOf(samples, args.layout)
    rows.push({
      id: idAt >= 0 ? fields[idAt]! : `img-${String(rows.length).padStart(4, "0")}`,
      ...(labelAt >= 0 ? { label: fields[labelAt]! } : {}),
      image
    })
  }
  if (header === undefined) throw new FeatureExtractionError({ file: args.input, detail: "the file has no header row" })
  return rows
}

export const mpeg7 = async (args: Mpeg7Arguments) => {
  const started = performance.now()
  const rows = "csv" in args.source ? await csvRows(args.source.csv) : await pngRows(args.source.pngDirectory)
  await writeFile(args.out, Mpeg7Features.toCsv(rows, args.options))
  const labelled = rows.every((r) => r.label !== undefined)
  const summary = {
    out: args.out,
    images: rows.length,
    features: Mpeg7Features.columns(args.options),
    featureMax: Mpeg7Features.featureMax(args.options),
    msPerImage: rows.length === 0 ? 0 : (performance.now() - started) / rows.length
  }
  if (args.json) process.stdout.write(JSON.stringify(summary) + "\n")
  else {
    process.stdout.write(`${summary.images} images → ${summary.out}: ${summary.features.length} feature columns, featureMax ${summary.featureMax} (${summary.msPerImage.toFixed(2)} ms per image)\n`)
    process.stdout.write(`query.similar params: ${JSON.stringify({ features: summary.features, featureMax: summary.featureMax, idColumn: "id", ...(labelled ? { labelColumn: "label" } : {}) })}\n`)
  }
  return summary
}
