#!/usr/bin/env node
/**
 * Fails when a module imports itself through others: builds the import graph of every package's sources with
 * madge, `@jointly/*` specifiers resolved the way the repository resolves them (the tsconfig's `@jointly/source`
 * condition, so a cycle that crosses packages is seen too) and type-only imports counted (a cycle of types still
 * ties two modules into one), and prints each cycle.
 *
 *   npm run check:cycles                 the six packages
 *   node scripts/check-cycles.mjs <dir> …
 */
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import madge from "madge"

const root = resolve(fileURLToPath(new URL("..", import.meta.url)))

export const packageSources = ["core", "backends", "wasm", "participant", "coordinator", "cli"].map((p) => `${p}/src`)

/**
 * The import cycles among the `.ts` files under `dirs` (relative to `baseDir`), each as the list of files it runs
 * through. madge is given the tsconfig's raw compiler options: it re-parses an object it is given, and a config
 * it parsed itself reaches the resolver with its enums already numbers, which loses the export conditions.
 */
export const cyclesIn = async (dirs = packageSources, baseDir = root, tsconfig = join(root, "tsconfig.json")) => {
  const { compilerOptions } = JSON.parse(readFileSync(tsconfig, "utf8"))
  const graph = await madge(dirs.map((d) => resolve(baseDir, d)), {
    baseDir,
    fileExtensions: ["ts"],
    tsConfig: { compilerOptions },
    detectiveOptions: { ts: { skipTypeImports: false }, es6: { skipTypeImports: false } }
  })
  return graph.circular()
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.length > 2 ? process.argv.slice(2) : packageSources
  const cycles = await cyclesIn(dirs)
  for (const cycle of cycles) console.error(`cycle: ${[...cycle, cycle[0]].join(" -> ")}`)
  if (cycles.length > 0) {
    console.error(`${cycles.length} import cycle(s): move what both sides need into a module neither imports`)
    process.exit(1)
  }
  console.log(`no import cycles in ${dirs.join(", ")}`)
}
