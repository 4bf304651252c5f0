/**
 * `npm run bench -- horizontal-svm`: SecureSVM (PROTOCOLS.md §5) on bcw (683 rows, 3 providers, 80/20 split).
 *
 * - `mode_b_train_s`: Mode B (model under the analyst's 2048-bit Paillier key, packed sign-hidden comparisons,
 *   blinding and decryption fanned out over the participant worker pool), whole protocol in one process
 *   through the in-memory host; baseline: the float SVM with the same schedule in plaintext. The source's
 *   1024-bit Java run took 3195 s (book ch. 4, Table 4.4), given in params for reference.
 * - `mode_b_paillier_ops`: Paillier operations of that run (exponentiations mod N², encryptions, decryptions).
 * - `mode_b_cpu_s`: that run's CPU time, every thread of the process, from start to end (the stages' figures below
 *   leave out what runs between rounds: the coordinator's own work, GC).
 * - `mode_b_stage_cpu_ms`: that run's CPU time (all threads) and wall time by stage, most CPU first (StageClock.ts).
 * - `mode_a_train_s`: Mode A (shared model, secure aggregation per round), same host.
 * - `encrypted_inference_ms`: one encrypted prediction with the Mode B model (`prediction.encrypted-linear`:
 *   the requester CKKS-encrypts one row under its kept query keys, the owner evaluates w·x + b, the requester
 *   decrypts), median of several, the stages in params; baseline: the plaintext prediction of the same row.
 *   `encrypted_inference_keygen_ms`: making the query keys (secret, public and Galois keys), paid once per
 *   requester and row width.
 * Accuracy (precision, recall on the union of the local test splits) is reported with the plaintext SVM's as baseline.
 */
import { readFileSync } from "node:fs"
import { Context, Effect, Layer } from "effect"
import type * as Backends from "@jointly/backends/internal/Backends"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import type { JobRunner } from "@jointly/core/internal/compute/JobRunner"
import { LocalData, type TabularData } from "@jointly/core/internal/data/Tabular"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as Coordinator from "@jointly/core/internal/protocols/secure-svm/coordinator"
import * as Model from "@jointly/core/internal/protocols/secure-svm/Model"
import * as Participant from "@jointly/core/internal/protocols/secure-svm/participant"
import { hyperOf, type Params, type Result } from "@jointly/core/internal/protocols/secure-svm/spec"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as SealCkks from "@jointly/backends/internal/SealCkks"
import { Ckks, foldScaling } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import { predictLinear } from "@jointly/core/internal/models/ModelArtifact"
import * as PoolRunner from "./PoolRunner.ts"
import * as StageClock from "./StageClock.ts"
import { emit, progress } from "./Report.ts"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"

const file = datasetFile("bcw.csv")

const load = () => {
  const [header, ...lines] = readFileSync(file, "utf8").trim().split("\n")
  const columns = header!.split(",")
  const rows = lines.map((l) => l.split(",").map(Number))
  const features = columns.slice(1, 10) as unknown as Params["features"]
  const parties = [0, 1, 2].map((p) => {
    const mine = rows.filter((_, i) => i % 3 === p)
    const data: Record<string, Array<number>> = Object.fromEntries(columns.slice(1).map((c, k) => [c, mine.map((r) => r[k + 1]!)]))
    const table: TabularData = {
      name: `bcw-${p}`,
      rowCount: mine.length,
      columnNames: Object.keys(data),
      isNumeric: () => true,
      numeric: (c) => Float64Array.from(data[c]!),
      strings: (c) => data[c]!.map(String)
    }
    const party: Model.PartyData = { x: mine.map((r) => Float64Array.from(r.slice(1, 10))), y: Int8Array.from(mine, (r) => (r[10] === 1 ? 1 : -1)) }
    return { table, party }
  })
  return { features, parties }
}

const runOnce = (params: Params, tables: ReadonlyArray<TabularData>, backends: Layer.Layer<Backends.Services>, runner: Layer.Layer<JobRunner> | undefined, kernels: BigIntKernels, clock?: ReturnType<typeof StageClock.make>) => {
  const provide = (data: TabularData) => <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => {
    const local = Layer.merge(backends, Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) }))
    return Effect.provide(effect, runner ? Layer.merge(local, runner) : local) as Effect.Effect<A, ParticipantFailure>
  }
  const analyst = InMemoryHost.randomWallet()
  const configs = tables.map((t) => ({ handlers: Participant.handlers("bcw", params, { kernels }), provide: provide(t) }))
  const host = InMemoryHost.make(params.mode === "B" ? [...configs, { handlers: Participant.handlers("none", params, { kernels }), wallet: analyst, provide: provide(tables[0]!) }] : configs)
  const full = params.mode === "B" ? { ...params, analyst: analyst.address } : params
  // Ended after the task, succeeded or not, as a deployed coordinator does: the participants release its SEAL objects.
  return Effect.runPromise(Effect.ensuring(host.run((session) => Coordinator.run(clock === undefined ? session : clock.wrap(session), full)), host.end())) as Promise<Result>
}

export const run = async () => {
  const { features, parties } = load()
  const params: Params = { features, label: { column: "label", positive: 1, negative: 0 }, seed: 7 }
  const tables = parties.map((p) => p.table)
  // The participants' backends (ProtocolHost.inline): the Node composition, on this thread and in the pool's workers.
  const { pool, runner, backends, kernels } = await PoolRunner.open()
  try {
    progress(`horizontal-svm: mode A in memory`)
    let started = performance.now()
    const a = await runOnce(params, tables, backends.layer, runner, kernels)
    const aSeconds = (performance.now() - started) / 1000

    started = performance.now()
    const reference = Model.trainPlaintext(parties.map((p) => p.party), hyperOf(params), a.model.scaling!)
    const plainSeconds = (performance.now() - started) / 1000
    const plain = Model.metrics(reference.confusion)
    emit({ suite: "horizontal-svm", metric: "mode_a_train_s", params: { rows: 683, providers: 3, rounds: a.rounds }, value: aSeconds, baseline: "plaintext float SVM, same schedule", baseline_value: plainSeconds, ratio: plainSeconds / aSeconds })

    progress(`horizontal-svm: mode B in memory, 2048-bit Paillier, ${pool.size} workers, ${kernels.name} kernels`)
    started = performance.now()
    const clock = StageClock.make()
    const cpuBefore = process.cpuUsage()
    const b = await runOnce({ ...params, mode: "B" }, tables, backends.layer, runner, kernels, clock)
    const bSeconds = (performance.now() - started) / 1000
    const bCpu = process.cpuUsage(cpuBefore)
    const ops = b.paillier!
    emit({
      suite: "horizontal-svm",
      metric: "mode_b_train_s",
      params: { rows: 683, providers: 3, bits: ops.keyBits, workers: pool.size, kernels: kernels.name, rounds: b.rounds, epochs: hyperOf(params).epochs, book_seconds_1024_bits: 3195 },
      value: bSeconds,
      baseline: "plaintext float SVM, same schedule",
      baseline_value: plainSeconds,
      ratio: plainSeconds / bSeconds
    })
    emit({ suite: "horizontal-svm", metric: "mode_b_cpu_s", params: { note: "CPU of every thread of the process during the Mode B run" }, value: (bCpu.user + bCpu.system) / 1e6 })
    emit({
      suite: "horizontal-svm",
      metric: "mode_b_paillier_ops",
      params: { bits: ops.keyBits, exponentiations: ops.exponentiations, encryptions: ops.encryptions, decryptions: ops.decryptions, comparisons: ops.comparisons, packed_ciphertexts: ops.packedCiphertexts },
      value: ops.exponentiations + ops.encryptions + ops.decryptions
    })
    for (const t of clock.report()) {
      emit({ suite: "horizontal-svm", metric: "mode_b_stage_cpu_ms", params: { stage: t.stage, rounds: t.rounds, wall_ms: Math.round(t.wallMs), note: "CPU of every thread of the process during the stage's rounds" }, value: t.cpuMs })
    }
    progress(`horizontal-svm: encrypted inference (CKKS, N = 8192)`)
    const row = parties[0]!.party.x[0]!
    const identity = { ...b.model, link: "identity" as const }
    const median = (xs: Array<number>) => xs.sort((p, q) => p - q)[Math.floor(xs.length / 2)]!
    const seal = SealCkks.promises(Context.get(backends.context, Ckks))
    const folded = foldScaling(b.model)
    // Key generation (the Galois keys above all) once per requester and row width, timed apart; then queries
    // with the kept keys: encrypt the row, evaluate at the owner (its Galois keys loaded once), decrypt.
    await seal.queryKeys(row.length) // loads SEAL's WASM and builds the context
    const keyTimes: Array<number> = []
    let keys = await seal.queryKeys(row.length)
    for (let i = 0; i < 3; i++) {
      const t = performance.now()
      keys = await seal.queryKeys(row.length)
      keyTimes.push(performance.now() - t)
    }
    const encrypted: Array<number> = []
    const stages = { encrypt: [] as Array<number>, evaluate: [] as Array<number>, decrypt: [] as Array<number> }
    let score = 0
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now()
      const request = await seal.encryptRows(keys, [row])
      const t1 = performance.now()
      const scores = await seal.evaluateLinear(request, folded)
      const t2 = performance.now()
      score = (await seal.decryptScore(keys, scores))[0]!
      const t3 = performance.now()
      if (i === 0) continue // the owner's first sight of these Galois keys
      encrypted.push(t3 - t0)
      stages.encrypt.push(t1 - t0)
      stages.evaluate.push(t2 - t1)
      stages.decrypt.push(t3 - t2)
    }
    const plainTimes: Array<number> = []
    for (let i = 0; i < 200; i++) {
      const t = performance.now()
      predictLinear(identity, row)
      plainTimes.push(performance.now() - t)
    }
    const encryptedMs = median(encrypted)
    const plainMs = median(plainTimes)
    emit({
      suite: "horizontal-svm",
      metric: "encrypted_inference_ms",
      params: {
        scheme: "CKKS",
        poly_modulus_degree: 8192,
        coeff_modulus_bits: "60,40,40,60",
        features: row.length,
        abs_error: Math.abs(score - predictLinear(identity, row)),
        keys: "kept by the requester (key generation: encrypted_inference_keygen_ms)",
        encrypt_ms: median(stages.encrypt),
        evaluate_ms: median(stages.evaluate),
        decrypt_ms: median(stages.decrypt)
      },
      value: encryptedMs,
      baseline: "plaintext w·x + b",
      baseline_value: plainMs,
      ratio: plainMs / encryptedMs
    })
    emit({
      suite: "horizontal-svm",
      metric: "encrypted_inference_keygen_ms",
      params: { scheme: "CKKS", poly_modulus_degree: 8192, galois_steps: Math.log2(keys.stride), galois_key_bytes: keys.galoisKeys.length },
      value: median(keyTimes)
    })
    for (const [name, result] of [["mode_a", a], ["mode_b", b]] as const) {
      emit({ suite: "horizontal-svm", metric: `${name}_precision`, params: { rows: 683 }, value: result.test.precision, baseline: "plaintext float SVM", baseline_value: plain.precision })
      emit({ suite: "horizontal-svm", metric: `${name}_recall`, params: { rows: 683 }, value: result.test.recall, baseline: "plaintext float SVM", baseline_value: plain.recall })
    }
  } finally {
    await pool.close()
  }
}
