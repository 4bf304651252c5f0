/**
 * Test and benchmark fixture: digits.csv (1797 8×8 images, 10 classes) from the repository's datasets folder, a held-out test set and a label-skewed (non-IID) split over parties, and the small dense
 * model the federated-learning tests and the `horizontal` bench train.
 */
import { readFileSync } from "node:fs"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import type { Params } from "@jointly/core/internal/protocols/federated-learning/spec"
import { prng } from "@jointly/core/internal/protocols/federated-learning/Updates"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"

export const file = datasetFile("digits.csv")

export interface Digits {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<number>>
}

export const loadDigits = (): Digits => {
  const [head, ...lines] = readFileSync(file, "utf8").trim().split("\n")
  return { header: head!.split(","), rows: lines.map((l) => l.split(",").map(Number)) }
}

export const digitsTable = (d: Digits, rows: ReadonlyArray<ReadonlyArray<number>>, name: string): TabularData => ({
  name,
  rowCount: rows.length,
  columnNames: [...d.header],
  isNumeric: () => true,
  numeric: (c) => Float64Array.from(rows, (r) => r[d.header.indexOf(c)]!),
  strings: (c) => rows.map((r) => String(r[d.header.indexOf(c)]))
})

/** Held-out test rows, then `parties` shards where party k holds 75% of its rows from labels {k, k+4, k+8}. */
export const nonIid = (d: Digits, parties: number, seed = 3) => {
  const random = prng(seed)
  const shuffled = [...d.rows].sort(() => 0).map((r) => [random(), r] as const).sort((a, b) => a[0] - b[0]).map(([, r]) => r)
  const test = shuffled.slice(0, 360)
  const pool = shuffled.slice(360)
  const shards: Array<Array<ReadonlyArray<number>>> = Array.from({ length: parties }, () => [])
  for (const row of pool) {
    const label = row[64]!
    const home = label % parties
    const k = random() < 0.75 ? home : Math.floor(random() * parties)
    shards[k]!.push(row)
  }
  return { test, shards }
}

export const digitsTopology = (hidden = 32) => ({
  class_name: "Sequential",
  config: {
    name: "digits",
    layers: [
      { class_name: "Dense", config: { units: hidden, activation: "relu", use_bias: true, batch_input_shape: [null, 64], kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } }, bias_initializer: { class_name: "Zeros", config: {} } } },
      { class_name: "Dense", config: { units: 10, activation: "softmax", use_bias: true, kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } }, bias_initializer: { class_name: "Zeros", config: {} } } }
    ]
  }
})

export const digitsParams = (header: ReadonlyArray<string>, overrides: Partial<Params> = {}): Params => ({
  model: digitsTopology(),
  featureColumns: header.slice(0, 64) as unknown as Params["featureColumns"],
  labelColumn: "label",
  scaling: { mean: new Array(64).fill(0), std: new Array(64).fill(16) },
  optimizer: "adam",
  learningRate: 0.01,
  localEpochs: 2,
  batchSize: 32,
  rounds: 25,
  validationSplit: 0.1,
  seed: 11,
  ...overrides
})

