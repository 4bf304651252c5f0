/**
 * Contribution valuation over InMemoryHost, both roles as the declaration builds them, with the pure-JS softmax
 * runtime. The recipe is full-batch gradient descent with one local epoch, so FedAvg over a coalition is gradient
 * descent on its pooled rows: the test's plaintext oracle pools each coalition's rows (here, never in the product)
 * and checks the worth the valuer measured for the model federated learning trained. Values are checked against
 * Eq. 7.2 (every ordering) over the valuer's own table; the approximations against the exact values.
 */
import { Effect, Layer, Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Contribution from "../../incentives/Contribution.ts"
import * as Shapley from "../../incentives/Shapley.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import * as Metrics from "../../models/Metrics.ts"
import type { TaskSpec } from "../../task/TaskSpec.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import * as SoftmaxRuntime from "../../testing/SoftmaxRuntime.ts"
import { ModelRuntime } from "../federated-learning/ModelRuntime.ts"
import { prng } from "../federated-learning/Updates.ts"
import { ParticipantFailure } from "../Protocol.ts"
import * as Protocols from "../Protocols.ts"
import { protocol } from "./index.ts"
import type { Params, Result as ValuationResult } from "./spec.ts"

const D = 4
const runtime = SoftmaxRuntime.softmaxRuntime({ features: D, classes: 2 })
const features = ["a", "b", "c", "d"]

/** Two Gaussian classes in 4 dimensions; `flip` mislabels that fraction of the rows (a harmful owner). */
const rows = (seed: number, n: number, flip = 0): SoftmaxRuntime.Rows => {
  const r = prng(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())
  const out: SoftmaxRuntime.Rows = { a: [], b: [], c: [], d: [], y: [] }
  for (let i = 0; i < n; i++) {
    const y = r() < 0.5 ? 1 : 0
    const centre = y === 1 ? [1, 0.5, -0.5, 0] : [-0.5, 0, 0.5, 0.5]
    features.forEach((k, j) => out[k]!.push(Number((centre[j]! + 1.2 * gauss()).toFixed(3))))
    out.y!.push(r() < flip ? 1 - y : y)
  }
  return out
}

/** Owners of differing worth: plenty of clean rows, a few clean rows, mislabelled rows, noisy rows. */
const ownerRows = [rows(1, 300), rows(2, 60), rows(3, 500, 1), rows(4, 150, 0.3), rows(5, 120)]
const testRows = rows(99, 400)

const training = {
  model: SoftmaxRuntime.topology(D, 2),
  featureColumns: features as unknown as readonly [string, ...Array<string>],
  labelColumn: "y",
  optimizer: "sgd" as const,
  learningRate: 0.5,
  localEpochs: 1,
  batchSize: 100_000,
  rounds: 6,
  validationSplit: 0,
  seed: 7
}

interface Run {
  readonly host: InMemoryHost.InMemoryHost
  readonly owners: ReadonlyArray<string>
  readonly valuer: string
  readonly result: ValuationResult
  /** The valuer's table, as it kept it (TaskOutput without a host: its memory). */
  readonly table: Contribution.ScoreTable
}

const value = async (owners: number, params: Partial<Params> = {}, trainingParams: Partial<typeof training> & Record<string, unknown> = {}): Promise<Run> => {
  const wallets = Array.from({ length: owners + 1 }, () => InMemoryHost.randomWallet())
  const valuer = wallets[owners]!.address
  const spec: TaskSpec = {
    kind: "incentives.shapley",
    initiator: wallets[0]!.address,
    nonce: "1",
    parties: wallets.map((w, i) => ({ participant: w.address, dataset: i === owners ? "test" : "train" })) as never,
    params: { valuer, training: { ...training, ...trainingParams }, ...params }
  }
  const task = Protocols.decodeTaskOrThrow(spec)
  const host = InMemoryHost.make(wallets.map((wallet, i) => {
    const data = SoftmaxRuntime.tabular(i === owners ? "test" : `owner${i}`, i === owners ? testRows : ownerRows[i]!)
    const layer = Layer.mergeAll(
      Layer.succeed(LocalData, {
        dataset: (name: string) => (name === (i === owners ? "test" : "train") ? Effect.succeed(data) : Effect.fail(new ParticipantFailure({ participant: wallet.address, stage: "dataset", code: "UnknownDataset", detail: name })))
      }),
      Layer.succeed(ModelRuntime, runtime)
    )
    return {
      wallet,
      handlers: task.protocol.participant(task.params, { ...task, party: task.spec.parties[i]! }),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>
    }
  }), { stages: task.protocol.stages.map((s) => s.stage.name), roundTimeoutMs: 20_000 })
  const result = (await Effect.runPromise(host.run((session) => task.protocol.coordinator(session, task.params, task) as Effect.Effect<ValuationResult, never, never>))) as ValuationResult
  // Stored as the declaration's Schema encodes it (the scheduler refuses anything else).
  expect(Schema.decodeUnknownSync(protocol.result)(Schema.encodeUnknownSync(protocol.result)(result))).toEqual(result)
  const table = Schema.decodeUnknownSync(Contribution.ScoreTable)(host.memory(valuer).get(TaskOutput.MEMORY_KEY))
  return { host, owners: wallets.slice(0, owners).map((w) => w.address), valuer, result, table }
}

/** The oracle: gradient descent on the coalition's pooled rows with the recipe, scored on the test set. */
const pooledWorth = async (mask: number) => {
  const pooled: SoftmaxRuntime.Rows = { a: [], b: [], c: [], d: [], y: [] }
  ownerRows.forEach((o, i) => {
    if (mask & (1 << i)) for (const k of Object.keys(pooled)) pooled[k]!.push(...o[k]!)
  })
  const matrix = (r: SoftmaxRuntime.Rows) => ({
    key: "oracle",
    rows: r.y!.length,
    width: D,
    features: Float32Array.from(r.y!.flatMap((_, i) => features.map((f) => Number(r[f]![i])))),
    labels: Float32Array.from(r.y!.map(Number))
  })
  let weights = await Effect.runPromise(runtime.initialize(training.model, training.seed))
  for (let round = 1; round <= training.rounds; round++) {
    weights = await Effect.runPromise(runtime.train({
      topology: training.model,
      weights,
      data: matrix(pooled),
      config: { optimizer: "sgd", learningRate: training.learningRate, epochs: 1, batchSize: training.batchSize, loss: "categoricalCrossentropy", proximalMu: 0, seed: 0 }
    }))
  }
  const test = matrix(testRows)
  const outputs = await Effect.runPromise(runtime.predict({ topology: training.model, weights, features: test.features, rows: test.rows }))
  return Metrics.f1(Metrics.confusion(["0", "1"], Uint32Array.from(test.labels), Metrics.predictedClasses(outputs, test.rows)), 1)
}

const worthIn = (table: Contribution.ScoreTable, round = 0) => (mask: number) => mask === 0 && round === 0 ? 0 : table.entries.find((e) => e.round === round && e.coalition === mask)!.worth
const maxError = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))

describe("incentives.shapley over InMemoryHost", () => {
  it("values 3 owners exactly: every coalition trained by federated learning, worths equal pooled training's, values equal every-ordering Shapley", async () => {
    const { host, owners, valuer, result, table } = await value(3)
    expect(result.method).toBe("exact")
    expect(result.owners).toEqual(owners)
    expect(result.models).toBe(7)
    // The worths the valuer measured are those of gradient descent on each coalition's pooled rows.
    for (let mask = 1; mask < 8; mask++) expect(Math.abs(worthIn(table)(mask) - (await pooledWorth(mask)))).toBeLessThanOrEqual(0.005)
    // Values equal Eq. 7.2 over the same worths; efficiency: they add up to v(all owners).
    const brute = Shapley.bruteForce(3, worthIn(table))
    result.phi.forEach((phi, i) => expect(phi).toBeCloseTo(brute[i]!, 12))
    expect(result.phi.reduce((a, b) => a + b, 0)).toBeCloseTo(worthIn(table)(7), 12)
    expect(result.grand.worth).toBeCloseTo(worthIn(table)(7), 12)
    // The mislabelled owner harms every coalition: clamped to 0, the others renormalised, and said so.
    expect(result.phi[2]).toBeLessThan(0)
    expect(result.clamped).toEqual([2])
    expect(result.shares[2]).toBe(0)
    expect(result.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    expect(result.shares[0]! / result.shares[1]!).toBeCloseTo(result.phi[0]! / result.phi[1]!, 12)
    expect(result.log.join(" ")).toMatch(/owners 2 clamped/)
    expect(result.shares[0]).toBeGreaterThan(result.shares[1]!)

    // Commitments: test set and recipe before anything was trained, then the salted table and the models.
    expect(host.commitments.map((c) => c.phase)).toEqual(["shapley/test-set", "shapley/recipe", "shapley/scores", "shapley/models"])
    const testHash = Contribution.testSetHash([...features, "y"], testRows.y!.map((_, i) => [...features, "y"].map((c) => String(testRows[c]![i]))))
    expect(host.commitments[0]!.digest).toBe(testHash)
    expect(result.testSetHash).toBe(testHash)
    expect(table.testSetHash).toBe(testHash)
    expect(Contribution.hashOf(table)).toBe(result.scoresHash)
    expect(host.commitments[2]!.digest).toBe(result.scoresHash)
    // The table in the settlement contract's form: one fixed-point score per coalition, and its models.
    const stream = Contribution.streamInput(table)
    expect(stream.scores.map(Number)).toEqual([0, ...[1, 2, 3, 4, 5, 6, 7].map((m) => Math.round(worthIn(table)(m) * 1e9))])
    expect(stream.modelHashes).toEqual(result.modelHashes)
    expect(Contribution.tableHash(stream.salt, stream.scores)).toBe(result.scoresHash)

    // The model of the whole coalition, on the valuer's test set: poisoned by the mislabelled majority, its ROC
    // curve lies under the diagonal.
    expect(result.grand.confusion.matrix.flat().reduce((a, b) => a + b, 0)).toBe(400)
    expect(result.grand.auc).toBeLessThan(0.5)
    expect(result.grand.roc!.points.at(-1)).toMatchObject({ tp: result.grand.roc!.positives, fp: result.grand.roc!.negatives })

    // What the coordinator saw: no score and no row. The valuer answered only counts, then the values.
    const fromValuer = host.transcript.filter((t) => t.participant === valuer && t.direction === "reply")
    expect(fromValuer.map((t) => t.stage)).toEqual(["shapley.prepare", "shapley.score", "shapley.value"])
    expect(fromValuer[1]!.json).toBe(JSON.stringify({ scored: 7 }))
    // Coalitions of two or more aggregated securely among their own members; single owners trained alone.
    const cohorts = host.transcript.filter((t) => t.stage === "secagg.advertise-keys" && t.direction === "request").map((t) => JSON.parse(t.json).parameters)
    const byCoalition = new Map(cohorts.map((p: { aggregationId: string; cohort: Array<string> }) => [p.aggregationId.split("/")[0], p.cohort.join(",")]))
    expect(byCoalition.get("c3")).toBe([owners[0], owners[1]].join(","))
    expect(byCoalition.get("c6")).toBe([owners[1], owners[2]].join(","))
    expect(byCoalition.get("c7")).toBe(owners.join(","))
    expect(host.transcript.filter((t) => t.stage === "shapley.solo" && t.direction === "request")).toHaveLength(3)
  }, 120_000)

  it("round reconstruction and Monte Carlo approximate the exact values (the errors measured here go in the README)", async () => {
    const report: Array<string> = []
    for (const n of [3, 4]) {
      const exact = await value(n)
      const rr = await value(n, { method: "round-reconstruction" }, { aggregation: "plain" })
      expect(rr.result.method).toBe("round-reconstruction")
      expect(rr.result.models).toBe(training.rounds * 2 ** n)
      // Per-round values over the valuer's per-round tables, summed (Song et al.'s MR).
      const perRound = Shapley.roundReconstruction(n, Array.from({ length: training.rounds }, (_, r) => ({ base: worthIn(rr.table, r + 1)(0), worth: worthIn(rr.table, r + 1) })))
      rr.result.phi.forEach((phi, i) => expect(phi).toBeCloseTo(perRound.phi[i]!, 12))
      // Efficiency of the reconstruction: the values add up to U(final) − U(initial).
      expect(rr.result.phi.reduce((a, b) => a + b, 0)).toBeCloseTo(worthIn(rr.table, training.rounds)((1 << n) - 1) - worthIn(rr.table, 1)(0), 12)
      const shareError = maxError(rr.result.shares, exact.result.shares)
      // The harmful owner is clamped by both.
      expect(rr.result.clamped).toContain(2)
      expect(exact.result.clamped).toContain(2)
      expect(shareError).toBeLessThan(0.05)

      const mc = await value(n, { method: "monte-carlo", permutations: 24 })
      expect(mc.result.permutations).toBe(24)
      // Same recipe, same coalitions, same models: the estimate is within a few standard errors of the exact values.
      mc.result.phi.forEach((phi, i) => expect(Math.abs(phi - exact.result.phi[i]!)).toBeLessThanOrEqual(4 * mc.result.standardError![i]! + 1e-9))
      report.push(`${n} owners: round reconstruction max share error ${shareError.toFixed(4)} (${rr.result.models} rebuilt models, 1 training); monte-carlo (24 orderings) max share error ${maxError(mc.result.shares, exact.result.shares).toFixed(4)}`)
    }
    console.log(report.join("\n"))
  }, 300_000)

  it("refuses what the recipe cannot value, naming the problem", () => {
    const problem = (params: Record<string, unknown>, parties = 4) => {
      const addresses = Array.from({ length: parties }, () => InMemoryHost.randomWallet().address)
      const decoded = Protocols.decodeTask({ kind: "incentives.shapley", initiator: addresses[0]!, nonce: "1", parties: addresses.map((participant) => ({ participant, dataset: "d" })) as never, params: { valuer: addresses.at(-1), training, ...params } })
      return Result.isFailure(decoded) ? decoded.failure.message : "accepted"
    }
    expect(problem({})).toBe("accepted")
    expect(problem({ valuer: InMemoryHost.randomWallet().address })).toMatch(/valuer: .* is not a party/)
    expect(problem({}, 2)).toMatch(/at least 2 data owners/)
    expect(problem({ method: "round-reconstruction" })).toMatch(/set aggregation "plain"/)
    expect(problem({ method: "exact" }, 13)).toMatch(/use monte-carlo beyond 10/)
    expect(problem({ training: { ...training, loss: "meanSquaredError", model: { class_name: "Sequential", config: { layers: [{ class_name: "Dense", config: { units: 1, batch_input_shape: [null, 4] } }] } } } })).toMatch(/classifier/)
    expect(problem({ training: { ...training, clientsPerRound: 2 } })).toMatch(/every member of a coalition trains every round/)
    expect(problem({ training: { ...training, privacy: { clipNorm: 1, noiseMultiplier: 1 } } })).toMatch(/differential privacy/)
    expect(problem({ positiveClass: "2" })).toMatch(/not one of the classes/)
    // Consent policies see what the task shows: solo models, hence one contributor per round.
    expect(Protocols.modelFactsOf("incentives.shapley", { valuer: InMemoryHost.randomWallet().address, training }, 4)?.minParticipantsPerRound).toBe(1)
  })
})
