/**
 * Part of `npm run bench -- browser`: is the page's main thread free while the browser participant runs real
 * protocols? A LocalCluster (anvil, the coordinator, two Node participants) and, in one Chromium, two browser
 * participants that differ only in where stages run — on the page's thread (the baseline: `bench-page-agent.js`,
 * browser-page-agent.ts) or in the protocol worker (the shipped `jointly-participant.js`). Each runs joint statistics, a PSI and one FedAvg round with
 * secure aggregation beside the two Node parties; the page keeps a frame loop running, and the Long Tasks API
 * records every main-thread task over 50 ms. Reported per mode: the longest task, the number of long tasks and
 * the stage whose completion followed the longest task (the stage that blocked).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium } from "playwright-core"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { digitsParams, loadDigits, nonIid } from "@jointly/participant/internal/modeling/DigitsFixture"
import * as PageServer from "@jointly/participant/internal/browser/testing/PageServer"
import { emit, progress } from "./Report.ts"

const SUITE = "browser"
const root = fileURLToPath(new URL("../../", import.meta.url))
type Mode = "page" | "worker"

const page = `<!doctype html><meta charset="utf-8"><body><script type="module">
  import { BrowserAgent, KeyVault } from "./jointly-participant.js"
  import * as PageAgent from "./bench-page-agent.js"
  let longTasks = []
  const stages = []
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration }) }).observe({ type: "longtask" })
  // A frame loop, as a page with a UI has, so a stalled thread shows as long tasks.
  const tick = () => requestAnimationFrame(tick)
  requestAnimationFrame(tick)
  window.startAgent = async ({ key, mode, datasets }) => {
    const vault = KeyVault.make({ database: "bench-" + mode })
    await vault.remove()
    await vault.store(key)
    const agent = await (mode === "page" ? PageAgent : BrowserAgent).start({
      coordinatorUrl: location.origin,
      wallet: await vault.open(),
      datasets: datasets.map((d) => ({ ...d, csv: new Blob([d.csv]) })),
      policy: () => ({ decision: "approve", reason: "bench" }),
      onOutput: () => {}
    })
    agent.on((e) => { if (e.type === "stage") stages.push({ at: performance.now(), stage: e.stage, ok: e.ok, detail: e.detail }) })
    await agent.connected
  }
  window.resetLongTasks = () => { longTasks = []; stages.length = 0 }
  window.report = () => ({ longTasks, stages })
</script>`

interface Report {
  readonly longTasks: ReadonlyArray<{ readonly start: number; readonly duration: number }>
  readonly stages: ReadonlyArray<{ readonly at: number; readonly stage: string; readonly ok: boolean; readonly detail?: string }>
}

interface Measured {
  readonly longestMs: number
  readonly longTasks: number
  readonly blocking: string
  readonly stages: number
  readonly elapsedMs: number
}

export const run = async (options: { readonly chromiumPath: string; readonly bundleDir: string }) => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-browser-protocol-"))
  let cluster: LocalCluster.LocalCluster | undefined
  let browser: Browser | undefined
  let pageServer: PageServer.PageServer | undefined
  try {
    const pima = (name: string) => join(root, "examples/demo", `pima-${name}.csv`)
    const ids = (part: string) => join(root, "examples/query", `bcw_vertical_party_${part}_psi.csv`)
    const digits = loadDigits()
    const shards = await Promise.all(nonIid(digits, 3).shards.map(async (rows, i) => {
      const file = join(dir, `digits-${i}.csv`)
      await writeFile(file, [digits.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n")
      return file
    }))
    const pimaColumns = [{ name: "glucose", type: "number" }, { name: "mass", type: "number" }, { name: "age", type: "integer" }] as const
    const digitsColumns = digits.header.map((name) => ({ name, type: "integer" as const }))
    const datasets = (name: string, part: string, shard: string) => [
      { name: "pima", file: pima(name), columns: pimaColumns },
      { name: "ids", file: ids(part), columns: [{ name: "id", type: "string" as const }], id: "id" },
      { name: "digits", file: shard, columns: digitsColumns }
    ]
    progress("browser protocols: starting a cluster (anvil, coordinator, two Node participants)")
    cluster = await LocalCluster.start({
      dataDir: join(dir, "cluster"),
      parties: [
        { name: "north", datasets: datasets("north", "a", shards[0]!) as never },
        { name: "south", datasets: datasets("south", "b", shards[1]!) as never },
        { name: "web-page", external: true, datasets: [] },
        { name: "web-worker", external: true, datasets: [] }
      ]
    })
    const c = cluster
    // The page and bundle from a real server on its own port that passes the coordinator through (one origin).
    pageServer = await PageServer.start({
      coordinatorUrl: c.coordinatorUrl,
      files: (path) => {
        const name = path.replace(/^\/bench\//, "")
        if (name === path || !/^[\w.-]+$/.test(name)) return undefined
        return name === "index.html" ? { body: page, type: "text/html" } : { file: join(options.bundleDir, name) }
      }
    })
    browser = await chromium.launch({ executablePath: options.chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] })
    const context = await browser.newContext()
    const csv = async (file: string) => readFile(file, "utf8")
    const browserDatasets = [
      { name: "pima", columns: pimaColumns, csv: await csv(pima("east")) },
      { name: "ids", columns: [{ name: "id", type: "string" }], id: "id", csv: await csv(ids("c")) },
      { name: "digits", columns: digitsColumns, csv: await csv(shards[2]!) }
    ]
    const party = (name: string) => c.parties.find((p) => p.name === name)!
    const specs = (web: string) => {
      const parties = (dataset: string) => ["north", "south", web].map((n) => ({ participant: party(n).address, dataset })) as never
      return [
        {
          kind: "statistics.horizontal", name: "bench stats", parties: parties("pima"),
          params: { columns: ["glucose", "mass", "age"], statistics: ["count", "mean", "variance", "histogram"], histogram: { glucose: [0, 100, 140, 200] }, dropoutTolerance: 1 }
        },
        { kind: "query.psi", name: "bench psi", parties: parties("ids"), params: { idColumn: "id", receivers: [party("north").address, party(web).address], maxIds: 10_000 } },
        { kind: "modeling.horizontal-fl", name: "bench fedavg", parties: parties("digits"), params: digitsParams(digits.header, { rounds: 1, localEpochs: 1 }), roundTimeoutMs: 120_000 }
      ]
    }
    const measured = new Map<Mode, Measured>()
    for (const mode of ["page", "worker"] as const satisfies ReadonlyArray<Mode>) {
      const web = `web-${mode}`
      const tab = await context.newPage()
      await tab.goto(`${pageServer.url}/bench/index.html`)
      await tab.evaluate((input) => (window as unknown as { startAgent: (i: unknown) => Promise<void> }).startAgent(input), { key: (await c.walletOf(web)).privateKey, mode, datasets: browserDatasets })
      // Starting the agent parses the bundle and opens the datasets: not what is measured.
      await tab.waitForTimeout(1_000)
      await tab.evaluate(() => (window as unknown as { resetLongTasks: () => void }).resetLongTasks())
      const started = Date.now()
      for (const spec of specs(web)) {
        progress(`browser protocols (${mode} thread): ${spec.kind}`)
        const detail = await c.waitForTask(await c.submit(spec), { timeoutMs: 300_000 })
        if (detail.status !== "Succeeded") throw new Error(`${spec.kind} with the browser's stages on the ${mode} thread: ${detail.status} (${String(detail.reason)})`)
      }
      const elapsedMs = Date.now() - started
      const report = await tab.evaluate(() => (window as unknown as { report: () => Report }).report())
      await tab.close()
      const longest = report.longTasks.reduce((a, t) => (t.duration > a.duration ? t : a), { start: 0, duration: 0 })
      // The stage whose reply the page sent next after the longest task began: the one that held the thread.
      const blocking = report.stages.find((s) => s.at >= longest.start)?.stage ?? "none (between stages)"
      measured.set(mode, { longestMs: longest.duration, longTasks: report.longTasks.length, blocking: longest.duration === 0 ? "none" : blocking, stages: report.stages.length, elapsedMs })
    }
    const params = (m: Measured, where: string) => ({
      stages: where,
      tasks: "statistics, PSI, one FedAvg round (browser beside two Node parties)",
      goal: "<= 50",
      longTasks: m.longTasks,
      blockingStage: m.blocking,
      stagesRun: m.stages,
      elapsedMs: m.elapsedMs
    })
    const onPage = measured.get("page")!
    const inWorker = measured.get("worker")!
    emit({ suite: SUITE, metric: "protocol_main_thread_longest_task_ms", params: params(onPage, "on the page's main thread"), value: onPage.longestMs })
    // The Long Tasks API reports only tasks over 50 ms: 0 means none was. Lower is better here, so the ratio is
    // baseline / value (bigger is better, as on every bench line); without a long task there is no ratio.
    emit({
      suite: SUITE,
      metric: "protocol_main_thread_longest_task_ms",
      params: params(inWorker, "in the protocol worker"),
      value: inWorker.longestMs,
      ...(inWorker.longestMs === 0 ? {} : {
        baseline: "the same tasks with stages on the page's main thread, same run",
        baseline_value: onPage.longestMs,
        ratio: onPage.longestMs / inWorker.longestMs
      })
    })
  } finally {
    await browser?.close()
    await pageServer?.close()
    await cluster?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
