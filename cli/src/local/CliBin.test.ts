import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { buildIsCurrent, cliPath } from "./CliBin.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

/** A repository-shaped tree: every package with one source file, then its build stamp a second later. */
const layout: Record<string, ReadonlyArray<string>> = {
  core: ["src"], backends: ["src", "native"], wasm: ["src", "assembly"], participant: ["src"], coordinator: ["src"], cli: ["src"]
}

describe("the bin a local cluster spawns from sources", () => {
  let root: string
  const at = (seconds: number) => new Date(1_700_000_000_000 + seconds * 1000)
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "jointly-clibin-"))
    for (const [pkg, folders] of Object.entries(layout)) {
      for (const folder of folders) {
        await mkdir(join(root, pkg, folder, "deep"), { recursive: true })
        await writeFile(join(root, pkg, folder, "deep", "a.ts"), "export {}\n")
        await utimes(join(root, pkg, folder, "deep", "a.ts"), at(0), at(0))
      }
      await mkdir(join(root, pkg, "dist"), { recursive: true })
      await writeFile(join(root, pkg, "dist", ".tsbuildinfo"), "{}")
      await utimes(join(root, pkg, "dist", ".tsbuildinfo"), at(1), at(1))
    }
  })
  afterEach(() => removeDir(root))

  it("is the built CLI only while every package's build is newer than all of its sources", async () => {
    expect(buildIsCurrent(root)).toBe(true)
    // An edit deep in one package's AssemblyScript after its build: the build is stale.
    await utimes(join(root, "wasm", "assembly", "deep", "a.ts"), at(2), at(2))
    expect(buildIsCurrent(root)).toBe(false)
  })

  it("stays the built CLI when only tests or test helpers changed, which no build compiles", async () => {
    await mkdir(join(root, "participant", "src", "testing"), { recursive: true })
    await writeFile(join(root, "participant", "src", "testing", "Helper.ts"), "export {}\n")
    await writeFile(join(root, "participant", "src", "deep", "a.test.ts"), "export {}\n")
    expect(buildIsCurrent(root)).toBe(true)
    await writeFile(join(root, "participant", "src", "deep", "b.ts"), "export {}\n")
    expect(buildIsCurrent(root)).toBe(false)
  })

  it("is the development bin when a package was never built", async () => {
    await rm(join(root, "coordinator", "dist"), { recursive: true })
    expect(buildIsCurrent(root)).toBe(false)
  })

  it("names a bin that matches the repository's own build state", () => {
    expect(cliPath()).toMatch(buildIsCurrent() ? /cli\/bin\/jointly\.mjs$/ : /cli\/bin\/jointly-dev\.mjs$/)
  })
})
