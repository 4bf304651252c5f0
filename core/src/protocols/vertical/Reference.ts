/**
 * The plaintext reference for vertical models (tests and the bench): the parties' CSV tables joined on their
 * ids in the aligned order the protocol produced, standardized per party block exactly as the parties do
 * (Linear.block on the training split), and the same model trained in float arithmetic with the published
 * batch schedule. Returns the test-split predictions and metrics to compare with the secure run.
 */
import * as Linear from "./Linear.ts"
import { Schema } from "effect"
import * as Spec from "./spec.ts"

export interface Table {
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

export const parseCsv = (text: string): Table => {
  const [header, ...lines] = text.trim().split(/\r?\n/)
  return { columns: header!.split(","), rows: lines.map((l) => l.split(",")) }
}

export const featuresOf = (t: Table, idColumn = "id", labelColumn = "label"): Array<string> => t.columns.filter((c) => c !== idColumn && c !== labelColumn)

/**
 * Training params for the bcw-style tables of tests and the bench: label `label` = 1 at the first party, every
 * other column a feature of its party. Key sizes below 2048 bits run only where the host runs its handlers with
 * `TestKeySizes` (crypto/KeyMaterial.ts): the test harness.
 */
export const trainParams = (
  parties: ReadonlyArray<{ readonly address: string; readonly table: Table }>,
  options: { readonly keyBits: number; readonly updates: number; readonly batchSize: number }
): Spec.TrainParams =>
  // Decoded as a task's params are: addresses checksummed, every field checked.
  Schema.decodeUnknownSync(Spec.TrainParams)({
    idColumn: "id",
    labelHolder: parties[0]!.address,
    label: { column: "label", positive: 1 },
    features: parties.map((p) => ({ party: p.address, columns: featuresOf(p.table) })),
    maxIds: 10_000,
    ...options
  })

/** `tables[0]` holds the label; `ids` is the aligned order; `schedule` the result's batch seeds. */
export const reference = (
  tables: ReadonlyArray<Table>,
  positiveValue: number,
  model: Linear.ModelKind,
  params: Spec.TrainParams,
  schedule: ReadonlyArray<string>,
  ids: ReadonlyArray<string>
) => {
  const byId = tables.map((t) => new Map(t.rows.map((r) => [r[t.columns.indexOf(params.idColumn)]!, r] as const)))
  const split = Linear.split(ids.length, params.testFraction ?? Spec.defaults.testFraction, params.splitSeed ?? Spec.defaults.splitSeed)
  const blocks = tables.map((t, p) => {
    const columns = featuresOf(t, params.idColumn, params.label.column).map((c) => ({ name: c, values: ids.map((id) => Number(byId[p]!.get(id)![t.columns.indexOf(c)])) }))
    const b = Linear.block(columns, ids.map((_, i) => i), split.train, params.featureBound ?? Spec.defaults.featureBound, p === 0)
    if (Linear.isProblem(b)) throw new Error(b.detail)
    return b
  })
  const x = ids.map((_, i) => Float64Array.from(blocks.flatMap((b) => Array.from(b.rows[i]!))))
  const labelIndex = tables[0]!.columns.indexOf(params.label.column)
  const positive = ids.map((id) => Number(byId[0]!.get(id)![labelIndex]) === positiveValue)
  const w = Linear.trainPlaintext(Spec.hyperOf(model, params), x, positive, split.train, schedule)
  const scores = split.test.map((i) => Linear.scoreOf(w, x[i]!))
  const predicted = scores.map((z) => z >= 0)
  const actual = split.test.map((i) => positive[i]!)
  return {
    weights: w,
    testIds: split.test.map((i) => ids[i]!),
    scores,
    actual,
    predicted,
    metrics: Linear.metrics(Linear.confusion(predicted, actual)),
    roc: Linear.roc(scores, actual)
  }
}

/**
 * How close to the boundary a float score may be and still get either label from the secure model. The secure
 * model rounds features and weights to multiples of 2^-scaleBits and a batch row that sits that close to the hinge
 * (or sigmoid) threshold may take the other branch, so its scores drift from the float model's: by at most 1.3e-3
 * on bcw and wdbc at the default 12 bits over a whole run. A run on a random schedule (every real-process test)
 * sometimes has a test row inside that drift, so label equality is asked of the rows clear of it only.
 */
export const boundaryMargin = 0.02

/**
 * The secure labels of some test rows against the float model's: the ids labelled otherwise though the float score
 * is at least `margin` from 0 (must be none), and the metrics the float model would score with the rows inside the
 * margin labelled as the secure model did (which the secure run's own metrics must equal).
 */
export const agreement = (
  ref: ReturnType<typeof reference>,
  secure: { readonly ids: ReadonlyArray<string>; readonly positive: ReadonlyArray<boolean> },
  margin = boundaryMargin
) => {
  const row = new Map(ref.testIds.map((id, i) => [id, i] as const))
  const disagreements: Array<string> = []
  const labels = [...ref.predicted]
  secure.ids.forEach((id, k) => {
    const i = row.get(id)
    if (i === undefined) throw new Error(`${id} is not a test row`)
    if (secure.positive[k] === ref.predicted[i]) return
    if (Math.abs(ref.scores[i]!) >= margin) disagreements.push(id)
    else labels[i] = secure.positive[k]!
  })
  return { disagreements, metrics: Linear.metrics(Linear.confusion(labels, ref.actual)) }
}
