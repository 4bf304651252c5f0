/**
 * The browser participant in Chromium (playwright-core, Debian's chromium) beside Node participants, over a real
 * LocalCluster (anvil, the coordinator, one process per Node party). The page is the example a partner copies
 * (examples/browser/), served by a real HTTP server that passes the coordinator through (one origin), with the esbuild
 * bundle built by this test; it imports the org's key into its IndexedDB vault, reads its CSVs from file inputs,
 * and a human's click approves each offer: statistics with a Node dropout, a PSI (on the ECDH ring and on the OT
 * engine, whose relay carries bytes), a FedAvg task with secure aggregation, and the tab closed mid-task. "web" is an external party of the cluster holding east's rows, so a
 * task over north, south and web must give exactly the result of the same task over north, south and east.
 */
import { existsSync, readFileSync } from "node:fs"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"
import { Wallet } from "ethers"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { artifactId, type LinearArtifact, predictLinear } from "@jointly/core/internal/models/ModelArtifact"
import type { Params } from "@jointly/core/internal/protocols/joint-statistics/spec"
import * as Reference from "@jointly/core/internal/protocols/vertical/Reference"
import type * as VerticalSpec from "@jointly/core/internal/protocols/vertical/spec"
import { sha256Digest } from "@jointly/core/internal/wire/Canonical"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { digitsParams, loadDigits, nonIid } from "../modeling/DigitsFixture.ts"
import * as PageServer from "./testing/PageServer.ts"
import type { DatasetSpec } from "../datasets/Dataset.ts"
// @ts-expect-error: a plain ES module script without types
import { bundle } from "../../../scripts/bundle-browser.mjs"

const chromiumPath = "/usr/bin/chromium"
const repo = fileURLToPath(new URL("../../../", import.meta.url))
const pimaFile = (name: string) => join(repo, "examples/demo", `pima-${name}.csv`)
const idFile = (part: string) => join(repo, "examples/query", `bcw_vertical_party_${part}_psi.csv`)
const pimaColumns: DatasetSpec["columns"] = [
  { name: "glucose", type: "number" },
  { name: "mass", type: "number" },
  { name: "pedigree", type: "number" },
  { name: "age", type: "integer" }
]
const idColumns: DatasetSpec["columns"] = [{ name: "id", type: "string" }]
/** The PSI-split bcw blocks (label at part a): the vertical SVM's feature blocks, by part. */
const bcwTables = Object.fromEntries((["a", "b", "c"] as const).map((part) => [part, Reference.parseCsv(readFileSync(idFile(part), "utf8"))])) as Record<"a" | "b" | "c", Reference.Table>
const bcwColumns = (part: "a" | "b" | "c"): DatasetSpec["columns"] => bcwTables[part].columns.map((name) => ({ name, type: name === "id" ? "string" : "integer" }))
/** Node parties and the data each holds; "web" (the browser) holds east's. */
const nodeParties = { north: "a", south: "b", east: "c" } as const
const params: Params = {
  columns: ["glucose", "mass", "pedigree", "age"],
  statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
  histogram: { glucose: [0, 80, 100, 120, 140, 160, 180, 200], age: [20, 40, 60, 80] },
  where: { column: "glucose", op: ">", value: 0 },
  dropoutTolerance: 1
}

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let browser: Browser
let page: Page
let bundleDir: string
let pageServer: PageServer.PageServer
/** testing/InjectedProvider.ts as a classic script, installed before the page's own scripts. */
let walletScript: string
/** The digits shards of north, south and east (web holds east's). */
let digitsFiles: Array<string>
const digits = loadDigits()
const digitsColumns = digits.header.map((name) => ({ name, type: "integer" as const }))
const pageErrors: Array<string> = []
const consoleLines: Array<string> = []

const party = (name: string) => cluster.parties.find((p) => p.name === name)!
const withoutContributors = (result: unknown) => {
  const { contributors: _, ...rest } = result as Record<string, unknown>
  return rest
}
const statsSpec = (names: ReadonlyArray<string>) => ({
  kind: "statistics.horizontal",
  name: "glucose across clinics",
  parties: names.map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
  params
})

/**
 * The example page and the bundle from a real HTTP server on its own port, which passes the coordinator's API and
 * socket through (testing/PageServer.ts): one origin for the page and the coordinator, as in a deployment.
 */
const startPageServer = () =>
  PageServer.start({
    coordinatorUrl: cluster.coordinatorUrl,
    files: (path) => {
      if (!path.startsWith("/jointly-browser/")) return undefined
      const rest = path.slice("/jointly-browser/".length)
      if (!/^(dist\/)?[\w.-]+$/.test(rest)) return undefined
      return { file: rest.startsWith("dist/") ? join(bundleDir, rest.slice(5)) : join(repo, "examples/browser", rest) }
    }
  })

/**
 * Opens the page and connects as web: with its key imported into the page's IndexedDB vault, or (`wallet`) with
 * an injected EIP-1193 wallet holding that key (testing/InjectedProvider.ts), optionally one that signs consents
 * with another key. Adds its datasets from file inputs.
 */
const openPage = async (options: { readonly wallet?: { readonly consentKey?: string } } = {}) => {
  const p = await browser.newPage()
  p.on("pageerror", (error) => pageErrors.push(error.message))
  p.on("console", (message) => {
    consoleLines.push(`${message.type()}: ${message.text()}`)
    // Chromium asks for /favicon.ico by itself; the page has none.
    const where = message.location().url
    if (message.type() === "error" && !where.endsWith("/favicon.ico")) pageErrors.push(`${message.text()} (${where})`)
  })
  const key = (await cluster.walletOf("web")).privateKey
  if (options.wallet !== undefined) {
    await p.addInitScript(({ key, consentKey }) => {
      const w = globalThis as unknown as { __walletKey?: string; __walletConsentKey?: string }
      w.__walletKey = key
      if (consentKey !== undefined) w.__walletConsentKey = consentKey
    }, { key, consentKey: options.wallet.consentKey })
    await p.addInitScript({ content: walletScript })
  }
  // `test-keys`: the page accepts the 512-bit keys of the test's vertical SVM, as the Node parties do.
  await p.goto(`${pageServer.url}/jointly-browser/index.html?test-keys`)
  if (options.wallet !== undefined) {
    await p.getByTestId("use-wallet").click()
  } else {
    await p.getByTestId("import-key").fill(key)
    await p.getByTestId("import").click()
  }
  await p.getByTestId("address").filter({ hasText: party("web").address }).waitFor({ timeout: 10_000 })
  const add = async (name: string, columns: string, file: string, id = "") => {
    await p.getByTestId("dataset-name").fill(name)
    await p.getByTestId("dataset-columns").fill(columns)
    await p.getByTestId("dataset-id").fill(id)
    await p.getByTestId("dataset-file").setInputFiles(file)
    await p.getByTestId("add-dataset").click()
  }
  await add("pima", pimaColumns.map((c) => `${c.name}:${c.type}`).join(", "), pimaFile("east"))
  await add("ids", "id:string", idFile("c"), "id")
  await add("digits", digitsColumns.map((c) => `${c.name}:${c.type}`).join(", "), digitsFiles[2]!)
  await add("bcw", bcwColumns("c").map((c) => `${c.name}:${c.type}`).join(", "), idFile("c"))
  await p.getByTestId("start").click()
  await p.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 60_000 }).catch(async (error) => {
    throw new Error(`the page did not connect: ${await p.getByTestId("status").textContent()}\n${consoleLines.slice(-20).join("\n")}\n${cluster.coordinatorStderr.slice(-10).join("\n")}`, { cause: error })
  })
  return p
}

/** Approves the page's offer of `taskId` with a click, as the person deciding would. */
const approve = async (p: Page, taskId: string) => {
  const offer = p.locator(`[data-testid="offer"][data-task-id="${taskId}"]`)
  await offer.waitFor({ timeout: 30_000 })
  await offer.getByTestId("approve").click()
}

/** The texts of the sealed records in the page's IndexedDB store of `owner` (IndexedDbModels.ts). */
const readSealed = (p: Page, owner: string) => p.evaluate(async (owner) => {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(`jointly-models-${owner.toLowerCase()}`)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
  const all = await new Promise<Array<string>>((resolve) => {
    const r = db.transaction("records").objectStore("records").getAll()
    r.onsuccess = () => resolve(r.result as Array<string>)
  })
  db.close()
  return all
}, owner)

/** Alters one ciphertext byte of `owner`'s sealed record of `format` in the page's IndexedDB, as an attacker with the profile's files could. */
const tamperSealed = (p: Page, owner: string, format: string) => p.evaluate(async ({ owner, format }) => {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(`jointly-models-${owner.toLowerCase()}`)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
  const store = db.transaction("records", "readwrite").objectStore("records")
  const altered = await new Promise<boolean>((resolve) => {
    const cursor = store.openCursor()
    cursor.onsuccess = () => {
      const c = cursor.result
      if (c === null) return resolve(false)
      const file = JSON.parse(c.value as string)
      if (file.format !== format) return c.continue()
      const bytes = Uint8Array.from(atob(file.ciphertext), (ch) => ch.charCodeAt(0))
      bytes[0] = bytes[0]! ^ 1
      file.ciphertext = btoa(String.fromCharCode(...bytes))
      c.update(JSON.stringify(file)).onsuccess = () => resolve(true)
    }
  })
  db.close()
  return altered
}, { owner, format })

/** Alters web's sealed record of `format`, then runs `submit`'s task again, approved: the browser fails it with `code`. */
const failsOnceTampered = async (format: string, submit: () => Promise<string>, code: string) => {
  expect(await tamperSealed(page, party("web").address, format)).toBe(true)
  const id = await submit()
  await approve(page, id)
  const refused = await cluster.waitForTask(id, { timeoutMs: 120_000 })
  expect(refused.status).toBe("Failed")
  expect(String(refused.reason)).toContain(code)
}

describe.skipIf(!existsSync(chromiumPath))("a browser participant beside Node participants", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-browser-"))
    bundleDir = join(dir, "bundle")
    await mkdir(join(dir, "digits"))
    digitsFiles = await Promise.all(nonIid(digits, 3).shards.map(async (rows, i) => {
      const file = join(dir, "digits", `digits-${i}.csv`)
      await writeFile(file, [digits.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n")
      return file
    }))
    const [cluster_, browser_] = await Promise.all([
      starter.start({
        dataDir: join(dir, "cluster"),
        parties: [
          ...Object.entries(nodeParties).map(([name, part], i) => ({
            name,
            datasets: [
              { name: "pima", file: pimaFile(name), columns: pimaColumns },
              { name: "ids", file: idFile(part), columns: idColumns, id: "id" },
              { name: "digits", file: digitsFiles[i]!, columns: digitsColumns },
              { name: "bcw", file: idFile(part), columns: bcwColumns(part) }
            ],
            // The vertical SVM runs on 512-bit Paillier keys to stay short (as coordinator/src/Vertical.test.ts).
            unsafeTestKeySizes: true
          })),
          { name: "web", external: true, datasets: [] }
        ]
      }),
      chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: [
          "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"
        ]
      }),
      bundle(bundleDir, { minify: false })
    ])
    cluster = cluster_
    browser = browser_
    pageServer = await startPageServer()
    walletScript = (await esbuild.build({
      absWorkingDir: repo,
      entryPoints: ["participant/src/browser/testing/InjectedProvider.ts"],
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      conditions: ["@jointly/source"],
      logLevel: "warning"
    })).outputFiles[0]!.text
    page = await openPage()
  }, 300_000)

  afterAll(async () => {
    await browser?.close()
    await pageServer?.close()
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  it("joint statistics with a Node party dropping out after masking: exactly the all-Node result", async () => {
    const reference = await cluster.waitForTask(await cluster.submit(statsSpec(["north", "south", "east"])))
    expect(reference.status, String(reference.reason)).toBe("Succeeded")

    // south dies right after sending its masked input (the integration tests' hook); the browser stays.
    const south = party("south")
    const exited = new Promise((resolve) => south.process.once("exit", resolve))
    south.process.kill("SIGTERM")
    await exited
    await cluster.launch(south, { JOINTLY_TEST_EXIT_AFTER_STAGE: "secagg.masked-input" })
    const southExit = new Promise<number | null>((resolve) => south.process.once("exit", (code) => resolve(code)))

    const id = await cluster.submit(statsSpec(["north", "south", "web"]))
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(await southExit).toBe(75)
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect((detail.result as { contributors: Array<string> }).contributors).toContain(party("web").address)
    expect(withoutContributors(detail.result)).toEqual(withoutContributors(reference.result))
    const progress = detail.events.filter((e) => e.type === "Progress").map((e) => e.data as { stage: string; done: number; total: number })
    expect(progress).toContainEqual(expect.objectContaining({ stage: "secagg.unmask", done: 2, total: 3 }))
    await page.locator(`[data-testid="task"][data-task-id="${id}"][data-status="Succeeded"]`).waitFor()
    expect(Number(await page.getByTestId("sent-bytes").textContent())).toBeGreaterThan(0)

    await cluster.launch(south)
  }, 300_000)

  it("PSI: the browser receives the same intersection the Node receiver gets", async () => {
    const psi = (names: ReadonlyArray<string>, receivers: ReadonlyArray<string>) => ({
      kind: "query.psi",
      name: "shared patients",
      parties: names.map((n) => ({ participant: party(n).address, dataset: "ids" })) as never,
      params: { idColumn: "id", receivers: receivers.map((n) => party(n).address), maxIds: 10_000 }
    })
    const reference = await cluster.waitForTask(await cluster.submit(psi(["north", "south", "east"], ["north", "east"])))
    expect(reference.status, String(reference.reason)).toBe("Succeeded")
    const referenceIds = JSON.parse(await readFile(join(party("east").dataDir, "outputs", `${reference.id}.json`), "utf8")).ids as Array<string>

    const id = await cluster.submit(psi(["north", "south", "web"], ["north", "web"]))
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    const result = detail.result as { cardinality: number; outputs: Array<{ receiver: string; digest: string }> }
    expect(result.cardinality).toBe((reference.result as { cardinality: number }).cardinality)
    const northIds = (taskId: string) => readFile(join(party("north").dataDir, "outputs", `${taskId}.json`), "utf8").then((t) => new Set(JSON.parse(t).ids))
    expect(await northIds(id)).toEqual(await northIds(reference.id))
    const outputs = await page.evaluate((taskId) => ((globalThis as any).__jointlyOutputs ?? []).filter((o: any) => o.taskId === taskId).map((o: any) => o.output), id)
    expect(outputs).toHaveLength(1)
    expect(new Set(outputs[0].ids)).toEqual(new Set(referenceIds))
    // The digest the task recorded for the browser's output is the digest of what the page holds.
    const { digest, ...rest } = outputs[0]
    expect(digest).toBe(sha256Digest(rest))
    expect(result.outputs.find((o) => o.receiver === party("web").address)?.digest).toBe(digest)
    expect(referenceIds.length).toBeGreaterThan(100)
  }, 300_000)

  it("PSI on the OT engine, whose relay carries bytes (socket.io attachments, ArrayBuffers in the page): the browser, the OT receiver, and a Node party both get the plaintext intersection", async () => {
    const ids = (part: "a" | "c") => {
      const column = bcwTables[part].columns.indexOf("id")
      return new Set(bcwTables[part].rows.map((row) => row[column]!))
    }
    const [northIds, webIds] = [ids("a"), ids("c")]
    const expected = new Set([...webIds].filter((i) => northIds.has(i)))
    const id = await cluster.submit({
      kind: "query.psi",
      name: "shared patients, OT",
      parties: ["web", "north"].map((n) => ({ participant: party(n).address, dataset: "ids" })) as never,
      // The first receiver is the OT receiver: the browser sends the matrix and takes the values.
      params: { idColumn: "id", receivers: [party("web").address, party("north").address], maxIds: 10_000, protocol: "ot" }
    })
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    const result = detail.result as { cardinality: number; outputs: Array<{ receiver: string; digest: string }> }
    expect(result.cardinality).toBe(expected.size)
    const north = JSON.parse(await readFile(join(party("north").dataDir, "outputs", `${id}.json`), "utf8")).ids as Array<string>
    expect(new Set(north)).toEqual(expected)
    const outputs = await page.evaluate((taskId) => ((globalThis as any).__jointlyOutputs ?? []).filter((o: any) => o.taskId === taskId).map((o: any) => o.output), id)
    expect(outputs).toHaveLength(1)
    expect(new Set(outputs[0].ids)).toEqual(expected)
    const { digest, ...rest } = outputs[0]
    expect(digest).toBe(sha256Digest(rest))
    expect(result.outputs.find((o) => o.receiver === party("web").address)?.digest).toBe(digest)
    expect(expected.size).toBeGreaterThan(100)
  }, 300_000)

  it("a horizontal FedAvg task with secure aggregation: the browser trains its shard in tfjs, every round equal to the all-Node run", async () => {
    const fl = (names: ReadonlyArray<string>) => ({
      kind: "modeling.horizontal-fl",
      name: "digits",
      parties: names.map((n) => ({ participant: party(n).address, dataset: "digits" })) as never,
      params: digitsParams(digits.header, { rounds: 2, localEpochs: 1 }),
      roundTimeoutMs: 120_000
    })
    const reference = await cluster.waitForTask(await cluster.submit(fl(["north", "south", "east"])), { timeoutMs: 240_000 })
    expect(reference.status, String(reference.reason)).toBe("Succeeded")
    const id = await cluster.submit(fl(["north", "south", "web"]))
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    type Round = { readonly contributors: Array<string>; readonly digest: string }
    const result = detail.result as { aggregation: string; rounds: Array<Round>; final: unknown }
    const expected = reference.result as typeof result
    expect(result.aggregation).toBe("secure")
    // Every round's aggregated weights (their digest), loss and accuracy as in the all-Node run; web in each round.
    expect(result.rounds.map(withoutContributors)).toEqual(expected.rounds.map(withoutContributors))
    for (const round of result.rounds) expect(round.contributors).toContain(party("web").address)
    expect(result.final).toEqual(expected.final)
  }, 600_000)

  it("a vertical SVM with the browser holding one feature block: evaluation as the plaintext SVM, the model sealed in IndexedDB, predictions from it", async () => {
    const svm = (names: ReadonlyArray<string>) => {
      const params = Reference.trainParams(names.map((n, i) => ({ address: party(n).address, table: bcwTables[(["a", "b", "c"] as const)[i]!] })), { keyBits: 512, updates: 100, batchSize: 50 })
      return { kind: "modeling.vertical-svm", name: "bcw svm", parties: names.map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never, params: params as never }
    }
    const tables = [bcwTables.a, bcwTables.b, bcwTables.c]
    const reference = await cluster.waitForTask(await cluster.submit(svm(["north", "south", "east"])), { timeoutMs: 240_000 })
    expect(reference.status, String(reference.reason)).toBe("Succeeded")

    const spec = svm(["north", "south", "web"])
    const id = await cluster.submit(spec)
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    const result = detail.result as VerticalSpec.TrainResult
    const expected = reference.result as VerticalSpec.TrainResult
    expect(result.rows).toBe(expected.rows)
    expect(result.iterations).toBe(expected.iterations)
    // The label holder's evaluation is the plaintext SVM's on the joined table with this run's public schedule and
    // alignment, over the same rows as the all-Node run (whose schedule and order differ: both are drawn per task).
    const holder = (await cluster.outputOf("north", id)) as { alignedIds: Array<string>; evaluation: { ids: Array<string>; positive: Array<boolean> } }
    expect(new Set(holder.alignedIds)).toEqual(new Set(((await cluster.outputOf("north", reference.id)) as typeof holder).alignedIds))
    const ref = Reference.reference(tables, 1, "svm", spec.params, result.schedule, holder.alignedIds)
    expect(holder.evaluation.ids).toEqual(ref.testIds)
    const agreed = Reference.agreement(ref, holder.evaluation)
    expect(agreed.disagreements).toEqual([])
    for (const m of ["accuracy", "precision", "recall"] as const) expect(result.test[m]).toBeCloseTo(agreed.metrics[m], 12)

    // The browser's block is sealed in its IndexedDB (the progress records are gone once the task is over); the
    // weights the page received are nowhere in it in the clear.
    const address = party("web").address
    await expect.poll(async () => (await readSealed(page, address)).map((text) => JSON.parse(text).format), { timeout: 30_000 }).toEqual(["jointly/vertical-partial-model"])
    const sealed = await readSealed(page, address)
    expect(JSON.parse(sealed[0]!).modelId).toBe(id)
    // The task's last output to the page is the partial model's record (its alignment step delivers one before).
    const webOutput = await page.evaluate((taskId) => ((globalThis as any).__jointlyOutputs ?? []).filter((o: any) => o.taskId === taskId).map((o: any) => o.output).find((o: any) => o.modelDigest !== undefined), id)
    expect(webOutput.modelDigest).toBe(JSON.parse(sealed[0]!).digest)
    expect(webOutput.weights.length).toBe(bcwTables.c.columns.length - 1)
    for (const w of webOutput.weights as Array<number>) if (Math.abs(w) > 1e-6) expect(sealed[0]).not.toContain(String(w))

    // Online prediction: the browser's share of each score comes from the model it opened from IndexedDB.
    const ids = ref.testIds.slice(0, 6)
    const predict = () => cluster.submit({
      kind: "prediction.vertical-online",
      name: "bcw predict",
      parties: ["north", "south", "web"].map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never,
      params: { model: id, requester: party("north").address, idColumn: "id", ids } as never
    })
    const online = await predict()
    await approve(page, online)
    const predicted = await cluster.waitForTask(online, { timeoutMs: 120_000 })
    expect(predicted.status, String(predicted.reason)).toBe("Succeeded")
    const onlineOut = (await cluster.outputOf("north", online)) as { ids: Array<string>; positive: Array<boolean> }
    expect(onlineOut.ids).toEqual(ref.testIds.slice(0, 6))
    expect(Reference.agreement(ref, onlineOut).disagreements).toEqual([])

    // A record altered in IndexedDB (one ciphertext byte) no longer opens: the prediction fails at the browser.
    await failsOnceTampered("jointly/vertical-partial-model", predict, "PartialModelCorrupt")
  }, 600_000)

  it("encrypted inference with a linear model the browser owns: kept sealed in IndexedDB, the requester's scores those of the plaintext model, a tampered record refused", async () => {
    const features = ["glucose", "mass", "pedigree", "age"]
    const model: LinearArtifact = {
      format: "linear",
      weights: [0.92, 0.51, 0.33, 0.24],
      bias: -0.41,
      link: "identity",
      featureColumns: features,
      scaling: { mean: [121, 32.4, 0.47, 33.2], std: [32, 7.9, 0.33, 11.8] }
    }
    const keep = async (artifact: unknown) => {
      const file = join(dir, `model-${Math.random().toString(36).slice(2)}.json`)
      await writeFile(file, JSON.stringify(artifact))
      await page.getByTestId("model-file").setInputFiles(file)
      await page.getByTestId("keep-model").click()
    }
    const status = page.getByTestId("model-status")
    // A file that is no usable linear model is refused, saying why; nothing is stored.
    const address = party("web").address
    const before = (await readSealed(page, address)).length
    await keep({ ...model, weights: model.weights.slice(1) })
    await expect.poll(() => status.textContent()).toContain("3 weights for 4 feature columns")
    expect(await readSealed(page, address)).toHaveLength(before)

    await keep(model)
    const modelId = artifactId(model)
    await expect.poll(() => status.getAttribute("data-model-id")).toBe(modelId)
    const owned = (await readSealed(page, address)).filter((text) => JSON.parse(text).format === "jointly/owned-linear-model")
    expect(owned).toHaveLength(1)
    for (const w of model.weights) expect(owned[0]).not.toContain(String(w))

    const score = () => cluster.submit({
      kind: "prediction.encrypted-linear",
      name: "scores from web's model",
      parties: ["north", "web"].map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: { requester: party("north").address, owner: address, modelId, features } as never
    })
    const id = await score()
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 120_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    // The requester decrypted w·x + b for each of its rows: the plaintext model's score within CKKS' error.
    const north = Reference.parseCsv(readFileSync(pimaFile("north"), "utf8"))
    const rows = north.rows.map((row) => features.map((c) => Number(row[north.columns.indexOf(c)])))
    const scores = ((await cluster.outputOf("north", id)) as { modelId: string; scores: Array<number> }).scores
    expect(scores).toHaveLength(rows.length)
    const plain = rows.map((row) => predictLinear(model, row))
    expect(Math.max(...plain.map((p, i) => Math.abs(p - scores[i]!)))).toBeLessThan(1e-3)
    expect(new Set(plain.map((p) => p >= 0)).size).toBe(2)

    // The record altered in IndexedDB no longer opens: the owner's stage fails with a typed error.
    await failsOnceTampered("jointly/owned-linear-model", score, "OwnedModelCorrupt")
  }, 300_000)

  it("closing the tab after it sent its masked input settles the task with the browser as a dropout", async () => {
    const reference = await cluster.waitForTask(await cluster.submit(statsSpec(["north", "south", "east"])))
    let closing: Promise<void> | undefined
    await page.exposeFunction("__closeTab", () => void (closing ??= page.close()))
    // Closing is asked of Node, which takes some milliseconds; a page left running meanwhile could answer the unmask
    // request too (CI saw it). So the page stops itself from the next task on: the masked input's reply and its
    // flush (microtasks) have left, and no later message can be answered before the tab is gone.
    await page.evaluate(() => {
      const g = globalThis as unknown as { __jointlyEvent: (event: { type: string; stage?: string; ok?: boolean }) => void; __closeTab: () => void }
      g.__jointlyEvent = (event) => {
        if (event.type !== "stage" || !event.ok || event.stage !== "secagg.masked-input") return
        g.__closeTab()
        setTimeout(() => {
          const until = Date.now() + 60_000
          while (Date.now() < until) { /* the tab is being closed */ }
        }, 0)
      }
    })
    const id = await cluster.submit(statsSpec(["north", "south", "web"]))
    await approve(page, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(closing).toBeDefined()
    expect(page.isClosed()).toBe(true)
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect((detail.result as { contributors: Array<string> }).contributors).toContain(party("web").address)
    expect(withoutContributors(detail.result)).toEqual(withoutContributors(reference.result))
    const progress = detail.events.filter((e) => e.type === "Progress").map((e) => e.data as { stage: string; done: number; total: number })
    expect(progress).toContainEqual(expect.objectContaining({ stage: "secagg.unmask", done: 2, total: 3 }))
    expect(pageErrors).toEqual([])
  }, 300_000)

  it("an injected EIP-1193 wallet signs the browser's sign-in and consent (EIP-712, as Node does); a consent it signs with another account is refused", async () => {
    const reference = await cluster.waitForTask(await cluster.submit(statsSpec(["north", "south", "east"])))
    expect(reference.status, String(reference.reason)).toBe("Succeeded")
    const walletPage = await openPage({ wallet: {} })
    const id = await cluster.submit(statsSpec(["north", "south", "web"]))
    await approve(walletPage, id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(withoutContributors(detail.result)).toEqual(withoutContributors(reference.result))
    const web = party("web").address
    expect(detail.consents.find((c) => c.participant.toLowerCase() === web.toLowerCase())?.approve).toBe(true)
    // The wallet was asked, as typed data the person reads: the login, then this task's consent.
    const asked = await walletPage.evaluate(() => (globalThis as any).__walletRequests as Array<{ method: string; primaryType?: string; message?: any }>)
    expect(asked.filter((r) => r.method === "eth_signTypedData_v4").map((r) => r.primaryType)).toEqual(expect.arrayContaining(["Login", "Consent"]))
    expect(asked.find((r) => r.primaryType === "Consent")?.message).toMatchObject({ taskId: id, approve: true })
    // The chain holds web's consent, its EIP-712 signature checked by the contract.
    const history = await cluster.supervisorLedger.taskHistory(id)
    expect(history.some((e) => e._tag === "ConsentRecorded" && e.participant.toLowerCase() === web.toLowerCase() && e.approve)).toBe(true)
    await walletPage.close()

    // A wallet that claims web's account but signs the consent with another key, one web's DID never named as a
    // consent key: the coordinator refuses it.
    const wrongPage = await openPage({ wallet: { consentKey: Wallet.createRandom().privateKey } })
    const wireErrors: Array<{ code: string; message: string }> = []
    await wrongPage.exposeFunction("__jointlyEvent", (event: { type: string; error?: { code: string; message: string } }) => {
      if (event.type === "wire-error" && event.error !== undefined) wireErrors.push(event.error)
    })
    const refused = await cluster.submit(statsSpec(["north", "south", "web"]))
    await approve(wrongPage, refused)
    await expect.poll(() => wireErrors, { timeout: 30_000 }).toContainEqual(expect.objectContaining({ code: "KeyNotAuthorized", message: expect.stringContaining("NeverPublished") }))
    const pending = await cluster.task(refused)
    expect(pending.consents.some((c) => c.participant.toLowerCase() === web.toLowerCase())).toBe(false)
    expect(pending.status).toBe("AwaitingConsent")
    await wrongPage.close()
  }, 300_000)
})
