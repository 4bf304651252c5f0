/**
 * The plaintext reference: the same gradient-boosted trees grown on the joined table by one party that sees
 * everything — same role split (Roles.ts), same bins (Binning.ts, per column on the training rows), same
 * fixed-point gradients and split rule (Split.ts), same early stopping — but with no parties, no encryption, no
 * lookup tables and no histogram subtraction: every node's histograms are summed directly. The secure run must
 * give identical margins id by id (secureboost.test.ts), so any difference is a protocol bug, and it is the
 * baseline of the bench.
 */
import * as Binning from "./Binning.ts"
import { fail } from "./Errors.ts"
import * as Objective from "./Objective.ts"
import * as Roles from "./Roles.ts"
import * as Split from "./Split.ts"

export interface Column {
  readonly name: string
  /** Owner's index in party order (the label holder is 0) and the column's index among its owner's columns. */
  readonly party: number
  readonly feature: number
  readonly values: Float64Array
}

export interface Table {
  readonly ids: ReadonlyArray<string>
  /** In canonical order: party by party, each party's columns in its order. */
  readonly columns: ReadonlyArray<Column>
  readonly labels: Float64Array
}

export type Node =
  | { readonly kind: "leaf"; readonly weight: number }
  | { readonly kind: "split"; readonly column: number; readonly threshold: number; readonly left: number; readonly right: number }

export interface Result {
  readonly trees: ReadonlyArray<ReadonlyArray<Node>>
  readonly baseMargin: number
  readonly split: Roles.Split
  /** Margins of every aligned row after the kept trees. */
  readonly margins: Float64Array
  /** Validation loss after each grown tree (empty without validation rows). */
  readonly validationLoss: ReadonlyArray<number>
  readonly grown: number
}

interface Pending {
  readonly id: number
  readonly depth: number
  readonly train: Uint32Array
  readonly validation: Uint32Array
}

const partition = (rows: Uint32Array, left: (r: number) => boolean) => {
  const l: Array<number> = []
  const r: Array<number> = []
  for (const x of rows) (left(x) ? l : r).push(x)
  return [Uint32Array.from(l), Uint32Array.from(r)] as const
}

export const train = (table: Table, hyper: Split.Hyper, fractions: Roles.Fractions): Result => {
  const split = Roles.split(table.ids, fractions)
  Objective.checkLabels(hyper.objective, table.labels, 0)
  const binned = Binning.binColumns(table.columns, split.train, hyper.maxBins, -1)
  const baseMargin = Objective.initialMargin(hyper.objective, table.labels, split.train)
  const margins = new Float64Array(table.ids.length).fill(baseMargin)
  const trees: Array<Array<Node>> = []
  const validationLoss: Array<number> = []
  let best = { loss: Number.POSITIVE_INFINITY, trees: 0 }

  for (let t = 0; t < hyper.trees; t++) {
    const { g, h } = Objective.gradients(hyper.objective, margins, table.labels, split.train)
    const gq = new Float64Array(table.ids.length)
    const hq = new Float64Array(table.ids.length)
    const qg = Split.quantize(g, hyper.scaleBits)
    const qh = Split.quantize(h, hyper.scaleBits)
    split.train.forEach((r, i) => {
      gq[r] = qg[i]!
      hq[r] = qh[i]!
    })
    const usable = table.columns.map((c, k) => k).filter((k) => !(t === 0 && hyper.firstTreeByLabelHolder && table.columns[k]!.party !== 0))
    const nodes: Array<Node> = [{ kind: "leaf", weight: 0 }]
    let level: Array<Pending> = [{ id: 0, depth: 0, train: split.train, validation: split.validation }]
    while (level.length > 0) {
      const next: Array<Pending> = []
      for (const node of level) {
        const totals = Split.totalsOf(node.train, gq, hq)
        const choice = Split.splittable(hyper, node.depth, node.train.length, totals)
          ? Split.bestSplit(hyper, totals, usable.map((k) => {
            const c = table.columns[k]!
            return { party: c.party, feature: c.feature, ...Split.cumulative(binned.codes[k]!, Binning.binCount(binned.bins[k]!), node.train, gq, hq) }
          }))
          : undefined
        if (choice === undefined) {
          nodes[node.id] = { kind: "leaf", weight: Split.leafWeight(hyper, totals) }
          continue
        }
        const column = table.columns.findIndex((c) => c.party === choice.party && c.feature === choice.feature)
        const codes = binned.codes[column]!
        const goesLeft = (r: number) => codes[r]! <= choice.bin
        const [trainL, trainR] = partition(node.train, goesLeft)
        const [validL, validR] = partition(node.validation, goesLeft)
        const left = nodes.length
        nodes.push({ kind: "leaf", weight: 0 }, { kind: "leaf", weight: 0 })
        nodes[node.id] = { kind: "split", column, threshold: binned.bins[column]!.cuts[choice.bin]!, left, right: left + 1 }
        next.push({ id: left, depth: node.depth + 1, train: trainL, validation: validL }, { id: left + 1, depth: node.depth + 1, train: trainR, validation: validR })
      }
      // Leaves get their rows' margins once the level is done (the row sets are in `level`).
      for (const node of level) {
        const n = nodes[node.id]!
        if (n.kind !== "leaf") continue
        for (const r of node.train) margins[r]! += n.weight
        for (const r of node.validation) margins[r]! += n.weight
      }
      level = next
    }
    trees.push(nodes)
    if (split.validation.length > 0) {
      const loss = Objective.loss(hyper.objective, margins, table.labels, split.validation)
      validationLoss.push(loss)
      if (loss < best.loss) best = { loss, trees: t + 1 }
      if (hyper.earlyStoppingRounds !== undefined && t + 1 - best.trees >= hyper.earlyStoppingRounds) break
    }
  }
  const kept = hyper.earlyStoppingRounds !== undefined && split.validation.length > 0 ? trees.slice(0, best.trees) : trees
  // Margins of every row (test rows included) from the kept trees, by thresholds on raw values.
  const all = new Float64Array(table.ids.length).fill(baseMargin)
  for (const tree of kept) {
    for (let r = 0; r < table.ids.length; r++) all[r]! += weightAt(tree, (k) => table.columns[k]!.values[r]!)
  }
  return { trees: kept, baseMargin, split, margins: all, validationLoss, grown: trees.length }
}

/** The leaf weight a row reaches, reading column k's value through `value(k)`. */
export const weightAt = (tree: ReadonlyArray<Node>, value: (column: number) => number): number => {
  let at = 0
  for (;;) {
    const node = tree[at]!
    if (node.kind === "leaf") return node.weight
    at = value(node.column) <= node.threshold ? node.left : node.right
  }
}

/** Joins per-party tables (label holder first, label in its `labelColumn`) on the ids the first one lists. */
export const join = (
  parties: ReadonlyArray<{ readonly ids: ReadonlyArray<string>; readonly columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }> }>,
  labels: Float64Array
): Table => {
  const ids = parties[0]!.ids
  const columns: Array<Column> = []
  parties.forEach((p, party) => {
    const position = new Map(p.ids.map((id, i) => [id, i] as const))
    const order = ids.map((id) => {
      const i = position.get(id)
      if (i === undefined) fail("InvalidData", party, `id ${id} is missing`)
      return i!
    })
    p.columns.forEach((c, feature) => columns.push({ name: c.name, party, feature, values: Float64Array.from(order, (i) => c.values[i]!) }))
  })
  return { ids, columns, labels }
}
