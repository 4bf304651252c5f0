/**
 * The sealed partial-model store: a vertical SVM trained over InMemoryHost with each party's file store, the
 * stores then recreated from the same directories and keystore secrets (what a participant restart does), and
 * joint prediction from the reopened models giving the training evaluation's label for every test id; files
 * that were altered, sealed under another key or belong to another owner or model are rejected with a typed
 * PartialModelError, and a prediction task over a tampered file fails naming that party.
 */
import { readFileSync } from "node:fs"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { LocalData, type TabularData } from "@jointly/core/internal/data/Tabular"
import * as TaskOutput from "@jointly/core/internal/data/TaskOutput"
import { TestKeySizes } from "@jointly/core/internal/crypto/KeyMaterial"
import type { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Coordinator from "@jointly/core/internal/protocols/vertical/coordinator"
import * as Participant from "@jointly/core/internal/protocols/vertical/participant"
import * as PartialModels from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as Reference from "@jointly/core/internal/protocols/vertical/Reference"
import type * as Spec from "@jointly/core/internal/protocols/vertical/spec"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as PartialModelStore from "./PartialModelStore.ts"

const example = (name: string) => fileURLToPath(new URL(`../../../../examples/query/${name}`, import.meta.url))

const tabular = (name: string, t: Reference.Table): TabularData => {
  const numeric = new Map(t.columns.filter((c) => c !== "id").map((c) => [c, Float64Array.from(t.rows.map((r) => Number(r[t.columns.indexOf(c)])))] as const))
  return {
    name,
    rowCount: t.rows.length,
    columnNames: [...t.columns],
    isNumeric: (c) => numeric.has(c),
    numeric: (c) => numeric.get(c)!,
    strings: (c) => t.rows.map((r) => r[t.columns.indexOf(c)]!)
  }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-partial-models-"))
})
afterAll(async () => {
  if (dir) await removeDir(dir)
})

const flip = (reason: Effect.Effect<unknown, PartialModels.PartialModelError>) => Effect.runPromise(Effect.flip(reason))

describe("sealed partial-model store", () => {
  const model = (modelId: string): PartialModels.PartialModel => ({
    modelId,
    kind: "modeling.vertical-svm",
    parties: ["0xA", "0xB"],
    labelHolder: "0xA",
    idColumn: "id",
    columns: ["x", "y"],
    mean: [0.25, -1.5],
    std: [1, 2.5],
    weights: [0.1 + 0.2, -3.0000000000000004e-7],
    featureBound: 4,
    scaleBits: 16,
    ids: ["patient-7731", "patient-7732", "patient-7733"],
    test: [2],
    publicKey: new Uint8Array([1, 2, 3]),
    share: new Uint8Array([9, 8, 7, 6]),
    unsafeAllowTestKeySizes: true
  })
  const owner = InMemoryHost.randomWallet()
  const other = InMemoryHost.randomWallet()

  it("reads back exactly what it sealed after a restart, and nothing secret is on disk in the clear", async () => {
    const dataDir = join(dir, "unit")
    const stored = await Effect.runPromise(PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey }).put(owner.address, model("m1")))
    expect(stored.digest).toBe(PartialModels.digestOf(model("m1")))
    const reopened = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    expect(await Effect.runPromise(reopened.get(owner.address, "m1"))).toEqual(model("m1"))
    const text = await readFile(PartialModelStore.fileOf(dataDir, "m1"), "utf8")
    expect(JSON.parse(text).digest).toBe(stored.digest)
    for (const secret of ["patient-773", "0.30000000000000004", "CQgHBg=="]) expect(text).not.toContain(secret)
  })

  it("rejects a missing, tampered, foreign-key, other-owner or renamed model with a typed error", async () => {
    const dataDir = join(dir, "faults")
    const store = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    await Effect.runPromise(store.put(owner.address, model("m1")))
    await Effect.runPromise(store.put(owner.address, model("m2")))
    const file = PartialModelStore.fileOf(dataDir, "m1")
    const original = await readFile(file, "utf8")
    const reason = async () => (await flip(store.get(owner.address, "m1"))).reason

    expect((await flip(store.get(owner.address, "absent"))).reason).toBe("Missing")

    const json = JSON.parse(original)
    const bytes = Buffer.from(json.ciphertext, "base64")
    bytes[bytes.length >> 1]! ^= 1
    await writeFile(file, JSON.stringify({ ...json, ciphertext: bytes.toString("base64") }))
    expect(await reason()).toBe("Corrupt")

    // The header is authenticated: a changed content hash fails even with an untouched ciphertext.
    await writeFile(file, JSON.stringify({ ...json, digest: PartialModels.digestOf({ ...model("m1"), weights: [1, 2] }) }))
    expect(await reason()).toBe("Corrupt")

    await writeFile(file, original.slice(0, 40))
    expect(await reason()).toBe("Corrupt")

    // The same owner's file under a key from another keystore secret.
    await writeFile(file, original)
    expect((await flip(PartialModelStore.make({ dataDir, owner: owner.address, secret: other.privateKey }).get(owner.address, "m1"))).reason).toBe("Corrupt")

    // Another participant's store file copied into this data directory, and a file renamed to another model id.
    const theirs = PartialModelStore.make({ dataDir: join(dir, "theirs"), owner: other.address, secret: other.privateKey })
    await Effect.runPromise(theirs.put(other.address, model("m1")))
    await writeFile(file, await readFile(PartialModelStore.fileOf(join(dir, "theirs"), "m1"), "utf8"))
    expect(await reason()).toBe("Foreign")
    await writeFile(file, await readFile(PartialModelStore.fileOf(dataDir, "m2"), "utf8"))
    expect(await reason()).toBe("Foreign")

    // A store serves its owner only.
    expect((await flip(store.get(other.address, "m2"))).reason).toBe("Foreign")
    await writeFile(file, original)
    expect(await Effect.runPromise(store.get(owner.address, "m1"))).toEqual(model("m1"))
  })

  it("a model read again from an unchanged file is the same object; a changed file is opened and checked again", async () => {
    const dataDir = join(dir, "opened")
    const store = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    await Effect.runPromise(store.put(owner.address, model("m1")))
    const first = await Effect.runPromise(store.get(owner.address, "m1"))
    expect(first).toEqual(model("m1"))
    expect(await Effect.runPromise(store.get(owner.address, "m1"))).toBe(first)
    const file = PartialModelStore.fileOf(dataDir, "m1")
    const original = await readFile(file, "utf8")
    const json = JSON.parse(original)
    const bytes = Buffer.from(json.ciphertext, "base64")
    bytes[bytes.length >> 1]! ^= 1
    await writeFile(file, JSON.stringify({ ...json, ciphertext: bytes.toString("base64") }))
    expect((await flip(store.get(owner.address, "m1"))).reason).toBe("Corrupt")
    // A model sealed again (a new nonce, the same content) is a new text: opened again, equal, not the old object.
    await Effect.runPromise(store.put(owner.address, model("m1")))
    const resealed = await Effect.runPromise(store.get(owner.address, "m1"))
    expect(resealed).toEqual(model("m1"))
    expect(resealed).not.toBe(first)
  })

  it("seals another kind's model part under its own format: read back as written, never opened as a linear model", async () => {
    const dataDir = join(dir, "parts")
    const store = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    const format = PartialModels.PART_FORMATS[0]
    const part = { trees: [{ column: "age", threshold: 41.5 }], modelId: "m1" }
    const stored = await Effect.runPromise(store.putPart(owner.address, format, "m1", part))
    // A restarted store (same keystore secret) reads back exactly what was sealed; the disk never shows it.
    const reopened = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    expect(await Effect.runPromise(reopened.getPart(owner.address, format, "m1"))).toEqual(part)
    const file = PartialModelStore.fileOf(dataDir, PartialModels.partId(format, "m1"))
    const text = await readFile(file, "utf8")
    expect(JSON.parse(text)).toMatchObject({ format, digest: stored.digest })
    expect(text).not.toContain("41.5")
    // Same model id, other kind: the linear model of m1 is not there, and the part's file does not open as one.
    expect((await flip(reopened.get(owner.address, "m1"))).reason).toBe("Missing")
    await writeFile(PartialModelStore.fileOf(dataDir, "m1"), text)
    expect((await flip(reopened.get(owner.address, "m1"))).reason).toBe("Foreign")
    // Tampered: a typed Corrupt; another owner: Foreign.
    const json = JSON.parse(text)
    const bytes = Buffer.from(json.ciphertext, "base64")
    bytes[0]! ^= 1
    await writeFile(file, JSON.stringify({ ...json, ciphertext: bytes.toString("base64") }))
    expect((await flip(reopened.getPart(owner.address, format, "m1"))).reason).toBe("Corrupt")
    expect((await flip(reopened.getPart(other.address, format, "m1"))).reason).toBe("Foreign")
    // Removal: only by its owner, then Missing; removing again is no error.
    expect((await flip(reopened.removePart(other.address, format, "m1"))).reason).toBe("Foreign")
    await Effect.runPromise(reopened.removePart(owner.address, format, "m1"))
    expect((await flip(reopened.getPart(owner.address, format, "m1"))).reason).toBe("Missing")
    await Effect.runPromise(reopened.removePart(owner.address, format, "m1"))
  })

  it("keeps the last two iteration boundaries of training progress, sealed like the models", async () => {
    const dataDir = join(dir, "progress")
    const store = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    const progress = (iteration: number): PartialModels.Progress => ({ taskId: "t1", iteration, weights: [iteration / 3, -1], rpi: `${10n ** 40n + BigInt(iteration)}`, salt: new Uint8Array([iteration]), ids: ["u2", "u1"] })
    for (const i of [1, 2, 3]) await Effect.runPromise(store.saveProgress(owner.address, progress(i)))
    const reopened = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    expect(await Effect.runPromise(reopened.loadProgress(owner.address, "t1", 3))).toEqual(progress(3))
    expect(await Effect.runPromise(reopened.loadProgress(owner.address, "t1", 2))).toEqual(progress(2))
    expect((await flip(reopened.loadProgress(owner.address, "t1", 1))).reason).toBe("Missing")
    // A partial model's file put where progress is expected is refused: the format is authenticated too.
    await Effect.runPromise(store.put(owner.address, model("m1")))
    await writeFile(PartialModelStore.fileOf(dataDir, PartialModels.progressId("t1", 3)), await readFile(PartialModelStore.fileOf(dataDir, "m1"), "utf8"))
    expect((await flip(reopened.loadProgress(owner.address, "t1", 3))).reason).toBe("Foreign")
  })

  it("removes every progress file of one task, and nothing else", async () => {
    const dataDir = join(dir, "cleanup")
    const store = PartialModelStore.make({ dataDir, owner: owner.address, secret: owner.privateKey })
    const progress = (taskId: string, iteration: number): PartialModels.Progress => ({ taskId, iteration, weights: [1], rpi: "7", salt: new Uint8Array([1]), ids: ["u1"] })
    for (const i of [1, 2, 3]) await Effect.runPromise(store.saveProgress(owner.address, progress("t1", i)))
    await Effect.runPromise(store.saveProgress(owner.address, progress("t10", 1)))
    await Effect.runPromise(store.put(owner.address, model("t1")))
    expect(await Effect.runPromise(store.removeProgress(owner.address, "t1"))).toBe(2)
    for (const i of [2, 3]) expect((await flip(store.loadProgress(owner.address, "t1", i))).reason).toBe("Missing")
    // Another task whose id shares the prefix, and the model named like the task, stay.
    expect(await Effect.runPromise(store.loadProgress(owner.address, "t10", 1))).toEqual(progress("t10", 1))
    expect(await Effect.runPromise(store.get(owner.address, "t1"))).toEqual(model("t1"))
    // Idempotent, also when the directory does not exist yet.
    expect(await Effect.runPromise(store.removeProgress(owner.address, "t1"))).toBe(0)
    expect(await Effect.runPromise(PartialModelStore.make({ dataDir: join(dir, "none"), owner: owner.address, secret: owner.privateKey }).removeProgress(owner.address, "t1"))).toBe(0)
    expect((await flip(store.removeProgress(other.address, "t1"))).reason).toBe("Foreign")
  })

  it("a host without a data directory refuses to keep a model (NoStore)", async () => {
    const store = Effect.provide(PartialModels.put(owner.address, model("m1")), PartialModelStore.layer({ dataDir: undefined, owner: owner.address, secret: owner.privateKey }))
    expect((await flip(store)).reason).toBe("NoStore")
    expect((await flip(PartialModels.get(owner.address, "m1"))).reason).toBe("NoStore")
  })
})

describe("vertical SVM → participant restart → joint prediction from the sealed store", () => {
  const names = ["a", "b", "c"] as const
  const tables = names.map((n) => Reference.parseCsv(readFileSync(example(`bcw_vertical_party_${n}_psi.csv`), "utf8")))
  const datas = tables.map((t, i) => tabular(`bcw-${i}`, t))
  const wallets = names.map(() => InMemoryHost.randomWallet())
  const addresses = wallets.map((w) => w.address)
  const dataDir = (i: number) => join(dir, `party-${names[i]}`)
  const storeOf = (i: number) => PartialModelStore.layer({ dataDir: dataDir(i), owner: addresses[i]!, secret: wallets[i]!.privateKey })
  const configs = (handlers: (i: number) => Array<InMemoryHost.AnyStageHandler>, stores: ReadonlyArray<Layer.Layer<PartialModels.PartialModels>>) =>
    datas.map((data, i) => ({
      wallet: wallets[i],
      handlers: handlers(i),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) =>
        // 512-bit keys: the test harness's own switch (TestKeySizes), never a task param.
        Effect.provide(effect, Layer.mergeAll(Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) }), stores[i]!, Layer.succeed(TestKeySizes, true))) as Effect.Effect<A, ParticipantFailure>
    }))

  it("predicts the training evaluation's labels after the stores are reopened; a tampered file fails the task", async () => {
    const params = Reference.trainParams(tables.map((table, i) => ({ address: addresses[i]!, table })), { keyBits: 512, updates: 100, batchSize: 50 })
    const training = InMemoryHost.make(configs((i) => Participant.handlers("bcw", { kind: "train", model: "svm", params }, addresses) as never, names.map((_, i) => storeOf(i))))
    const result = (await Effect.runPromise(training.run((s) => Coordinator.runTraining(s, "svm", params, { timeoutMs: 60_000 })))) as Spec.TrainResult
    const evaluation = (training.memory(addresses[0]!).get(TaskOutput.MEMORY_KEY) as { alignedIds: Array<string>; evaluation: { ids: Array<string>; positive: Array<boolean> } })
    const ref = Reference.reference(tables, 1, "svm", params, result.schedule, evaluation.alignedIds)
    expect(evaluation.evaluation.ids).toEqual(ref.testIds)
    expect(Reference.agreement(ref, evaluation.evaluation).disagreements).toEqual([])
    // Each owner recorded the content hash of what it sealed.
    const sealed = JSON.parse(await readFile(PartialModelStore.fileOf(dataDir(1), result.modelId), "utf8"))
    expect((training.memory(addresses[1]!).get(TaskOutput.MEMORY_KEY) as { modelDigest: string }).modelDigest).toBe(sealed.digest)

    // "Restart": new stores from the same directories and keystore secrets; nothing of the training run in memory.
    const requester = addresses[2]!
    const predict = (params: Spec.BatchParams | Spec.OnlineParams, kind: "batch" | "online") => {
      const host = InMemoryHost.make(configs(() => Participant.handlers("bcw", { kind, params } as Participant.Task, addresses) as never, names.map((_, i) => storeOf(i))))
      return { host, run: host.run((s) => Coordinator.runPrediction(s, kind === "batch" ? "prediction.vertical-batch" : "prediction.vertical-online", params as Spec.OnlineParams, { timeoutMs: 20_000 })) }
    }
    const batch = predict({ model: result.modelId, requester, idColumn: "id", subset: "test" }, "batch")
    await Effect.runPromise(batch.run)
    const out = batch.host.memory(requester).get(TaskOutput.MEMORY_KEY) as { ids: Array<string>; positive: Array<boolean> }
    expect(out.ids).toEqual(ref.testIds)
    expect(out.positive).toEqual(evaluation.evaluation.positive)

    // Party b's file altered at rest: the online prediction fails with b's typed reason.
    const file = PartialModelStore.fileOf(dataDir(1), result.modelId)
    const bytes = Buffer.from(sealed.ciphertext, "base64")
    bytes[7]! ^= 0x80
    await writeFile(file, JSON.stringify({ ...sealed, ciphertext: bytes.toString("base64") }))
    const online = predict({ model: result.modelId, requester, idColumn: "id", ids: ref.testIds.slice(0, 3) as never }, "online")
    const error = (await Effect.runPromise(Effect.flip(online.run))) as { _tag: string; code?: string; participant?: string; detail: string }
    expect(error._tag).toBe("ParticipantFailure")
    expect(error.code).toBe("PartialModelCorrupt")
    expect(error.participant).toBe(addresses[1])
  }, 120_000)
})
