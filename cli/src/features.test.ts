/**
 * `jointly features mpeg7` as a user runs it: the digits CSV (8×8, 0…16) to the CSV of its MPEG-7 descriptors,
 * which decodes into `query.similar` parameters and holds the descriptors of each image; a bad pixel fails
 * with its line and column and writes nothing.
 */
import { spawn } from "node:child_process"
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Image from "@jointly/core/internal/imaging/Image"
import * as Mpeg7Features from "@jointly/core/internal/imaging/Mpeg7Features"
import * as Spec from "@jointly/core/internal/protocols/similarity/spec"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { cliPath } from "./local/CliBin.ts"

const jointly = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { env: { ...process.env, JOINTLY_LOG: "error" }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-features-"))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe("jointly features mpeg7", () => {
  it("writes the digits' EHD + RSD columns: they decode as query.similar parameters and equal the library's", async () => {
    // The first 200 digits (the whole file takes seconds more and shows nothing new).
    const [digitsHead, ...digitsLines] = (await readFile(datasetFile("digits.csv"), "utf8")).trim().split("\n")
    const input = join(dir, "digits-200.csv")
    await writeFile(input, [digitsHead, ...digitsLines.slice(0, 200)].join("\n") + "\n")
    const out = join(dir, "digits-mpeg7.csv")
    const run = await jointly(["features", "mpeg7", "--in", input, "--out", out, "--width", "8", "--height", "8", "--max", "16", "--descriptors", "ehd,rsd", "--resample", "32x32", "--json"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout) as { images: number; features: Array<string>; featureMax: number }
    expect(summary).toMatchObject({ images: 200, featureMax: 15 })
    const [head, ...lines] = (await readFile(out, "utf8")).trim().split("\n")
    const header = head!.split(",")
    expect(header).toEqual(["id", "label", ...summary.features])
    const querier = "0x1111111111111111111111111111111111111111"
    const owner = "0x2222222222222222222222222222222222222222"
    const params = Schema.decodeUnknownSync(Spec.Params)({ querier, owner, features: header.slice(2), featureMax: summary.featureMax, idColumn: "id", labelColumn: "label", k: 10 })
    expect(Spec.validate(params, [querier, owner])).toBeUndefined()
    expect(lines).toHaveLength(200)
    // Row 7 of the file, against the library on the same pixels.
    const pixelAt = digitsHead!.split(",").flatMap((c, i) => (c.startsWith("pixel_") ? [i] : []))
    const cells = digitsLines[7]!.split(",")
    const image = Image.fromGrey(8, 8, pixelAt.map((i) => Number(cells[i])), 16)
    const row = lines[7]!.split(",")
    expect(row.slice(0, 2)).toEqual(["img-0007", cells[digitsHead!.split(",").indexOf("label")]])
    expect(row.slice(2).map(Number)).toEqual(Mpeg7Features.extract(image, { descriptors: ["ehd", "rsd"], resample: { width: 32, height: 32 } }))
  }, 60_000)

  it("a pixel outside 0…max fails naming its line and column, and writes no file", async () => {
    const input = join(dir, "bad.csv")
    const out = join(dir, "bad-out.csv")
    await writeFile(input, ["id,p_0,p_1,p_2,p_3", "a,0,1,2,3", "b,0,1,99,3"].join("\n") + "\n")
    const run = await jointly(["features", "mpeg7", "--in", input, "--out", out, "--width", "2", "--height", "2", "--max", "16", "--pixel-prefix", "p_", "--id", "id", "--json"])
    expect(run.code).toBe(1)
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: "FeatureExtractionError", message: `features: ${input}:3: p_2 is "99", not a number in 0…16` } })
    await expect(access(out)).rejects.toThrow(/ENOENT/)
    const usage = await jointly(["features", "mpeg7", "--in", input, "--out", out, "--width", "2", "--height", "2", "--descriptors", "ehd,sift"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("--descriptors: unknown descriptor sift")
  }, 60_000)
})
