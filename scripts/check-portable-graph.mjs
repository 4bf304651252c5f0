#!/usr/bin/env node
/**
 * Fails when a portable entry reaches a Node built-in: bundles each entry for the browser with esbuild (metafile
 * on, nothing written), records every import of `node:*` or of a Node built-in module name with the file that
 * imports it, and prints the chain from the entry to each offender. What a browser bundler resolves is portable:
 * a package's own browser mapping (its `browser` field turning a `require("fs")` that only its Node branch runs
 * into an empty module) or a userland package of a built-in's name (`string_decoder`); a built-in that only
 * Node can provide is not.
 *
 *   npm run check:portable            the entries below
 *   node scripts/check-portable-graph.mjs <entry.ts> …
 *
 * The entries: the portable backends, the participant's pieces a Web Worker loads (the job registry and the
 * platform-neutral pool), and the browser participant's two bundles (its page entry and its job worker).
 *
 * It also checks that `core` imports no Node built-in outside its tests, its test support (`core/src/testing`)
 * and its build script (`core/src/ledger/build.ts`): Node-only code lives in `@jointly/backends`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const root = resolve(fileURLToPath(new URL("..", import.meta.url)))

export const defaultEntries = [
  "backends/src/PortableBackends.ts",
  "participant/src/worker/jobs.ts",
  "participant/src/worker/Pool.ts",
  "participant/src/browser/index.ts",
  "participant/src/browser/ProtocolWorker.ts",
  "participant/src/browser/JobWorker.ts"
]

const SELF = Symbol("check-portable-graph")
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
const isBuiltin = (path) => path.startsWith("node:") || builtins.has(path) || builtins.has(path.split("/")[0])

/** The Node built-ins reachable from `entry`, each with the chain of files that leads to it. */
export const nodeImportsOf = async (entry) => {
  const found = []
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "browser",
    logLevel: "silent",
    // Binary assets are the bundler's business, not part of the import graph.
    loader: { ".wasm": "empty", ".node": "empty" },
    // The graph of the sources, as the browser bundle is built (scripts/bundle-browser.mjs).
    conditions: ["@jointly/source"],
    plugins: [{
      name: "node-builtins",
      setup: (build) => {
        build.onResolve({ filter: /.*/ }, async (args) => {
          if (args.kind === "entry-point" || args.pluginData === SELF || !isBuiltin(args.path)) return undefined
          const resolved = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: SELF })
          // Resolved for the browser: a disabled module (empty namespace) or a package in node_modules.
          if (resolved.errors.length === 0) return undefined
          found.push({ module: args.path, importer: relative(root, args.importer) })
          return { path: args.path, external: true }
        })
      }
    }]
  })
  // Who imports whom, to print the way from the entry to each offender.
  const importers = new Map()
  for (const [file, info] of Object.entries(result.metafile.inputs)) {
    for (const imported of info.imports) if (!importers.has(imported.path)) importers.set(imported.path, file)
  }
  const chainTo = (file) => {
    const chain = [file]
    for (let at = importers.get(file); at !== undefined && !chain.includes(at); at = importers.get(at)) chain.unshift(at)
    return chain
  }
  return { found: found.map((f) => ({ ...f, chain: chainTo(f.importer) })), inputs: Object.keys(result.metafile.inputs).length }
}

/** Where core may use Node: tests, test support, the build script. */
const coreExempt = (file) => file.endsWith(".test.ts") || file.startsWith("core/src/testing/") || file === "core/src/ledger/build.ts"

const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bgetBuiltinModule\s*\(\s*)["']([^"']+)["']/g

/** Core's library modules that name a Node built-in, with the module they name. */
export const coreNodeImports = () => {
  const found = []
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) walk(path)
      else if (path.endsWith(".ts") && !coreExempt(path)) {
        for (const [, module] of readFileSync(join(root, path), "utf8").matchAll(specifiers)) if (isBuiltin(module)) found.push({ file: path, module })
      }
    }
  }
  walk("core/src")
  return found
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const entries = process.argv.length > 2 ? process.argv.slice(2) : defaultEntries
  let failed = false
  if (process.argv.length <= 2) {
    const core = coreNodeImports()
    if (core.length === 0) console.log("core: no Node built-in outside tests, test support and the build script")
    failed = core.length > 0
    for (const { file, module } of core) console.error(`NOT portable: ${file} imports ${module} (Node-only code belongs in @jointly/backends)`)
  }
  for (const entry of entries) {
    const { found, inputs } = await nodeImportsOf(entry)
    if (found.length === 0) {
      console.log(`portable: ${entry} (${inputs} modules, no Node built-in)`)
      continue
    }
    failed = true
    console.error(`NOT portable: ${entry} reaches ${found.length} Node built-in import(s):`)
    for (const { module, chain } of found) console.error(`  ${module}  ←  ${chain.join(" → ")}`)
  }
  process.exit(failed ? 1 : 0)
}
