#!/usr/bin/env node
// Rewrites deep cross-package imports of TypeScript sources (`@jointly/core/ledger/Chain.ts`) to the packages'
// internal subpath (`@jointly/core/internal/ledger/Chain`), which resolves to `src/*.ts` under the
// `@jointly/source` condition (development, vitest, tsx) and to `dist/*.js` otherwise (installed packages).
// Idempotent: run it again after merging branches that still use the old form.
//   node scripts/codemod-imports.mjs [--check]
import { readdir, readFile, writeFile } from "node:fs/promises"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const folders = ["core", "wasm", "backends", "participant", "coordinator", "cli", "examples", "scripts"]
const extensions = /\.(ts|mts|mjs|cjs|js|ipynb|md)$/
const skip = new Set(["node_modules", "dist", ".git"])
// A quoted specifier `@jointly/<package>/<path>.ts` that is not already internal.
const deepImport = /(["'`])@jointly\/(core|wasm|backends|participant|coordinator|cli)\/(?!internal\/)([A-Za-z0-9_./-]+?)\.ts\1/g

const walk = async function* (dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else if (extensions.test(entry.name)) yield path
  }
}

const check = process.argv.includes("--check")
let files = 0
let rewrites = 0
for (const folder of folders) {
  for await (const file of walk(join(root, folder))) {
    if (file === fileURLToPath(import.meta.url)) continue
    const text = await readFile(file, "utf8")
    let count = 0
    const next = text.replace(deepImport, (_m, quote, pkg, path) => {
      count++
      return `${quote}@jointly/${pkg}/internal/${path}${quote}`
    })
    if (count === 0) continue
    files++
    rewrites += count
    if (check) console.log(`${relative(root, file)}: ${count}`)
    else await writeFile(file, next)
  }
}
console.log(`${check ? "would rewrite" : "rewrote"} ${rewrites} imports in ${files} files`)
if (check && rewrites > 0) process.exitCode = 1
