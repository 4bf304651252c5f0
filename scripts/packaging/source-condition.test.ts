/**
 * Inside the repository every `@jointly/*` import runs the TypeScript sources (the `@jointly/source` export
 * condition), never a stale `dist/`: through vite's resolver (modules vitest transforms) and through Node's
 * (`--conditions`, for what vitest leaves to Node), so a test never waits for, nor silently runs, a build.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import * as CliBin from "@jointly/cli/internal/local/CliBin"

const repo = fileURLToPath(new URL("../../", import.meta.url))

describe("the @jointly/source condition", () => {
  it("resolves sibling packages to their sources under vitest", () => {
    // A sibling package's module, imported by its package name, is its .ts source.
    expect(CliBin.fromSources).toBe(true)
  })

  it("resolves to sources with the flag and to dist without it, in plain Node", async () => {
    const resolveIn = async (flags: ReadonlyArray<string>) =>
      (await promisify(execFile)(process.execPath, [...flags, "--input-type=module", "-e", "console.log(import.meta.resolve('@jointly/participant'))"], { cwd: repo, env: { ...process.env, NODE_OPTIONS: "" } })).stdout.trim()
    expect(await resolveIn(["--conditions=@jointly/source"])).toMatch(/participant\/src\/index\.ts$/)
    expect(await resolveIn([])).toMatch(/participant\/dist\/index\.js$/)
    // A bundler targeting browsers (the `browser` condition) gets the browser entry, as sources or as built.
    expect(await resolveIn(["--conditions=browser", "--conditions=@jointly/source"])).toMatch(/participant\/src\/browser\/index\.ts$/)
    expect(await resolveIn(["--conditions=browser"])).toMatch(/participant\/dist\/browser\/index\.js$/)
  })
})
