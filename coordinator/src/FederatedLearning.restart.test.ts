/**
 * A coordinator killed (SIGKILL) between federated-learning rounds and restarted over the same store: the task
 * resumes from the last checkpointed round — no checkpointed round trained again, the attempt counted — and
 * finishes with one Merkle-root phase commitment over all rounds. Real anvil, the coordinator as its own
 * process, three participant processes holding label-skewed shards of digits.csv.
 *
 * Every process runs its IPFS node (issue 16 item 1): the trained model goes to IPFS sealed to the parties that
 * trained it, from the restarted coordinator's node, which listens where it did before the kill (LocalCluster
 * keeps its address; its directory keeps its peer id), so the parties, who dial the address in their configs,
 * still reach it and pin the model.
 */
import { spawn } from "node:child_process"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Redacted, Schema, Scope } from "effect"
import { getBytes, JsonRpcProvider } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import { artifactId, bytesToFloat32, ModelArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { roundDigest } from "@jointly/core/internal/protocols/federated-learning/Updates"
import type { Result } from "@jointly/core/internal/protocols/federated-learning/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as Commands from "@jointly/cli/internal/governance"
import { digitsParams, loadDigits, nonIid, type Digits } from "@jointly/participant/internal/modeling/DigitsFixture"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as EncryptionKey from "./keys/EncryptionKey.ts"
import * as F from "./testing/fixtures.ts"

const names = ["a", "b", "c"] as const
const rounds = 8
let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let digits: Digits
/** The training task once it succeeded (the IPFS test reads its model). */
let modelTask: { id: string; detail: LocalCluster.TaskDetail } | undefined

const csv = (d: Digits, rows: ReadonlyArray<ReadonlyArray<number>>) => [d.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n"

/** Rounds whose `fl.round` progress event (sent right after the round's checkpoint) the store holds. */
const roundEvents = (events: LocalCluster.TaskDetail["events"]) =>
  events.flatMap((e) => (e.type === "Progress" && (e.data as { stage?: string }).stage === "fl.round" ? [(e.data as { done: number }).done] : []))

describe("modeling.horizontal-fl across a coordinator crash", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-fl-restart-"))
    digits = loadDigits()
    const { shards } = nonIid(digits, names.length)
    await mkdir(join(dir, "csv"))
    const columns = digits.header.map((name) => ({ name, type: "integer" as const }))
    const files = await Promise.all(shards.map(async (rows, i) => {
      const f = join(dir, "csv", `digits-${names[i]}.csv`)
      await writeFile(f, csv(digits, rows))
      return f
    }))
    cluster = await starter.start({
      dataDir: join(dir, "cluster"),
      coordinatorProcess: true,
      ipfs: true,
      parties: names.map((name, i) => ({ name, datasets: [{ name: "digits", file: files[i]!, columns }] }))
    })
  }, 300_000)

  afterAll(async () => {
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  it("resumes from the last checkpointed round after SIGKILL and commits one Merkle root", async () => {
    const params = digitsParams(digits.header, { rounds, localEpochs: 1 })
    const id = await cluster.submit({
      kind: "modeling.horizontal-fl",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "digits" })) as never,
      params,
      roundTimeoutMs: 60_000
    })
    // Kill once at least three rounds are checkpointed (each round's progress event follows its checkpoint).
    const before = await F.eventually(async () => {
      const detail = await cluster.task(id)
      return roundEvents(detail.events).length >= 3 ? detail : undefined
    }, "three checkpointed rounds", 150_000)
    expect(before.status).toBe("Running")
    expect(before.attempt).toBe(0)
    await cluster.restartCoordinator("SIGKILL")

    const detail = await cluster.waitForTask(id, { timeoutMs: 150_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.attempt).toBe(1)
    const result = detail.result as Result

    // Resumed from the last checkpoint: at or after every round recorded before the kill, and not past the
    // rounds attempt 0 recorded (a round can be checkpointed in the instant before its event is written).
    const restartAt = detail.events.findIndex((e) => e.type === "Scheduled" && String((e.data as { reason?: string }).reason).includes("coordinator restarted"))
    expect(restartAt).toBeGreaterThan(0)
    const firstAttempt = roundEvents(detail.events.slice(0, restartAt))
    const secondAttempt = roundEvents(detail.events.slice(restartAt))
    expect(firstAttempt.slice(0, 3)).toEqual([1, 2, 3])
    expect(result.resumedFromRound).toBeGreaterThanOrEqual(Math.max(...roundEvents(before.events)))
    expect(result.resumedFromRound).toBeLessThanOrEqual(Math.max(...firstAttempt) + 1)
    expect(result.resumedFromRound).toBeLessThan(rounds)
    // No checkpointed round trained again: attempt 1 records exactly the rounds after the checkpoint, once each.
    expect(secondAttempt).toEqual(Array.from({ length: rounds - result.resumedFromRound }, (_, i) => result.resumedFromRound + 1 + i))

    expect(result.rounds.map((r) => r.round)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1))
    expect(result.rounds.every((r) => r.contributors.length === 3)).toBe(true)
    // One Merkle-root phase for all rounds; the sealed result's and model's hashes on IPFS are phases of their own.
    const phases = detail.events.flatMap((e) => (e.type === "PhaseCommitted" ? [(e.data as { phase: string }).phase] : []))
    expect(phases.filter((p) => !p.startsWith("ipfs:"))).toHaveLength(1)
    // Every round's checkpoint goes to IPFS, but the chain gets one hash for them: the last checkpoint's link's.
    expect(phases.filter((p) => p.startsWith("ipfs:")).sort()).toEqual(["ipfs:checkpoint", "ipfs:model", "ipfs:result"])
    const commits = detail.chain.filter((c) => c.op === "commitPhase")
    expect(commits).toHaveLength(4)
    expect(commits.every((c) => c.status === "confirmed")).toBe(true)
    modelTask = { id, detail }
  }, 360_000)

  it("puts each round's checkpoint on IPFS sealed to its trainers and the coordinator: the last, fetched by CID from the coordinator's node, opens for a trainer and for the coordinator's key (published in its DID) to the rounds trained, not for the analyst; released ones are garbage-collected; the last is committed once and verify checks it", async () => {
    expect(modelTask, "the training task above succeeded").toBeDefined()
    const { id, detail } = modelTask!
    const result = detail.result as Result
    const sealed = detail.events.flatMap((e) => (e.type === "CheckpointSealed" ? [e.data as { cid: string; root: string; readers: Array<string>; attempt: number; link: string }] : []))
    // One per checkpoint saved: rounds 1..resumedFromRound in attempt 0 (written with the checkpoint itself), the rest in attempt 1.
    expect(sealed.map((c) => c.attempt)).toEqual(Array.from({ length: rounds }, (_, i) => (i < result.resumedFromRound ? 0 : 1)))
    // The three trainers and the coordinator, which has an encryption key (a reader of the checkpoints of its tasks).
    const coordinatorAccount = cluster.keys.coordinator.address
    expect(sealed.every((c) => c.readers.length === 4 && c.readers.some((r) => r.toLowerCase() === coordinatorAccount.toLowerCase()))).toBe(true)
    // Each checkpoint is linked to the one before it, across the two attempts (CheckpointChain.ts).
    expect(new Set(sealed.map((c) => c.link)).size).toBe(rounds)
    const last = sealed.at(-1)!
    const [a, b] = cluster.parties
    // b pins the last checkpoint, which the ended task names beside the model and the result.
    const pinned = await F.eventually(async () => b!.stderr.find((l) => l.includes(`"pinned"`) && l.includes(last.cid)), "b's pin of the last checkpoint", 60_000)
    expect(JSON.parse(pinned), pinned).toMatchObject({ type: "pinned", role: "checkpoint", ok: true })
    // And the head of the checkpoint links, which pins the whole chain on b's node (verify below walks it from there).
    const chainPinned = await F.eventually(async () => b!.stderr.find((l) => l.includes(`"pinned"`) && l.includes(last.link)), "b's pin of the checkpoint chain", 60_000)
    expect(JSON.parse(chainPinned), chainPinned).toMatchObject({ type: "pinned", role: "checkpoint-chain", ok: true })

    const loopback = (addresses: ReadonlyArray<string>) => addresses.find((x) => x.startsWith("/ip4/127.0.0.1/"))!
    const scope = await Effect.runPromise(Scope.make())
    try {
      const node = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [loopback(cluster.ipfs.coordinator()!.addresses)] }), scope))
      // The coordinator's node keeps the newest two bodies; the first, released seven checkpoints ago, its garbage
      // collection deleted (no party pinned it), so no connected node has it.
      await Effect.runPromise(node.blocks.get(sealed.at(-2)!.cid, { timeoutMs: 20_000 }))
      const gone = await Effect.runPromise(Effect.result(node.blocks.get(sealed[0]!.cid, { timeoutMs: 2_000 })))
      expect(gone._tag === "Failure" && gone.failure._tag).toBe("BlockNotFound")

      const block = await Effect.runPromise(node.blocks.get(last.cid, { timeoutMs: 20_000 }))
      const label = `task/${id.toLowerCase()}/checkpoint`
      const aKey = Redacted.value((await Keystore.openPromise({ dataDir: a!.dataDir, passphrase: (await readFile(join(a!.dataDir, "passphrase"), "utf8")).trim() })).encryptionSecretKey)
      const opened = JSON.parse(new TextDecoder().decode(Envelope.open(block, aKey, label))) as { round: number; weights: string; rounds: Result["rounds"] }
      // The last checkpoint: the last round, and the rounds recorded up to it, which the result kept.
      expect(opened.round).toBe(rounds)
      expect(opened.rounds.map((r) => [r.round, r.contributors, r.digest])).toEqual(result.rounds.map((r) => [r.round, r.contributors, r.digest]))
      // Its weights are the model of that round: they hash to the round digest the result recorded.
      const weights = bytesToFloat32(Uint8Array.from(Buffer.from(opened.weights, "base64")))
      expect(roundDigest(opened.round, weights)).toBe(result.rounds[rounds - 1]!.digest)
      // The coordinator's key (its keystore in the operator's keys) opens the same checkpoint; it is the key the
      // coordinator's DID publishes, where every reader's key is looked up.
      const coordinatorKey = getBytes(cluster.keys.coordinatorEncryption.privateKey)
      expect(Envelope.open(block, coordinatorKey, label)).toEqual(Envelope.open(block, aKey, label))
      const chain = new JsonRpcProvider(cluster.rpcUrl)
      const did = await DidIdentity.makeResolver({ chainId: (await chain.getNetwork()).chainId, registry: cluster.deployment.suite!.didRegistry!, provider: chain }).resolve(coordinatorAccount)
      chain.destroy()
      expect(did.encryptionKeys.at(-1)).toBe(EncryptionKey.publicKeyOf(coordinatorKey))
      // Not a reader: the analyst, who initiated the task.
      expect(() => Envelope.open(block, getBytes(cluster.keys.analyst.privateKey))).toThrow(/NotAReader/)

      // verify as a: the last checkpoint against its CID and the chain's ipfs:checkpoint, and opened.
      const asA = await Commands.verifyTask({ taskId: id, url: cluster.coordinatorUrl, rpcUrl: cluster.rpcUrl, signer: await cluster.walletOf(a!.name), blocks: node.blocks, readerKey: aKey })
      const name = `artifact checkpoint sealed ${last.cid}`
      expect(asA.checks.filter((c) => c.name.startsWith(name)).map((c) => [c.name.slice(name.length), c.ok])).toEqual([
        [": bytes match the CID", true],
        [": the chain holds its hash", true],
        [": opened, it: is a checkpoint", true]
      ])
      // Every checkpoint, not only the last: the chain's one ipfs:checkpoint hash anchors the links of all of them.
      const chainName = `checkpoint chain ${last.link}`
      expect(asA.checks.filter((c) => c.name.startsWith(chainName)).map((c) => [c.name.slice(chainName.length), c.ok])).toEqual([
        [": the chain holds its hash", true],
        [": links every checkpoint", true]
      ])
      expect(asA.ok, asA.report).toBe(true)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 120_000)

  it("puts the model on IPFS sealed to its trainers: a reader fetches it by CID from another party's node and opens it, the analyst cannot, and verify checks it", async () => {
    expect(modelTask, "the training task above succeeded").toBeDefined()
    const { id, detail } = modelTask!
    const modelId = (detail.result as Result).modelId
    const stored = detail.events.find((e) => e.type === "ArtifactStored" && (e.data as { role?: string }).role === "model")
    const sealedCid = (stored?.data as { sealedCid?: string } | undefined)?.sealedCid
    expect(sealedCid, "the task names the sealed copy of its model").toBeDefined()
    const [a, b] = cluster.parties
    const loopback = (party: LocalCluster.Party) => party.ipfs!.addresses.find((x) => x.startsWith("/ip4/127.0.0.1/"))!
    // b pinned it from the restarted coordinator's node (the only node that had it), at the address in b's config.
    const pinned = await F.eventually(async () => b!.stderr.find((l) => l.includes(`"pinned"`) && l.includes(sealedCid!)), "b's pin of the model", 60_000)
    expect(JSON.parse(pinned), pinned).toMatchObject({ type: "pinned", role: "model", ok: true })

    const scope = await Effect.runPromise(Scope.make())
    try {
      // A node that knows b's node alone gets the block there: bitswap serves only what a node holds.
      const node = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [loopback(b!)] }), scope))
      const block = await Effect.runPromise(node.blocks.get(sealedCid!, { timeoutMs: 20_000 }))
      // a, a reader, opens it to the model the result names; the analyst (who initiated, not a trainer) cannot.
      const keysOf = async (party: LocalCluster.Party) =>
        Keystore.openPromise({ dataDir: party.dataDir, passphrase: (await readFile(join(party.dataDir, "passphrase"), "utf8")).trim() })
      const aKey = Redacted.value((await keysOf(a!)).encryptionSecretKey)
      const model = Schema.decodeUnknownSync(ModelArtifact)(JSON.parse(new TextDecoder().decode(Envelope.open(block, aKey, `task/${id.toLowerCase()}/model`))))
      expect(artifactId(model)).toBe(modelId)
      expect(Envelope.inspect(block).readers).toHaveLength(3)
      expect(() => Envelope.open(block, getBytes(cluster.keys.analyst.privateKey))).toThrow(/NotAReader/)

      // verify as a, with a's encryption key: the sealed model against its CID and the chain, and opened, against the model id.
      const asA = await Commands.verifyTask({ taskId: id, url: cluster.coordinatorUrl, rpcUrl: cluster.rpcUrl, signer: await cluster.walletOf(a!.name), blocks: node.blocks, readerKey: aKey })
      const sealedChecks = asA.checks.filter((c) => c.name.startsWith(`artifact model sealed ${sealedCid}`))
      expect(sealedChecks.map((c) => [c.name.slice(`artifact model sealed ${sealedCid}`.length), c.ok])).toEqual([
        [": bytes match the CID", true],
        [": the chain holds its hash", true],
        [`: opened, it: is the result's model ${modelId}`, true]
      ])
      expect(asA.ok, asA.report).toBe(true)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    // `jointly verify` as the analyst, from b's node: the sealed model checked against its CID and the chain, not opened.
    const verify = (args: ReadonlyArray<string>, env: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [LocalCluster.cliPath(), "verify", id, "--url", cluster.coordinatorUrl, "--rpc-url", cluster.rpcUrl, "--ipfs-peer", loopback(b!), ...args], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "ignore", "pipe"]
        })
        let stderr = ""
        child.stderr.on("data", (d) => (stderr += d))
        child.on("exit", (code) => resolve({ code, stderr }))
      })
    const verified = await verify([], { JOINTLY_KEY: cluster.keys.analyst.privateKey })
    expect(verified.code, verified.stderr).toBe(0)
    expect(verified.stderr).toMatch(new RegExp(`ok +artifact model sealed ${sealedCid}: the chain holds its hash`))
    expect(verified.stderr).toMatch(new RegExp(`ok +artifact model sealed ${sealedCid}: opened: this key is not among its readers`))
    // `jointly verify --config` as trainer a: its own encryption key (from its keystore) opens the sealed model.
    const asTrainer = await verify(["--config", join(a!.dataDir, "participant.json")], { JOINTLY_KEY_PASSPHRASE: (await readFile(join(a!.dataDir, "passphrase"), "utf8")).trim() })
    expect(asTrainer.code, asTrainer.stderr).toBe(0)
    expect(asTrainer.stderr).toMatch(new RegExp(`ok +artifact model sealed ${sealedCid}: opened, it: is the result's model ${modelId}`))
  }, 120_000)
})
