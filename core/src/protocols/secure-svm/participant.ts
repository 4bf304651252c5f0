/**
 * Participant side of SecureSVM: the provider's handlers (data next to it, plaintext fixed-point totals, Mode B
 * blinding) and the analyst's (Mode B: SK_C, the model, decisions and updates). Every party gets the whole
 * table; the coordinator only asks the analyst for analyst stages and providers for provider stages.
 */
import { Effect, Option } from "effect"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import { JobRunner, inline as inlineRunner } from "../../compute/JobRunner.ts"
import * as Kernels from "../../compute/Kernels.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { Primes, randomBits } from "../../compute/Primes.ts"
import * as PaillierJobs from "../../crypto/paillier/Jobs.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import type { RandomnessSource } from "../../crypto/paillier/Randomness.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import { secureAggregationHandlers, settle } from "../secure-aggregation/client.ts"
import * as Blind from "./Blind.ts"
import * as Model from "./Model.ts"
import type { Params } from "./spec.ts"
import * as Spec from "./spec.ts"

/** Ring of every SecureSVM aggregation (totals at scale S² over millions of rows fit with room to spare). */
export const RING_BITS = 128
const ring = FixedPoint.make({ scaleBits: 0, modulus: 1n << BigInt(RING_BITS) })

/** Mode B pad ciphertext layout: one slot per totals entry, summed over `providers` ciphertexts. */
export const padLayout = (pk: Keys.PublicKey, providers: number) => Packing.layout(pk, { valueBits: RING_BITS + 2, maxAddends: providers })

export interface Options {
  /** Tests only: accept Paillier keys below 2048 bits (and generate them at `testKeyBits`). */
  readonly unsafeAllowTestKeySizes?: boolean
  readonly testKeyBits?: number
  /** Overrides the host's backend (the `BigIntKernels` service; the TS kernel when the host composed none). */
  readonly kernels?: BigIntKernels
}

interface Loaded {
  readonly train: { readonly x: ReadonlyArray<Float64Array>; readonly y: ReadonlyArray<number> }
  readonly test: { readonly x: ReadonlyArray<Float64Array>; readonly y: ReadonlyArray<number> }
}

const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

const fromDataError = (session: ParticipantSession, stage: string) => (e: Spec.DataError) => failure(session, stage, e.reason, e.message)

const sameLabel = (value: number | string | undefined, fallback: number, text: string, numeric: number | undefined): boolean => {
  const v = value ?? fallback
  return typeof v === "number" && numeric !== undefined ? numeric === v : String(v) === text
}

/** Reads features and labels; rejects missing or non-numeric columns, NaN/∞ features and unexpected labels. */
export const readRows = (data: TabularData, params: Params): { x: Array<Float64Array>; y: Array<number> } | Spec.DataError => {
  const error = (reason: Spec.DataError["reason"], column: string, values: ReadonlyArray<string>, detail: string) =>
    new Spec.DataError({ reason, dataset: data.name, column, values: [...values], detail })
  for (const column of [...params.features, params.label.column]) {
    if (!data.columnNames.includes(column)) return error("MissingColumn", column, [], `no such column (has ${data.columnNames.join(", ")})`)
  }
  const columns: Array<Float64Array> = []
  for (const column of params.features) {
    if (!data.isNumeric(column)) return error("NotNumeric", column, [], "feature columns must be numeric")
    const values = data.numeric(column)
    const bad = values.findIndex((v) => !Number.isFinite(v))
    if (bad >= 0) return error("NonFiniteFeature", column, [String(values[bad])], `row ${bad + 1} holds ${values[bad]}; features must be finite numbers`)
    columns.push(values)
  }
  const labelText = data.strings(params.label.column)
  const labelNumbers = data.isNumeric(params.label.column) ? data.numeric(params.label.column) : undefined
  const y: Array<number> = []
  const unexpected = new Set<string>()
  for (let i = 0; i < data.rowCount; i++) {
    const text = labelText[i]!
    const numeric = labelNumbers?.[i]
    if (sameLabel(params.label.positive, 1, text, numeric)) y.push(1)
    else if (sameLabel(params.label.negative, 0, text, numeric)) y.push(-1)
    else unexpected.add(numeric !== undefined ? String(numeric) : text)
  }
  if (unexpected.size > 0) {
    const values = [...unexpected].slice(0, 10)
    return error("UnexpectedLabel", params.label.column, values,
      `classes ${values.join(", ")}${unexpected.size > 10 ? ", …" : ""} are neither the positive (${params.label.positive ?? 1}) nor the negative (${params.label.negative ?? 0}) class`)
  }
  const x = Array.from({ length: data.rowCount }, (_, i) => Float64Array.from(columns, (c) => c[i]!))
  return { x, y }
}

const scalingOf = (params: Params, request: { readonly scaling?: Model.Scaling | undefined }, features: number): Model.Scaling =>
  request.scaling ?? (params.scaling?.kind === "fixed" ? params.scaling : { mean: new Array(features).fill(0), std: new Array(features).fill(1) })

/** Standardized, bound-checked fixed-point rows. */
const encodeRows = (
  data: TabularData,
  params: Params,
  rows: ReadonlyArray<Float64Array>,
  scaling: Model.Scaling
): Array<Array<bigint>> | Spec.DataError => {
  const bound = params.featureBound ?? Spec.defaults.featureBound
  const scaleBits = Spec.hyperOf(params).scaleBits
  const out: Array<Array<bigint>> = []
  for (const raw of rows) {
    const x = Model.standardize(raw, scaling)
    const k = x.findIndex((v) => !(Math.abs(v) <= bound))
    if (k >= 0) {
      return new Spec.DataError({
        reason: "FeatureOutOfRange",
        dataset: data.name,
        column: params.features[k]!,
        values: [String(raw[k])],
        detail: `standardized value ${x[k]} exceeds the task's feature bound ${bound}`
      })
    }
    out.push(Model.encodeRow(x, scaleBits))
  }
  return out
}

/** Gaussian sample from the CSPRNG (Box–Muller). */
const gaussian = (): number => {
  const u = new Uint32Array(2)
  crypto.getRandomValues(u)
  const a = (u[0]! + 1) / 4294967297
  const b = u[1]! / 4294967296
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b)
}

type AggregationState =
  | { readonly kind: "request"; readonly request: typeof Spec.roundModel.request.Type }
  | { readonly kind: "vector"; readonly vector: ReadonlyArray<bigint> }
  | {
    readonly kind: "compared"
    readonly purpose: "train" | "test"
    readonly flips: Uint8Array
    /** [[w_1]] … [[w_d]], [[b]] of the round, for the violators' encrypted margin sum. */
    readonly model: ReadonlyArray<Paillier.Ciphertext>
    readonly x: ReadonlyArray<ReadonlyArray<bigint>>
    readonly y: ReadonlyArray<number>
    readonly publicKey: Keys.PublicKey
  }

interface Counters {
  exponentiations: number
  encryptions: number
  decryptions: number
  comparisons: number
  packedCiphertexts: number
}

const counters = (session: ParticipantSession): Counters => {
  let c = session.memory.get("svm/counters") as Counters | undefined
  if (c === undefined) session.memory.set("svm/counters", (c = { exponentiations: 0, encryptions: 0, decryptions: 0, comparisons: 0, packedCiphertexts: 0 }))
  return c
}

interface AnalystState {
  readonly keys: Keys.KeyPair
  model: Model.LinearModel
  /** Bound on how many pad ciphertexts get summed (every party of the task). */
  readonly providers: number
}

const aggregationKey = (id: string) => `svm/agg/${id}`

/** The aggregation this party was last asked to begin, with its place in the run (`position`). */
const currentKey = "svm/current"
interface Current {
  readonly aggregationId: string
  readonly position: number
}

/**
 * An aggregation's place in a run: the joint scaling first, the training rounds in order, the test last. The
 * coordinator begins one (`roundModel` in mode A, `compare` in mode B) only after the one before it ended.
 */
const positionOf = (hyper: Model.Hyper, request: { readonly purpose: "scaling" | "train" | "test"; readonly epoch: number; readonly batch: number }) =>
  request.purpose === "scaling" ? -1 : request.purpose === "test" ? Number.MAX_SAFE_INTEGER : request.epoch * hyper.batchesPerEpoch + request.batch

/**
 * The aggregation before `aggregationId` is over once the coordinator begins this one (they run in order), so
 * this party settles it: its secure-aggregation state (keys, shares, a masked input a lost reply left behind)
 * and SecureSVM's own (the round's request, comparisons or vector) are dropped, and later requests of it are
 * refused "Settled". A retried request of the current aggregation changes nothing; one of an earlier aggregation
 * (a straggler) is refused "Settled" rather than starting it again.
 */
const begin = (session: ParticipantSession, stage: string, aggregationId: string, position: number) => {
  const current = session.memory.get(currentKey) as Current | undefined
  if (current === undefined || current.aggregationId !== aggregationId) {
    if (current !== undefined && position <= current.position) {
      return Effect.fail(failure(session, stage, "Settled", `aggregation ${aggregationId} is over in attempt ${session.attempt} (${current.aggregationId} began)`))
    }
    if (current !== undefined) settleAggregation(session, current.aggregationId)
    session.memory.set(currentKey, { aggregationId, position } satisfies Current)
  }
  return Effect.void
}

/** Drops what this party holds of an aggregation that is over (see `begin`). */
const settleAggregation = (session: ParticipantSession, aggregationId: string) => {
  settle(session, aggregationId)
  session.memory.delete(aggregationKey(aggregationId))
}

export const handlers = (datasetName: string, params: Params, options: Options = {}) => {
  const hyper = Spec.hyperOf(params)
  const policy = { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }
  const kernelsNow: Effect.Effect<BigIntKernels> = options.kernels !== undefined ? Effect.succeed(options.kernels) : Kernels.BigIntKernels
  // Inline job tables per backend: their key and weight-table caches live as long as the handler table (the task).
  const fallbackJobs = new Map<BigIntKernels, ReturnType<typeof Blind.jobTable>>()
  const inlineJobs = (kernels: BigIntKernels) => {
    let table = fallbackJobs.get(kernels)
    if (table === undefined) fallbackJobs.set(kernels, (table = Blind.jobTable(kernels, policy)))
    return table
  }
  const s2 = Model.scaleOf(2 * hyper.scaleBits)
  const kappa = params.kappa ?? Spec.defaults.kappa
  const featureCount = params.features.length

  const runJobs = (session: ParticipantSession, stage: string, job: string, inputs: ReadonlyArray<Uint8Array>) =>
    Effect.gen(function*() {
      const kernels = yield* kernelsNow
      const runner = Option.getOrElse(yield* Effect.serviceOption(JobRunner), () => inlineRunner(inlineJobs(kernels)))
      return yield* Effect.mapError(runner.runAll(job, inputs), (e) => failure(session, stage, "JobFailed", e.message))
    })
  const runnerSize = Effect.map(Effect.serviceOption(JobRunner), (r) => Option.match(r, { onNone: () => 1, onSome: (s) => s.size }))

  const attempt = <A>(session: ParticipantSession, stage: string, f: () => A) =>
    Effect.try({ try: f, catch: (e) => failure(session, stage, "LocalComputation", e instanceof Error ? e.message : String(e)) })

  const load = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      const cached = session.memory.get("svm/data") as (Loaded & { data: TabularData }) | undefined
      if (cached !== undefined) return cached
      const data = yield* (yield* LocalData).dataset(datasetName)
      const rows = readRows(data, params)
      if (rows instanceof Spec.DataError) return yield* Effect.fail(fromDataError(session, stage)(rows))
      const { train, test } = Model.split(rows.x.length, hyper.seed, hyper.testFraction)
      if (train.length === 0) {
        return yield* Effect.fail(failure(session, stage, "EmptySplit", `dataset ${data.name} has no training rows`))
      }
      const pick = (indices: ReadonlyArray<number>) => ({ x: indices.map((i) => rows.x[i]!), y: indices.map((i) => rows.y[i]!) })
      const loaded = { data, train: pick(train), test: pick(test) }
      session.memory.set("svm/data", loaded)
      return loaded
    })

  const encoded = (session: ParticipantSession, stage: string, loaded: Loaded & { data: TabularData }, rows: ReadonlyArray<Float64Array>, scaling: Model.Scaling) => {
    const out = encodeRows(loaded.data, params, rows, scaling)
    return out instanceof Spec.DataError ? Effect.fail(fromDataError(session, stage)(out)) : Effect.succeed(out)
  }

  /** Rows of a round: the batch ("train") or the whole test split ("test"). */
  const roundRows = (loaded: Loaded, purpose: "train" | "test", epoch: number, batch: number) => {
    if (purpose === "test") return loaded.test
    const indices = Model.batchRows(loaded.train.x.length, hyper, epoch, batch)
    return { x: indices.map((i) => loaded.train.x[i]!), y: indices.map((i) => loaded.train.y[i]!) }
  }

  // ---------- secure-aggregation input: whatever the preceding stage prepared for this aggregationId ----------
  const input = (session: ParticipantSession, context: { readonly aggregationId: string }) =>
    Effect.gen(function*() {
      const stage = "secagg.masked-input"
      const state = session.memory.get(aggregationKey(context.aggregationId)) as AggregationState | undefined
      if (state === undefined) return yield* Effect.fail(failure(session, stage, "MissingState", `nothing prepared for ${context.aggregationId}`))
      if (state.kind === "vector") return state.vector
      if (state.kind !== "request") return yield* Effect.fail(failure(session, stage, "MissingState", `indicators of ${context.aggregationId} never arrived`))
      const request = state.request
      const loaded = yield* load(session, stage)
      if (request.purpose === "scaling") {
        // [n, Σx_k (scale S), Σx_k² (scale S²)] over the training rows, raw units (PROTOCOLS §3 item 3).
        return yield* attempt(session, stage, () => {
          const sums = new Array<bigint>(featureCount).fill(0n)
          const squares = new Array<bigint>(featureCount).fill(0n)
          for (const x of loaded.train.x) {
            for (let k = 0; k < featureCount; k++) {
              const v = FixedPoint.scale(hyper.scaleBits, x[k]!)
              sums[k]! += v
              squares[k]! += v * v
            }
          }
          return [BigInt(loaded.train.x.length), ...sums, ...squares].map((v) => FixedPoint.wrap(ring, v))
        })
      }
      const rows = roundRows(loaded, request.purpose, request.epoch, request.batch)
      const xs = yield* encoded(session, stage, loaded, rows.x, scalingOf(params, request, featureCount))
      const model = Model.encodeModel(request.model ?? Model.initialModel(featureCount), hyper.scaleBits)
      return yield* attempt(session, stage, () => {
        if (request.purpose === "test") {
          const c = Model.confusion(rows.y, xs.map((x) => Model.score(model, x) >= 0n))
          return [c.tp, c.fp, c.fn, c.tn].map((v) => FixedPoint.wrap(ring, v))
        }
        const vector = Model.toVector(Model.localTotals(model, xs, rows.y, hyper.scaleBits))
        if (params.noise !== undefined) {
          // Distributed Gaussian noise: each of the n providers adds σ/√n, so the total carries N(0, σ²).
          const sigma = params.noise.sigma / Math.sqrt(session.participants.length)
          for (let k = 0; k <= featureCount + 1; k++) {
            const bits = k === 0 ? 2 * hyper.scaleBits : k <= featureCount ? hyper.scaleBits : 0
            vector[k] = vector[k]! + BigInt(Math.round(gaussian() * sigma * 2 ** bits))
          }
        }
        return vector.map((v) => FixedPoint.wrap(ring, v))
      })
    })

  const prepare = handler(Spec.prepare, (_request, session) =>
    Effect.as(load(session, Spec.prepare.name), { ready: true as const }))

  const roundModel = handler(Spec.roundModel, (request, session) =>
    Effect.gen(function*() {
      yield* load(session, Spec.roundModel.name)
      yield* begin(session, Spec.roundModel.name, request.aggregationId, positionOf(hyper, request))
      session.memory.set(aggregationKey(request.aggregationId), { kind: "request", request } satisfies AggregationState)
      return { ready: true as const }
    }))

  // ---------- Mode B, provider ----------
  const publicKeyOf = (session: ParticipantSession, bytes: Uint8Array, kernels: BigIntKernels) => {
    const cached = session.memory.get("svm/pk") as { bytes: Uint8Array; key: Keys.PublicKey } | undefined
    if (cached !== undefined && cached.bytes.length === bytes.length && cached.bytes.every((b, i) => b === bytes[i])) return cached.key
    const key = Serialization.decodePublicKey(bytes, { ...policy, kernels })
    session.memory.set("svm/pk", { bytes, key })
    return key
  }

  /** The provider's pad randomness for this key, kept with the task (its powers cost one exponentiation to make). */
  const padRandomnessOf = (session: ParticipantSession, pk: Keys.PublicKey, kernels: BigIntKernels) => {
    const cached = session.memory.get("svm/pad-randomness") as { key: Keys.PublicKey; source: RandomnessSource } | undefined
    if (cached !== undefined && cached.key === pk) return cached.source
    const source = Blind.padRandomnessFor(pk, kernels)
    session.memory.set("svm/pad-randomness", { key: pk, source })
    return source
  }

  const compare = handler(Spec.compare, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.compare.name
      const loaded = yield* load(session, stage)
      yield* begin(session, stage, request.aggregationId, positionOf(hyper, request))
      const rows = roundRows(loaded, request.purpose, request.epoch, request.batch)
      const xs = yield* encoded(session, stage, loaded, rows.x, scalingOf(params, request, featureCount))
      const kernels = yield* kernelsNow
      const pk = yield* attempt(session, stage, () => publicKeyOf(session, request.publicKey, kernels))
      const layout = yield* attempt(session, stage, () => Blind.layoutFor(pk, request.model.slotBits))
      // The analyst's model and copies validated here, once: the blinding jobs take them as checked (Blind.ts).
      const model = yield* attempt(session, stage, () => Serialization.decodeCiphertexts(pk, request.model.ciphertexts))
      if (request.model.shifted !== undefined && request.model.shifted.length > 0) yield* attempt(session, stage, () => Serialization.decodeCiphertexts(pk, request.model.shifted!))
      // Test rows are scored, not margined: y = +1 and θ = 0 give I = [w·x + b < 0].
      const labels = request.purpose === "test" ? rows.y.map(() => 1) : rows.y
      const chunks = Math.ceil(xs.length / layout.slots)
      const jobs = Math.max(1, Math.min(chunks, yield* runnerSize))
      const inputs: Array<Uint8Array> = []
      const bounds: Array<readonly [number, number]> = []
      for (let j = 0; j < jobs; j++) {
        const from = Math.floor((j * chunks) / jobs) * layout.slots
        const to = Math.min(xs.length, Math.floor(((j + 1) * chunks) / jobs) * layout.slots)
        if (to <= from) continue
        bounds.push([from, to])
        inputs.push(Blind.blindCompareInput({
          publicKey: request.publicKey,
          model: request.model.ciphertexts,
          rows: xs.slice(from, to).flatMap((x, i) => x.map((v) => BigInt(labels[from + i]!) * v)),
          labels: labels.slice(from, to),
          theta: request.purpose === "test" ? 0n : s2,
          kappa,
          slotBits: request.model.slotBits,
          shifted: request.model.shifted ?? new Uint8Array()
        }))
      }
      const outputs = yield* runJobs(session, stage, Blind.JobNames.blindCompare, inputs)
      const decoded = yield* attempt(session, stage, () => outputs.map((o) => Blind.decodeBlindOutput(pk, o)))
      const flips = new Uint8Array(xs.length)
      decoded.forEach((o, j) => flips.set(o.flips, bounds[j]![0]))
      const packed = decoded.flatMap((o) => o.packed)
      const count = counters(session)
      count.exponentiations += decoded.reduce((s, o) => s + o.exponentiations, 0)
      count.comparisons += xs.length
      count.packedCiphertexts += packed.length
      session.memory.set(aggregationKey(request.aggregationId), {
        kind: "compared",
        purpose: request.purpose,
        flips,
        model,
        x: xs,
        y: rows.y,
        publicKey: pk
      } satisfies AggregationState)
      return { packed: Serialization.encodeCiphertexts(pk, packed), count: xs.length }
    }))

  const indicators = handler(Spec.indicators, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.indicators.name
      const state = session.memory.get(aggregationKey(request.aggregationId)) as AggregationState | undefined
      if (state?.kind !== "compared") return yield* Effect.fail(failure(session, stage, "MissingState", `no comparisons for ${request.aggregationId}`))
      const kernels = yield* kernelsNow
      const beta = yield* attempt(session, stage, () => Blind.unpackBits(request.beta, state.flips.length))
      // §5.4 Mode B step 5: I = β XOR [s = −1].
      const below = Array.from(beta, (b, i) => (b ^ state.flips[i]!) === 1)
      if (state.purpose === "test") {
        const c = Model.confusion(state.y, below.map((b) => !b))
        session.memory.set(aggregationKey(request.aggregationId), { kind: "vector", vector: [c.tp, c.fp, c.fn, c.tn].map((v) => FixedPoint.wrap(ring, v)) } satisfies AggregationState)
        return { exponentiations: 0, encryptions: 0 }
      }
      return yield* attempt(session, stage, () => {
        const totals = Model.totalsFromIndicators(state.x, state.y, below, undefined, hyper.scaleBits)
        const vector = Model.toVector(totals)
        // One-time pads R (mod 2^128) hide the totals from the coordinator that unmasks the secure aggregation;
        // the analyst removes ΣR with Σ[[R − H·e_0]] and so learns the totals, the hinge sum H included.
        const pads = vector.map(() => randomBits(RING_BITS))
        const masked = vector.map((v, k) => ((((k === 0 ? 0n : v) + pads[k]!) % ring.modulus) + ring.modulus) % ring.modulus)
        const pk = state.publicKey
        const layout = padLayout(pk, session.participants.length)
        const values = pads.map((r, k) => (k === 0 ? r - s2 * totals.violators : r))
        const chunks = Array.from({ length: Math.ceil(values.length / layout.slots) }, (_, j) => values.slice(j * layout.slots, (j + 1) * layout.slots))
        const randomness = padRandomnessOf(session, pk, kernels)
        const [first, ...rest] = chunks.map((chunk) => Packing.encryptPacked(pk, layout, chunk, randomness))
        // Add the violators' margins, so slot 0 holds R_0 − Σ(S² − a_i): Σ_{I_i} a_i = Σ_k w_k·(Σ_{I_i} y_i·x_ik)
        // + b·Σ_{I_i} y_i is one linear form over the round's [[w]], [[b]] (one multi-exponentiation with short
        // exponents), not a product of per-row margins that the blinding job would have to hand back.
        const sums = new Array<bigint>(featureCount + 1).fill(0n)
        for (let i = 0; i < below.length; i++) {
          if (!below[i]) continue
          const y = BigInt(state.y[i]!)
          const x = state.x[i]!
          for (let k = 0; k < featureCount; k++) sums[k]! += y * x[k]!
          sums[featureCount]! += y
        }
        const violated = sums.some((e) => e !== 0n)
        const pad = violated ? Paillier.add(first!, Paillier.linearCombination(state.model.map((c, k) => [c, sums[k]!] as const), kernels)) : first!
        const exponentiations = violated ? 1 : 0
        session.memory.set(aggregationKey(request.aggregationId), { kind: "vector", vector: masked } satisfies AggregationState)
        const count = counters(session)
        count.encryptions += 1
        count.encryptions += rest.length
        // No separate re-randomisation: `first` is a fresh encryption (ρ = h_s^r, r fresh), so the product already
        // carries a fresh ρ times the margins' — distributed as a re-randomised ciphertext of the same plaintext.
        return { encryptedPad: Serialization.encodeCiphertexts(pk, [pad, ...rest]), exponentiations, encryptions: chunks.length }
      })
    }))

  const report = handler(Spec.report, (_request, session) =>
    Effect.sync(() => {
      // Mode B asks for the report after the test aggregation ended: the last one is over too, and none begins again.
      const current = session.memory.get(currentKey) as Current | undefined
      if (current !== undefined && current.position !== Number.POSITIVE_INFINITY) settleAggregation(session, current.aggregationId)
      session.memory.set(currentKey, { aggregationId: Spec.report.name, position: Number.POSITIVE_INFINITY } satisfies Current)
      const c = counters(session)
      return { exponentiations: c.exponentiations, encryptions: c.encryptions, comparisons: c.comparisons, packedCiphertexts: c.packedCiphertexts }
    }))

  // ---------- Mode B, analyst (C) ----------
  const analystState = (session: ParticipantSession, stage: string) => {
    const state = session.memory.get("svm/analyst") as AnalystState | undefined
    return state === undefined ? Effect.fail(failure(session, stage, "MissingState", "the analyst was not set up")) : Effect.succeed(state)
  }

  const encryptModel = (state: AnalystState, kernels: BigIntKernels) => {
    const pk = state.keys.publicKey
    const m = Model.encodeModel(state.model, hyper.scaleBits)
    const bound = BigInt(Math.ceil((params.featureBound ?? Spec.defaults.featureBound) * 2 ** hyper.scaleBits))
    const slotBits = Blind.slotBitsFor(pk, m.weights, m.bias, bound, s2, kappa)
    const randomness = Blind.modelRandomnessFor(state.keys.privateKey, kernels)
    const values = [...m.weights, m.bias]
    const cts = values.map((v) => Paillier.encryptSigned(pk, v, randomness))
    const shifted = Blind.shiftedCopies(pk, values, slotBits, randomness).flat()
    counters0.encryptions += cts.length + shifted.length
    return { ciphertexts: Serialization.encodeCiphertexts(pk, cts), slotBits, ...(shifted.length > 0 ? { shifted: Serialization.encodeCiphertexts(pk, shifted) } : {}) }
  }
  // The analyst's own counters (its memory is per task; this object is per handler table, i.e. per task too).
  const counters0 = { encryptions: 0, decryptions: 0 }

  const setup = handler(Spec.setup, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.setup.name
      const kernels = yield* kernelsNow
      const primes = (yield* Primes).generate
      const keys = yield* Effect.mapError(Keys.generate({ bits: options.testKeyBits ?? params.keyBits ?? Keys.DEFAULT_BITS, ...policy, primes, kernels }), (e) => failure(session, stage, "KeyGeneration", e.message))
      const state: AnalystState = { keys, model: Model.initialModel(params.features.length), providers: session.participants.length }
      session.memory.set("svm/analyst", state)
      const model = yield* attempt(session, stage, () => encryptModel(state, kernels))
      return { publicKey: Serialization.encodePublicKey(keys.publicKey), model }
    }))

  const decryptAll = (session: ParticipantSession, stage: string, sk: Keys.PrivateKey, cts: ReadonlyArray<Paillier.Ciphertext>) =>
    Effect.gen(function*() {
      const size = yield* runnerSize
      const parts = Math.max(1, Math.min(size, cts.length))
      const groups = Array.from({ length: parts }, (_, j) => cts.slice(Math.floor((j * cts.length) / parts), Math.floor(((j + 1) * cts.length) / parts)))
      const outputs = yield* runJobs(session, stage, PaillierJobs.JobNames.decryptBatch, groups.map((g) => PaillierJobs.decryptBatchInput(sk, g)))
      counters0.decryptions += cts.length
      return yield* attempt(session, stage, () => outputs.flatMap((o) => Serialization.decodePlaintexts(sk.publicKey, o)))
    })

  const decide = handler(Spec.decide, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.decide.name
      const state = yield* analystState(session, stage)
      const pk = state.keys.publicKey
      const layout = yield* attempt(session, stage, () => Blind.layoutFor(pk, request.slotBits))
      const batches = yield* attempt(session, stage, () => request.batches.map((b) => ({ ...b, cts: Serialization.decodeCiphertexts(pk, b.packed) })))
      const plaintexts = yield* decryptAll(session, stage, state.keys.privateKey, batches.flatMap((b) => b.cts))
      let offset = 0
      const bits = []
      for (const b of batches) {
        const mine = plaintexts.slice(offset, offset + b.cts.length)
        offset += b.cts.length
        const beta = yield* attempt(session, stage, () => Blind.signs(layout, mine, pk, b.count))
        bits.push({ provider: b.provider, beta: Blind.packBits(beta) })
      }
      return { bits }
    }))

  const update = handler(Spec.update, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.update.name
      const state = yield* analystState(session, stage)
      const pk = state.keys.publicKey
      const padCts = yield* attempt(session, stage, () => Serialization.decodeCiphertexts(pk, request.encryptedPads))
      const padPlain = yield* decryptAll(session, stage, state.keys.privateKey, padCts)
      const next = yield* attempt(session, stage, () => {
        const layout = padLayout(pk, state.providers)
        const length = Model.totalsLength(featureCount)
        const pads = padPlain.flatMap((m, j) => Packing.unpack(layout, Paillier.toSigned(pk, m), Math.min(layout.slots, length - j * layout.slots)))
        if (request.maskedTotals.length !== pads.length) throw new RangeError(`expected ${pads.length} masked totals, got ${request.maskedTotals.length}`)
        // masked − Σpad: slot 0 gives Σ H, the others Σ totals (mod 2^128, then signed).
        const totals = request.maskedTotals.map((m, k) => FixedPoint.unwrap(ring, m - pads[k]!))
        return Model.step(state.model, Model.fromVector(totals, featureCount), hyper, request.round)
      })
      state.model = next.model
      const kernels = yield* kernelsNow
      const model = yield* attempt(session, stage, () => encryptModel(state, kernels))
      return { cost: next.cost, done: next.done, model }
    }))

  const finishStage = handler(Spec.finish, (_request, session) =>
    Effect.map(analystState(session, Spec.finish.name), (state) => ({
      model: { weights: [...state.model.weights], bias: state.model.bias },
      encryptions: counters0.encryptions,
      decryptions: counters0.decryptions
    })))

  return [
    prepare,
    roundModel,
    compare,
    indicators,
    report,
    setup,
    decide,
    update,
    finishStage,
    ...secureAggregationHandlers(input)
  ]
}
