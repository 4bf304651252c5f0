/**
 * Test helper: a ModelRuntime that trains softmax regression in plain JS — the Dense-only model a one-layer
 * Sequential topology describes, weights [kernel D×C row-major, bias C] in the layout tfjs uses — so protocol
 * tests run federated training fast and without tfjs (the tfjs runtime has its own tests in participant/). Also a
 * `TabularData` over in-memory columns. Never used outside tests.
 */
import { Effect } from "effect"
import type { TabularData } from "../data/Tabular.ts"
import type { ModelRuntimeApi } from "../protocols/federated-learning/ModelRuntime.ts"
import { prng } from "../protocols/federated-learning/Updates.ts"

/** A one-layer softmax topology over `features` inputs and `classes` outputs. */
export const topology = (features: number, classes: number) => ({
  class_name: "Sequential",
  config: { name: "s", layers: [{ class_name: "Dense", config: { units: classes, activation: "softmax", use_bias: true, batch_input_shape: [null, features] } }] }
})

/**
 * Softmax regression on `features` inputs and `classes` outputs; `poison` makes training return NaN weights or a
 * vector one short (a misbehaving participant).
 */
export const softmaxRuntime = (options: { readonly features: number; readonly classes: number; readonly poison?: "nan" | "short" }): ModelRuntimeApi => {
  const { features: D, classes: C, poison } = options
  const forward = (w: Float32Array, x: Float32Array, i: number) => {
    const z = Array.from({ length: C }, (_, c) => {
      let s = w[D * C + c]!
      for (let d = 0; d < D; d++) s += x[i * D + d]! * w[d * C + c]!
      return s
    })
    const m = Math.max(...z)
    const e = z.map((v) => Math.exp(v - m))
    const sum = e.reduce((a, b) => a + b, 0)
    return e.map((v) => v / sum)
  }
  return {
    initialize: (_t, seed) => Effect.sync(() => {
      const r = prng(seed)
      return Float32Array.from({ length: D * C + C }, (_, i) => (i < D * C ? (r() - 0.5) * 0.2 : 0))
    }),
    train: ({ weights, config, data }) => Effect.sync(() => {
      if (poison === "nan") return new Float32Array(weights.length).fill(Number.NaN)
      if (poison === "short") return weights.slice(1)
      const w = Float32Array.from(weights)
      for (let e = 0; e < config.epochs; e++) {
        for (let start = 0; start < data.rows; start += config.batchSize) {
          const end = Math.min(start + config.batchSize, data.rows)
          const grad = new Float64Array(w.length)
          for (let i = start; i < end; i++) {
            const p = forward(w, data.features, i)
            for (let c = 0; c < C; c++) {
              const g = p[c]! - (data.labels[i] === c ? 1 : 0)
              for (let d = 0; d < D; d++) grad[d * C + c]! += g * data.features[i * D + d]!
              grad[D * C + c]! += g
            }
          }
          for (let k = 0; k < w.length; k++) w[k]! -= (config.learningRate * grad[k]!) / (end - start) + config.learningRate * config.proximalMu * (w[k]! - weights[k]!)
        }
      }
      return w
    }),
    evaluate: ({ weights, data }) => Effect.sync(() => {
      let lossSum = 0
      let correct = 0
      for (let i = 0; i < data.rows; i++) {
        const p = forward(weights, data.features, i)
        lossSum -= Math.log(Math.max(p[data.labels[i]!]!, 1e-7))
        if (p.indexOf(Math.max(...p)) === data.labels[i]) correct++
      }
      return { lossSum, correct, samples: data.rows }
    }),
    predict: ({ weights, features, rows }) => Effect.sync(() => Float32Array.from(Array.from({ length: rows }, (_, i) => forward(weights, features, i)).flat()))
  }
}

export type Rows = Record<string, Array<number | string>>

/** A dataset over in-memory columns; `labelColumn` is numeric only when every value is a number. */
export const tabular = (name: string, rows: Rows, labelColumn = "y"): TabularData => ({
  name,
  rowCount: rows[labelColumn]!.length,
  columnNames: Object.keys(rows),
  isNumeric: (c) => c !== labelColumn || rows[labelColumn]!.every((v) => typeof v === "number"),
  numeric: (c) => Float64Array.from(rows[c]!.map(Number)),
  strings: (c) => rows[c]!.map(String)
})
