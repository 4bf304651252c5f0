/**
 * `npm run bench -- browser`: the browser participant's compute in Chromium's Web Workers against the same
 * operations on Node in the same run (browser-ops.ts): Paillier-2048 encrypt and decrypt, X25519 PSI hashing and
 * blinding, CKKS vector encryption, one tfjs training epoch. Node runs its fastest composition
 * (`@jointly/backends/node`: OpenSSL, the native groups, node-seal's Node build, tfjs-wasm) on one core; Chromium
 * (Debian's, headless, through playwright-core) runs the portable one in one Web Worker of a page served from
 * loopback. Ratios are browser / Node (bigger is better, 1 = parity).
 *
 * Also: the page's main thread while the worker computes — the longest task the Long Tasks API saw (the
 * participant's goal is ≤ 50 ms) — and while the browser participant runs real protocols beside Node participants
 * with its stages on the page's thread and in its protocol worker (browser-protocol.ts), and the sizes of the browser participant's bundle (scripts/bundle-browser.mjs).
 */
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { extname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Context } from "effect"
import * as esbuild from "esbuild"
import { chromium } from "playwright-core"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as Keys from "@jointly/core/internal/crypto/paillier/Keys"
import * as Primes from "@jointly/core/internal/compute/Primes"
import { measure, type OpRate, type OpsInput } from "./browser-ops.ts"
import * as BrowserProtocol from "./browser-protocol.ts"
import { emit, progress } from "./Report.ts"
// @ts-expect-error: a plain ES module script without types
import { bundle } from "../../scripts/bundle-browser.mjs"

const SUITE = "browser"
const chromiumPath = "/usr/bin/chromium"
const root = fileURLToPath(new URL("../../", import.meta.url))

const page = `<!doctype html><meta charset="utf-8"><script type="module">
  let longest = 0
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longest = Math.max(longest, e.duration) }).observe({ type: "longtask", buffered: true })
  // The main thread keeps a frame loop running, as a page does, so a stall would show as a long task.
  let frames = 0
  const tick = () => { frames++; requestAnimationFrame(tick) }
  requestAnimationFrame(tick)
  window.runBench = (input) => new Promise((resolve) => {
    longest = 0
    const worker = new Worker("./bench-worker.js", { type: "module" })
    worker.onmessage = ({ data }) => {
      if (data.progress) return window.benchProgress?.(data.progress)
      worker.terminate()
      resolve({ ...data, longestTaskMs: longest, frames })
    }
    worker.postMessage({ assets: new URL("./", location.href).href, input })
  })
</script>`

const serve = (dir: string) =>
  new Promise<{ url: string; close: () => void }>((resolve) => {
    const types: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm" }
    const server = createServer(async (req, res) => {
      const name = new URL(req.url ?? "/", "http://x").pathname.slice(1)
      if (name === "" || name === "index.html") return void res.writeHead(200, { "content-type": "text/html" }).end(page)
      const file = join(dir, name)
      if (!/^[\w.-]+$/.test(name) || !existsSync(file)) return void res.writeHead(404).end()
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(await readFile(file))
    }).listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number }
      resolve({ url: `http://127.0.0.1:${address.port}/`, close: () => server.close() })
    })
  })

export const run = async () => {
  if (!existsSync(chromiumPath)) return progress(`no ${chromiumPath}: skipping the browser suite`)
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-browser-"))
  try {
    progress("bundling the browser participant")
    const sizes: Array<{ file: string; bytes: number; gzip: number }> = await bundle(dir)
    for (const s of sizes) emit({ suite: SUITE, metric: "bundle_bytes", params: { file: s.file, gzip: s.gzip }, value: s.bytes })
    await esbuild.build({
      absWorkingDir: root,
      // The page-thread agent is the protocol bench's baseline only: the shipped page bundle has no protocols.
      entryPoints: { "bench-worker": "examples/bench/browser-worker.ts", "bench-page-agent": "examples/bench/browser-page-agent.ts" },
      outdir: dir,
      bundle: true,
      format: "esm",
      platform: "browser",
      minify: true,
      logLevel: "warning",
      define: { "process.env.NODE_ENV": '"production"' },
      loader: { ".wasm": "empty", ".node": "empty" },
      conditions: ["@jointly/source"]
    })

    progress("dealing a 2048-bit Paillier key on Node")
    const node = await Backends.build(NodeBackends.layer())
    const pair = await Keys.generateKeyPair({ bits: 2048, primes: Context.get(node.context, Primes.Primes).generate })
    const input: OpsInput = { p: pair.privateKey.p.toString(16), q: pair.privateKey.q.toString(16), ids: 2000, ckksValues: 4096, trainRows: 512 }

    progress("Node: measuring")
    const nodeRates = await measure(node.context, input, (line) => progress(`node: ${line}`))
    await node.close()

    const server = await serve(dir)
    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] })
    try {
      const tab = await browser.newPage()
      await tab.exposeFunction("benchProgress", (line: string) => progress(`chromium worker: ${line}`))
      await tab.goto(server.url)
      const result = await tab.evaluate((i) => (window as unknown as { runBench: (i: OpsInput) => Promise<{ rates?: Array<OpRate>; error?: string; longestTaskMs: number; frames: number }> }).runBench(i), input)
      if (result.error !== undefined || result.rates === undefined) throw new Error(`the browser worker failed: ${result.error}`)
      for (const rate of result.rates) {
        const base = nodeRates.find((r) => r.metric === rate.metric)!
        emit({ suite: SUITE, metric: rate.metric, params: { ...rate.params, unit: rate.unit, where: "chromium web worker" }, value: rate.value, baseline: "node (fastest backends, same run)", baseline_value: base.value })
      }
      emit({ suite: SUITE, metric: "main_thread_longest_task_ms", params: { while: "the web worker ran every operation above", goal: "<= 50", frames: result.frames }, value: result.longestTaskMs })
    } finally {
      await browser.close()
      server.close()
    }
    await BrowserProtocol.run({ chromiumPath, bundleDir: dir })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
