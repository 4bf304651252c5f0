/**
 * The owner's index log on disk: epochs appended in order come back as written; a malformed line, an epoch out
 * of order, or a dataset name that would leave the data dir fail with InvalidIndexLog naming the problem, and a
 * missing log is the dataset alone.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FeatureLog } from "@jointly/core/internal/protocols/similarity/FeatureIndex"
import type { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as FeatureLogFile from "./FeatureLogFile.ts"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-feature-log-"))
})
afterAll(async () => {
  await removeDir(dir)
})

const epochsOf = (dataDir: string | undefined, dataset: string) =>
  Effect.runPromise(Effect.gen(function*() {
    return yield* (yield* FeatureLog).epochs(dataset)
  }).pipe(Effect.provide(FeatureLogFile.layer(dataDir))))
const failureOf = (dataDir: string, dataset: string) => epochsOf(dataDir, dataset).then(() => undefined, (e: unknown) => e as ParticipantFailure)

describe("the owner's index log file", () => {
  it("returns the epochs appended, in order; none without a log or a data dir", async () => {
    expect(await epochsOf(dir, "gallery")).toEqual([])
    expect(await epochsOf(undefined, "gallery")).toEqual([])
    expect(await FeatureLogFile.append(dir, "gallery", [{ op: "update", id: "img-0005", features: [1, 2, 3], label: "7" }])).toBe(1)
    expect(await FeatureLogFile.append(dir, "gallery", [{ op: "delete", id: "img-0009" }])).toBe(2)
    expect(await epochsOf(dir, "gallery")).toEqual([
      { epoch: 1, transactions: [{ op: "update", id: "img-0005", features: [1, 2, 3], label: "7" }] },
      { epoch: 2, transactions: [{ op: "delete", id: "img-0009" }] }
    ])
  })

  it("refuses a malformed line, an epoch out of order and a dataset name that is a path", async () => {
    await mkdir(join(dir, "indexes"), { recursive: true })
    await writeFile(join(dir, "indexes", "bad.ndjson"), '{"epoch":1,"transactions":[{"op":"rename","id":"x"}]}\n')
    await writeFile(join(dir, "indexes", "gap.ndjson"), '{"epoch":2,"transactions":[]}\n')
    const bad = await failureOf(dir, "bad")
    expect(bad!.code).toBe("InvalidIndexLog")
    expect(bad!.detail).toMatch(/index log of bad, line 1/)
    expect((await failureOf(dir, "gap"))!.detail).toMatch(/epoch 2 follows epoch 0/)
    expect((await failureOf(dir, "../gallery"))!.detail).toMatch(/cannot name an index log/)
  })
})
