/**
 * Vertical SVM across a coordinator crash and a participant crash: anvil, the coordinator as its own process (SIGKILLed once training
 * has passed an iteration boundary, restarted over the same store) and three participant processes on the
 * PSI-split bcw files. The restarted coordinator resumes training at its last checkpointed iteration — the
 * parties restore w^p, their id order and their committed RPIs from their sealed progress files — and the
 * result agrees, id by id, with the plaintext SVM trained on the joined table with the published schedule.
 * The same over a participant's crash: a party SIGKILLed mid-training suspends the attempt (its progress and the
 * checkpoint are kept); once the party's process is started again the next attempt resumes at the checkpoint.
 */
import { mkdtemp, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Reference from "@jointly/core/internal/protocols/vertical/Reference"
import type * as Spec from "@jointly/core/internal/protocols/vertical/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"

const example = (name: string) => fileURLToPath(new URL(`../../examples/query/${name}`, import.meta.url))
const names = ["a", "b", "c"] as const

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let tables: Array<Reference.Table>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-vertical-restart-"))
  tables = await Promise.all(names.map(async (n) => Reference.parseCsv(await readFile(example(`bcw_vertical_party_${n}_psi.csv`), "utf8"))))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    coordinatorProcess: true,
    parties: names.map((name, i) => ({
      name,
      datasets: [{ name: "bcw", file: example(`bcw_vertical_party_${name}_psi.csv`), columns: tables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) }] as never,
      // 512-bit keys: the test harness's switch, never a task param.
      unsafeTestKeySizes: true
    }))
  })
}, 240_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

const party = (name: string) => cluster.parties.find((p) => p.name === name)!

/** Waits until the task has passed `iterations` training iterations (its Progress events). */
const trainedPast = (id: string, iterations: number) => {
  const trained = (e: { type: string; data: unknown }) => e.type === "Progress" && (e.data as { stage?: string; done?: number }).stage === "vertical.train" && ((e.data as { done: number }).done ?? 0) >= iterations
  return F.eventually(async () => ((await cluster.task(id).catch(() => undefined))?.events.some(trained) ? true : undefined), `${iterations} training iterations`, 120_000)
}

/**
 * The task succeeded in its second attempt (attempts count from 0), rescheduled once for `why`, resumed at an
 * iteration boundary past 2, and its labels and metrics are the plaintext SVM's on the same schedule.
 */
const expectResumedLikeThePlaintextSvm = async (id: string, params: ReturnType<typeof Reference.trainParams>, why: string) => {
  const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
  expect(detail.status, String(detail.reason)).toBe("Succeeded")
  expect(detail.attempt).toBe(1)
  expect(detail.events.filter((e) => e.type === "Scheduled" && String((e.data as { reason?: string }).reason).includes(why))).toHaveLength(1)
  const result = detail.result as Spec.TrainResult
  expect(result.resumedFromIteration).toBeGreaterThanOrEqual(2)
  expect(result.iterations).toBe(8)
  expect(result.schedule).toHaveLength(8)

  const holder = JSON.parse(await readFile(join(party("a").dataDir, "outputs", `${id}.json`), "utf8"))
  const ref = Reference.reference(tables, 1, "svm", params, result.schedule, holder.alignedIds)
  expect(holder.evaluation.ids).toEqual(ref.testIds)
  const agreed = Reference.agreement(ref, holder.evaluation)
  expect(agreed.disagreements).toEqual([])
  for (const m of ["accuracy", "precision", "recall"] as const) expect(result.test[m]).toBeCloseTo(agreed.metrics[m], 12)
}

const submitSvm = async () => {
  const params = Reference.trainParams(names.map((n, i) => ({ address: party(n).address, table: tables[i]! })), { keyBits: 512, updates: 400, batchSize: 50 })
  const id = await cluster.submit({ kind: "modeling.vertical-svm", parties: names.map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never, params: params as never })
  return { id, params }
}

describe("vertical SVM across a coordinator restart", () => {
  it("resumes training at the last iteration boundary and ends with the plaintext SVM's labels", async () => {
    const { id, params } = await submitSvm()
    await trainedPast(id, 2)
    await cluster.restartCoordinator("SIGKILL")
    await expectResumedLikeThePlaintextSvm(id, params, "coordinator restarted")
  }, 360_000)

  it("suspends training when a party's process is killed mid-iteration, and resumes from the checkpoint once it is started again", async () => {
    const { id, params } = await submitSvm()
    await trainedPast(id, 2)
    // c (not the label holder) dies mid-training: the attempt is suspended, not failed, and its sealed progress kept.
    await F.crashUntilSuspended(cluster, party("c"), id)
    await expectResumedLikeThePlaintextSvm(id, params, "suspended, the task resumes from its checkpoint")
  }, 360_000)
})
