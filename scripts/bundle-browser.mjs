#!/usr/bin/env node
/**
 * Bundles the browser participant (participant/src/browser) for pages: esbuild, ESM, one file per entry and no
 * code splitting, so a page loads the agent with one <script type="module"> and each Web Worker loads the job
 * worker as one module. Writes to participant/dist/browser/ (or the directory given):
 *
 *   jointly-participant.js     the agent, key vault and dataset readers (browser/index.ts)
 *   jointly-protocol-worker.js the Web Worker that runs the stages of accepted tasks (browser/ProtocolWorker.ts)
 *   jointly-job-worker.js      the Web Worker of the job pool (browser/JobWorker.ts)
 *   jointly-bigint.wasm        the AssemblyScript Montgomery kernel (built by `npm run build`)
 *   tfjs-backend-wasm*.wasm    tfjs' WASM backend, fetched on the first training step
 *
 * and prints each file's size (raw and gzip) as one JSON line. node-seal's worker build and libsodium carry their
 * WASM inline. The import graph holds no Node built-in (the same check as `npm run check:portable` runs here), and
 * the page's file holds no protocol code (core/src/protocols/): offers are read and stages run in the protocol
 * worker, so the page loads only the session, the key vault and the worker plumbing.
 *
 *   node scripts/bundle-browser.mjs [outdir] [--minify=false]
 */
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { createRequire } from "node:module"
import * as esbuild from "esbuild"
import { nodeImportsOf } from "./check-portable-graph.mjs"

const root = resolve(fileURLToPath(new URL("..", import.meta.url)))
export const entries = {
  "jointly-participant": "participant/src/browser/index.ts",
  "jointly-protocol-worker": "participant/src/browser/ProtocolWorker.ts",
  "jointly-job-worker": "participant/src/browser/JobWorker.ts"
}

/** Builds the bundle into `outdir`; resolves with each file's size. */
export const bundle = async (outdir = join(root, "participant/dist/browser"), { minify = true } = {}) => {
  for (const entry of Object.values(entries)) {
    const { found } = await nodeImportsOf(entry)
    if (found.length > 0) throw new Error(`${entry} reaches Node built-ins: ${found.map((f) => `${f.module} (${f.chain.join(" → ")})`).join("; ")}`)
  }
  mkdirSync(outdir, { recursive: true })
  const built = await esbuild.build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify,
    sourcemap: "linked",
    metafile: true,
    logLevel: "warning",
    // Node-only branches of dependencies test these; a page has neither.
    define: { "process.env.NODE_ENV": '"production"' },
    loader: { ".wasm": "empty", ".node": "empty" },
    // The sibling packages' sources, as every @jointly import inside the repository resolves (never a stale dist/).
    conditions: ["@jointly/source"]
  })
  const page = Object.entries(built.metafile.outputs).find(([file]) => file.endsWith("jointly-participant.js"))[1]
  const protocolCode = Object.keys(page.inputs).filter((input) => input.includes("core/src/protocols/"))
  if (protocolCode.length > 0) throw new Error(`the page bundle holds protocol code (it belongs in the protocol worker): ${protocolCode.join(", ")}`)
  const require = createRequire(join(root, "backends/package.json"))
  const tfjsDist = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"))
  const copies = [
    join(root, "wasm/dist/jointly-bigint.wasm"),
    ...["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"].map((f) => join(tfjsDist, f))
  ]
  for (const file of copies) copyFileSync(file, join(outdir, file.split("/").pop()))
  const files = [...Object.keys(entries).map((name) => `${name}.js`), ...copies.map((f) => f.split("/").pop())]
  return files.map((file) => {
    const bytes = readFileSync(join(outdir, file))
    return { file, bytes: statSync(join(outdir, file)).size, gzip: gzipSync(bytes).length }
  })
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = process.argv.slice(2).find((a) => !a.startsWith("--"))
  const sizes = await bundle(outdir === undefined ? undefined : resolve(outdir), { minify: !process.argv.includes("--minify=false") })
  for (const size of sizes) console.log(JSON.stringify({ bundle: "browser-participant", ...size }))
}
