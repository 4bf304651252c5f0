import { describe, expect, it } from "vitest"
import { renderCsv, renderText, tablesOf } from "./ResultTables.ts"

const statistics = {
  kind: "statistics.horizontal",
  count: 768,
  columns: {
    glucose: { count: 768, sum: 92847, mean: 120.89453125, histogram: { edges: [0, 100, 200], counts: [192, 571] } },
    "mass, kg/m²": { count: 768, sum: 24570.3, mean: 31.992578125 }
  },
  contributors: ["0xa", "0xb", "0xc"],
  scaleBits: 16
}

describe("result tables", () => {
  it("prints statistics as one row per column, nested fields flattened, the rest as a summary", () => {
    const [summary, columns] = tablesOf(statistics)
    expect(summary!.rows).toEqual([["kind", "statistics.horizontal"], ["count", "768"], ["contributors", "0xa 0xb 0xc"], ["scaleBits", "16"]])
    expect(columns!.title).toBe("columns")
    expect(columns!.columns).toEqual(["name", "count", "sum", "mean", "histogram.edges", "histogram.counts"])
    expect(columns!.rows).toEqual([
      ["glucose", "768", "92847", "120.895", "0 100 200", "192 571"],
      ["mass, kg/m²", "768", "24570.3", "31.9926", "", ""]
    ])
  })

  it("groups a contribution's parallel lists into one table, and a list of rounds into rows", () => {
    const tables = tablesOf({
      kind: "incentives.shapley",
      owners: ["0xa", "0xb", "0xc"],
      phi: [0.5, 0.25, -0.0625],
      shares: [0.6666666667, 0.3333333333, 0],
      clamped: [2],
      rounds: [{ round: 1, contributors: ["0xa", "0xb"], loss: 0.5 }, { round: 2, contributors: ["0xa"], loss: 0.25 }]
    })
    expect(tables.map((t) => t.title)).toEqual(["summary", "rounds", "owners, phi, shares"])
    expect(tables[0]!.rows).toContainEqual(["clamped", "2"])
    expect(tables[1]!.rows).toEqual([["1", "0xa 0xb", "0.5"], ["2", "0xa", "0.25"]])
    expect(tables[2]!.rows).toEqual([["0xa", "0.5", "0.666667"], ["0xb", "0.25", "0.333333"], ["0xc", "-0.0625", "0"]])
  })

  it("aligns text columns and quotes CSV cells that need it", () => {
    const tables = tablesOf(statistics)
    const text = renderText(tables)
    expect(text).toContain("glucose      768    92847    120.895  0 100 200        192 571")
    const csv = renderCsv(tables).split("\r\n")
    expect(csv[0]).toBe("name,count,sum,mean,histogram.edges,histogram.counts")
    expect(csv[2]).toBe('"mass, kg/m²",768,24570.3,31.9926,,')
  })
})
