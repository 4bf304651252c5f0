/**
 * The arithmetic both roles share: parameter checks, the participant's feature matrix and validation split,
 * the fixed-point layout of a round's aggregated vector, cohort sampling and round digests.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { float32ToBytes } from "../../models/ModelArtifact.ts"
import type { Loss, LocalMatrix } from "./ModelRuntime.ts"
import type { Params, ValidationMetrics } from "./spec.ts"
import { defaults, InvalidParams, ringBits, scaleBits, UnexpectedLabels } from "./spec.ts"
import * as Topology from "./Topology.ts"

export const ring = FixedPoint.make({ scaleBits, modulus: 1n << BigInt(ringBits) })

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
 * Layout of a round's aggregated vector: P update values, then trainSamples, validation samples, validation
 * loss sum and correct count. Everything is fixed-point at 2^scaleBits except the two counts.
 */
export const vectorLength = (parameters: number) => parameters + 4

/** Largest |value·2^scaleBits| one contributor may add so that `cohort` of them cannot wrap the ring. */
export const headroom = (cohort: number): number => Number(ring.bound) / Math.max(1, cohort)

/** @throws RangeError("Overflow"/"NotFinite") when an element cannot be encoded with headroom for the cohort. */
export const encodeVector = (update: Float64Array, trainSamples: number, validation: ValidationMetrics, cohort: number): Array<bigint> => {
  const limit = headroom(cohort)
  const factor = 2 ** scaleBits
  const out = new Array<bigint>(update.length + 4)
  for (let i = 0; i < update.length; i++) {
    const scaled = Math.round(update[i]! * factor)
    if (!Number.isFinite(scaled)) throw new RangeError(`NotFinite: update element ${i} is ${update[i]}`)
    if (Math.abs(scaled) >= limit) throw new RangeError(`Overflow: update element ${i} (${update[i]}) leaves no headroom for ${cohort} contributors in a 2^${ringBits} ring`)
    // ringBits = 64: two's complement is the residue mod 2^64 (|scaled| < 2^63 was checked above).
    out[i] = BigInt.asUintN(ringBits, BigInt(scaled))
  }
  const tail = [trainSamples, validation.samples]
  out[update.length] = FixedPoint.wrap(ring, BigInt(tail[0]!))
  out[update.length + 1] = FixedPoint.wrap(ring, BigInt(tail[1]!))
  out[update.length + 2] = FixedPoint.encode(ring, validation.lossSum)
  out[update.length + 3] = FixedPoint.encode(ring, validation.correct)
  return out
}

export interface Decoded {
  readonly update: Float64Array
  readonly trainSamples: number
  readonly validation: ValidationMetrics
}

export const decodeVector = (sum: ReadonlyArray<bigint>, parameters: number): Decoded => {
  const update = new Float64Array(parameters)
  const factor = 2 ** scaleBits
  for (let i = 0; i < parameters; i++) update[i] = Number(BigInt.asIntN(ringBits, sum[i]!)) / factor
  return {
    update,
    trainSamples: Number(FixedPoint.unwrap(ring, sum[parameters]!)),
    validation: {
      samples: Number(FixedPoint.unwrap(ring, sum[parameters + 1]!)),
      lossSum: Number(FixedPoint.unwrap(ring, sum[parameters + 2]!)) / factor,
      correct: Number(FixedPoint.unwrap(ring, sum[parameters + 3]!)) / factor
    }
  }
}

/** What a participant contributes: n·w (FedAvg/FedProx), or the clipped delta w − w_g (with DP). */
export const contribution = (local: Float32Array, global: Float32Array, trainSamples: number, dp: boolean): Float64Array => {
  const out = new Float64Array(local.length)
  for (let i = 0; i < local.length; i++) out[i] = dp ? local[i]! - global[i]! : local[i]! * trainSamples
  return out
}

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
