/**
 * Vertical SVM and joint prediction over real processes: anvil, the coordinator and three participant
 * processes (LocalCluster) reading the PSI-split bcw files of examples/query/ (label at party a). Reduced
 * iterations (2 batches of 50) and 512-bit test keys keep it short; the in-memory test covers the full runs.
 * The label holder's evaluation and an online prediction agree, id by id, with the plaintext model trained on
 * the joined table with the published schedule; the coordinator's stored result holds no ids or weights.
 * Party b's process is restarted between training and prediction: its partial model comes back from its sealed
 * store under its data directory (participant/src/modeling/vertical/PartialModelStore.ts), not from memory.
 * Parties a, b and c run under the test harness's `--unsafe-test-key-sizes`; a fourth party, d, runs as any
 * production participant does and refuses a task asking for 1024-bit keys, whatever its params say.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import * as Reference from "@jointly/core/internal/protocols/vertical/Reference"
import type * as Spec from "@jointly/core/internal/protocols/vertical/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"

const example = (name: string) => fileURLToPath(new URL(`../../examples/query/${name}`, import.meta.url))
const names = ["a", "b", "c"] as const
const files = Object.fromEntries(names.map((n) => [n, example(`bcw_vertical_party_${n}_psi.csv`)])) as Record<(typeof names)[number], string>

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let tables: Array<Reference.Table>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-vertical-"))
  tables = await Promise.all(names.map(async (n) => Reference.parseCsv(await readFile(files[n], "utf8"))))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    onProgress: (line) => process.env.VERTICAL_DEBUG && process.stderr.write(line + "\n"),
    parties: [
      ...names.map((name, i) => ({
        name,
        datasets: [{ name: "bcw", file: files[name], columns: tables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) }] as never,
        unsafeTestKeySizes: true
      })),
      // Party c's rows again, behind a participant with the production key minimums.
      { name: "d", datasets: [{ name: "bcw", file: files.c, columns: tables[2]!.columns.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) }] as never }
    ]
  })
}, 240_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

const party = (name: string) => cluster.party(name)
const outputOf = async (name: string, taskId: string): Promise<any> => cluster.outputOf(name, taskId)

const run = (kind: string, params: Record<string, unknown>) => cluster.runTask(kind, { parties: names, dataset: "bcw", params, timeoutMs: 120_000 })

describe("keys a participant accepts", () => {
  it("a production participant signs a rejection of 1024-bit Paillier keys, naming the size, whatever the params say", async () => {
    const trio = ["a", "b", "d"] as const
    const base = Reference.trainParams(trio.map((n, i) => ({ address: party(n).address, table: tables[i]! })), { keyBits: 1024, updates: 100, batchSize: 50 })
    // The parameter that once let a task ask for test keys is gone: decoding drops it, and it changes nothing.
    const params = { ...base, unsafeAllowTestKeySizes: true }
    const id = await cluster.submit({ kind: "modeling.vertical-svm", parties: trio.map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never, params: params as never })
    const detail = await cluster.waitForTask(id, { timeoutMs: 60_000 })
    expect(detail.status).toBe("Rejected")
    const refusal = detail.consents.find((c) => c.participant.toLowerCase() === party("d").address.toLowerCase())!
    expect(refusal.approve).toBe(false)
    expect(refusal.reason).toBe("the task asks for 1024-bit Paillier keys; this participant accepts 2048 bits or more")
    // The harness's parties take the size (those that answered before the task closed approved): the refusal is d's own.
    expect(detail.consents.filter((c) => !c.approve).map((c) => c.participant.toLowerCase())).toEqual([party("d").address.toLowerCase()])
    // The signed rejection is on chain (ConsentRecorded carries the participant's EIP-712 signature, checked there).
    const history = await cluster.supervisorLedger.taskHistory(id)
    expect(history.some((e) => e._tag === "ConsentRecorded" && e.participant.toLowerCase() === party("d").address.toLowerCase() && !e.approve && e.reasonHash === reasonHash(refusal.reason))).toBe(true)
  })
})

describe("vertical SVM over real processes (bcw)", () => {
  it("trains, evaluates and predicts online like the plaintext SVM", async () => {
    const params = Reference.trainParams(names.map((n, i) => ({ address: party(n).address, table: tables[i]! })), { keyBits: 512, updates: 100, batchSize: 50 })
    const trained = await run("modeling.vertical-svm", params as never)
    const result = trained.detail.result as Spec.TrainResult
    expect(result.rows).toBe(413)
    expect(result.iterations).toBe(2)
    expect(Object.keys(result.commitments).sort()).toEqual(["vertical.finish", "vertical.keys", "vertical.prepare", "vertical.train"])

    const holder = await outputOf("a", trained.id)
    const ref = Reference.reference(tables, 1, "svm", params, result.schedule, holder.alignedIds)
    expect(holder.evaluation.ids).toEqual(ref.testIds)
    const agreed = Reference.agreement(ref, holder.evaluation)
    expect(agreed.disagreements).toEqual([])
    for (const m of ["accuracy", "precision", "recall"] as const) expect(result.test[m]).toBeCloseTo(agreed.metrics[m], 12)
    // Partial models stay with their owners: the stored result has no weights and no ids.
    const stored = JSON.stringify(trained.detail)
    for (const id of ref.testIds.slice(0, 10)) expect(stored).not.toContain(`"${id}"`)
    const bWeights = (await outputOf("b", trained.id)).weights as Array<number>
    for (const w of bWeights) expect(stored).not.toContain(String(w))

    // Restart party b: what it knows of the model now is what it sealed to disk, where its weights are not legible.
    const b = party("b")
    // Its sealed model only: the training progress files were removed once the coordinator checkpointed the result.
    const sealed = await Promise.all((await readdir(join(b.dataDir, "vertical-models"))).map((f) => readFile(join(b.dataDir, "vertical-models", f), "utf8")))
    expect(sealed.map((text) => JSON.parse(text).format)).toEqual(["jointly/vertical-partial-model"])
    expect(sealed.map((text) => JSON.parse(text)).find((f) => f.format === "jointly/vertical-partial-model").modelId).toBe(trained.id)
    for (const text of sealed) for (const w of bWeights) expect(text).not.toContain(String(w))
    if (b.process.exitCode === null && b.process.signalCode === null) {
      const exited = new Promise((r) => b.process.once("exit", r))
      b.process.kill("SIGTERM")
      await exited
    }
    await F.eventually(() => !cluster.coordinator()!.hub.isOnline(b.address), "b offline")
    await cluster.launch(b)
    await F.eventually(() => cluster.coordinator()!.hub.isOnline(b.address), "b online", 60_000)

    const ids = ref.testIds.slice(0, 6)
    const online = await run("prediction.vertical-online", { model: trained.id, requester: party("c").address, idColumn: "id", ids })
    const out = await outputOf("c", online.id)
    expect(out.ids).toEqual(ids)
    expect(Reference.agreement(ref, { ids, positive: out.positive }).disagreements).toEqual([])
    expect(JSON.stringify(online.detail)).not.toContain("scores")
  }, 240_000)
})
