/**
 * No module imports itself through others, in any package or across them (scripts/check-cycles.mjs); and the
 * check does see a cycle, a type-only one and one that crosses packages through a `@jointly/*` specifier.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
// @ts-expect-error: a plain .mjs script without declarations
import * as Cycles from "./check-cycles.mjs"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const cyclesIn = Cycles.cyclesIn as (dirs?: ReadonlyArray<string>, baseDir?: string, tsconfig?: string) => Promise<Array<Array<string>>>

describe("import cycles", () => {
  const scratch = mkdtempSync(join(tmpdir(), "jointly-cycles-"))
  afterAll(() => removeDir(scratch))

  it("none in the packages' sources", async () => {
    const cycles = await cyclesIn()
    expect(cycles, `import cycles: ${cycles.map((c) => c.join(" -> ")).join("; ")} (run npm run check:cycles)`).toEqual([])
  }, 180_000)

  it("are found, type-only ones and ones through a package specifier included", async () => {
    // Two workspace packages linked as the repository links them (node_modules symlinks, a source export
    // condition): a/src/X -> b/src/Y (a value), b/src/Y -> a/src/X (a type only).
    for (const name of ["a", "b"]) {
      mkdirSync(join(scratch, name, "src"), { recursive: true })
      writeFileSync(join(scratch, name, "package.json"), JSON.stringify({ name: `@demo/${name}`, type: "module", exports: { "./internal/*": { "@demo/source": "./src/*.ts" } } }))
      mkdirSync(join(scratch, "node_modules/@demo"), { recursive: true })
      symlinkSync(join(scratch, name), join(scratch, "node_modules/@demo", name), "dir")
    }
    writeFileSync(join(scratch, "a/src/X.ts"), `import { y } from "@demo/b/internal/Y"\nexport interface X { readonly n: number }\nexport const x = y + 1\n`)
    writeFileSync(join(scratch, "b/src/Y.ts"), `import type { X } from "@demo/a/internal/X"\nexport const y = 1\nexport const show = (x: X) => String(x.n)\n`)
    writeFileSync(join(scratch, "b/src/Z.ts"), `import { y } from "./Y.ts"\nexport const z = y\n`)
    writeFileSync(join(scratch, "tsconfig.json"), JSON.stringify({
      compilerOptions: { module: "preserve", moduleResolution: "bundler", customConditions: ["@demo/source"], allowImportingTsExtensions: true, noEmit: true }
    }))
    const cycles = await cyclesIn(["a/src", "b/src"], scratch, join(scratch, "tsconfig.json"))
    expect(cycles).toEqual([["a/src/X.ts", "b/src/Y.ts"]])
  }, 60_000)
})
