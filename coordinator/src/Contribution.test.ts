/**
 * Contribution valuation (`incentives.shapley`) over real processes: anvil, the coordinator and six participant
 * processes (LocalCluster) — five data owners holding shards of the Wisconsin breast-cancer rows (one with every
 * label flipped, one with a third flipped), and a valuer holding the test set; tasks over three and five owners. Every coalition is trained by the participants'
 * own federated learning (tfjs, secure aggregation among the coalition's members) and scored by the valuer; the
 * test recomputes Shapley values from the score table the valuer kept and checks the result against them.
 */
import { spawn } from "node:child_process"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Contribution from "@jointly/core/internal/incentives/Contribution"
import * as Shapley from "@jointly/core/internal/incentives/Shapley"
import * as Valuation from "@jointly/core/internal/incentives/Valuation"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import type { Result } from "@jointly/core/internal/protocols/contribution/spec"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Consortium from "./local/Consortium.ts"

const owners = ["clean", "few", "flipped", "noisy", "more"] as const
let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let header: ReadonlyArray<string>

/** `jointly <args> --config <name's participant.json>`, signed with that party's keystore; its JSON answer. */
const asParty = (name: string, args: ReadonlyArray<string>) =>
  new Promise<Record<string, any>>((resolve, reject) => {
    void readFile(join(cluster.party(name).dataDir, "passphrase"), "utf8").then((passphrase) => {
      const child = spawn(process.execPath, [LocalCluster.cliPath(), ...args, "--config", join(cluster.party(name).dataDir, "participant.json")], {
        env: { ...process.env, JOINTLY_KEY_PASSPHRASE: passphrase.trim() },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d) => (stdout += d))
      child.stderr.on("data", (d) => (stderr += d))
      child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`jointly ${args.join(" ")} exited ${code}: ${stderr}`))))
    }, reject)
  })

describe("incentives.shapley over LocalCluster", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-shapley-"))
    const [head, ...lines] = (await readFile(datasetFile("bcw.csv"), "utf8")).trim().split("\n")
    header = head!.split(",")
    const label = header.length - 1
    // A fixed shuffle (the file is ordered by sample id), then: 200 clean rows, 40 clean rows, 150 rows with the
    // label flipped (an owner whose data hurts), 60 rows a third flipped, 60 clean rows, and 170 rows for the
    // valuer's test set.
    const rows = lines.map((line, i) => ({ line, key: (i * 2654435761) % 4294967296 })).sort((a, b) => a.key - b.key).map((r) => r.line.split(","))
    const flip = (r: Array<string>) => r.map((v, j) => (j === label ? String(1 - Number(v)) : v))
    const shards = {
      clean: rows.slice(0, 200),
      few: rows.slice(200, 240),
      flipped: rows.slice(240, 390).map(flip),
      noisy: rows.slice(390, 450).map((r, i) => (i % 3 === 0 ? flip(r) : r)),
      more: rows.slice(450, 510),
      test: rows.slice(510, 680)
    }
    const columns = header.map((name, j) => ({ name, type: j === 0 ? ("string" as const) : ("integer" as const) }))
    const files = Object.fromEntries(await Promise.all(Object.entries(shards).map(async ([name, shard]) => {
      const file = join(dir, `${name}.csv`)
      await writeFile(file, [header.join(","), ...shard.map((r) => r.join(","))].join("\n") + "\n")
      return [name, file] as const
    })))
    cluster = await starter.start({
      dataDir: join(dir, "cluster"),
      parties: [...owners, "valuer"].map((name) => ({ name, datasets: [{ name: "bcw", file: files[name === "valuer" ? "test" : name]!, columns }] }))
    })
  }, 300_000)

  afterAll(async () => {
    await starter.stop()
    if (dir) await removeDir(dir)
  })

  const features = () => header.slice(1, -1)
  const recipe = (rounds: number) => ({
    model: { class_name: "Sequential", config: { name: "lr", layers: [{ class_name: "Dense", config: { units: 2, activation: "softmax", use_bias: true, batch_input_shape: [null, features().length] } }] } },
    featureColumns: features(),
    labelColumn: header.at(-1),
    scaling: { mean: features().map(() => 4), std: features().map(() => 3) },
    optimizer: "sgd",
    learningRate: 0.5,
    localEpochs: 1,
    batchSize: 100_000,
    rounds,
    validationSplit: 0,
    seed: 3
  })

  /** Runs a valuation over `names` and checks it against Shapley over the valuer's own table; returns both. */
  const valuation = async (names: ReadonlyArray<(typeof owners)[number]>, rounds: number) => {
    const id = await cluster.submit({
      kind: "incentives.shapley",
      parties: [...names, "valuer"].map((name) => ({ participant: cluster.party(name).address, dataset: "bcw" })) as never,
      params: { valuer: cluster.party("valuer").address, training: recipe(rounds) },
      // Sixteen coalitions train at once and each owner's one process serves every coalition it is in: on a loaded
      // two-core CI machine one key advertisement once took more than 90 s to come back. The bound is liveness, not
      // what this test checks.
      roundTimeoutMs: 240_000
    })
    const detail = await cluster.waitForTask(id, { timeoutMs: 600_000 })
    expect(detail.reason).toBeNull()
    expect(detail.status).toBe("Succeeded")
    const result = detail.result as Result
    expect(result.method).toBe("exact")
    expect(result.owners).toEqual(names.map((name) => cluster.party(name).address))
    expect(result.models).toBe(2 ** names.length - 1)

    // The valuer kept the score table; the values are Shapley's over its worths, and add up to the whole coalition's.
    const table = Schema.decodeUnknownSync(Contribution.ScoreTable)(await cluster.outputOf("valuer", id))
    const worth = (mask: number) => (mask === 0 ? 0 : table.entries.find((e) => e.round === 0 && e.coalition === mask)!.worth)
    const expected = Shapley.bruteForce(names.length, worth)
    result.phi.forEach((phi, i) => expect(phi).toBeCloseTo(expected[i]!, 9))
    expect(result.phi.reduce((a, b) => a + b, 0)).toBeCloseTo(worth(2 ** names.length - 1), 9)
    expect(result.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
    // The salted hash the result carries is the table's: a member can check the settlement against it.
    expect(table.scoresHash).toBe(result.scoresHash)
    expect(Contribution.tableHash(table.salt, table.scores!.map(BigInt))).toBe(result.scoresHash)
    return { detail, result, worth }
  }

  it("values three owners exactly through federated learning: values equal Shapley over the valuer's scores, the flipped owner worth least", async () => {
    const { detail, result, worth } = await valuation(["clean", "few", "flipped"], 5)
    // Rows with every label flipped are worth least; a clean owner's model scores well on its own.
    const [clean, few, flipped] = result.phi
    expect(flipped!).toBeLessThan(Math.min(clean!, few!))
    expect(worth(1)).toBeGreaterThan(0.85)
    expect(worth(4)).toBeLessThan(0.5)
    expect(result.shares[2]).toBeLessThan(result.shares[0]!)

    // The valuer pays the owners by these shares: escrowed at posting, paid in integer points after the window.
    const supervisor = (await Consortium.governanceFor(cluster.rpcUrl, cluster.keys.supervisor, cluster.deployment))!
    try {
      const price = 1_000_003n
      await supervisor.mintPoints(cluster.party("valuer").address, price)
      const before = await Promise.all(result.owners.map((o) => supervisor.points(o)))
      const posted = await asParty("valuer", ["settlement", "post", "--task", detail.id, "--price", String(price)])
      expect(posted.settlementId).toBe(Contribution.settlementIdOf(detail.id))
      const record = (await supervisor.getSettlement(posted.settlementId))!
      expect(record.status).toBe("Posted")
      expect(record.testSetHash).toBe(result.testSetHash)
      // Shares on chain follow the values: the flipped owner, whose value is below zero or least, is paid least.
      const valuation = (await supervisor.postedValuation(posted.settlementId))!
      const numerators = valuation.streams[0]!.ownerShares
      expect(numerators[2]).toBeLessThan(numerators[0]!)
      await expect(asParty("clean", ["settlement", "finalize", posted.settlementId])).rejects.toThrow(/WindowOpen/)
      const deadline = record.disputeDeadline
      const now = BigInt(Number((await jsonRpc<{ timestamp: string }>(cluster.rpcUrl, "eth_getBlockByNumber", ["latest", false])).timestamp))
      await jsonRpc(cluster.rpcUrl, "evm_increaseTime", [Number(deadline - now) + 1])
      await jsonRpc(cluster.rpcUrl, "evm_mine", [])
      const finalized = await asParty("few", ["settlement", "finalize", posted.settlementId])
      const paid = (await Promise.all(result.owners.map((o) => supervisor.points(o)))).map((p, i) => p - before[i]!)
      const { entries, toTreasury } = Valuation.payouts(valuation)
      expect(paid).toEqual(entries.slice(0, 3).map((e) => e.amount))
      expect(BigInt(finalized.toTreasury)).toBe(toTreasury)
      expect(paid.reduce((a, b) => a + b, 0n) + toTreasury).toBe(price)
    } finally {
      await supervisor.close()
    }

    // The test set's hash and the recipe are committed before any model is trained, the scores and models after;
    // each commitment is notarized.
    const committed = detail.events.flatMap((e, at) => (e.type === "PhaseCommitted" ? [{ at, ...(e.data as { phase: string; root: string }) }] : []))
    expect(committed.map((c) => c.phase)).toEqual(["shapley/test-set", "shapley/recipe", "shapley/scores", "shapley/models"])
    expect(committed[0]!.root).toBe(result.testSetHash)
    expect(committed[2]!.root).toBe(result.scoresHash)
    const firstTraining = detail.events.findIndex((e) => e.type === "Progress" && String((e.data as { stage?: string }).stage).startsWith("fl."))
    expect(firstTraining).toBeGreaterThan(committed[1]!.at)
    const notarized = detail.chain.filter((c) => c.op === "commitPhase")
    expect(notarized).toHaveLength(4)
    expect(notarized.every((c) => c.status === "confirmed")).toBe(true)
  }, 660_000)

  it("values five owners exactly (31 coalitions, each trained by federated learning)", async () => {
    const { result } = await valuation(owners, 3)
    const phi = Object.fromEntries(owners.map((name, i) => [name, result.phi[i]!]))
    expect(phi.flipped!).toBeLessThan(Math.min(phi.clean!, phi.more!, phi.noisy!))
    expect(result.clamped).toContain(2)
  }, 660_000)
})
