/**
 * The dashboard end to end: a LocalCluster (anvil, the coordinator, three participant processes, one of which
 * asks a human), Debian's chromium driven by playwright-core. The page signs in with a browser wallet — an
 * EIP-1193 provider injected into the page, signing with a test key in this process — then watches a task move
 * live, approves a pending consent, reads a federated-learning task's training curves and its chain trail with the
 * verified badge; another member's page is refused the same task, an unknown account is refused altogether. Every
 * result kind is drawn for what it is: the cheap kinds from tasks run here (statistics, PSI, federated learning, a
 * batch prediction with its model, an online prediction against the API's own answer), the slow ones — a vertical
 * model, a Shapley valuation, SecureSVM, SecureBoost and its prediction, an encrypted linear prediction, a similarity search — from the stored
 * results of real runs (testing/recordResults.ts), each asserted against the result's own numbers. The analyst
 * submits a task through the form (the page's task id is TaskSpec.taskId's; bad params get the typed refusal).
 * Screenshots of the main views go to coordinator/test-artifacts/screenshots/.
 */
import { catchUpProbability } from "@jointly/core/internal/ledger/CatchUp"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { randomBytes } from "node:crypto"
import { getAddress, getBytes, hexlify, JsonRpcProvider, keccak256, toUtf8Bytes, Wallet } from "ethers"
import { type Browser, chromium, type Locator, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ModelToData from "@jointly/core/internal/governance/ModelToData"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import { modelRequestIdOf } from "@jointly/core/internal/ledger/GovernanceLedger"
import { taskId as taskIdOf } from "@jointly/core/internal/task/TaskSpec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Funding from "../chain/Funding.ts"
import * as Consortium from "../local/Consortium.ts"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { cell, tablesOf } from "./public/tables.js"

const chromiumPath = "/usr/bin/chromium"
const screenshots = fileURLToPath(new URL("../../test-artifacts/screenshots/", import.meta.url))
const fixtures = fileURLToPath(new URL("./testing/results/", import.meta.url))
const demo = fileURLToPath(new URL("../../../examples/demo/", import.meta.url))
const idFiles = { north: "a", south: "b" } as const
const idFile = (name: keyof typeof idFiles) => fileURLToPath(new URL(`../../../examples/query/bcw_vertical_party_${idFiles[name]}_psi.csv`, import.meta.url))
const columns: DatasetSpec["columns"] = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age", "label"].map((name) => ({ name, type: "number" as const }))
const names = ["north", "south", "east"] as const

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let browser: Browser
let page: Page
/** The federated-learning task run below, whose result the result views draw again. */
let flTask: string | undefined

const party = (name: (typeof names)[number]) => cluster.parties.find((p) => p.name === name)!

/**
 * A page whose `window.ethereum` is an EIP-1193 provider backed by `wallet` (the browser-wallet role): it shares one
 * account, signs `personal_sign` requests and sends transactions with the key held here, never in the page, and
 * passes every other call to the chain's node as a wallet passes them to its RPC endpoint (errors with their
 * revert data, so the page can read a contract's refusal).
 */
const walletPage = async (wallet: Pick<Wallet, "address" | "signMessage" | "privateKey">) => {
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  const signer = new Wallet(wallet.privateKey, new JsonRpcProvider(cluster.rpcUrl, undefined, { staticNetwork: true }))
  await p.exposeFunction("__jointlyWallet", async (method: string, params: ReadonlyArray<any>) => {
    try {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return { result: [wallet.address] }
      if (method === "personal_sign") return { result: await wallet.signMessage(getBytes(params[0]!)) }
      if (method === "eth_sendTransaction") {
        const tx = params[0]
        if (getAddress(tx.from) !== getAddress(wallet.address)) throw new Error(`the wallet holds no key for ${tx.from}`)
        return { result: (await signer.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ?? 0, ...(tx.gas ? { gasLimit: tx.gas } : {}) })).hash }
      }
      const response = await fetch(cluster.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
      const body = (await response.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } }
      return body.error ? { error: body.error } : { result: body.result }
    } catch (error) {
      return { error: { code: -32603, message: error instanceof Error ? error.message : String(error) } }
    }
  })
  await p.addInitScript(() => {
    ;(window as any).ethereum = {
      request: async ({ method, params }: { method: string; params?: ReadonlyArray<unknown> }) => {
        const answer = await (window as any).__jointlyWallet(method, params ?? [])
        if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code, data: answer.error.data })
        return answer.result
      }
    }
  })
  await p.goto(cluster.coordinatorUrl)
  await p.locator('[data-testid="sign-in"]').click()
  return p
}
const shoot = (name: string) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true })
/**
 * An element's picture for the README. The page re-renders on every live event (app.js `render`), so the element
 * may be replaced while the picture is taken ("not attached to the DOM"): take it again from the locator, which
 * finds the new one. The picture is not an assertion; the test's expectations are checked before it.
 */
const snap = async (element: Locator, file: string) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await element.screenshot({ path: join(screenshots, file) })
    } catch (error) {
      if (attempt >= 5 || !String(error).includes("not attached to the DOM")) throw error
    }
  }
}
const row = (taskId: string) => page.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`)

describe.skipIf(!existsSync(chromiumPath))("dashboard in chromium over a LocalCluster", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-dashboard-"))
    await mkdir(screenshots, { recursive: true })
    const [cluster_, browser_] = await Promise.all([
      starter.start({
        dataDir: join(dir, "cluster"),
        parties: names.map((name) => ({
          name,
          datasets: [
            { name: "pima", file: join(demo, `pima-${name}.csv`), columns },
            // Ids for a PSI (the Wisconsin rows split vertically, most ids shared).
            ...(name === "east" ? [] : [{ name: "ids", file: idFile(name), columns: [{ name: "id", type: "string" as const }] }])
          ],
          // east's policy asks a human for every task that passes its rules; north runs a batch prediction alone.
          ...(name === "east" ? { policy: { mode: "ask", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { pima: {} } } as never } : {}),
          ...(name === "north" ? { policy: { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 1, datasets: { pima: {}, ids: {} } } as never } : {})
        }))
      }),
      chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
      })
    ])
    cluster = cluster_
    browser = browser_
    // The local analyst's page: it initiates the tasks below and receives their results.
    page = await walletPage(cluster.keys.analyst)
    await page.locator("#live[data-state=live]").waitFor()
    expect(getAddress((await page.locator('[data-testid="account"]').getAttribute("data-address"))!)).toBe(cluster.keys.analyst.address)
    // Beside the chain: the confirmations setting and the catch-up risk it leaves (core/src/ledger/CatchUp.ts).
    const finality = page.locator('[data-testid="finality"]')
    const confirmations = Number(await finality.getAttribute("data-confirmations"))
    expect(confirmations).toBeGreaterThanOrEqual(1)
    const risk = catchUpProbability(0.1, confirmations)
    expect(await finality.textContent()).toContain(`q = 10 %: ${risk < 1e-4 ? risk.toExponential(1) : risk.toFixed(4)}`)
    // Every status each task row has shown, recorded in the page as the DOM changes (no polling, no reload).
    await page.evaluate(() => {
      // Survives only while the page is never reloaded: every later view must come from live updates.
      ;(window as any).__loaded = "once"
      const seen: Record<string, Array<string>> = ((window as any).__seen = {})
      const record = () => {
        for (const r of Array.from(document.querySelectorAll<HTMLElement>('[data-testid="task-row"]'))) {
          const list = (seen[r.dataset.taskId!] ??= [])
          if (list.at(-1) !== r.dataset.status) list.push(r.dataset.status!)
        }
      }
      new MutationObserver(record).observe(document.getElementById("app")!, { childList: true, subtree: true })
    })
  }, 300_000)

  afterAll(async () => {
    await browser?.close()
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  it("lists the consortium's members with their chain state", async () => {
    await page.click('nav a[data-view="members"]')
    await page.locator('[data-testid="member"]').nth(3).waitFor()
    const members = await page.locator('[data-testid="member"]').evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.name!.toLowerCase(), (r as HTMLElement).dataset.state]))
    expect(Object.fromEntries(members)).toEqual({ north: "Audited", south: "Audited", east: "Audited", "local-analyst": "Audited" })
    await shoot("members")
    await page.click('nav a[data-view="catalogue"]')
    await page.locator('[data-testid="catalogue"]').waitFor()
    await shoot("catalogue")
    await page.click('nav a[data-view="tasks"]')
  })

  it("shows a consent waiting for a human, refuses a wrong token, and lets the task run once approved — live", async () => {
    const east = party("east")
    const taskId = await cluster.submit({
      kind: "statistics.horizontal",
      name: "glucose by clinic",
      parties: names.map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: { columns: ["glucose", "mass"], statistics: ["count", "mean", "std"] }
    })
    // The new task and east's pending consent appear without a reload.
    await row(taskId).and(page.locator('[data-status="AwaitingConsent"]')).waitFor()
    const card = page.locator(`[data-testid="consent"][data-task-id="${taskId}"]`)
    await card.waitFor()
    expect(getAddress((await card.getAttribute("data-participant"))!)).toBe(east.address)
    await shoot("pending-consent")

    // A decision without east's token is refused by east itself (the coordinator only relays it).
    await card.locator('[data-testid="consent-token"]').fill("not-the-token")
    await card.locator('[data-testid="approve"]').click()
    await expect.poll(() => card.locator('[data-testid="consent-error"]').textContent()).toContain("dashboard token")
    expect((await cluster.task(taskId)).status).toBe("AwaitingConsent")

    const token = (await readFile(join(east.dataDir, "dashboard-token"), "utf8")).trim()
    await card.locator('[data-testid="consent-token"]').fill(token)
    await card.locator('[data-testid="consent-reason"]').fill("reviewed by the east data steward")
    await card.locator('[data-testid="approve"]').click()
    await row(taskId).and(page.locator('[data-status="Succeeded"]')).waitFor({ timeout: 60_000 })
    const seen: Array<string> = await page.evaluate((id) => (window as any).__seen[id], taskId)
    expect(seen[0]).toBe("AwaitingConsent")
    expect(seen.at(-1)).toBe("Succeeded")
    expect(await page.evaluate(() => (window as any).__loaded)).toBe("once")

    // The timeline names east's approval with the human's reason; the chain holds east's own signature.
    await row(taskId).click()
    const detail = page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`)
    await detail.locator('[data-testid="verify-badge"][data-ok="true"]').waitFor({ timeout: 60_000 })
    const approvals = await detail.locator('[data-testid="timeline-event"][data-type="ConsentApproved"]').allTextContents()
    expect(approvals).toHaveLength(3)
    expect(approvals.find((t) => t.toLowerCase().includes("east approved"))).toContain("reviewed by the east data steward")
    const history = await cluster.supervisorLedger.taskHistory(taskId as `0x${string}`)
    const consent = history.find((e) => e._tag === "ConsentRecorded" && getAddress(e.participant) === east.address)
    expect(consent?._tag === "ConsentRecorded" && consent.approve).toBe(true)
    if (consent?._tag === "ConsentRecorded") {
      const domain = Eip712.domain(cluster.supervisorLedger.chainId, cluster.deployment.ledger)
      expect(Eip712.verifyConsent(domain, { taskId, specHash: taskId, approve: true, reasonHash: consent.reasonHash }, consent.signature, east.address)).toBe(true)
    }
    const ops = await detail.locator('[data-testid="chain-op"]').evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.op, (r as HTMLElement).dataset.status]))
    expect(ops.filter(([op]) => op === "recordConsent")).toHaveLength(3)
    expect(ops.some(([op]) => op === "recordResult")).toBe(true)
    expect(ops.every(([, status]) => status === "confirmed")).toBe(true)
    await shoot("task-detail")
  })

  it("draws the training curves of a federated-learning task and verifies its chain trail", async () => {
    const rounds = 5
    const features = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]
    const taskId = await cluster.submit({
      kind: "modeling.horizontal-fl",
      name: "diabetes risk",
      parties: (["north", "south"] as const).map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: {
        model: {
          class_name: "Sequential",
          config: {
            name: "pima",
            layers: [
              { class_name: "Dense", config: { units: 8, activation: "relu", use_bias: true, batch_input_shape: [null, features.length], kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } }, bias_initializer: { class_name: "Zeros", config: {} } } },
              { class_name: "Dense", config: { units: 2, activation: "softmax", use_bias: true, kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } }, bias_initializer: { class_name: "Zeros", config: {} } } }
            ]
          }
        },
        featureColumns: features,
        labelColumn: "label",
        scaling: { mean: [3.8, 121, 69, 21, 80, 32, 0.47, 33], std: [3.4, 32, 19, 16, 115, 8, 0.33, 12] },
        optimizer: "adam",
        learningRate: 0.02,
        localEpochs: 2,
        batchSize: 32,
        rounds,
        validationSplit: 0.2,
        aggregation: "plain",
        seed: 7
      },
      roundTimeoutMs: 60_000
    })
    flTask = taskId
    await page.evaluate((id) => (location.hash = `#/tasks/${id}`), taskId)
    const detail = page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`)
    await detail.waitFor()
    // The curve grows round by round while the page stays open.
    await detail.locator('[data-testid="training-curves"] path[data-series="loss"]').waitFor({ timeout: 90_000 })
    await detail.and(page.locator('[data-status="Succeeded"]')).waitFor({ timeout: 90_000 })
    await detail.locator('[data-testid="verify-badge"][data-ok="true"]').waitFor({ timeout: 60_000 })
    const curves = detail.locator('[data-testid="training-curves"]')
    expect(await curves.locator("svg").count()).toBe(2)
    expect(await curves.locator("svg").first().locator("circle.point").count()).toBe(rounds)
    expect(await detail.locator('[data-testid="timeline-event"][data-type="Progress"]').count()).toBeGreaterThanOrEqual(rounds)
    // The badge agrees with the chain: the result digest the store holds is the one ResultRecorded carries.
    const verify = await cluster.client.verify(taskId)
    expect(verify.ok).toBe(true)
    expect(verify.chainResultDigest).toBe(verify.resultDigest)
    expect(await page.evaluate(() => (window as any).__loaded)).toBe("once")
    await shoot("training-curves")
  })

  it("draws each result kind for what it is, with the result's own numbers", async () => {
    const [north, south] = [party("north"), party("south")]
    const pair = (dataset: string) => [north, south].map((p) => ({ participant: p.address, dataset })) as never
    // The cheap kinds run here, at once: statistics with histograms, a PSI, and a kind with no view of its own.
    const [stats, psi, arithmetic] = await Promise.all([
      cluster.submit({
        kind: "statistics.horizontal",
        name: "glucose and BMI",
        parties: pair("pima"),
        params: { columns: ["glucose", "mass"], statistics: ["count", "mean", "std", "histogram"], histogram: { glucose: [0, 50, 100, 150, 200], mass: [0, 20, 30, 40, 70] } }
      }),
      cluster.submit({ kind: "query.psi", name: "shared patients", parties: pair("ids"), params: { idColumn: "id", receivers: [north.address], maxIds: 10_000 } }),
      cluster.submit({
        kind: "statistics.arithmetic",
        name: "glucose totals",
        parties: pair("pima"),
        params: { operation: "add", left: { party: north.address, column: "glucose" }, right: { party: south.address, column: "glucose" }, recipient: north.address, over: "totals" }
      })
    ])
    for (const id of [stats, psi, arithmetic]) expect((await cluster.waitForTask(id, { timeoutMs: 120_000 })).status).toBe("Succeeded")
    const resultOf = async (id: string) => (await cluster.client.result(id)).result as any
    const show = async (id: string) => {
      await page.evaluate((task) => (location.hash = `#/tasks/${task}`), id)
      const view = page.locator(`[data-testid="task-detail"][data-task-id="${id}"] [data-testid="result"]`)
      await view.waitFor({ timeout: 30_000 })
      return view
    }
    const figure = (view: Locator, key: string) => view.locator(`[data-testid="figure"][data-figure="${key}"] .figure-value`).textContent()

    // Statistics: the table's numbers are the result's, and the plaintext means of the two clinics' files.
    const statsResult = await resultOf(stats)
    let view = await show(stats)
    expect(await view.getAttribute("data-view")).toBe("statistics")
    const plain = await Promise.all((["north", "south"] as const).map(async (n) => (await readFile(join(demo, `pima-${n}.csv`), "utf8")).trim().split("\n").slice(1).map((l) => l.split(","))))
    for (const [column, at] of [["glucose", 1], ["mass", 5]] as const) {
      const values = plain.flat().map((r) => Number(r[at]))
      for (const statistic of ["mean", "std"]) {
        const text = await view.locator(`[data-testid="stats-table"] tr[data-column="${column}"] td[data-stat="${statistic}"]`).textContent()
        expect(text).toBe(cell(statsResult.columns[column][statistic]))
      }
      const mean = Number(await view.locator(`[data-testid="stats-table"] tr[data-column="${column}"] td[data-stat="mean"]`).textContent())
      expect(mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 3)
      const bars = await view.locator(`[data-testid="histogram"][data-column="${column}"] rect.bar`).evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-value"))))
      expect(bars).toEqual(statsResult.columns[column].histogram.counts)
    }
    expect(await figure(view, "count")).toBe(String(plain.flat().length))
    await snap(view, "result-statistics.png")

    // PSI: the intersection's size, equal to the ids the two files share.
    const psiResult = await resultOf(psi)
    view = await show(psi)
    expect(await view.getAttribute("data-view")).toBe("sets")
    const idsOf = async (n: keyof typeof idFiles) => new Set((await readFile(idFile(n), "utf8")).trim().split("\n").slice(1).map((l) => l.split(",")[0]!).filter((id) => id !== ""))
    const [a, b] = await Promise.all([idsOf("north"), idsOf("south")])
    const shared = [...a].filter((id) => b.has(id)).length
    expect(psiResult.cardinality).toBe(shared)
    expect(await figure(view, "cardinality")).toBe(String(shared))
    expect(await view.locator('[data-testid="receivers"] tbody tr').count()).toBe(psiResult.outputs.length)
    await snap(view, "result-psi.png")

    // A kind without a view of its own: the CLI's tables, cell for cell.
    const arithmeticResult = await resultOf(arithmetic)
    view = await show(arithmetic)
    expect(await view.getAttribute("data-view")).toBe("tables")
    const shown = await view.locator('[data-testid="result-table"]').evaluateAll((ts) => ts.map((t) => Array.from(t.querySelectorAll("tbody tr")).map((r) => Array.from(r.querySelectorAll("td")).map((d) => d.textContent))))
    expect(shown).toEqual(tablesOf(arithmeticResult).map((t) => t.rows))
    await snap(view, "result-tables.png")

    // Federated learning: the final validation accuracy and one row per round.
    expect(flTask).toBeDefined()
    const flResult = await resultOf(flTask!)
    view = await show(flTask!)
    expect(await view.getAttribute("data-view")).toBe("training")
    expect(await figure(view, "accuracy")).toBe(`${(flResult.final.accuracy * 100).toFixed(1)} %`)
    expect(await view.locator('[data-testid="result-table"][data-title="rounds"] tbody tr').count()).toBe(flResult.rounds.length)
    await snap(view, "result-federated.png")

    // Online prediction with the FL model: north trained it and may predict; the analyst (initiator only) may not.
    const modelId = flResult.modelId as string
    const features = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]
    const southRows = (await readFile(join(demo, "pima-south.csv"), "utf8")).trim().split("\n")
    const southHeader = southRows[0]!.split(",")
    const asked = southRows.slice(1, 41).map((l) => { const r = l.split(","); return features.map((f) => Number(r[southHeader.indexOf(f)])) })
    const typed = [features.join(","), ...asked.map((r) => r.join(","))].join("\n")
    const panel = page.locator(`[data-testid="predict-panel"][data-model-id="${modelId}"]`)
    await page.evaluate((task) => (location.hash = `#/tasks/${task}`), flTask!)
    await panel.locator('[data-testid="predict-rows"]').fill(typed)
    await panel.locator('[data-testid="predict"]').click()
    const refusal = panel.locator('[data-testid="predict-error"]')
    await refusal.waitFor()
    expect(await refusal.getAttribute("data-status")).toBe("403")
    const northWallet = await cluster.walletOf("north")
    const expected = (await cluster.clientFor(northWallet).predict(modelId, asked)) as Array<{ prediction: string; scores: Array<number> }>
    const trainerPage = await walletPage(northWallet)
    try {
      await trainerPage.locator("#live[data-state=live]").waitFor()
      await trainerPage.evaluate((task) => (location.hash = `#/tasks/${task}`), flTask!)
      const own = trainerPage.locator(`[data-testid="predict-panel"][data-model-id="${modelId}"]`)
      await own.locator('[data-testid="predict-rows"]').fill(typed)
      await own.locator('[data-testid="predict"]').click()
      const answer = own.locator('[data-testid="predictions"]')
      // Whichever the page shows first: a refusal here fails with its own words rather than as a timeout.
      const ownError = own.locator('[data-testid="predict-error"]')
      await answer.or(ownError).waitFor({ timeout: 60_000 })
      if (await ownError.isVisible()) throw new Error(`the trainer's prediction was refused: ${await ownError.getAttribute("data-tag")} ${await ownError.textContent()}`)
      expect(await figure(answer, "rows")).toBe(String(asked.length))
      const rows = await answer.locator('[data-testid="prediction-rows"] tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll("td")).map((d) => d.textContent)))
      expect(rows).toEqual(expected.map((p, i) => [String(i + 1), cell(p.prediction), cell(p.scores)]))
      for (const c of new Set(expected.map((p) => String(p.prediction)))) {
        expect(await figure(answer, `class:${c}`)).toBe(String(expected.filter((p) => String(p.prediction) === c).length))
      }
      // The histogram of P(second class): ten bins over [0, 1], the counts of the API's own scores.
      const bins = Array.from({ length: 10 }, (_, b) => expected.filter((p) => Math.min(9, Math.floor(p.scores[1]! * 10)) === b).length)
      expect(await answer.locator('[data-testid="score-histogram"] rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-value"))))).toEqual(bins)
      await snap(own, "online-prediction.png")
    } finally {
      await trainerPage.close()
    }

    // Batch prediction with the same model at north: the rows it scored (all of north's file) and the digest.
    const batch = await cluster.submit({
      kind: "prediction.batch",
      name: "score north's patients",
      parties: [{ participant: north.address, dataset: "pima" }] as never,
      params: { modelId, model: (await cluster.clientFor(northWallet).weights(modelId)).artifact }
    })
    expect((await cluster.waitForTask(batch, { timeoutMs: 60_000 })).status).toBe("Succeeded")
    const batchResult = await resultOf(batch)
    view = await show(batch)
    expect(await view.getAttribute("data-view")).toBe("prediction")
    expect(batchResult.count).toBe(plain[0]!.length)
    expect(await figure(view, "rows")).toBe(String(batchResult.count))
    expect(await view.locator('[data-testid="prediction"]').textContent()).toContain(batchResult.digest)
    await snap(view, "result-batch-prediction.png")

    // The slow kinds, from the stored results of real runs, drawn by the same module on a page of this coordinator.
    const sheet = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    try {
      await sheet.goto(cluster.coordinatorUrl)
      await sheet.locator('[data-testid="sign-in-card"]').waitFor()
      await sheet.addScriptTag({ type: "module", content: `import { renderResult } from "/dashboard/results.js"; window.__renderResult = renderResult` })
      await sheet.waitForFunction(() => typeof (window as any).__renderResult === "function")
      const draw = async (kind: string) => {
        const { result } = JSON.parse(await readFile(join(fixtures, `${kind}.json`), "utf8"))
        await sheet.evaluate(({ kind, result }) => document.getElementById("app")!.replaceChildren((window as any).__renderResult(kind, result)), { kind, result })
        return { result, view: sheet.locator('[data-testid="result"]') }
      }
      const vertical = await draw("modeling.vertical-logistic")
      expect(await vertical.view.getAttribute("data-view")).toBe("model")
      for (const c of ["tp", "fp", "fn", "tn"]) expect(await vertical.view.locator(`[data-testid="confusion"] [data-cell="${c}"]`).textContent()).toBe(String(vertical.result.test[c]))
      expect(vertical.result.test.roc.length).toBeGreaterThan(2)
      expect(await vertical.view.locator('[data-testid="roc"] circle.point').count()).toBe(vertical.result.test.roc.length)
      expect(await figure(vertical.view, "auc")).toBe(vertical.result.test.auc.toFixed(3))
      await snap(vertical.view, "result-vertical-model.png")

      const shapley = await draw("incentives.shapley")
      expect(await shapley.view.getAttribute("data-view")).toBe("shapley")
      const bars = await shapley.view.locator('[data-testid="shapley-bars"] rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-value"))))
      expect(bars).toHaveLength(shapley.result.owners.length)
      expect(bars).toEqual(shapley.result.shares)
      // The valuer's scoring of all owners' model: its confusion matrix as the result has it, actual by row.
      const matrix = await shapley.view.locator('[data-testid="confusion"] tbody tr').evaluateAll((rs) => rs.map((r) => Array.from(r.querySelectorAll("td")).map((d) => Number(d.textContent))))
      expect(matrix).toEqual(shapley.result.grand.confusion.matrix)
      expect(await shapley.view.locator('[data-testid="roc"] circle.point').count()).toBe(shapley.result.grand.roc.points.length)
      await snap(shapley.view, "result-shapley.png")

      // SecureSVM: its confusion counts and one point per round's cost.
      const svm = await draw("modeling.secure-svm")
      expect(await svm.view.getAttribute("data-view")).toBe("svm")
      for (const c of ["tp", "fp", "fn", "tn"]) expect(await svm.view.locator(`[data-testid="confusion"] [data-cell="${c}"]`).textContent()).toBe(String(svm.result.test[c]))
      expect(await svm.view.locator('[data-testid="svm-costs"] circle.point').count()).toBe(svm.result.costs.length)
      expect(svm.result.costs.length).toBe(svm.result.rounds)
      expect(await figure(svm.view, "precision")).toBe(`${(svm.result.test.precision * 100).toFixed(1)} %`)
      expect(await svm.view.locator('[data-testid="providers"] tr').count()).toBe(svm.result.providers.length)
      await snap(svm.view, "result-secure-svm.png")

      // SecureBoost: the loss after every grown tree (training and validation), the gain share of each party.
      const boost = await draw("modeling.secureboost")
      expect(await boost.view.getAttribute("data-view")).toBe("boost")
      expect(await figure(boost.view, "auc")).toBe(boost.result.test.auc.toFixed(3))
      expect(await figure(boost.view, "trees")).toBe(`${boost.result.kept} / ${boost.result.grown}`)
      for (const series of ["training", "validation"]) {
        expect(await boost.view.locator(`[data-testid="boost-loss"] path[data-series="${series}"]`).count(), series).toBe(1)
      }
      expect(await boost.view.locator('[data-testid="boost-loss"] circle.point').count()).toBe(2 * boost.result.curve.length)
      const shares = await boost.view.locator('[data-testid="boost-importance"] rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-value"))))
      expect(shares).toEqual(boost.result.importance.map((x: { gainShare: number }) => x.gainShare))
      expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
      const splits = await boost.view.locator('[data-testid="boost-parties"] td[data-splits]').evaluateAll((ds) => ds.map((d) => Number(d.getAttribute("data-splits"))))
      expect(splits).toEqual(boost.result.importance.map((x: { splits: number }) => x.splits))
      await snap(boost.view, "result-secureboost.png")

      // SecureBoost's batch prediction: every id the parties share scored, in passes, kept by the requester.
      const predicted = await draw("prediction.secureboost")
      expect(await predicted.view.getAttribute("data-view")).toBe("prediction")
      expect(await figure(predicted.view, "rows")).toBe(String(predicted.result.count))
      expect(await figure(predicted.view, "batches")).toBe(String(predicted.result.batches))
      expect(await predicted.view.locator('[data-testid="prediction"]').textContent()).toContain(predicted.result.digest)
      await snap(predicted.view, "result-secureboost-prediction.png")

      // Encrypted linear prediction with the SVM's model: south's rows scored at north under CKKS, scores kept by south.
      const encrypted = await draw("prediction.encrypted-linear")
      expect(await encrypted.view.getAttribute("data-view")).toBe("prediction")
      expect(encrypted.result.rows).toBeGreaterThan(0)
      expect(await figure(encrypted.view, "rows")).toBe(String(encrypted.result.rows))
      const kept = await encrypted.view.locator('[data-testid="prediction"]').textContent()
      for (const value of [encrypted.result.modelId, encrypted.result.digest]) expect(kept).toContain(value)
      expect(await encrypted.view.textContent()).toContain("CKKS ciphertexts under the requester's key")
      await snap(encrypted.view, "result-encrypted-linear.png")

      // Similarity search: K, the rounds it took and the index it searched (its root as committed).
      const similar = await draw("query.similar")
      expect(await similar.view.getAttribute("data-view")).toBe("similar")
      for (const [key, value] of [["k", similar.result.k], ["rounds", similar.result.rounds], ["size", similar.result.index.size], ["dimension", similar.result.index.dimension]] as const) {
        expect(await figure(similar.view, key), key).toBe(String(value))
      }
      expect(await similar.view.locator('[data-testid="similar"]').textContent()).toContain(similar.result.index.root)
      await snap(similar.view, "result-similarity.png")
    } finally {
      await sheet.close()
    }
  }, 240_000)

  it("submits a task from a form built from the kind's Schema, signed by the wallet over the id the server computes; bad params get the typed refusal", async () => {
    const [north, south] = [party("north"), party("south")]
    // The page's id is the coordinator's for a spec written untidily: lower-case addresses, keys out of order,
    // undeclared fields (the Schema drops them), unicode, floats, a nested null.
    const untidy = {
      params: { b: [0.1, 1e21, 3, 2.5e-7], a: { z: "é ✓", y: null } },
      nonce: "n-1",
      parties: [{ dataset: "pima", participant: north.address.toLowerCase(), extra: 1 }, { participant: south.address.toLowerCase(), dataset: "pima" }],
      kind: "statistics.horizontal",
      initiator: cluster.keys.analyst.address.toLowerCase(),
      name: "ünïcode “quoted”",
      recipients: [south.address.toLowerCase()],
      roundTimeoutMs: 30_000,
      undeclared: true
    }
    // (An expression string: vitest would rewrite an import() written in this file.)
    const inPage = (spec: unknown) => page.evaluate(`import("/dashboard/taskid.js").then((m) => m.taskIdOf(${JSON.stringify(spec)}))`) as Promise<string>
    const browserId = await inPage(untidy)
    expect(browserId).toBe(taskIdOf(untidy as never))
    expect(await inPage({ ...untidy, nonce: "n-2" })).not.toBe(browserId)

    await page.click('nav a[data-view="submit"]')
    const form = page.locator('[data-testid="task-form"]')
    await form.waitFor()
    await form.locator('[data-testid="form-kind"]').selectOption("statistics.horizontal")
    await form.locator('[data-testid="form-name"]').fill("ages from the form")
    for (const [i, p] of [north, south].entries()) {
      await form.locator(".party-row").nth(i).locator("select").selectOption(p.address)
      await form.locator(".party-row").nth(i).locator("input").fill("pima")
    }
    // Bad params (no column named): the coordinator's typed refusal, and no task filed.
    const before = (await cluster.client.list()).length
    await form.locator('[data-param="statistics:count"]').check()
    await form.locator('[data-param="statistics:mean"]').check()
    await form.locator('[data-testid="form-submit"]').click()
    const refusal = form.locator('[data-testid="form-error"]')
    await refusal.waitFor()
    expect([await refusal.getAttribute("data-tag"), await refusal.getAttribute("data-reason"), await refusal.getAttribute("data-status")]).toEqual(["InvalidTask", "InvalidParams", "400"])
    expect(await refusal.textContent()).toContain("columns")
    expect((await cluster.client.list()).length).toBe(before)

    await form.locator('[data-param="columns"]').fill("age, mass")
    // The envelope's settings, built from TaskSpec's Schema: recipients typed untidily (lower case), timeouts in ms.
    // A zero timeout passes the page and is refused by the coordinator's decoding of that same Schema.
    const settings = form.locator('[data-testid="form-options"]')
    await settings.locator('[data-param="recipients"]').fill(`${cluster.keys.analyst.address.toLowerCase()}, ${south.address.toLowerCase()}`)
    await settings.locator('[data-param="consentTimeoutMs"]').fill("0")
    await form.locator('[data-testid="form-submit"]').click()
    await expect.poll(() => refusal.getAttribute("data-tag")).toBe("Malformed")
    expect(await refusal.getAttribute("data-status")).toBe("400")
    expect(await refusal.textContent()).toContain("consentTimeoutMs")
    expect((await cluster.client.list()).length).toBe(before)
    await settings.locator('[data-param="consentTimeoutMs"]').fill("120000")
    await settings.locator('[data-param="roundTimeoutMs"]').fill("45000")
    await form.locator('[data-testid="form-submit"]').click()
    const submitted = form.locator('[data-testid="form-submitted"]')
    await submitted.waitFor({ timeout: 30_000 })
    const id = (await submitted.getAttribute("data-task-id"))!
    expect(await submitted.getAttribute("data-computed-id")).toBe(id)
    await snap(form, "task-form.png")
    const done = await cluster.waitForTask(id, { timeoutMs: 90_000 })
    expect(done.status).toBe("Succeeded")
    // What the coordinator filed is what the form said, and its id is the digest of it.
    expect(getAddress(done.spec.initiator)).toBe(cluster.keys.analyst.address)
    expect(done.spec.params).toEqual({ columns: ["age", "mass"], statistics: ["count", "mean"] })
    expect(done.spec.parties.map((p) => [getAddress(p.participant), p.dataset])).toEqual([[north.address, "pima"], [south.address, "pima"]])
    expect([done.spec.recipients, done.spec.consentTimeoutMs, done.spec.roundTimeoutMs]).toEqual([[cluster.keys.analyst.address, south.address], 120_000, 45_000])
    expect(taskIdOf(done.spec)).toBe(id)
    const plain = await Promise.all((["north", "south"] as const).map(async (n) => (await readFile(join(demo, `pima-${n}.csv`), "utf8")).trim().split("\n").slice(1).map((l) => Number(l.split(",")[7]))))
    const ages = plain.flat()
    expect((done.result as any).columns.age.mean).toBeCloseTo(ages.reduce((a, b) => a + b, 0) / ages.length, 3)
    await page.click('nav a[data-view="tasks"]')
  })

  it("lets a dataset's owner approve a grant with its wallet on chain, and shows the contract's refusal by name", async () => {
    const owner = Wallet.createRandom()
    await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: "westclinic", wallet: owner as unknown as Wallet, encryptionPublicKey: owner.signingKey.compressedPublicKey }, true)
    const [asOwner, asAnalyst] = await Promise.all([owner as unknown as Wallet, cluster.keys.analyst].map((w) => Consortium.governanceFor(cluster.rpcUrl, w, cluster.deployment)))
    const ownerPage = await walletPage(owner)
    try {
      const { datasetId } = await asOwner!.publishDataset({ domain: "health", name: "west-pima", attrs: JSON.stringify(columns), size: 256, contentHash: keccak256(toUtf8Bytes("west-pima rows")), location: "westclinic", policy: "GrantRequired" })
      const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400)
      const first = await asAnalyst!.requestGrant({ datasetId: datasetId as `0x${string}`, purpose: "statistics.horizontal", expiry, maxUses: 3 })
      const second = await asAnalyst!.requestGrant({ datasetId: datasetId as `0x${string}`, purpose: "statistics.horizontal", expiry, maxUses: 1 })
      const grant = (tokenId: string) => ownerPage.locator(`[data-testid="grant"][data-token-id="${tokenId}"]`)
      await ownerPage.locator("#live[data-state=live]").waitFor()
      // The catalogue comes from the coordinator's chain index, which reads the requests a moment after they are mined.
      await expect.poll(async () => {
        await ownerPage.click('nav a[data-view="members"]')
        await ownerPage.click('nav a[data-view="catalogue"]')
        return grant(second.tokenId).locator('[data-testid="grant-approve"]').count()
      }, { timeout: 30_000 }).toBe(1)
      // The requester's own view lists its requests without a decision to make.
      await page.click('nav a[data-view="catalogue"]')
      await page.locator(`[data-testid="grant"][data-token-id="${second.tokenId}"]`).waitFor()
      expect(await page.locator('[data-testid="grant-approve"]').count()).toBe(0)
      await page.click('nav a[data-view="tasks"]')

      // Decided elsewhere (the owner's command line) while the page still shows it requested: the contract refuses.
      await asOwner!.decideGrant(second.tokenId as `0x${string}`, false, "rejected from the command line")
      await grant(second.tokenId).locator('[data-testid="grant-approve"]').click()
      const refusal = grant(second.tokenId).locator('[data-testid="grant-error"]')
      await refusal.waitFor({ timeout: 30_000 })
      expect(await refusal.getAttribute("data-tag")).toBe("WrongStatus")
      expect((await asOwner!.getGrant(second.tokenId as `0x${string}`))?.status).toBe("Rejected")

      await grant(first.tokenId).locator('[data-testid="grant-approve"]').click()
      await ownerPage.locator(`[data-testid="grant"][data-token-id="${first.tokenId}"][data-status="Approved"]`).waitFor({ timeout: 30_000 })
      expect((await asOwner!.getGrant(first.tokenId as `0x${string}`))?.status).toBe("Approved")
      await ownerPage.screenshot({ path: join(screenshots, "grant-approval.png"), fullPage: true })
    } finally {
      await ownerPage.close()
      await Promise.all([asOwner?.close(), asAnalyst?.close()])
    }
  })

  it("lets a steward of the owner's organisation approve a model request on chain; east's participant (policy: ask) serves it only then, and another organisation is refused by name", async () => {
    const east = party("east")
    const eastWallet = await cluster.walletOf("east")
    const chain = cluster.supervisorLedger.chain
    // The steward's own wallet, bound to east's company (asked, endorsed by east, approved by the supervisor):
    // a human of east's organisation, never east's server key.
    const steward = Wallet.createRandom()
    await Funding.fund(chain, chain.signer(cluster.keys.supervisor.privateKey), [steward.address], true)
    const [asSteward, asEast] = await Promise.all([steward as unknown as Wallet, eastWallet].map((w) => Consortium.ledgerFor(chain, w, cluster.deployment)))
    const [eastChain, analystChain, northChain] = await Promise.all([eastWallet, cluster.keys.analyst, await cluster.walletOf("north")].map((w) => Consortium.governanceFor(cluster.rpcUrl, w, cluster.deployment)))
    let sp: Page | undefined
    try {
      const { companyId } = await asEast!.companyOf(east.address)
      await asSteward!.requestJoin(companyId!)
      await asEast!.endorseJoin(companyId!, steward.address)
      await cluster.supervisorLedger.approveJoin(companyId!, steward.address)
      // The analyst sends a statistics analysis to east's "pima", sealed to east's key, as `jointly model request` does.
      const { datasetId } = await eastChain!.publishDataset({ domain: "health", name: "pima", attrs: JSON.stringify(columns), size: 0, contentHash: keccak256(toUtf8Bytes("east pima rows")), location: "east", policy: "Open" })
      const nonce = hexlify(randomBytes(32))
      const reqId = modelRequestIdOf(cluster.keys.analyst.address, east.address, datasetId as `0x${string}`, nonce as `0x${string}`)
      const payload: ModelToData.RequestPayload = { version: 1, reqId, datasetId, dataset: "pima", from: cluster.keys.analyst.address, to: east.address, nonce, analysis: { template: "statistics", columns: ["glucose", "age"], statistics: ["count", "mean"] } }
      const { ciphertext, payloadHash } = ModelToData.seal((await analystChain!.encryptionKeyOf(east.address))!, payload, await ModelToData.sign(cluster.keys.analyst, payload))
      const cid = await cluster.client.putArtifact(ciphertext)
      await analystChain!.requestModel({ datasetId: datasetId as `0x${string}`, to: east.address, payloadHash, payloadURI: `cid:${cid}`, expiry: BigInt(Math.floor(Date.now() / 1000) + 600), nonce: nonce as `0x${string}` })
      // East opened and reviewed it, and waits: its policy asks a human.
      await expect.poll(() => east.stderr.some((l) => l.includes(reqId) && l.includes("model-awaiting")), { timeout: 30_000 }).toBe(true)
      expect((await analystChain!.getModelRequest(reqId as `0x${string}`))?.state).toBe("Requested")
      // Another organisation's account may not decide it: the contract refuses by name.
      expect(await northChain!.decideModel(reqId as `0x${string}`, true).then(() => "decided", (e) => e.revertName)).toBe("NotOwnerOrganisation")

      // The requester sees its request without a decision to make.
      await page.click('nav a[data-view="catalogue"]')
      await page.locator(`[data-testid="model-request"][data-req-id="${reqId}"]`).waitFor({ timeout: 30_000 })
      expect(await page.locator(`[data-testid="model-request"][data-req-id="${reqId}"] [data-testid="model-approve"]`).count()).toBe(0)
      await page.click('nav a[data-view="tasks"]')

      sp = await walletPage(steward)
      await sp.locator("#live[data-state=live]").waitFor()
      const row = sp.locator(`[data-testid="model-request"][data-req-id="${reqId}"]`)
      await expect.poll(async () => {
        await sp!.click('nav a[data-view="members"]')
        await sp!.click('nav a[data-view="catalogue"]')
        return row.locator('[data-testid="model-approve"]').count()
      }, { timeout: 30_000 }).toBe(1)
      await snap(sp.locator('[data-testid="model-requests"]'), "model-request-approval.png")
      await row.locator('[data-testid="model-approve"]').click()
      // Approved on chain by the steward's account; east then answers with the result sealed to the analyst.
      const answered = await expect.poll(async () => (await analystChain!.getModelRequest(reqId as `0x${string}`))?.state, { timeout: 60_000 }).toBe("Answered").then(() => analystChain!.getModelRequest(reqId as `0x${string}`))
      const decided = (await analystChain!.logs(0n, await analystChain!.blockNumber())).find((l) => l.contract === "modelRequests" && l.name === "ModelDecided" && String(l.args.reqId) === reqId)
      expect([getAddress(String(decided?.args.by)), decided?.args.approve]).toEqual([steward.address, true])
      await expect.poll(async () => {
        await sp!.click('nav a[data-view="members"]')
        await sp!.click('nav a[data-view="catalogue"]')
        return row.getAttribute("data-state")
      }, { timeout: 30_000 }).toBe("Answered")
      const indexed = (await cluster.client.modelRequests(east.address)).find((r: any) => r.reqId === reqId) as unknown as { resultURI: string }
      const { base64 } = await cluster.client.getArtifact(indexed.resultURI)
      const result = ModelToData.openResult(getBytes(cluster.keys.analyst.privateKey), reqId, new Uint8Array(Buffer.from(base64, "base64")), answered!.resultHash!) as { count: number; columns: Record<string, { mean: number }> }
      const ages = (await readFile(join(demo, "pima-east.csv"), "utf8")).trim().split("\n").slice(1).map((l) => Number(l.split(",")[7]))
      expect(result.count).toBe(ages.length)
      expect(result.columns.age!.mean).toBeCloseTo(ages.reduce((a, b) => a + b, 0) / ages.length, 9)
    } finally {
      await sp?.close()
      await Promise.all([asSteward?.close(), asEast?.close(), eastChain?.close(), analystChain?.close(), northChain?.close()])
    }
  })

  it("shows the initiator its task with the result, and refuses the same task to another member and the page to an unknown account", async () => {
    const taskId = await cluster.submit({
      kind: "statistics.horizontal",
      name: "only for the analyst",
      parties: (["north", "south"] as const).map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: { columns: ["age"], statistics: ["count", "mean"] }
    })
    await cluster.waitForTask(taskId, { timeoutMs: 90_000 })
    // Permitted: the analyst (initiator and, by default, recipient) sees the task and its result.
    await page.evaluate((id) => (location.hash = `#/tasks/${id}`), taskId)
    await page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"] [data-testid="result"]`).waitFor({ timeout: 30_000 })
    expect(await page.locator('[data-testid="result"] pre').textContent()).toContain('"count"')
    await shoot("permitted-task")

    // Refused: a member of the consortium that takes no part in the task.
    const outsider = Wallet.createRandom()
    await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: "westbank", wallet: outsider as unknown as Wallet, encryptionPublicKey: outsider.signingKey.compressedPublicKey }, true)
    const other = await walletPage(outsider)
    await other.locator("#live[data-state=live]").waitFor()
    expect(await other.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`).count()).toBe(0)
    await other.evaluate((id) => (location.hash = `#/tasks/${id}`), taskId)
    const refused = other.locator('[data-testid="refused"]')
    await refused.waitFor()
    expect(await refused.getAttribute("data-status")).toBe("403")
    expect(await refused.textContent()).toContain("neither the initiator, a party nor a recipient")
    await other.screenshot({ path: join(screenshots, "refused-task.png"), fullPage: true })
    await other.close()

    // An account bound to no organisation signs in, and is told it is not a member.
    const stranger = await walletPage(Wallet.createRandom())
    await stranger.locator('[data-testid="sign-in-error"]').waitFor()
    expect(await stranger.locator('[data-testid="sign-in-error"]').textContent()).toContain("not bound to any audited organisation")
    await stranger.close()
  })

  it("signs a data steward in with a participant's dashboard token: the org's task shown, another task refused, a wrong token refused", async () => {
    const east = party("east")
    // Permitted: a task east takes part in (east's policy asks a human, so it waits for east's decision).
    const ownTask = await cluster.submit({
      kind: "statistics.horizontal",
      name: "east takes part",
      parties: (["east", "north"] as const).map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: { columns: ["age"], statistics: ["count"] }
    })
    // Refused: a task between north and south only.
    const otherTask = await cluster.submit({
      kind: "statistics.horizontal",
      name: "north and south only",
      parties: (["north", "south"] as const).map((n) => ({ participant: party(n).address, dataset: "pima" })) as never,
      params: { columns: ["age"], statistics: ["count"] }
    })
    const steward = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    try {
      await steward.goto(cluster.coordinatorUrl)
      // No window.ethereum on this page: the token form is the way in. A wrong token is refused by east itself.
      await steward.locator('[data-testid="token-address"]').fill(east.address)
      await steward.locator('[data-testid="token-secret"]').fill("not-the-token")
      await steward.locator('[data-testid="token-sign-in"]').click()
      await steward.locator('[data-testid="sign-in-error"]').waitFor()
      expect(await steward.locator('[data-testid="sign-in-error"]').textContent()).toContain("dashboard token")
      expect(await steward.evaluate(() => sessionStorage.getItem("jointly.session"))).toBeNull()

      const token = (await readFile(join(east.dataDir, "dashboard-token"), "utf8")).trim()
      await steward.locator('[data-testid="token-address"]').fill(east.address)
      await steward.locator('[data-testid="token-secret"]').fill(token)
      await steward.locator('[data-testid="token-sign-in"]').click()
      await steward.locator("#live[data-state=live]").waitFor()
      expect(getAddress((await steward.locator('[data-testid="account"]').getAttribute("data-address"))!)).toBe(east.address)
      // The token itself is kept nowhere in the page's storage; only the coordinator's short-lived bearer token is.
      const stored = await steward.evaluate(() => JSON.stringify({ ...sessionStorage }))
      expect(stored).not.toContain(token)

      await steward.locator(`[data-testid="task-row"][data-task-id="${ownTask}"]`).waitFor()
      expect(await steward.locator(`[data-testid="task-row"][data-task-id="${otherTask}"]`).count()).toBe(0)
      await steward.evaluate((id) => (location.hash = `#/tasks/${id}`), ownTask)
      await steward.locator(`[data-testid="task-detail"][data-task-id="${ownTask}"]`).waitFor()
      await steward.screenshot({ path: join(screenshots, "token-sign-in.png"), fullPage: true })
      // The steward's session has no wallet to sign a task with: the form says so, nothing is sent.
      await steward.evaluate(() => (location.hash = "#/submit"))
      await steward.locator('[data-testid="form-submit"]').click()
      await steward.locator('[data-testid="form-error"]').waitFor()
      expect(await steward.locator('[data-testid="form-error"]').textContent()).toContain("needs your wallet")
      await steward.evaluate((id) => (location.hash = `#/tasks/${id}`), otherTask)
      const refused = steward.locator('[data-testid="refused"]')
      await refused.waitFor()
      expect(await refused.getAttribute("data-status")).toBe("403")
    } finally {
      await steward.close()
      await cluster.client.cancel(ownTask, "test over").catch(() => undefined)
    }
  })
})
