/**
 * The arithmetic both roles share: parameter checks, the participant's feature matrix and validation split,
 * the fixed-point layout of a round's aggregated vector, cohort sampling and round digests.
 *
 * What a round aggregates: participant i contributes c_i = (n_i/S)·(w_i − w_g) — its delta from the global
 * model, weighted by its row count n_i over a public weight scale S — and the coordinator sets
 * w ← w_g + (S/Σn_i)·Σc_i, which is FedAvg's sample-weighted average exactly (S cancels). The coordinator picks
 * S as the expected Σn_i of the cohort (the previous round's rows per contributor × cohort size), so Σc_i is
 * about one averaged delta whatever the row counts, and that is what lets it fit a 32-bit ring:
 *  - narrow ring, Z_2^32 at 2^20 (rounds after the first of an attempt, no DP): each participant checks
 *    |c_i|·2^20 < 2^31/parties, so no sum of up to `parties` contributions wraps. With equal shares
 *    (n_i/S ≈ 1/parties) that is |Δ| < 2048 per weight per round, for a participant with a fraction f of the
 *    rows |Δ| < 2048/(f·parties); a larger step means divergence, and the participant fails with
 *    InvalidUpdateOverflow rather than wrap. Rounding: each c_i is within 2^-21, so the averaged delta is within
 *    contributors·2^-21·S/Σn_i (≈ 5·10^-6 for 10 contributors) of the exact one — noise far below SGD's own.
 *  - wide ring, Z_2^64 at 2^16 (S = 1 in the first round of an attempt, where no row count is known yet; with
 *    DP, where c_i is the clipped noisy delta and the noise has no a-priori bound): |c_i|·2^16 < 2^63/parties.
 * Half the ring width halves mask expansion, masking arithmetic and the bytes sent (masked input 400 kB
 * rather than 800 kB for 100k parameters). Both rings stay exact: the decoded sum is the sum of the rounded
 * contributions, identical to what plain integer addition gives.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import type { TabularData } from "../../data/Tabular.ts"
import { float32ToBytes } from "../../models/ModelArtifact.ts"
import * as RingVector from "../secure-aggregation/RingVector.ts"
import type { Loss, LocalMatrix } from "./ModelRuntime.ts"
import type { Params, RingBits, ValidationMetrics } from "./spec.ts"
import { defaults, InvalidParams, metricScaleBits, narrowRing, UnexpectedLabels, wideRing } from "./spec.ts"
import * as Topology from "./Topology.ts"

/** The loss for the model's output layer, unless the params name one. */
export const lossOf = (params: Params, summary: Topology.Summary): Loss =>
  params.loss ?? (summary.outputUnits === 1 ? (summary.outputActivation === "sigmoid" ? "binaryCrossentropy" : "meanSquaredError") : "categoricalCrossentropy")

export const classesOf = (params: Params, summary: Topology.Summary): ReadonlyArray<string> | undefined => {
  if (params.classes) return params.classes
  const loss = lossOf(params, summary)
  if (loss === "meanSquaredError") return undefined
  return loss === "binaryCrossentropy" ? ["0", "1"] : Array.from({ length: summary.outputUnits }, (_, i) => String(i))
}

export interface Resolved {
  readonly params: Params
  readonly summary: Topology.Summary
  readonly loss: Loss
  readonly classes: ReadonlyArray<string> | undefined
  readonly clientsPerRound: number
  readonly minUpdates: number
}

/** Checks what the Schema cannot; returns the resolved settings or the first problem. */
export const resolve = (params: Params, parties: number): Resolved | InvalidParams => {
  let summary: Topology.Summary
  try {
    summary = Topology.summarize(params.model)
  } catch (error) {
    return new InvalidParams({ field: "model", detail: error instanceof Topology.InvalidTopology ? error.detail : String(error) })
  }
  if (summary.inputWidth !== params.featureColumns.length) {
    return new InvalidParams({ field: "featureColumns", detail: `the model takes ${summary.inputWidth} inputs, ${params.featureColumns.length} feature columns given` })
  }
  if (new Set(params.featureColumns).size !== params.featureColumns.length) return new InvalidParams({ field: "featureColumns", detail: "a column is listed twice" })
  if (params.featureColumns.includes(params.labelColumn)) return new InvalidParams({ field: "labelColumn", detail: "the label is also a feature" })
  const loss = lossOf(params, summary)
  const classes = classesOf(params, summary)
  if (loss === "categoricalCrossentropy" && classes!.length !== summary.outputUnits) {
    return new InvalidParams({ field: "classes", detail: `${classes!.length} classes for ${summary.outputUnits} output units` })
  }
  if (loss === "binaryCrossentropy" && (summary.outputUnits !== 1 || classes!.length !== 2)) {
    return new InvalidParams({ field: "classes", detail: "binary cross-entropy needs one output unit and two classes" })
  }
  if (params.scaling && (params.scaling.mean.length !== params.featureColumns.length || params.scaling.std.length !== params.featureColumns.length || params.scaling.std.some((s) => s === 0))) {
    return new InvalidParams({ field: "scaling", detail: "needs one mean and one non-zero std per feature column" })
  }
  if (params.proximalMu !== undefined && params.strategy !== "fedprox") return new InvalidParams({ field: "proximalMu", detail: "only with strategy fedprox" })
  if (parties < 2) return new InvalidParams({ field: "parties", detail: `needs at least 2 parties, got ${parties}` })
  const clientsPerRound = params.clientsPerRound ?? parties
  if (clientsPerRound > parties) return new InvalidParams({ field: "clientsPerRound", detail: `${clientsPerRound} exceeds the ${parties} parties` })
  const minUpdates = params.minUpdatesPerRound ?? clientsPerRound
  if (minUpdates > clientsPerRound) return new InvalidParams({ field: "minUpdatesPerRound", detail: `${minUpdates} exceeds clientsPerRound ${clientsPerRound}` })
  if ((params.aggregation ?? defaults.aggregation) === "secure" && (minUpdates < 2 || 2 * minUpdates <= clientsPerRound)) {
    return new InvalidParams({
      field: "minUpdatesPerRound",
      detail: `secure aggregation needs at least 2 updates and a strict majority of the ${clientsPerRound} sampled (unmasking threshold), got ${minUpdates}`
    })
  }
  if ((params.aggregation ?? defaults.aggregation) === "ckks") {
    // CkksAggregation.ts: one contribution would be the decrypted "sum"; DP weights are not sample counts.
    if (minUpdates < 2) return new InvalidParams({ field: "minUpdatesPerRound", detail: `ckks aggregation needs at least 2 updates per round, got ${minUpdates}` })
    if (params.privacy) return new InvalidParams({ field: "privacy", detail: "not available with ckks aggregation" })
  } else if (params.keyHolder !== undefined) {
    return new InvalidParams({ field: "keyHolder", detail: "only with ckks aggregation" })
  }
  if (params.secagg !== undefined && (params.aggregation ?? defaults.aggregation) !== "secure") {
    return new InvalidParams({ field: "secagg", detail: "only with secure aggregation" })
  }
  return { params, summary, loss, classes, clientsPerRound, minUpdates }
}

/** Seeded PRNG (mulberry32) for data splits and cohort order: reproducible, never for keys. */
export const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface Split {
  readonly train: LocalMatrix
  readonly validation: LocalMatrix
}

/** Features in column order, standardized by `scaling`. Rows with a non-finite value are an error. */
export const featureMatrix = (data: TabularData, columns: ReadonlyArray<string>, scaling: Params["scaling"]): Float32Array => {
  const out = new Float32Array(data.rowCount * columns.length)
  columns.forEach((column, j) => {
    const values = data.numeric(column)
    const mean = scaling?.mean[j] ?? 0
    const std = scaling?.std[j] ?? 1
    for (let i = 0; i < values.length; i++) out[i * columns.length + j] = (values[i]! - mean) / std
  })
  return out
}

/**
 * The participant's matrix, split into train and validation by a seeded shuffle.
 * @throws UnexpectedLabels naming every label value the model has no output for.
 */
export const localSplit = (data: TabularData, resolved: Resolved, key: string): Split => {
  const { params, classes } = resolved
  const width = params.featureColumns.length
  const features = featureMatrix(data, params.featureColumns, params.scaling)
  const labels = new Float32Array(data.rowCount)
  if (classes === undefined) {
    labels.set(data.numeric(params.labelColumn))
  } else {
    const index = new Map(classes.map((c, i) => [c, i] as const))
    const unexpected = new Set<string>()
    const raw = data.strings(params.labelColumn)
    for (let i = 0; i < raw.length; i++) {
      const at = index.get(raw[i]!)
      if (at === undefined) unexpected.add(raw[i]!)
      else labels[i] = at
    }
    if (unexpected.size > 0) throw new UnexpectedLabels({ column: params.labelColumn, values: [...unexpected].sort().slice(0, 20), expected: [...classes] })
  }
  const order = Array.from({ length: data.rowCount }, (_, i) => i)
  const random = prng((params.seed ?? defaults.seed) ^ 0x5eed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const validationRows = Math.floor(data.rowCount * (params.validationSplit ?? defaults.validationSplit))
  const take = (rows: ReadonlyArray<number>, name: string): LocalMatrix => {
    const f = new Float32Array(rows.length * width)
    const l = new Float32Array(rows.length)
    rows.forEach((r, i) => {
      f.set(features.subarray(r * width, (r + 1) * width), i * width)
      l[i] = labels[r]!
    })
    return { key: `${key}/${name}`, rows: rows.length, width, features: f, labels: l }
  }
  return { validation: take(order.slice(0, validationRows), "validation"), train: take(order.slice(validationRows), "train") }
}

/**
 * Layout of a round's aggregated vector: P update values at the ring's scale, then four metrics — trainSamples,
 * validation samples, validation loss sum and correct count (the last two at 2^metricScaleBits) — each split
 * as v = hi·2^16 + lo with lo ∈ [0, 2^16), so the sum of up to 2^15 lows never wraps and a metric total may
 * reach 2^47/parties even in the 32-bit ring.
 */
const METRICS = 4
const SPLIT = 2 ** 16
export const vectorLength = (parameters: number) => parameters + 2 * METRICS

export const scaleBitsOf = (bits: RingBits): number => (bits === narrowRing.bits ? narrowRing.scaleBits : wideRing.scaleBits)

/**
 * Bound on |value·2^scale| for one contributor: `cohort` of them cannot wrap the ring, and each stays a safe
 * integer (the 64-bit ring's 2^63/cohort exceeds 2^53; encoding works in doubles, not bigints).
 */
export const headroom = (cohort: number, bits: RingBits): number => Math.min(2 ** (bits - 1) / Math.max(1, cohort), 2 ** 53)

/** The error for update element i whose raw value `raw` scaled to `value` fails the headroom check. */
const elementProblem = (i: number, raw: number, value: number, cohort: number, bits: RingBits) =>
  Number.isFinite(value)
    ? new RangeError(`Overflow: update element ${i} (${raw}) leaves no headroom for ${cohort} contributors in a 2^${bits} ring`)
    : new RangeError(`NotFinite: update element ${i} is ${raw}`)

/** Writes the four metrics (layout above) from `offset` on, as signed integers; checks each fits the ring. */
const writeMetrics = (scaled: Int32Array | Float64Array, offset: number, trainSamples: number, validation: ValidationMetrics, cohort: number, bits: RingBits) => {
  const limit = headroom(cohort, bits)
  const metricFactor = 2 ** metricScaleBits
  const metrics = [trainSamples, validation.samples, Math.round(validation.lossSum * metricFactor), Math.round(validation.correct * metricFactor)]
  metrics.forEach((value, k) => {
    const high = Math.floor(value / SPLIT)
    if (!Number.isFinite(value) || Math.abs(high) >= limit || !Number.isSafeInteger(value)) throw new RangeError(`Overflow: metric ${k} (${value}) does not fit a 2^${bits} ring for ${cohort} contributors`)
    scaled[offset + 2 * k] = value - high * SPLIT
    scaled[offset + 2 * k + 1] = high
  })
}

/** @throws RangeError("Overflow"/"NotFinite") when an element cannot be encoded with headroom for the cohort. */
export const encodeVector = (update: Float64Array, trainSamples: number, validation: ValidationMetrics, cohort: number, bits: RingBits): RingVector.RingVector => {
  const limit = headroom(cohort, bits)
  const factor = 2 ** scaleBitsOf(bits)
  // The 32-bit ring (every round after an attempt's first) is written straight into the limbs: one pass, and
  // |value| < limit ≤ 2^31 makes the Int32 store exact two's complement.
  const narrow = bits === narrowRing.bits ? RingVector.zeros(vectorLength(update.length), bits) : undefined
  const scaled = narrow ? new Int32Array(narrow.limbs.buffer) : new Float64Array(vectorLength(update.length))
  for (let i = 0; i < update.length; i++) {
    const value = Math.round(update[i]! * factor)
    // One comparison in the loop (false for NaN too); the reason is worked out only on failure.
    if (!(value < limit && value > -limit)) throw elementProblem(i, update[i]!, value, cohort, bits)
    scaled[i] = value
  }
  writeMetrics(scaled, update.length, trainSamples, validation, cohort, bits)
  return narrow ?? RingVector.fromSignedIntegers(scaled, bits)
}

/**
 * `encodeVector(contribution(local, global, trainSamples, weightScale, false), …)`, element for element the same
 * vector (the same float64 operations in the same order), without the float64 contribution in between in the
 * 32-bit ring: one pass from the two float32 models into the limbs (the secure rounds' per-participant encoding;
 * the 8-byte-per-parameter intermediate was a second pass and, at 1M parameters, 8 MB of garbage per participant
 * and round). The 64-bit ring (an attempt's first round) takes the two-step path.
 * @throws RangeError("Overflow"/"NotFinite") as `encodeVector`.
 */
export const encodeContribution = (
  local: Float32Array,
  global: Float32Array,
  trainSamples: number,
  weightScale: number,
  validation: ValidationMetrics,
  cohort: number,
  bits: RingBits
): RingVector.RingVector => {
  if (bits !== narrowRing.bits) return encodeVector(contribution(local, global, trainSamples, weightScale, false), trainSamples, validation, cohort, bits)
  if (local.length !== global.length) throw new RangeError(`WrongShape: ${local.length} local weights, ${global.length} global`)
  const limit = headroom(cohort, bits)
  const factor = 2 ** scaleBitsOf(bits)
  const weight = trainSamples / weightScale
  const vector = RingVector.zeros(vectorLength(local.length), bits)
  const scaled = new Int32Array(vector.limbs.buffer)
  for (let i = 0; i < local.length; i++) {
    const value = Math.round((local[i]! - global[i]!) * weight * factor)
    if (!(value < limit && value > -limit)) throw elementProblem(i, (local[i]! - global[i]!) * weight, value, cohort, bits)
    scaled[i] = value
  }
  writeMetrics(scaled, local.length, trainSamples, validation, cohort, bits)
  return vector
}

export interface Decoded {
  readonly update: Float64Array
  readonly trainSamples: number
  readonly validation: ValidationMetrics
}

/** The contributors' summed vector (no bigint per element: the limbs are read as signed numbers directly). */
export const decodeVector = (sum: RingVector.RingVector, parameters: number): Decoded => {
  const bits = sum.bits as RingBits
  const update = RingVector.toSignedNumbers(sum, 0, parameters)
  const factor = 2 ** scaleBitsOf(bits)
  for (let i = 0; i < parameters; i++) update[i] = update[i]! / factor
  const tail = RingVector.toSignedNumbers(sum, parameters, vectorLength(parameters))
  const metric = (k: number) => tail[2 * k + 1]! * SPLIT + tail[2 * k]!
  const metricFactor = 2 ** metricScaleBits
  return {
    update,
    trainSamples: metric(0),
    validation: { samples: metric(1), lossSum: metric(2) / metricFactor, correct: metric(3) / metricFactor }
  }
}

/** c_i (module doc): (n_i/S)·(w_i − w_g), or the bare delta w_i − w_g that DP then clips and noises. */
export const contribution = (local: Float32Array, global: Float32Array, trainSamples: number, weightScale: number, dp: boolean): Float64Array => {
  const out = new Float64Array(local.length)
  const weight = dp ? 1 : trainSamples / weightScale
  for (let i = 0; i < local.length; i++) out[i] = (local[i]! - global[i]!) * weight
  return out
}

/** S for a round (module doc): the rows per contributor of the last round times the cohort, or 1 before any. */
export const weightScale = (previous: { readonly trainSamples: number; readonly contributors: ReadonlyArray<string> } | undefined, cohort: number): number =>
  previous === undefined || previous.trainSamples <= 0 || previous.contributors.length === 0 ? 1 : (previous.trainSamples / previous.contributors.length) * cohort

/** Why an update cannot be used (plain mode), or undefined. */
export const updateProblem = (weights: Float32Array, parameters: number): string | undefined => {
  if (weights.length !== parameters) return `WrongShape: ${weights.length} weights, the model has ${parameters}`
  const bad = weights.findIndex((w) => !Number.isFinite(w))
  return bad >= 0 ? `NotFinite: weight ${bad} is ${weights[bad]}` : undefined
}

/** k of the participants for a round, chosen by sha256(taskId, round): reproducible, spread over rounds. */
export const sampleCohort = (taskId: string, round: number, participants: ReadonlyArray<string>, k: number): Array<string> => {
  if (k >= participants.length) return [...participants]
  const rank = (p: string) => bytesToHex(sha256(utf8ToBytes(`${taskId}|${round}|${p}`)))
  const chosen = new Set([...participants].sort((a, b) => (rank(a) < rank(b) ? -1 : 1)).slice(0, k))
  return participants.filter((p) => chosen.has(p))
}

export const roundDigest = (round: number, weights: Float32Array): string =>
  "0x" + bytesToHex(sha256(concatBytes(utf8ToBytes(`jointly/fl/round|${round}|`), float32ToBytes(weights))))
