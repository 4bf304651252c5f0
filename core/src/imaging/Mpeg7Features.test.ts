import { readFileSync } from "node:fs"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Spec from "../protocols/similarity/spec.ts"
import { datasetFile } from "../testing/Datasets.ts"
import * as EdgeHistogram from "./EdgeHistogram.ts"
import * as Image from "./Image.ts"
import * as Mpeg7Features from "./Mpeg7Features.ts"

const digits = () => {
  const [head, ...lines] = readFileSync(datasetFile("digits.csv"), "utf8").trim().split("\n")
  const header = head!.split(",")
  const pixels = header.filter((c) => c.startsWith("pixel_"))
  return lines.slice(0, 40).map((line, i) => {
    const cells = line.split(",").map(Number)
    return { id: `img-${i}`, label: String(cells[header.indexOf("label")]), image: Image.fromGrey(8, 8, pixels.map((p) => cells[header.indexOf(p)]!), 16) }
  })
}

const querier = "0x1111111111111111111111111111111111111111"
const owner = "0x2222222222222222222222222222222222222222"

describe("MPEG-7 feature columns for query.similar", () => {
  it("names one column per code and states the largest code", () => {
    const options = { descriptors: ["ehd", "rsd"] } as const
    const columns = Mpeg7Features.columns(options)
    expect(columns).toHaveLength(80 + 35)
    expect(columns.slice(0, 2)).toEqual(["ehd_00_vertical", "ehd_00_horizontal"])
    expect(columns.at(-1)).toBe("rsd_11_2")
    expect(Mpeg7Features.featureMax(options)).toBe(15)
    expect(Mpeg7Features.featureMax({ descriptors: ["ehd"] })).toBe(7)
    expect(Mpeg7Features.columns({ descriptors: ["csd"], csdBins: 128 })).toHaveLength(128)
    expect(Mpeg7Features.featureMax({ descriptors: ["ehd", "csd"] })).toBe(255)
  })

  it("resamples first when asked: the 8×8 digits get more than one block per sub-image", () => {
    const [first] = digits()
    const native = Mpeg7Features.extract(first!.image, { descriptors: ["ehd"] })
    const resampled = Mpeg7Features.extract(first!.image, { descriptors: ["ehd"], resample: { width: 32, height: 32 } })
    expect(resampled).toEqual(EdgeHistogram.extract(Image.resample(first!.image, 32, 32)))
    // One block per sub-image natively: each bin is all or nothing.
    expect(native.every((c) => c === 0 || c === EdgeHistogram.CODE_MAX)).toBe(true)
    expect(resampled.some((c) => c > 0 && c < EdgeHistogram.CODE_MAX)).toBe(true)
  })

  it("the CSV of the digits round-trips into query.similar parameters: every value an integer in [0, featureMax]", () => {
    const options = Mpeg7Features.Options.make({ descriptors: ["ehd", "rsd", "csd"], csdBins: 32, resample: { width: 32, height: 32 } })
    const rows = digits()
    const csv = Mpeg7Features.toCsv(rows, options)
    const [head, ...lines] = csv.trim().split("\n")
    const header = head!.split(",")
    expect(header.slice(0, 2)).toEqual(["id", "label"])
    const features = header.slice(2)
    expect(features).toEqual(Mpeg7Features.columns(options))
    const params = Schema.decodeUnknownSync(Spec.Params)({
      querier,
      owner,
      features,
      featureMax: Mpeg7Features.featureMax(options),
      idColumn: "id",
      labelColumn: "label",
      k: 10
    })
    expect(Spec.validate(params, [querier, owner])).toBeUndefined()
    expect(lines).toHaveLength(rows.length)
    for (const [i, line] of lines.entries()) {
      const cells = line.split(",")
      expect(cells.slice(0, 2)).toEqual([rows[i]!.id, rows[i]!.label])
      const values = cells.slice(2).map(Number)
      expect(values.every((v) => Number.isInteger(v) && v >= 0 && v <= params.featureMax)).toBe(true)
      expect(values).toEqual(Mpeg7Features.extract(rows[i]!.image, options))
    }
  })

  it("refuses a malformed image with a typed error naming the problem", () => {
    expect(() => Image.make(8, 8, 1, Array(63).fill(0))).toThrow(/BadShape: 63 samples for 8×8×1/)
    expect(() => Image.fromGrey(2, 1, [3, 17], 16)).toThrow(/BadSample: value 1 is 17, outside 0…16/)
    expect(() => Mpeg7Features.imageOf([0, 0, 0, 300], { width: 2, height: 2, channels: 1, max: 255 })).toThrow(Image.ImageError)
  })
})
