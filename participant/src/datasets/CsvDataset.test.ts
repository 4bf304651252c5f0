import { Effect } from "effect"
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as BadCsv from "../testing/BadCsv.ts"
import * as CsvDataset from "./CsvDataset.ts"
import { type CsvSpec, DatasetError } from "./Dataset.ts"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const pimaSource = datasetFile("pima.csv")
const dir = mkdtempSync(join(tmpdir(), "jointly-datasets-"))
afterAll(() => removeDir(dir))

const write = (name: string, text: string) => {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const PIMA_COLUMNS = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age", "label"]

const failure = (spec: CsvSpec) => Effect.runPromise(Effect.flip(CsvDataset.load(spec)))

describe("CsvDataset.load", () => {
  const pima = join(dir, "pima.csv")
  copyFileSync(pimaSource, pima)
  const pimaSpec: CsvSpec = {
    name: "pima",
    file: pima,
    columns: PIMA_COLUMNS.map((name) => ({ name, type: name === "mass" || name === "pedigree" ? "number" : "integer" }))
  }

  it("loads pima column by column; sums match a plain reference computation", async () => {
    const dataset = await Effect.runPromise(CsvDataset.load(pimaSpec))
    const [head, ...rows] = readFileSync(pima, "utf8").trim().split("\n").map((l) => l.trim().split(","))
    expect(dataset.rowCount).toBe(rows.length)
    expect(dataset.rowCount).toBe(768)
    for (const name of PIMA_COLUMNS) {
      const index = head!.indexOf(name)
      const reference = rows.reduce((acc, row) => acc + Number(row[index]), 0)
      const column = dataset.numeric(name)
      expect(column).toBeInstanceOf(Float64Array)
      expect(column.length).toBe(768)
      expect(column.reduce((a, b) => a + b, 0)).toBeCloseTo(reference, 9)
    }
    expect(dataset.contentHash).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it("loads only declared columns; the hash depends on values, not on formatting or undeclared columns", async () => {
    const a = write("a.csv", "\uFEFFid,x,name,junk\r\n1,1.0,\"Smith, J\",zz\r\n2,-0,\"say \"\"hi\"\"\",\r\n")
    const b = write("b.csv", "junk,name,x,id\nq,\"Smith, J\",1,1\nr,\"say \"\"hi\"\"\",0,2")
    const columns = [
      { name: "id", type: "integer" },
      { name: "x", type: "number" },
      { name: "name", type: "string" }
    ] as const
    const da = await CsvDataset.loadPromise({ name: "a", file: a, columns, id: "id" })
    const db = await CsvDataset.loadPromise({ name: "b", file: b, columns, id: "id" })
    expect(da.rowCount).toBe(2)
    expect([...da.numeric("x")]).toEqual([1, -0])
    expect(da.strings("name")).toEqual(["Smith, J", 'say "hi"'])
    expect(da.ids()).toEqual(["1", "2"])
    expect(() => da.numeric("junk")).toThrow(DatasetError)
    expect(da.contentHash).toBe(db.contentHash)
    const other = write("c.csv", "id,x,name\n1,1,\"Smith, J\"\n2,0.5,\"say \"\"hi\"\"\"\n")
    expect((await CsvDataset.loadPromise({ name: "c", file: other, columns })).contentHash).not.toBe(da.contentHash)
  })

  it("keeps a quoted field that spans lines", async () => {
    const file = write("multiline.csv", 'n,note\n1,"first\nsecond"\n2,plain\n')
    const dataset = await CsvDataset.loadPromise({ name: "m", file, columns: [{ name: "n", type: "integer" }, { name: "note", type: "string" }] })
    expect(dataset.strings("note")).toEqual(["first\nsecond", "plain"])
    expect([...dataset.numeric("n")]).toEqual([1, 2])
  })

  it.each([
    ...BadCsv.cases,
    ["duplicate header column", "a,b,a\n1,2,3\n", "DuplicateColumn", 1, "a"],
    ["unclosed quote", 'a,b\n1,"2\n3,4\n', "RowLength", 2, "b"]
  ] as const)("%s: fails whole with the file, line and column named", async (name, text, reason, line, column) => {
    const file = write(`${name.replace(/ /g, "-")}.csv`, text)
    const error = await failure({ name: "bad", file, columns: BadCsv.columns })
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.reason).toBe(reason)
    expect(error.line).toBe(line)
    expect(error.column).toBe(column)
    expect(error.message).toContain(file)
    expect(error.message).toContain(`line ${line}`)
    expect(error.message).toContain(`column "${column}"`)
  })

  it("reports a missing file, an empty file and a header-only file", async () => {
    const missing = await failure({ name: "x", file: join(dir, "nope.csv"), columns: BadCsv.columns })
    expect(missing.reason).toBe("FileNotFound")
    expect(missing.message).toContain("nope.csv")
    expect((await failure({ name: "x", file: write("empty.csv", ""), columns: BadCsv.columns })).reason).toBe("Empty")
    const headerOnly = await failure({ name: "x", file: write("header.csv", "a,b\r\n"), columns: BadCsv.columns })
    expect(headerOnly.reason).toBe("Empty")
  })

  it("rejects a bad schema: duplicate declared column, undeclared id", async () => {
    const file = write("ok.csv", "a,b\n1,2\n")
    const dup = await failure({ name: "x", file, columns: [{ name: "a", type: "number" }, { name: "a", type: "string" }] })
    expect(dup.reason).toBe("DuplicateColumn")
    expect(dup.column).toBe("a")
    const id = await failure({ name: "x", file, columns: BadCsv.columns, id: "zz" })
    expect(id.reason).toBe("UnknownColumn")
    expect(id.column).toBe("zz")
  })
})
