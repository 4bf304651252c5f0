/**
 * The label holder ("active party"): owns the labels and the Paillier key, grows every tree level by level and
 * keeps its shape and leaf weights. Per level it asks the feature holders for the histograms of the nodes it
 * cannot derive (the root, then the smaller child of each split; the sibling is parent − child, in plaintext),
 * decrypts them, adds its own plaintext histograms and picks each node's best split (Split.ts, canonical order:
 * its own columns, then each feature holder's by position). The protocol and its leakage are in spec.ts.
 *
 * Usage, per tree (LocalRun.ts drives it; the stage handlers will): startTree → [nextLevel → (feature holders'
 * histograms) → chooseSplits → (their split replies) → applySplits]* until nextLevel says "done" → endTree.
 */
import { Effect } from "effect"
import type { KeyPair, KeySizePolicy } from "../../crypto/paillier/Keys.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import * as Binning from "./Binning.ts"
import { binsDigest } from "./Binning.ts"
import * as Compute from "./Compute.ts"
import { guard, invalid, SecureBoostError } from "./Errors.ts"
import * as GhPacking from "./GhPacking.ts"
import type { LabelHolderModel, Node, Tree } from "./Model.ts"
import type { LabelHolderProgress } from "./Parts.ts"
import * as Objective from "./Objective.ts"
import * as Residues from "./Residues.ts"
import * as Roles from "./Roles.ts"
import * as Split from "./Split.ts"
import type * as Spec from "./spec.ts"

export interface Input {
  readonly ids: ReadonlyArray<string>
  /** The label holder's own feature columns over the aligned rows. */
  readonly columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }>
  /** 0/1 (binary) or the target (regression), per aligned row. */
  readonly labels: Float64Array
  readonly hyper: Split.Hyper
  readonly fractions: Roles.Fractions
  readonly mode: Spec.Mode
  /** Number of feature holders (parties 1…k). */
  readonly featureHolders: number
}

export interface Options {
  /** 2048 (default) or 3072. */
  readonly keyBits?: number
  /** Tests only, never a task parameter: allow keys below 2048 bits (with `keyBits` or `keyPair`). */
  readonly unsafeAllowTestKeySizes?: boolean
  /** Tests and benches: reuse a key instead of generating one per task. */
  readonly keyPair?: KeyPair
}

interface Open {
  readonly id: number
  readonly depth: number
  readonly train: Uint32Array
  readonly validation: Uint32Array
  readonly totals: Split.Totals
  readonly splittable: boolean
  readonly parent?: Open
  sibling?: Open
  /** Feature holders' cumulative histograms: remote[p − 1][f], once computed or derived. */
  remote?: Array<Array<Split.Cumulative>>
  computed?: boolean
  choice?: Split.Choice & { readonly left: number }
}

interface Growing {
  readonly index: number
  readonly local: boolean
  readonly gq: Float64Array
  readonly hq: Float64Array
  readonly layout?: GhPacking.Layout
  /** Row plaintexts g + 2^W·h by training position (hidden-instances mode encrypts them per node). */
  readonly plaintexts?: ReadonlyArray<bigint>
  readonly nodes: Array<Node>
  frontier: Array<Open>
  /** This level's nodes whose histograms the feature holders compute, in request order. */
  computed: Array<Open>
  /** Remote splits awaiting replies: node id → (party, rows the reply's bits refer to). */
  awaiting: Map<number, { readonly node: Open; readonly party: number; readonly rows: Uint32Array }>
  /** The owner (party index) and gain of every split of this tree, for the importance per party. */
  readonly gains: Array<{ readonly party: number; readonly gain: number }>
}

export type Level =
  | { readonly kind: "done" }
  | { readonly kind: "local" }
  | { readonly kind: "remote"; readonly request: Spec.HistogramRequest }

const partition = (rows: Uint32Array, left: (r: number) => boolean) => {
  const l: Array<number> = []
  const r: Array<number> = []
  for (const x of rows) (left(x) ? l : r).push(x)
  return [Uint32Array.from(l), Uint32Array.from(r)] as const
}

const mergeSorted = (a: Uint32Array, b: Uint32Array): Uint32Array => Uint32Array.from([...a, ...b].sort((x, y) => x - y))

/**
 * Splits and share of the total gain per party (index 0 = the label holder) over `trees`: what each party's
 * columns contributed, without naming a column of a feature holder or any threshold.
 */
export const importanceOf = (trees: ReadonlyArray<ReadonlyArray<{ readonly party: number; readonly gain: number }>>, featureHolders: number) => {
  const out = Array.from({ length: featureHolders + 1 }, () => ({ splits: 0, gain: 0 }))
  for (const tree of trees) {
    for (const { party, gain } of tree) {
      out[party]!.splits++
      out[party]!.gain += gain
    }
  }
  const total = out.reduce((a, p) => a + p.gain, 0)
  return out.map((p) => ({ splits: p.splits, gainShare: total > 0 ? p.gain / total : 0 }))
}

export const make = (input: Input, options: Options = {}) => {
  const hyper = input.hyper
  const k = input.featureHolders
  const split = Roles.split(input.ids, input.fractions)
  Objective.checkLabels(hyper.objective, input.labels, 0)
  const binned = Binning.binColumns(input.columns, split.train, hyper.maxBins, 0)
  const ownBins = binned.bins.map(Binning.binCount)
  const evaluated = mergeSorted(split.train, split.validation)
  const trainPosition = new Int32Array(input.ids.length).fill(-1)
  split.train.forEach((r, i) => {
    trainPosition[r] = i
  })
  const baseMargin = Objective.initialMargin(hyper.objective, input.labels, split.train)
  const margins = new Float64Array(input.ids.length).fill(baseMargin)
  const trees: Array<Tree> = []
  const validationLoss: Array<number> = []
  const treeGains: Array<ReadonlyArray<{ readonly party: number; readonly gain: number }>> = []
  let best = { loss: Number.POSITIVE_INFINITY, trees: 0 }
  let summaries: ReadonlyArray<Spec.FeatureSummary> = []
  let key: KeyPair | undefined
  let engine: Compute.Engine | undefined
  let growing: Growing | undefined
  const counters = { encryptions: 0, decryptions: 0, histogramNodes: 0, remoteSplits: 0, ownSplits: 0 }

  const policy: KeySizePolicy = { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }

  /** A → P: generates the task's key once the feature holders have reported their bin counts. */
  const start = (reported: ReadonlyArray<Spec.FeatureSummary>) =>
    Effect.gen(function*() {
      if (key !== undefined) return yield* Effect.fail(invalid(0, "the key exists already"))
      if (reported.length !== k || reported.some((s, i) => s.party !== i + 1 || s.rows !== input.ids.length)) {
        return yield* Effect.fail(invalid(0, `expected one summary per feature holder 1…${k} over ${input.ids.length} rows`))
      }
      summaries = reported
      const bits = options.keyBits ?? Keys.DEFAULT_BITS
      yield* guard(0, "InvalidParams", () => Keys.checkBits(bits, policy))
      key = options.keyPair ?? (yield* Effect.mapError(Keys.generate({ bits, ...policy }), (error) => new SecureBoostError({ reason: "ComputeFailed", party: 0, detail: error.message })))
      if (options.keyPair !== undefined) yield* guard(0, "InvalidParams", () => Keys.checkBits(key!.publicKey.bits, policy))
      engine = yield* Compute.engine(key.publicKey, policy, 0)
      return { publicKey: Serialization.encodePublicKey(key.publicKey) } satisfies Spec.KeyAnnouncement
    })

  const ready = () => (engine === undefined || key === undefined ? Effect.fail(invalid(0, "start has not run")) : Effect.succeed({ e: engine, sk: key.privateKey }))
  const tree = () => (growing === undefined ? Effect.fail(invalid(0, "no tree is growing")) : Effect.succeed(growing))

  const leaf = (g: Growing, node: Open) => {
    const weight = Split.leafWeight(hyper, node.totals)
    g.nodes[node.id] = { kind: "leaf", weight }
    for (const r of node.train) margins[r]! += weight
    for (const r of node.validation) margins[r]! += weight
  }

  const openNode = (g: Growing, id: number, depth: number, train: Uint32Array, validation: Uint32Array, parent?: Open): Open => {
    const totals = Split.totalsOf(train, g.gq, g.hq)
    return { id, depth, train, validation, totals, splittable: Split.splittable(hyper, depth, train.length, totals), ...(parent === undefined ? {} : { parent }) }
  }

  /** Starts tree `index`: gradients, their layout and (standard mode) their encryptions for the feature holders. */
  const startTree = () =>
    Effect.gen(function*() {
      const { e } = yield* ready()
      if (growing !== undefined) return yield* Effect.fail(invalid(0, `tree ${growing.index} is still growing`))
      const index = trees.length
      const { g, h } = Objective.gradients(hyper.objective, margins, input.labels, split.train)
      const qg = Split.quantize(g, hyper.scaleBits)
      const qh = Split.quantize(h, hyper.scaleBits)
      const gq = new Float64Array(input.ids.length)
      const hq = new Float64Array(input.ids.length)
      split.train.forEach((r, i) => {
        gq[r] = qg[i]!
        hq[r] = qh[i]!
      })
      const root = { id: 0, depth: 0, train: split.train, validation: split.validation, totals: Split.totalsOf(split.train, gq, hq) }
      const rootSplittable = Split.splittable(hyper, 0, split.train.length, root.totals)
      const local = k === 0 || (index === 0 && hyper.firstTreeByLabelHolder) || !rootSplittable
      const nodes: Array<Node> = [{ kind: "leaf", weight: 0 }]
      const frontier: Array<Open> = [{ ...root, splittable: rootSplittable }]
      if (local) {
        growing = { index, local, gq, hq, nodes, frontier, computed: [], awaiting: new Map(), gains: [] }
        return { tree: index, local: true, slotBits: 0 } satisfies Spec.TreeStart
      }
      const layout = yield* guard(0, "Headroom", () => GhPacking.layoutFor(e.pk, GhPacking.valueBitsOf(gq, hq, split.train), split.train.length))
      const plaintexts = Array.from(split.train, (r) => GhPacking.rowPlaintext(layout, gq[r]!, hq[r]!))
      growing = { index, local, gq, hq, layout, plaintexts, nodes, frontier, computed: [], awaiting: new Map(), gains: [] }
      if (input.mode === "hidden-instances") return { tree: index, local: false, slotBits: layout.slotBits } satisfies Spec.TreeStart
      const gradients = yield* Compute.encrypt(e, plaintexts)
      counters.encryptions += plaintexts.length
      return { tree: index, local: false, slotBits: layout.slotBits, gradients: Compute.toList(e.pk, gradients) } satisfies Spec.TreeStart
    })

  /**
   * The current level: "done" when no node is left to split, "local" when the label holder decides it alone
   * (a local tree), else the histogram request for the feature holders (the same for all of them).
   */
  const nextLevel = () =>
    Effect.gen(function*() {
      const { e } = yield* ready()
      const g = yield* tree()
      for (const node of g.frontier) if (!node.splittable) leaf(g, node)
      g.frontier = g.frontier.filter((n) => n.splittable)
      if (g.frontier.length === 0) return { kind: "done" } satisfies Level
      if (g.local) return { kind: "local" } satisfies Level
      // The root, or per sibling pair the child with fewer training rows (the left one on ties); its sibling,
      // if it is to be split too, is derived as parent − child.
      const computed: Array<Open> = []
      for (const node of g.frontier) {
        if (node.parent === undefined) {
          node.computed = true
          computed.push(node)
          continue
        }
        const sibling = node.sibling!
        const isLeft = node.id < sibling.id
        const smaller = node.train.length < sibling.train.length || (node.train.length === sibling.train.length && isLeft)
        // Once per pair: by the smaller child, or by the larger one when the smaller is a leaf.
        if (smaller || !sibling.splittable) {
          const pick = smaller ? node : sibling
          if (pick.computed !== true) {
            pick.computed = true
            computed.push(pick)
          }
        }
      }
      computed.sort((a, b) => a.id - b.id)
      g.computed = computed
      counters.histogramNodes += computed.length
      const nodes: Array<Spec.HistogramRequest["nodes"][number]> = []
      for (const node of computed) {
        if (input.mode === "standard") nodes.push({ node: node.id, rows: Residues.encodeRows(node.train) })
        else {
          const inNode = new Uint8Array(input.ids.length)
          for (const r of node.train) inNode[r] = 1
          const masked = Array.from(split.train, (r, i) => (inNode[r] === 1 ? g.plaintexts![i]! : 0n))
          nodes.push({ node: node.id, gradients: Compute.toList(e.pk, yield* Compute.encrypt(e, masked)) })
          counters.encryptions += masked.length
        }
      }
      return { kind: "remote", request: { tree: g.index, depth: g.frontier[0]!.depth, nodes } } satisfies Level
    })

  /** Decrypts each feature holder's reply into the computed nodes' histograms; derives their siblings'. */
  const readHistograms = (g: Growing, replies: ReadonlyArray<Spec.HistogramReply>) =>
    Effect.gen(function*() {
      const { e, sk } = yield* ready()
      if (replies.length !== k) return yield* Effect.fail(invalid(0, `${replies.length} histogram replies for ${k} feature holders`))
      for (const node of g.computed) node.remote = []
      for (const [i, reply] of replies.entries()) {
        const party = i + 1
        const bins = summaries[i]!.bins
        const cellsPerNode = bins.reduce((a, b) => a + b - 1, 0)
        const cells = cellsPerNode * g.computed.length
        if (reply.tree !== g.index) return yield* Effect.fail(invalid(party, `histograms of tree ${reply.tree}, expected ${g.index}`))
        const raw = yield* Compute.fromList(e.pk, reply.histograms, GhPacking.ciphertextsFor(g.layout!, cells), "histograms", party)
        const plaintexts = yield* Compute.decrypt(e, sk, raw)
        counters.decryptions += plaintexts.length
        const flat = yield* guard(party, "InvalidMessage", () =>
          plaintexts.flatMap((x, c) => GhPacking.unpackCells(g.layout!, x, Math.min(g.layout!.cellsPerCiphertext, cells - c * g.layout!.cellsPerCiphertext))))
        let at = 0
        for (const node of g.computed) {
          node.remote!.push(bins.map((b) => {
            const out = { g: new Float64Array(b - 1), h: new Float64Array(b - 1) }
            for (let c = 0; c < b - 1; c++, at++) {
              out.g[c] = flat[2 * at]!
              out.h[c] = flat[2 * at + 1]!
            }
            return out
          }))
        }
      }
      for (const node of g.frontier) {
        if (node.computed === true) continue
        const parent = node.parent!.remote!
        const sibling = node.sibling!.remote!
        node.remote = parent.map((features, p) => features.map((cum, f) => ({
          g: cum.g.map((x, c) => x - sibling[p]![f]!.g[c]!),
          h: cum.h.map((x, c) => x - sibling[p]![f]!.h[c]!)
        })))
      }
    })

  /**
   * Picks each node's best split. Splits on the label holder's columns are applied at once; splits on a
   * feature holder's column become that party's SplitRequest (one per party with any).
   */
  const chooseSplits = (replies: ReadonlyArray<Spec.HistogramReply>) =>
    Effect.gen(function*() {
      const { e } = yield* ready()
      const g = yield* tree()
      if (g.frontier.length === 0 || g.awaiting.size > 0) return yield* Effect.fail(invalid(0, "no level awaits its splits"))
      if (!g.local) yield* readHistograms(g, replies)
      const requests = new Map<number, Array<Spec.SplitRequest["splits"][number]>>()
      for (const node of g.frontier) {
        const own: Array<Split.FeatureHistogram> = binned.codes.map((codes, f) => ({ party: 0, feature: f, ...Split.cumulative(codes, ownBins[f]!, node.train, g.gq, g.hq) }))
        const remote: Array<Split.FeatureHistogram> = (node.remote ?? []).flatMap((features, p) => features.map((cum, f) => ({ party: p + 1, feature: f, ...cum })))
        const choice = Split.bestSplit(hyper, node.totals, [...own, ...remote])
        if (choice === undefined) {
          leaf(g, node)
          continue
        }
        const left = g.nodes.length
        g.nodes.push({ kind: "leaf", weight: 0 }, { kind: "leaf", weight: 0 })
        node.choice = { ...choice, left }
        g.gains.push({ party: choice.party, gain: choice.gain })
        if (choice.party === 0) {
          counters.ownSplits++
          g.nodes[node.id] = { kind: "split", party: 0, column: binned.columns[choice.feature]!, threshold: binned.bins[choice.feature]!.cuts[choice.bin]!, left, right: left + 1 }
          continue
        }
        counters.remoteSplits++
        const rows = mergeSorted(node.train, node.validation)
        const list = requests.get(choice.party) ?? []
        if (input.mode === "standard") list.push({ node: node.id, feature: choice.feature, bin: choice.bin, rows: Residues.encodeRows(rows) })
        else {
          const inNode = new Uint8Array(input.ids.length)
          for (const r of rows) inNode[r] = 1
          const indicators = yield* Compute.encrypt(e, Array.from(evaluated, (r) => BigInt(inNode[r]!)))
          counters.encryptions += evaluated.length
          list.push({ node: node.id, feature: choice.feature, bin: choice.bin, indicators: Compute.toList(e.pk, indicators) })
        }
        requests.set(choice.party, list)
        g.awaiting.set(node.id, { node, party: choice.party, rows: input.mode === "standard" ? rows : evaluated })
      }
      return [...requests.entries()].map(([party, splits]) => ({ party, request: { tree: g.index, splits } satisfies Spec.SplitRequest }))
    })

  /** Reads the feature holders' split replies, partitions every split node's rows and opens the next level. */
  const applySplits = (replies: ReadonlyArray<{ readonly party: number; readonly reply: Spec.SplitReply }>) =>
    Effect.gen(function*() {
      const { e, sk } = yield* ready()
      const g = yield* tree()
      const lefts = new Map<number, Uint8Array>()
      for (const { party, reply } of replies) {
        if (reply.tree !== g.index) return yield* Effect.fail(invalid(party, `split reply of tree ${reply.tree}, expected ${g.index}`))
        for (const s of reply.splits) {
          const waiting = g.awaiting.get(s.node)
          if (waiting === undefined || waiting.party !== party || lefts.has(s.node)) return yield* Effect.fail(invalid(party, `no split of node ${s.node} was asked of party ${party}`))
          if (!/^[0-9a-f]{8,64}$/.test(s.record)) return yield* Effect.fail(invalid(party, `node ${s.node}: record id must be 8–64 lowercase hex digits`))
          let bits: Uint8Array
          if (input.mode === "standard") bits = yield* guard(party, "InvalidMessage", () => Residues.decodeBits(s.left, waiting.rows.length, `node ${s.node}`, party))
          else {
            const per = e.pk.bits - 2
            const raw = yield* Compute.fromList(e.pk, s.left, Math.ceil(evaluated.length / per), `node ${s.node}`, party)
            const packed = yield* Compute.decrypt(e, sk, raw)
            counters.decryptions += packed.length
            bits = new Uint8Array(evaluated.length)
            for (const [c, x] of packed.entries()) {
              if (x < 0n || x >> BigInt(per) !== 0n) return yield* Effect.fail(invalid(party, `node ${s.node}: packed decisions out of range`))
              const binary = x.toString(2)
              for (let j = 0; j < binary.length; j++) if (binary[binary.length - 1 - j] === "1") bits[c * per + j] = 1
            }
            const inNode = new Uint8Array(input.ids.length)
            for (const r of waiting.node.train) inNode[r] = 1
            for (const r of waiting.node.validation) inNode[r] = 1
            if (evaluated.some((r, i) => bits[i] === 1 && inNode[r] === 0)) return yield* Effect.fail(invalid(party, `node ${s.node}: a decision for a row outside the node`))
          }
          const left = new Uint8Array(input.ids.length)
          waiting.rows.forEach((r, i) => {
            left[r] = bits[i]!
          })
          lefts.set(s.node, left)
          const choice = waiting.node.choice!
          g.nodes[s.node] = { kind: "remote", party, record: s.record, left: choice.left, right: choice.left + 1 }
        }
      }
      if (lefts.size !== g.awaiting.size) return yield* Effect.fail(invalid(0, `${g.awaiting.size - lefts.size} split(s) unanswered`))
      const next: Array<Open> = []
      for (const node of g.frontier) {
        const choice = node.choice
        if (choice === undefined) continue
        const goesLeft = choice.party === 0
          ? (r: number) => binned.codes[choice.feature]![r]! <= choice.bin
          : (r: number) => lefts.get(node.id)![r] === 1
        const [trainL, trainR] = partition(node.train, goesLeft)
        const [validL, validR] = partition(node.validation, goesLeft)
        const l = openNode(g, choice.left, node.depth + 1, trainL, validL, node)
        const r = openNode(g, choice.left + 1, node.depth + 1, trainR, validR, node)
        l.sibling = r
        r.sibling = l
        next.push(l, r)
      }
      g.frontier = next
      g.computed = []
      g.awaiting = new Map()
    })

  /** Closes the tree: validation loss and the early-stopping decision. */
  const endTree = () =>
    Effect.gen(function*() {
      const g = yield* tree()
      if (g.frontier.length > 0) return yield* Effect.fail(invalid(0, `tree ${g.index} still has open nodes`))
      trees.push({ nodes: g.nodes })
      treeGains.push(g.gains)
      growing = undefined
      const trainLoss = Objective.loss(hyper.objective, margins, input.labels, split.train)
      let loss: number | undefined
      if (split.validation.length > 0) {
        loss = Objective.loss(hyper.objective, margins, input.labels, split.validation)
        validationLoss.push(loss)
        if (loss < best.loss) best = { loss, trees: trees.length }
      }
      const stopped = hyper.earlyStoppingRounds !== undefined && split.validation.length > 0 && trees.length - best.trees >= hyper.earlyStoppingRounds
      return { tree: g.index, trainLoss, validationLoss: loss, stop: stopped || trees.length >= hyper.trees }
    })

  /** The kept trees (the best prefix under early stopping) and the message that tells the feature holders. */
  const finish = () => {
    const kept = hyper.earlyStoppingRounds !== undefined && split.validation.length > 0 ? best.trees : trees.length
    const model: LabelHolderModel = { objective: hyper.objective, baseMargin, trees: trees.slice(0, kept), parties: k }
    return { model, message: { trees: kept } satisfies Spec.Finish, importance: importanceOf(treeGains.slice(0, kept), k) }
  }

  /** The state after the finished trees (Parts.LabelHolderProgress): what a resumed run restores. */
  const snapshot = (): LabelHolderProgress => ({
    trees: [...trees],
    ids: Array.from(evaluated, (r) => input.ids[r]!),
    margins: Array.from(evaluated, (r) => margins[r]!),
    validationLoss: [...validationLoss],
    gains: treeGains.map((g) => [...g])
  })

  /**
   * Continues from a snapshot of an interrupted run of the same task: its trees, and the margins of the same
   * training and validation rows (matched by id: the new join's row order differs), so the next tree's gradients
   * are bit for bit the ones the interrupted run would have used.
   */
  const restore = (p: LabelHolderProgress) =>
    Effect.gen(function*() {
      const mismatch = (detail: string) => Effect.fail(new SecureBoostError({ reason: "ResumeMismatch", party: 0, detail }))
      if (growing !== undefined || trees.length > 0) return yield* mismatch("progress is restored before the first tree only")
      if (p.ids.length !== evaluated.length || p.margins.length !== p.ids.length || p.validationLoss.length > p.trees.length || p.gains.length !== p.trees.length) {
        return yield* mismatch(`the saved progress holds ${p.ids.length} training and validation rows, this run ${evaluated.length}`)
      }
      const saved = new Map(p.ids.map((id, i) => [id, p.margins[i]!] as const))
      for (const r of evaluated) {
        const m = saved.get(input.ids[r]!)
        if (m === undefined) return yield* mismatch(`row ${input.ids[r]} was not a training or validation row of the interrupted run`)
        margins[r] = m
      }
      trees.push(...p.trees)
      treeGains.push(...p.gains)
      for (const loss of p.validationLoss) {
        validationLoss.push(loss)
        if (loss < best.loss) best = { loss, trees: validationLoss.length }
      }
    })

  return {
    snapshot,
    restore,
    bins: () => binsDigest(binned),
    start,
    startTree,
    nextLevel,
    chooseSplits,
    applySplits,
    endTree,
    finish,
    split,
    counters,
    validationLoss: () => validationLoss,
    /** Margins of training and validation rows after every grown tree (the kept ones are in `finish`). */
    margins: () => margins,
    columns: binned.columns,
    publicKey: () => key?.publicKey
  }
}

export type LabelHolder = ReturnType<typeof make>
