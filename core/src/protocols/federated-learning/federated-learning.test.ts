/**
 * Federated learning end to end over InMemoryHost with a small pure-JS runtime (softmax regression, the
 * Dense-only model the topology describes), so protocol behaviour — aggregation, faults, resume, metrics,
 * commitments — is tested fast and without tfjs. The tfjs runtime and the digits benchmark-quality test live
 * in participant/src/modeling/.
 */
import { Effect, Layer } from "effect"
import * as NodeBackends from "@jointly/backends/node"
import { describe, expect, it } from "vitest"
import { LocalData } from "../../data/Tabular.ts"
import { artifactId, bytesToFloat32, ModelArtifact } from "../../models/ModelArtifact.ts"
import type { TaskSpec } from "../../task/TaskSpec.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import * as SoftmaxRuntime from "../../testing/SoftmaxRuntime.ts"
import { ParticipantFailure } from "../Protocol.ts"
import { PredictionSink } from "../batch-prediction/spec.ts"
import * as Coordinator from "./coordinator.ts"
import { protocol, resolved as resolveParams } from "./index.ts"
import { Result as Decoded } from "effect"
import * as Protocols from "../Protocols.ts"
import * as Merkle from "./Merkle.ts"
import type { ModelRuntimeApi } from "./ModelRuntime.ts"
import { ModelRuntime } from "./ModelRuntime.ts"
import * as Participant from "./participant.ts"
import * as Privacy from "./Privacy.ts"
import type { Params, Result } from "./spec.ts"
import * as RingVector from "../secure-aggregation/RingVector.ts"
import { contribution, decodeVector, encodeContribution, encodeVector, headroom, prng, scaleBitsOf } from "./Updates.ts"
import { Schema } from "effect"

const D = 4
const C = 3
const topology = SoftmaxRuntime.topology(D, C)
const jsRuntime = (poison?: "nan" | "short"): ModelRuntimeApi => SoftmaxRuntime.softmaxRuntime({ features: D, classes: C, poison })
type Rows = SoftmaxRuntime.Rows
const table = SoftmaxRuntime.tabular

/** Three Gaussian blobs in 4 dimensions; `skew` puts most of a party's rows in one class (non-IID). */
const blobs = (seed: number, n: number, favourite: number): Rows => {
  const r = prng(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())
  const rows: Rows = { a: [], b: [], c: [], d: [], y: [] }
  for (let i = 0; i < n; i++) {
    const y = r() < 0.6 ? favourite : Math.floor(r() * C)
    const centre = [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]][y]!
    ;(["a", "b", "c", "d"] as const).forEach((k, j) => rows[k]!.push(centre[j]! + gauss()))
    rows.y!.push(y)
  }
  return rows
}

const base: Params = {
  model: topology,
  featureColumns: ["a", "b", "c", "d"],
  labelColumn: "y",
  optimizer: "sgd",
  learningRate: 0.3,
  localEpochs: 2,
  batchSize: 16,
  rounds: 6,
  seed: 7
}

interface PartyConfig {
  readonly rows: Rows
  readonly runtime?: ModelRuntimeApi
  readonly faults?: ReadonlyArray<InMemoryHost.Fault>
  /** Replaces the party's handler table (a fault the channel cannot script: a reply lost after its work was done). */
  readonly handlers?: (handlers: ReadonlyArray<InMemoryHost.AnyStageHandler>) => ReadonlyArray<InMemoryHost.AnyStageHandler>
}

const makeHost = (parties: ReadonlyArray<PartyConfig>, params: Params) => {
  const r = resolveParams(params, parties.length)
  return InMemoryHost.make(parties.map((party, i) => {
    const data = table(`p${i}`, party.rows)
    const layer = Layer.mergeAll(
      Layer.succeed(LocalData, {
        dataset: (name: string) => name === "train" ? Effect.succeed(data) : Effect.fail(new ParticipantFailure({ participant: "?", stage: "dataset", code: "UnknownDataset", detail: name }))
      }),
      Layer.succeed(ModelRuntime, party.runtime ?? jsRuntime()),
      Layer.succeed(PredictionSink, { write: () => Effect.void })
    )
    return {
      handlers: party.handlers?.(Participant.handlers("train", r)) ?? Participant.handlers("train", r),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>,
      faults: party.faults ?? []
    }
  }))
}

/** The coordinator side with the CKKS service its "ckks" aggregation needs (SEAL loads only if a test uses it). */
const coordinate = (session: Parameters<typeof Coordinator.run>[0], params: Params, parties: number) =>
  Effect.provide(Coordinator.run(session, resolveParams(params, parties), { timeoutMs: 3_000 }), NodeBackends.ckks)

const train = (host: InMemoryHost.InMemoryHost, params: Params, attempt?: number) =>
  Effect.runPromise(host.run((s) => coordinate(s, params, host.participants.length), attempt)) as Promise<Result>

const parties = (n: number, rows = 300) => Array.from({ length: n }, (_, i) => ({ rows: blobs(100 + i, rows, i % C) }))

/** The declaration's verdict on a spec, as the scheduler reaches it (`Protocols.decodeTask`). */
const checkParams = (spec: TaskSpec) => {
  const decoded = Protocols.decodeTask(spec)
  return Decoded.isSuccess(decoded)
    ? { ok: true as const, task: decoded.success }
    : { ok: false as const, problem: decoded.failure._tag === "InvalidTaskParams" ? decoded.failure.problem : decoded.failure.message }
}

describe("federated learning over InMemoryHost", () => {
  it("secure aggregation gives the plain FedAvg model up to fixed-point rounding, and learns", async () => {
    const data = parties(3)
    const secure = await train(makeHost(data, base), base)
    const plain = await train(makeHost(data, { ...base, aggregation: "plain" }), { ...base, aggregation: "plain" })
    const a = bytesToFloat32(Schema.decodeUnknownSync(ModelArtifact)(secure.model).weights as Uint8Array)
    const b = bytesToFloat32(Schema.decodeUnknownSync(ModelArtifact)(plain.model).weights as Uint8Array)
    expect(a.length).toBe(D * C + C)
    // Each round rounds n·w to 2^-16 per party and float32 differs from float64 in the plain sums.
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-3)
    expect(secure.rounds).toHaveLength(6)
    expect(secure.final.accuracy).toBeGreaterThan(0.85)
    expect(secure.rounds[0]!.accuracy!).toBeLessThan(secure.final.accuracy!)
    expect(secure.rounds.every((r) => r.contributors.length === 3 && r.trainSamples === 3 * 240)).toBe(true)
    expect(Math.abs(secure.final.accuracy! - plain.final.accuracy!)).toBeLessThan(0.02)
    // The scheduler stores a result as its declaration's Schema encodes it: nothing may be lost or refused there.
    expect(Schema.encodeUnknownSync(protocol.result)(secure)).toEqual(secure)
  })

  it("commits one Merkle root over the round digests, not one commitment per round", async () => {
    const host = makeHost(parties(3), base)
    const result = await train(host, base)
    expect(host.commitments).toEqual([{ phase: "fl/rounds", digest: result.roundsRoot }])
    const digests = result.rounds.map((r) => r.digest)
    expect(Merkle.root(digests)).toBe(result.roundsRoot)
    expect(Merkle.verify(digests[2]!, Merkle.proof(digests, 2), result.roundsRoot)).toBe(true)
    expect(Merkle.verify(digests[3]!, Merkle.proof(digests, 2), result.roundsRoot)).toBe(false)
    expect(result.modelId).toBe(artifactId(Schema.decodeUnknownSync(ModelArtifact)(result.model)))
    // Per-round metrics went out as progress events.
    expect(host.progress.filter((p) => p.stage === "fl.round")).toHaveLength(6)
  })

  it("keeps single updates from the coordinator in secure mode", async () => {
    const host = makeHost(parties(3), base)
    await train(host, base)
    const trainReplies = host.transcript.filter((t) => t.stage === "fl.train" && t.direction === "reply")
    expect(trainReplies.every((t) => JSON.parse(t.json).update === undefined)).toBe(true)
  })

  it("keeps only the latest round's update at a participant (plain), so memory does not grow with the rounds", async () => {
    const params: Params = { ...base, aggregation: "plain", rounds: 5 }
    const host = makeHost(parties(3), params)
    await train(host, params)
    for (const participant of host.participants) {
      const kept = [...host.memory(participant)].filter(([key]) => key.startsWith("fl/"))
      // The split and the last round's reply (whose update a retried round-5 request gets again), nothing per round.
      expect(kept.map(([key]) => key).sort()).toEqual(["fl/split", "fl/train/last/"])
      expect((kept.find(([key]) => key === "fl/train/last/")![1] as { round: number }).round).toBe(5)
    }
  })

  it("settles each round's secure aggregation at the next round, so a party dropped after masking holds no masked input per round", async () => {
    const params: Params = { ...base, minUpdatesPerRound: 3, rounds: 3 }
    const data = parties(4)
    // Party 0 masks its update every round and the reply is lost: it never gets an unmask request.
    const lostAfterMasking = (handlers: ReadonlyArray<InMemoryHost.AnyStageHandler>) => handlers.map((h): InMemoryHost.AnyStageHandler => h.stage.name !== "secagg.masked-input" ? h : {
      ...h,
      handle: (request, session) =>
        Effect.flatMap(h.handle(request, session), () =>
          Effect.fail(new ParticipantFailure({ participant: session.self, stage: h.stage.name, code: "Disconnected", detail: "lost after masking" })))
    })
    const host = makeHost([{ ...data[0]!, handlers: lostAfterMasking }, ...data.slice(1)], params)
    const result = await train(host, params)
    expect(result.rounds.every((round) => round.contributors.length === 3 && !round.contributors.includes(host.participants[0]!))).toBe(true)
    for (const participant of host.participants) {
      const aggregations = [...host.memory(participant)].filter(([key]) => /^secagg\/(round-|evaluate)/.test(key))
      // Rounds 1–2 are settled markers; only the last round's and the final evaluation's state are held.
      expect(aggregations.filter(([, value]) => typeof value === "object").map(([key]) => key).sort()).toEqual(["secagg/evaluate", "secagg/round-3"])
      expect(aggregations).toHaveLength(4)
    }
  })

  it("rejects NaN and wrong-shape updates (plain) and the rounds continue without them", async () => {
    const params: Params = { ...base, aggregation: "plain", minUpdatesPerRound: 2, rounds: 3 }
    const data = parties(4)
    const host = makeHost([data[0]!, data[1]!, { ...data[2]!, runtime: jsRuntime("nan") }, { ...data[3]!, runtime: jsRuntime("short") }], params)
    const result = await train(host, params)
    for (const round of result.rounds) {
      expect(round.contributors).toEqual(host.participants.slice(0, 2))
      expect(round.rejected.map((r) => r.reason.split(":")[0])).toEqual(["NotFinite", "WrongShape"])
    }
    expect(result.final.accuracy).toBeGreaterThan(0.8)
  })

  it("drops a NaN update before masking in secure mode", async () => {
    const params: Params = { ...base, minUpdatesPerRound: 3, rounds: 2 }
    const data = parties(4)
    const host = makeHost([...data.slice(0, 3), { ...data[3]!, runtime: jsRuntime("nan") }], params)
    const result = await train(host, params)
    expect(result.rounds.every((r) => r.contributors.length === 3 && !r.contributors.includes(host.participants[3]!))).toBe(true)
    expect(host.transcript.some((t) => t.direction === "failure" && t.json.includes("InvalidUpdateNotFinite"))).toBe(true)
  })

  it("survives a participant that drops mid-round (after training, before its masked input) and a straggler", async () => {
    const params: Params = { ...base, minUpdatesPerRound: 3, rounds: 3, roundTimeoutMs: 1_500 }
    const data = parties(5)
    const host = makeHost([
      ...data.slice(0, 3),
      { ...data[3]!, faults: [{ kind: "dropout", fromStage: "secagg.masked-input" }] },
      { ...data[4]!, faults: [{ kind: "delay", stage: "fl.train", ms: 2_500 }] }
    ], params)
    const result = await train(host, params)
    expect(result.rounds[0]!.contributors).toEqual(host.participants.slice(0, 3))
    expect(result.rounds[0]!.rejected.map((r) => r.participant).sort()).toEqual([host.participants[3], host.participants[4]].sort())
    expect(result.rounds[0]!.trainSamples).toBe(3 * 240)
    expect(result.final.accuracy).toBeGreaterThan(0.8)
    // The straggler's inputs of the rounds it missed are never read; it holds at most its latest round's.
    expect([...host.memory(host.participants[4]!).keys()].filter((key) => key.startsWith("fl/input/")).length).toBeLessThanOrEqual(1)
  }, 30_000)

  it("resumes from the last checkpointed round after a coordinator restart, to the same model", async () => {
    const data = parties(3)
    const reference = await train(makeHost(data, base), base)
    const host = makeHost(data, base)
    // Attempt 1 dies right after checkpointing round 3, as a killed coordinator would.
    let saves = 0
    const crashed = await Effect.runPromiseExit(host.run((s) =>
      coordinate({
        ...s,
        checkpoint: { ...s.checkpoint, save: (k, v) => Effect.flatMap(s.checkpoint.save(k, v), () => ++saves === 3 ? Effect.die("killed") : Effect.void) }
      }, base, 3), 1))
    expect(crashed._tag).toBe("Failure")
    expect(saves).toBe(3)
    const resumed = await train(host, base, 2)
    expect(resumed.resumedFromRound).toBe(3)
    expect(resumed.rounds.map((x) => x.round)).toEqual([1, 2, 3, 4, 5, 6])
    // Training is deterministic per round and the sums exact, so the resumed model is the uninterrupted one.
    expect(resumed.modelId).toBe(reference.modelId)
    expect(resumed.roundsRoot).toBe(reference.roundsRoot)
    // Attempt 2 only trained rounds 4–6.
    expect(host.transcript.filter((t) => t.stage === "fl.train" && t.direction === "request" && t.json.includes("round-1\"")).length).toBe(3)
  })

  it("fails with a typed error naming unexpected label values", async () => {
    const data = parties(3)
    const odd = { ...data[1]!.rows, y: data[1]!.rows.y!.map((v, i) => (i === 3 ? 7 : i === 9 ? "cat" : v)) }
    const error = await Effect.runPromise(Effect.flip(makeHost([data[0]!, { rows: odd }, data[2]!], base).run((s) => coordinate(s, base, 3))))
    expect(error._tag).toBe("ParticipantFailure")
    expect((error as ParticipantFailure).code).toBe("UnexpectedLabels")
    expect((error as ParticipantFailure).detail).toContain("7, cat")
  })

  it("adds DP noise and reports ε after each round from the RDP accountant", async () => {
    const params: Params = { ...base, privacy: { clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5 }, clientsPerRound: 3, minUpdatesPerRound: 2, rounds: 4 }
    const data = parties(4)
    const result = await train(makeHost(data, params), params)
    const eps = result.rounds.map((r) => r.epsilon!)
    expect(eps.every((e, i) => i === 0 || e > eps[i - 1]!)).toBe(true)
    expect(result.privacy!.epsilon).toBeCloseTo(Privacy.epsilon(0.75, 1.1, 4, 1e-5).epsilon, 10)
    expect(result.rounds.every((r) => r.contributors.length === 3)).toBe(true)
  })
})

describe("round vectors (Updates.ts)", () => {
  it.each([[32], [64]] as const)("sum exactly in the 2^%i ring: the decoded sum is the sum of the rounded contributions", (bits) => {
    const parties = 7
    const factor = 2 ** scaleBitsOf(bits)
    const r = prng(bits)
    // The largest contribution the ring admits for 7 parties, both signs, next to ordinary ones.
    const extreme = (headroom(parties, bits) - 1) / factor
    const contributions = Array.from({ length: parties }, (_, p) =>
      Float64Array.from({ length: 50 }, (_, i) => (i === 0 ? (p % 2 ? -extreme : extreme) : (r() - 0.5) * 0.02)))
    const metrics = contributions.map((_, p) => ({ lossSum: 123.456 + p, correct: 80 + p, samples: 100 + p }))
    const total = RingVector.zeros(contributions[0]!.length + 8, bits)
    contributions.forEach((c, p) => RingVector.addLimbs(total.limbs, encodeVector(c, 1000 + p, metrics[p]!, parties, bits).limbs, bits))
    const decoded = decodeVector(total, 50)
    for (let i = 0; i < 50; i++) {
      const exact = contributions.reduce((acc, c) => acc + Math.round(c[i]! * factor), 0) / factor
      expect(decoded.update[i]).toBe(exact)
    }
    expect(decoded.trainSamples).toBe(7 * 1000 + 21)
    expect(decoded.validation.samples).toBe(7 * 100 + 21)
    expect(decoded.validation.correct).toBe(7 * 80 + 21)
    expect(decoded.validation.lossSum).toBeCloseTo(7 * 123.456 + 21, 4)
    // One step past the headroom is refused rather than wrapped.
    expect(() => encodeVector(Float64Array.of((Math.ceil(headroom(parties, bits)) + 1) / factor), 1, metrics[0]!, parties, bits)).toThrow(/Overflow/)
  })

  it.each([[32], [64]] as const)("encodes a contribution from the two models exactly as encodeVector(contribution(…)) in the 2^%i ring", (bits) => {
    const parties = 5
    const factor = 2 ** scaleBitsOf(bits)
    const r = prng(7 * bits)
    const n = 4099
    const global = Float32Array.from({ length: n }, () => (r() - 0.5) * 4)
    // Ordinary steps, zero steps, halves (Math.round takes them to +∞), and steps within 0.1 % of the largest the ring
    // admits for 5 parties in both signs (negative ones are two's complement limbs; float32 rounding needs the margin).
    const weight = 37 / 29
    const largest = (0.999 * headroom(parties, bits)) / factor / weight
    const local = Float32Array.from(global, (g, i) =>
      i === 0 ? g : i === 1 ? Math.fround(g + largest) : i === 2 ? Math.fround(g - largest) : i < 40 ? Math.fround(g + (i - 20) / factor / weight / 2) : Math.fround(g + (r() - 0.5) * 0.02))
    const metrics = { lossSum: 12.5, correct: 33, samples: 40 }
    const fused = encodeContribution(local, global, 37, 29, metrics, parties, bits)
    const reference = encodeVector(contribution(local, global, 37, 29, false), 37, metrics, parties, bits)
    expect(fused.length).toBe(reference.length)
    expect(fused.bits).toBe(bits)
    let differing = 0
    for (let i = 0; i < reference.limbs.length; i++) if (fused.limbs[i] !== reference.limbs[i]) differing++
    expect(differing).toBe(0)
    // Decoded, each element is the rounded contribution: no wrap at the edge.
    const decoded = decodeVector(fused, n)
    for (let i = 0; i < n; i++) expect(decoded.update[i]).toBe(Math.round((local[i]! - global[i]!) * (37 / 29) * factor) / factor + 0)
    expect(Math.abs(decoded.update[1]!)).toBeGreaterThan(headroom(parties, bits) / factor / 2)
    expect(decoded.trainSamples).toBe(37)
    // Past the headroom and non-finite are refused, as by encodeVector.
    const over = Float32Array.from(global)
    over[5] = Math.fround(global[5]! + (headroom(parties, bits) * 2) / factor / weight)
    expect(() => encodeContribution(over, global, 37, 29, metrics, parties, bits)).toThrow(/Overflow: update element 5/)
    over[5] = Number.NaN
    expect(() => encodeContribution(over, global, 37, 29, metrics, parties, bits)).toThrow(/NotFinite: update element 5/)
  })

  it("aggregates the first round of an attempt in the 64-bit ring and later rounds in the 32-bit ring", async () => {
    const params: Params = { ...base, rounds: 3 }
    const host = makeHost(parties(3), params)
    await train(host, params)
    const bitsOf = (aggregationId: string) => host.transcript
      .filter((t) => t.stage === "secagg.advertise-keys" && t.direction === "request" && t.json.includes(`"${aggregationId}"`))
      .map((t) => JSON.parse(t.json).parameters.bits as number)
    expect(bitsOf("round-1")).toEqual([64, 64, 64])
    expect(bitsOf("round-2")).toEqual([32, 32, 32])
    expect(bitsOf("round-3")).toEqual([32, 32, 32])
    expect(bitsOf("evaluate")).toEqual([32, 32, 32])
  })
})

describe("RDP accountant", () => {
  it("matches the closed form without subsampling and shrinks ε with subsampling", () => {
    // q = 1: ε_α = α/(2z²) exactly.
    expect(Privacy.rdpSampledGaussian(1, 2, 10)).toBeCloseTo(10 / 8, 12)
    // q → small: the sampled mechanism is far cheaper per round.
    expect(Privacy.rdpSampledGaussian(0.01, 2, 10)).toBeLessThan(0.01)
    // Known value (TF Privacy compute_rdp, q = 0.01, z = 1.1, 10 000 steps, δ = 1e-5): ε ≈ 8.0 at order ~ 8–10.
    const spent = Privacy.epsilon(0.01, 1.1, 10_000, 1e-5)
    expect(spent.epsilon).toBeGreaterThan(6)
    expect(spent.epsilon).toBeLessThan(10)
  })

  it("clips to the norm bound", () => {
    const v = Float64Array.from([3, 4])
    expect(Privacy.clip(v, 1)).toBeCloseTo(5, 12)
    expect(Math.hypot(v[0]!, v[1]!)).toBeCloseTo(1, 12)
  })
})

describe("federated learning parameters", () => {
  const party = (n: number) => ({ participant: `0x${n.toString(16).padStart(40, "0")}`, dataset: "d" })
  const spec = (params: unknown, n = 3): TaskSpec =>
    ({ kind: "modeling.horizontal-fl", initiator: party(99).participant, nonce: "n", parties: Array.from({ length: n }, (_, i) => party(i + 1)), params }) as unknown as TaskSpec

  it.each([
    ["model", { ...base, model: { class_name: "Sequential", config: { layers: [{ class_name: "Lambda", config: { batch_input_shape: [null, 4] } }] } } }],
    ["featureColumns", { ...base, featureColumns: ["a", "b"] }],
    ["minUpdatesPerRound", { ...base, clientsPerRound: 3, minUpdatesPerRound: 1 }],
    ["clientsPerRound", { ...base, clientsPerRound: 5 }],
    ["classes", { ...base, classes: ["x", "y"] }]
  ] as const)("rejects a bad %s naming it", (field, params) => {
    const checked = checkParams(spec(params))
    expect(checked.ok).toBe(false)
    expect(!checked.ok && checked.problem).toContain(`${field}:`)
  })

  it("reports facts for the consent policy", () => {
    const checked = checkParams(spec(base))
    expect(checked.ok).toBe(true)
    expect(checked.ok && checked.task.protocol.model!(checked.task.params, 3)).toEqual({
      parameters: D * C + C, layerTypes: ["Dense"], rounds: 6, minParticipantsPerRound: 3, aggregation: "secure", differentialPrivacy: false
    })
    expect(checked.ok && checked.task.protocol.columns(checked.task.params)).toEqual(["a", "b", "c", "d", "y"])
  })
})
