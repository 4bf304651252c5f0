/**
 * `jointly features mpeg7` as a user runs it: the digits CSV (8×8, 0…16) to the CSV of its MPEG-7 descriptors,
 * which decodes into `query.similar` parameters and holds the descriptors of each image; a directory of PNG
 * files (8- and 16-bit, grey and RGB, written here with fast-png) to the same columns; a bad pixel or a file
 * that is not a PNG fails naming it and writes nothing.
 */
import { spawn } from "node:child_process"
import { access, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { encode } from "fast-png"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as EdgeHistogram from "@jointly/core/internal/imaging/EdgeHistogram"
import * as Image from "@jointly/core/internal/imaging/Image"
import * as Mpeg7Features from "@jointly/core/internal/imaging/Mpeg7Features"
import * as Spec from "@jointly/core/internal/protocols/similarity/spec"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
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
  if (dir) await removeDir(dir)
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

  it("reads a directory of PNG files at any depth and channel count: stripes give vertical, turned stripes horizontal edges", async () => {
    const pngs = join(dir, "pngs")
    await mkdir(pngs)
    const size = 64
    // One-pixel stripes: each 2×2 block (64×64 images have 2-pixel blocks) holds one dark and one bright half.
    const stripe = (x: number) => x % 2
    const at = (i: number) => ({ x: i % size, y: Math.floor(i / size) })
    // Vertical stripes, 8-bit grey; horizontal stripes, 8-bit RGB; vertical stripes, 16-bit grey; flat 16-bit.
    await writeFile(join(pngs, "a-vertical.png"), encode({ width: size, height: size, channels: 1, depth: 8, data: Uint8Array.from({ length: size * size }, (_, i) => 255 * stripe(at(i).x)) }))
    await writeFile(join(pngs, "b-horizontal.png"), encode({ width: size, height: size, channels: 3, depth: 8, data: Uint8Array.from({ length: size * size * 3 }, (_, k) => [200, 40, 90][k % 3]! * stripe(at(Math.floor(k / 3)).y)) }))
    await writeFile(join(pngs, "c-vertical16.png"), encode({ width: size, height: size, channels: 1, depth: 16, data: Uint16Array.from({ length: size * size }, (_, i) => 65_535 * stripe(at(i).x)) }))
    await writeFile(join(pngs, "d-flat.png"), encode({ width: size, height: size, channels: 1, depth: 16, data: new Uint16Array(size * size).fill(30_000) }))
    await writeFile(join(pngs, "notes.txt"), "not an image\n")
    const out = join(dir, "pngs.csv")
    const run = await jointly(["features", "mpeg7", "--png-dir", pngs, "--out", out, "--descriptors", "ehd", "--json"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ images: 4, featureMax: 7 })
    const [head, ...lines] = (await readFile(out, "utf8")).trim().split("\n")
    expect(head!.split(",")).toEqual(["id", ...Mpeg7Features.columns({ descriptors: ["ehd"] })])
    const rows = new Map(lines.map((l) => { const [id, ...codes] = l.split(","); return [id!, codes.map(Number)] as const }))
    expect([...rows.keys()]).toEqual(["a-vertical", "b-horizontal", "c-vertical16", "d-flat"])
    const full = (type: number) => Array.from({ length: EdgeHistogram.BINS }, (_, i) => (i % 5 === type ? EdgeHistogram.CODE_MAX : 0))
    expect(rows.get("a-vertical")).toEqual(full(0))
    expect(rows.get("c-vertical16")).toEqual(full(0))
    expect(rows.get("b-horizontal")).toEqual(full(1))
    expect(rows.get("d-flat")).toEqual(Array(EdgeHistogram.BINS).fill(0))

    await writeFile(join(pngs, "e-broken.png"), "not a png at all")
    const broken = await jointly(["features", "mpeg7", "--png-dir", pngs, "--out", join(dir, "broken.csv"), "--json"])
    expect(broken.code).toBe(1)
    expect(JSON.parse(broken.stdout).error).toMatchObject({ code: "FeatureExtractionError" })
    expect(JSON.parse(broken.stdout).error.message).toContain(`${join(pngs, "e-broken.png")}: not a readable PNG`)
    await expect(access(join(dir, "broken.csv"))).rejects.toThrow(/ENOENT/)
  }, 60_000)
})
