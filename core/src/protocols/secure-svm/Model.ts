/**
 * The arithmetic of SecureSVM (PROTOCOLS.md §5.2 "Ours"), shared by both roles, both modes and the plaintext
 * references, so the secure run and its references differ only where they should.
 *
 * - margin a_i = y_i(w·x_i + b), indicator I_i = [a_i < 1];
 * - g_w = ρw − C·Σ I_i y_i x_i,  g_b = −C·Σ I_i y_i,  with C = c/m over the m rows of the round's batch
 *   (c = 1 reproduces the source's C = 1/m);
 * - w ← w − η·g_w, b ← b − η·g_b; loop while cost > ε and t < T, cost = (ρ/2)‖w‖² + C·Σ max(0, 1 − a_i).
 *
 * Fixed point (§4 "ours"): features x at scale S = 2^scaleBits, weights at S, the bias at S², so a margin is an
 * exact integer at scale S² and "1" is S². A party's round contribution is the integer vector `Totals`; the
 * model update is a float function of the summed totals, so Mode A, Mode B and `trainFixedPoint` produce
 * bit-identical models, and `trainPlaintext` is the float SVM the secure result is compared against.
 *
 * Data order (split and batches) comes from a seeded PRNG: it decides no secret, and a seed lets every party
 * and the references reproduce the same schedule.
 */
import * as FixedPoint from "../../crypto/FixedPoint.ts"

export interface Hyper {
  /** Regulariser ρ (separate from the learning rate, §5.2 "ours"). */
  readonly rho: number
  /** Learning rate η. */
  readonly eta: number
  /** Hinge weight c; C = c/m per round. */
  readonly c: number
  readonly epochs: number
  readonly batchesPerEpoch: number
  /** Stop once the round's cost is ≤ ε. */
  readonly epsilon: number
  readonly seed: number
  readonly testFraction: number
  readonly scaleBits: number
}

export interface LinearModel {
  readonly weights: ReadonlyArray<number>
  readonly bias: number
}

export interface Scaling {
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
}

/** One party's labelled rows: x already standardized, y ∈ {−1, +1}. */
export interface Rows {
  readonly x: ReadonlyArray<Float64Array>
  readonly y: Int8Array
}

// ---------- data order ----------

/** mulberry32: a seeded PRNG for data order only, never for keys or masks. */
export const orderPrng = (seed: number) => {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const shuffled = (indices: ReadonlyArray<number>, seed: number): Array<number> => {
  const out = [...indices]
  const random = orderPrng(seed)
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Each party's local train/test split (the same rule everywhere; the seed is the task's). */
export const split = (rowCount: number, seed: number, testFraction: number) => {
  const order = shuffled(Array.from({ length: rowCount }, (_, i) => i), seed)
  const testCount = Math.round(rowCount * testFraction)
  return { test: order.slice(0, testCount).sort((a, b) => a - b), train: order.slice(testCount).sort((a, b) => a - b) }
}

/** Row positions (into the train rows) of batch `batch` of `epoch`: a fresh shuffle per epoch, cut in equal chunks. */
export const batchRows = (trainCount: number, hyper: Pick<Hyper, "seed" | "batchesPerEpoch">, epoch: number, batch: number): Array<number> => {
  const order = shuffled(Array.from({ length: trainCount }, (_, i) => i), (hyper.seed * 1_000_003 + epoch + 1) | 0)
  const from = Math.floor((batch * trainCount) / hyper.batchesPerEpoch)
  const to = Math.floor(((batch + 1) * trainCount) / hyper.batchesPerEpoch)
  return order.slice(from, to)
}

// ---------- fixed point ----------

export const scaleOf = (scaleBits: number): bigint => 1n << BigInt(scaleBits)

export interface EncodedModel {
  /** w at scale S. */
  readonly weights: ReadonlyArray<bigint>
  /** b at scale S². */
  readonly bias: bigint
}

export const encodeModel = (model: LinearModel, scaleBits: number): EncodedModel => ({
  weights: model.weights.map((w) => FixedPoint.scale(scaleBits, w)),
  bias: FixedPoint.scale(2 * scaleBits, model.bias)
})

/** Features at scale S. */
export const encodeRow = (x: Float64Array, scaleBits: number): Array<bigint> => Array.from(x, (v) => FixedPoint.scale(scaleBits, v))

/** w·x + b at scale S² (exact). */
export const score = (model: EncodedModel, x: ReadonlyArray<bigint>): bigint => {
  let s = model.bias
  for (let k = 0; k < x.length; k++) s += model.weights[k]! * x[k]!
  return s
}

// ---------- one round ----------

/** Layout of a round's vector: [H, G_1 … G_d, Σ I·y, violators, rows]. H first: Mode B packs it into slot 0. */
export const totalsLength = (features: number): number => features + 4

export interface Totals {
  /** Σ_{I=1} (S² − a_i), scale S². */
  readonly hinge: bigint
  /** Σ I_i y_i x_i, scale S. */
  readonly gradient: ReadonlyArray<bigint>
  /** Σ I_i y_i. */
  readonly biasGradient: bigint
  readonly violators: bigint
  readonly rows: bigint
}

export const toVector = (t: Totals): Array<bigint> => [t.hinge, ...t.gradient, t.biasGradient, t.violators, t.rows]

export const fromVector = (v: ReadonlyArray<bigint>, features: number): Totals => ({
  hinge: v[0]!,
  gradient: v.slice(1, 1 + features),
  biasGradient: v[1 + features]!,
  violators: v[2 + features]!,
  rows: v[3 + features]!
})

export const addTotals = (a: Totals, b: Totals): Totals => fromVector(toVector(a).map((x, i) => x + toVector(b)[i]!), a.gradient.length)

/**
 * Totals from indicators known to the party (Mode B: unblinded bits; Mode A: computed in the clear) and, for
 * the hinge, from the margins when the party has them (Mode A); Mode B sends the hinge encrypted instead.
 */
export const totalsFromIndicators = (
  xs: ReadonlyArray<ReadonlyArray<bigint>>,
  y: ReadonlyArray<number>,
  indicators: ReadonlyArray<boolean>,
  margins: ReadonlyArray<bigint> | undefined,
  scaleBits: number
): Totals => {
  const features = xs[0]?.length ?? 0
  const s2 = scaleOf(2 * scaleBits)
  const gradient = new Array<bigint>(features).fill(0n)
  let hinge = 0n
  let biasGradient = 0n
  let violators = 0n
  for (let i = 0; i < xs.length; i++) {
    if (!indicators[i]) continue
    const yi = BigInt(y[i]!)
    for (let k = 0; k < features; k++) gradient[k]! += yi * xs[i]![k]!
    biasGradient += yi
    violators += 1n
    if (margins !== undefined) hinge += s2 - margins[i]!
  }
  return { hinge, gradient, biasGradient, violators, rows: BigInt(xs.length) }
}

/** Mode A: a party's round totals from the published model. */
export const localTotals = (model: EncodedModel, xs: ReadonlyArray<ReadonlyArray<bigint>>, y: ReadonlyArray<number>, scaleBits: number): Totals => {
  const s2 = scaleOf(2 * scaleBits)
  const margins = xs.map((x, i) => BigInt(y[i]!) * score(model, x))
  return totalsFromIndicators(xs, y, margins.map((a) => a < s2), margins, scaleBits)
}

export interface Step {
  readonly model: LinearModel
  /** Cost at the model the totals were computed for. */
  readonly cost: number
  readonly done: boolean
}

/** The update of §5.2 "ours" from summed totals; `noise` is the (already added) DP noise, if any. */
export const step = (model: LinearModel, totals: Totals, hyper: Hyper, round: number): Step => {
  const m = Number(totals.rows)
  const cWeight = m > 0 ? hyper.c / m : 0
  const hinge = FixedPoint.toNumber(totals.hinge, 2 * hyper.scaleBits)
  const norm = model.weights.reduce((s, w) => s + w * w, 0)
  const cost = (hyper.rho / 2) * norm + cWeight * hinge
  if (cost <= hyper.epsilon) return { model, cost, done: true }
  const weights = model.weights.map((w, k) => w - hyper.eta * (hyper.rho * w - cWeight * FixedPoint.toNumber(totals.gradient[k]!, hyper.scaleBits)))
  const bias = model.bias - hyper.eta * (-cWeight * Number(totals.biasGradient))
  return { model: { weights, bias }, cost, done: round + 1 >= hyper.epochs * hyper.batchesPerEpoch }
}

export const initialModel = (features: number): LinearModel => ({ weights: new Array<number>(features).fill(0), bias: 0 })

// ---------- evaluation ----------

export interface Confusion {
  readonly tp: bigint
  readonly fp: bigint
  readonly fn: bigint
  readonly tn: bigint
}

/** Predicted positive ⇔ w·x + b ≥ 0 (the `sign` link, with sign(0) = +1). */
export const confusion = (y: ReadonlyArray<number>, predictedPositive: ReadonlyArray<boolean>): Confusion => {
  let tp = 0n
  let fp = 0n
  let fn = 0n
  let tn = 0n
  for (let i = 0; i < y.length; i++) {
    const positive = y[i]! > 0
    if (predictedPositive[i]) positive ? tp++ : fp++
    else positive ? fn++ : tn++
  }
  return { tp, fp, fn, tn }
}

export const metrics = (c: Confusion) => {
  const [tp, fp, fn, tn] = [c.tp, c.fp, c.fn, c.tn].map(Number) as [number, number, number, number]
  return {
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
    accuracy: tp + fp + fn + tn > 0 ? (tp + tn) / (tp + fp + fn + tn) : 0,
    tp,
    fp,
    fn,
    tn
  }
}

// ---------- references ----------

export interface PartyData {
  /** Raw (unstandardized) feature rows and labels in {−1, +1}, all rows of the party (split applied here). */
  readonly x: ReadonlyArray<Float64Array>
  readonly y: Int8Array
}

export const standardize = (x: Float64Array, scaling: Scaling): Float64Array =>
  Float64Array.from(x, (v, k) => (v - scaling.mean[k]!) / scaling.std[k]!)

const splitParty = (party: PartyData, hyper: Hyper, scaling: Scaling) => {
  const { train, test } = split(party.x.length, hyper.seed, hyper.testFraction)
  const pick = (rows: ReadonlyArray<number>) => ({ x: rows.map((i) => standardize(party.x[i]!, scaling)), y: rows.map((i) => party.y[i]!) })
  return { train: pick(train), test: pick(test) }
}

export interface Trained {
  readonly model: LinearModel
  readonly rounds: number
  readonly costs: ReadonlyArray<number>
  readonly confusion: Confusion
}

/** The float SVM the secure run is held to: same split, batches, initialisation and hyper-parameters. */
export const trainPlaintext = (parties: ReadonlyArray<PartyData>, hyper: Hyper, scaling: Scaling): Trained => {
  const data = parties.map((p) => splitParty(p, hyper, scaling))
  const features = scaling.mean.length
  let model = initialModel(features)
  const costs: Array<number> = []
  let round = 0
  for (let epoch = 0; epoch < hyper.epochs; epoch++) {
    for (let batch = 0; batch < hyper.batchesPerEpoch; batch++, round++) {
      let hinge = 0
      let m = 0
      const g = new Array<number>(features).fill(0)
      let gb = 0
      for (const party of data) {
        for (const i of batchRows(party.train.x.length, hyper, epoch, batch)) {
          const x = party.train.x[i]!
          const y = party.train.y[i]!
          let s = model.bias
          for (let k = 0; k < features; k++) s += model.weights[k]! * x[k]!
          const a = y * s
          m++
          if (a < 1) {
            hinge += 1 - a
            for (let k = 0; k < features; k++) g[k]! += y * x[k]!
            gb += y
          }
        }
      }
      const cWeight = m > 0 ? hyper.c / m : 0
      const cost = (hyper.rho / 2) * model.weights.reduce((s, w) => s + w * w, 0) + cWeight * hinge
      costs.push(cost)
      if (cost <= hyper.epsilon) return finish(model, round + 1, costs, data)
      model = {
        weights: model.weights.map((w, k) => w - hyper.eta * (hyper.rho * w - cWeight * g[k]!)),
        bias: model.bias + hyper.eta * cWeight * gb
      }
    }
  }
  return finish(model, round, costs, data)
}

const finish = (model: LinearModel, rounds: number, costs: Array<number>, data: ReadonlyArray<ReturnType<typeof splitParty>>): Trained => {
  const y: Array<number> = []
  const predicted: Array<boolean> = []
  for (const party of data) {
    party.test.x.forEach((x, i) => {
      let s = model.bias
      for (let k = 0; k < x.length; k++) s += model.weights[k]! * x[k]!
      y.push(party.test.y[i]!)
      predicted.push(s >= 0)
    })
  }
  return { model, rounds, costs, confusion: confusion(y, predicted) }
}

/** The exact integer trajectory the secure protocol must reproduce bit for bit (no noise, no dropouts). */
export const trainFixedPoint = (parties: ReadonlyArray<PartyData>, hyper: Hyper, scaling: Scaling): Trained => {
  const data = parties.map((p) => {
    const s = splitParty(p, hyper, scaling)
    return {
      train: { x: s.train.x.map((x) => encodeRow(x, hyper.scaleBits)), y: s.train.y },
      test: { x: s.test.x.map((x) => encodeRow(x, hyper.scaleBits)), y: s.test.y }
    }
  })
  const features = scaling.mean.length
  let model = initialModel(features)
  const costs: Array<number> = []
  let round = 0
  for (let epoch = 0; epoch < hyper.epochs; epoch++) {
    for (let batch = 0; batch < hyper.batchesPerEpoch; batch++, round++) {
      const encoded = encodeModel(model, hyper.scaleBits)
      const totals = data
        .map((party) => {
          const rows = batchRows(party.train.x.length, hyper, epoch, batch)
          return localTotals(encoded, rows.map((i) => party.train.x[i]!), rows.map((i) => party.train.y[i]!), hyper.scaleBits)
        })
        .reduce(addTotals)
      const next = step(model, totals, hyper, round)
      costs.push(next.cost)
      if (next.cost <= hyper.epsilon) return fixedFinish(model, round + 1, costs, data, hyper)
      model = next.model
    }
  }
  return fixedFinish(model, round, costs, data, hyper)
}

const fixedFinish = (
  model: LinearModel,
  rounds: number,
  costs: Array<number>,
  data: ReadonlyArray<{ test: { x: Array<Array<bigint>>; y: Array<number> } }>,
  hyper: Hyper
): Trained => {
  const encoded = encodeModel(model, hyper.scaleBits)
  const y = data.flatMap((p) => p.test.y)
  const predicted = data.flatMap((p) => p.test.x.map((x) => score(encoded, x) >= 0n))
  return { model, rounds, costs, confusion: confusion(y, predicted) }
}
