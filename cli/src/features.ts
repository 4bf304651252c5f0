/**
 * `jointly features mpeg7`: an image collection held as a CSV of pixels (one image per row, e.g.
 * datasets/digits.csv) to the CSV of its MPEG-7 descriptors (id, label, feature columns) that an owner or a
 * querier declares as its `query.similar` dataset; prints the `features` and `featureMax` the task takes.
 * A ragged row or a pixel value that is not a number in 0…max fails with the line and column, and no file is
 * written.
 */
import { writeFile } from "node:fs/promises"
import { Schema } from "effect"
import type { Image } from "@jointly/core/internal/imaging/Image"
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

export interface Mpeg7Arguments {
  readonly input: string
  readonly out: string
  readonly layout: Mpeg7Features.PixelLayout
  readonly options: Mpeg7Features.Options
  /** Pixel columns: those whose name starts with this, in file order (default `pixel_`). */
  readonly pixelPrefix: string
  readonly idColumn?: string
  readonly labelColumn?: string
  readonly json: boolean
}

export const mpeg7 = async (args: Mpeg7Arguments) => {
  const started = performance.now()
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
    const image: Image = Mpeg7Features.imageOf(samples, args.layout)
    rows.push({
      id: idAt >= 0 ? fields[idAt]! : `img-${String(rows.length).padStart(4, "0")}`,
      ...(labelAt >= 0 ? { label: fields[labelAt]! } : {}),
      image
    })
  }
  if (header === undefined) throw new FeatureExtractionError({ file: args.input, detail: "the file has no header row" })
  await writeFile(args.out, Mpeg7Features.toCsv(rows, args.options))
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
    process.stdout.write(`query.similar params: ${JSON.stringify({ features: summary.features, featureMax: summary.featureMax, idColumn: "id", ...(labelAt >= 0 ? { labelColumn: "label" } : {}) })}\n`)
  }
  return summary
}
