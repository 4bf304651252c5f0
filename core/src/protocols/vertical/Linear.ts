/**
 * The plaintext arithmetic of vertical linear models, shared by both roles and by the plaintext reference:
 * the train/test split and the mini-batch schedule (public, derived from seeds), a party's feature block
 * (standardized on its own training rows, clipped, constant columns dropped), fixed-point scores, and the two
 * update rules (PROTOCOLS.md §6.2 for the SVM; logistic regression with the Taylor sigmoid).
 *
 * Fixed point: features and weights are rounded to multiples of 2^-scaleBits (X = round(x·S), W = round(w·S)),
 * so a partial score W·X is an integer at scale S². The secure protocol computes exactly these integers.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import * as Metrics from "../../models/Metrics.ts"

export type ModelKind = "svm" | "logistic"

export interface Hyper {
  readonly model: ModelKind
  /** Step size η. */
  readonly eta: number
  /** Regulariser λ (PROTOCOLS.md §6 "Ours": separate from the step). */
  readonly lambda: number
  readonly batchSize: number
  /** Sample updates in total (the book's budget: 1500); iterations = ⌈updates / batchSize⌉. */
  readonly updates: number
  readonly scaleBits: number
}

export const iterationsOf = (h: Pick<Hyper, "updates" | "batchSize">): number => Math.ceil(h.updates / h.batchSize)

/** A deterministic stream of 32-bit words from a seed (SHA-256 in counter mode): public schedules only, never keys. */
const stream = (seed: Uint8Array) => {
  let counter = 0
  let block = new Uint8Array(0)
  let offset = 0
  return (): number => {
    if (offset + 4 > block.length) {
      const c = new Uint8Array(4)
      new DataView(c.buffer).setUint32(0, counter++)
      block = sha256(concatBytes(seed, c))
      offset = 0
    }
    const v = new DataView(block.buffer, block.byteOffset + offset, 4).getUint32(0)
    offset += 4
    return v
  }
}

/** Uniform index in [0, n) from a word stream (rejection, no modulo bias). */
const below = (next: () => number, n: number): number => {
  const limit = Math.floor(0x1_0000_0000 / n) * n
  for (;;) {
    const v = next()
    if (v < limit) return v % n
  }
}

/** Positions (in the common aligned order) of the test rows and the training rows, from the public split seed. */
export const split = (rows: number, testFraction: number, seed: number): { readonly train: ReadonlyArray<number>; readonly test: ReadonlyArray<number> } => {
  const next = stream(utf8ToBytes(`jointly/vertical/split|${seed}`))
  const order = Array.from({ length: rows }, (_, i) => i)
  for (let i = rows - 1; i > 0; i--) {
    const j = below(next, i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const testCount = Math.round(rows * testFraction)
  const test = order.slice(0, testCount).sort((a, b) => a - b)
  const train = order.slice(testCount).sort((a, b) => a - b)
  return { train, test }
}

/**
 * PROTOCOLS.md §6.4 (ours): the batch seed of an iteration from every party's revealed random integer,
 * Σ RPI mod 2^256 bound to the task and iteration, so no party alone (having committed first) steers it.
 */
export const batchSeed = (taskId: string, iteration: number, rpis: ReadonlyArray<bigint>): string => {
  const total = rpis.reduce((a, b) => a + b, 0n) % (1n << 256n)
  return "0x" + bytesToHex(sha256(utf8ToBytes(`jointly/vertical/batch|${taskId}|${iteration}|${total.toString(16)}`)))
}

/** H(RPI ‖ salt), bound to the task, iteration and party (§6.4 commit–reveal). */
export const rpiCommit = (taskId: string, iteration: number, party: string, r: { readonly rpi: bigint | string; readonly salt: Uint8Array }): string =>
  "0x" + bytesToHex(sha256(concatBytes(utf8ToBytes(`jointly/vertical/rpi|${taskId}|${iteration}|${party}|${r.rpi.toString()}|`), r.salt)))

/** `size` distinct indices into the training positions, drawn from a batch seed (the same for every party). */
export const batchOf = (seed: string, trainCount: number, size: number): Array<number> => {
  const next = stream(hexToBytes(seed.replace(/^0x/, "")))
  const picked = new Set<number>()
  const out: Array<number> = []
  const want = Math.min(size, trainCount)
  while (out.length < want) {
    const i = below(next, trainCount)
    if (!picked.has(i)) {
      picked.add(i)
      out.push(i)
    }
  }
  return out
}

export interface Block {
  /** Columns the party trains on (constant columns dropped; "(bias)" first at the label holder). */
  readonly columns: ReadonlyArray<string>
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
  /** Standardized, clipped rows (aligned order), one Float64Array per row. */
  readonly rows: ReadonlyArray<Float64Array>
  readonly constantColumns: ReadonlyArray<string>
  readonly clipped: number
}

export const BIAS = "(bias)"

export type BlockProblem = { readonly column: string; readonly detail: string }

/**
 * A party's feature block over its aligned rows: each column standardized with the mean and population std of
 * the training rows (the party holds whole columns, so this needs no cooperation), clipped to ±bound.
 * A constant column (std 0 on the training rows) carries no information: it is dropped and reported. A
 * missing or non-finite value fails: vertical training needs every cell of every aligned row.
 */
export const block = (
  columns: ReadonlyArray<{ readonly name: string; readonly values: ArrayLike<number> }>,
  rows: ReadonlyArray<number>,
  train: ReadonlyArray<number>,
  bound: number,
  withBias: boolean
): Block | BlockProblem => {
  const kept: Array<string> = []
  const mean: Array<number> = []
  const std: Array<number> = []
  const constant: Array<string> = []
  const values: Array<ArrayLike<number>> = []
  for (const column of columns) {
    let bad = 0
    for (const row of rows) if (!Number.isFinite(column.values[row]!)) bad++
    if (bad > 0) return { column: column.name, detail: `${bad} aligned row(s) hold an empty or non-finite value` }
    let sum = 0
    for (const p of train) sum += column.values[rows[p]!]!
    const m = sum / train.length
    let sq = 0
    for (const p of train) sq += (column.values[rows[p]!]! - m) ** 2
    const s = Math.sqrt(sq / train.length)
    if (!(s > 1e-12 * Math.max(1, Math.abs(m)))) {
      constant.push(column.name)
      continue
    }
    kept.push(column.name)
    mean.push(m)
    std.push(s)
    values.push(column.values)
  }
  let clipped = 0
  const out = rows.map((row) => {
    const x = new Float64Array(kept.length + (withBias ? 1 : 0))
    let k = 0
    if (withBias) x[k++] = 1
    for (let c = 0; c < kept.length; c++) {
      let v = (values[c]![row]! - mean[c]!) / std[c]!
      if (v > bound || v < -bound) {
        clipped++
        v = Math.max(-bound, Math.min(bound, v))
      }
      x[k++] = v
    }
    return x
  })
  return {
    columns: withBias ? [BIAS, ...kept] : kept,
    mean: withBias ? [0, ...mean] : mean,
    std: withBias ? [1, ...std] : std,
    rows: out,
    constantColumns: constant,
    clipped
  }
}

export const isProblem = (b: Block | BlockProblem): b is BlockProblem => "detail" in b

export const quantize = (x: number, scaleBits: number): bigint => BigInt(Math.round(x * 2 ** scaleBits))

/** W·X at scale S² for one row. */
export const partialScore = (w: ArrayLike<number>, x: ArrayLike<number>, scaleBits: number): bigint => {
  let z = 0n
  for (let k = 0; k < x.length; k++) z += quantize(w[k]!, scaleBits) * quantize(x[k]!, scaleBits)
  return z
}

/**
 * One mini-batch step on a party's own block from the decoded batch gradient `total` (integers at scale
 * S·scaleOfD, summed over the batch): SVM, Σ_j I_j·y_j·X_j (scale S); logistic, Σ_j D_j·X_j with
 * D_j = 4S²·(½ + z_j/4 − y_j) (scale 4S³).
 */
export const step = (h: Hyper, w: Float64Array, total: ReadonlyArray<bigint>, batch: number): Float64Array => {
  const S = 2 ** h.scaleBits
  const out = new Float64Array(w.length)
  for (let k = 0; k < w.length; k++) {
    if (h.model === "svm") {
      // PROTOCOLS.md §6.2: Δ = λw − I·y·x (mini-batch mean), w ← w − ηΔ.
      const g = Number(total[k]!) / S / batch
      out[k] = w[k]! - h.eta * (h.lambda * w[k]! - g)
    } else {
      const g = Number(total[k]!) / (4 * S * S * S) / batch
      out[k] = w[k]! - h.eta * (g + h.lambda * w[k]!)
    }
  }
  return out
}

export interface Confusion {
  readonly tp: number
  readonly fp: number
  readonly fn: number
  readonly tn: number
}

export const confusion = (predicted: ReadonlyArray<boolean>, actual: ReadonlyArray<boolean>): Confusion => {
  let tp = 0, fp = 0, fn = 0, tn = 0
  predicted.forEach((p, i) => {
    const a = actual[i]!
    if (p && a) tp++
    else if (p) fp++
    else if (a) fn++
    else tn++
  })
  return { tp, fp, fn, tn }
}

export const metrics = (c: Confusion) => ({
  accuracy: (c.tp + c.tn) / Math.max(1, c.tp + c.tn + c.fp + c.fn),
  precision: c.tp / Math.max(1, c.tp + c.fp),
  recall: c.tp / Math.max(1, c.tp + c.fn)
})

/** Fewest test rows between two points of a published ROC curve: each point is an aggregate, never one row's label. */
export const rocMinRowsPerPoint = 10
/** Most points of a published ROC curve. */
export const rocMaxPoints = 20

export interface Roc {
  /** (false-positive rate, true-positive rate) from the strictest threshold to the loosest, (0,0) to (1,1). */
  readonly points: ReadonlyArray<{ readonly fpr: number; readonly tpr: number }>
  /** The exact area under the curve over every row (Mann-Whitney: P(score of a positive > score of a negative), ties ½). */
  readonly auc: number
}

/**
 * The ROC curve of scores against labels, computed where the labels are (the label holder): the rates at
 * thresholds placed every max(`rocMinRowsPerPoint`, ⌈n / `rocMaxPoints`⌉) rows down the ranking (never between
 * equal scores), so each step of the curve is an aggregate of that many rows; no threshold (a score) is published.
 * Undefined for a split without both classes.
 */
export const roc = (scores: ReadonlyArray<number>, actual: ReadonlyArray<boolean>): Roc | undefined => {
  // Every distinct score's point (Metrics.roc: ties called positive together), then only aggregate steps kept.
  const full = Metrics.roc(scores, actual, 1, Number.POSITIVE_INFINITY)
  if (full.positives === 0 || full.negatives === 0) return undefined
  const n = scores.length
  const size = Math.max(rocMinRowsPerPoint, Math.ceil(n / rocMaxPoints))
  const kept = [full.points[0]!]
  for (const p of full.points.slice(1)) {
    const rows = p.tp + p.fp
    const last = kept.at(-1)!
    // A short tail joins the last step.
    if (rows === n || (rows - (last.tp + last.fp) >= size && n - rows >= rocMinRowsPerPoint)) kept.push(p)
  }
  return {
    points: kept.map((p) => ({ fpr: p.fp / full.negatives, tpr: p.tp / full.positives })),
    // The trapezoids over every distinct score: the exact Mann-Whitney area.
    auc: Metrics.auc(full)
  }
}

/**
 * The plaintext reference on a joined table: the same model, hyper-parameters, split, standardization and
 * batch schedule, in float arithmetic (no fixed point, no encryption). `x` rows are already in the model's
 * column order (blocks concatenated), `positive` the label.
 */
export const trainPlaintext = (
  h: Hyper,
  x: ReadonlyArray<Float64Array>,
  positive: ReadonlyArray<boolean>,
  train: ReadonlyArray<number>,
  schedule: ReadonlyArray<string>
): Float64Array => {
  let w = new Float64Array(x[0]!.length)
  for (const seed of schedule) {
    const batch = batchOf(seed, train.length, h.batchSize).map((i) => train[i]!)
    const g = new Float64Array(w.length)
    for (const j of batch) {
      let z = 0
      for (let k = 0; k < w.length; k++) z += w[k]! * x[j]![k]!
      const d = h.model === "svm" ? ((positive[j] ? 1 : -1) * z < 1 ? (positive[j] ? 1 : -1) : 0) : 0.5 + z / 4 - (positive[j] ? 1 : 0)
      for (let k = 0; k < w.length; k++) g[k]! += d * x[j]![k]!
    }
    const next = new Float64Array(w.length)
    for (let k = 0; k < w.length; k++) {
      next[k] = h.model === "svm"
        ? w[k]! - h.eta * (h.lambda * w[k]! - g[k]! / batch.length)
        : w[k]! - h.eta * (g[k]! / batch.length + h.lambda * w[k]!)
    }
    w = next
  }
  return w
}

export const scoreOf = (w: ArrayLike<number>, x: ArrayLike<number>): number => {
  let z = 0
  for (let k = 0; k < x.length; k++) z += w[k]! * x[k]!
  return z
}
