/**
 * A feature holder ("passive party"): bins its own columns, sums the label holder's encrypted gradients per
 * bin (Compute.histograms, worker pool), keeps the lookup table of its splits and answers which rows go left.
 * What it learns is in spec.ts. Every message from the label holder is checked against this party's state
 * (tree, lengths, row ranges, column positions, bins) before any work; a bad one is a SecureBoostError
 * "InvalidMessage" and changes nothing.
 */
import { Effect } from "effect"
import type { KeySizePolicy, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import * as Binning from "./Binning.ts"
import { binsDigest } from "./Binning.ts"
import * as Compute from "./Compute.ts"
import { guard, invalid, SecureBoostError } from "./Errors.ts"
import * as GhPacking from "./GhPacking.ts"
import type { FeatureHolderModel, LookupEntry } from "./Model.ts"
import * as Residues from "./Residues.ts"
import * as Roles from "./Roles.ts"
import type * as Spec from "./spec.ts"

export interface Input {
  /** This party's index in the task's party order (≥ 1; the label holder is 0). */
  readonly party: number
  /** Ids of the aligned rows, in the common order. */
  readonly ids: ReadonlyArray<string>
  /** This party's feature columns over the aligned rows. */
  readonly columns: ReadonlyArray<{ readonly name: string; readonly values: Float64Array }>
  readonly maxBins: number
  readonly fractions: Roles.Fractions
  readonly mode: Spec.Mode
}

export interface Options {
  /** Tests only, never a task parameter: accept the label holder's key below 2048 bits. */
  readonly unsafeAllowTestKeySizes?: boolean
}

interface Tree {
  readonly index: number
  readonly local: boolean
  readonly layout?: GhPacking.Layout
  /** Standard mode: [[g + 2^W·h]] of the training rows, bare residues in training-row order. */
  readonly gradients?: Uint8Array
}

const randomRecord = (): string => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("")

export const make = (input: Input, options: Options = {}) => {
  const party = input.party
  const split = Roles.split(input.ids, input.fractions)
  const binned = Binning.binColumns(input.columns, split.train, input.maxBins, party)
  const F = binned.columns.length
  const binCounts = binned.bins.map(Binning.binCount)
  // Training-row position of each aligned row (−1 for the others), and the sorted train ∪ validation rows.
  const trainPosition = new Int32Array(input.ids.length).fill(-1)
  split.train.forEach((r, i) => {
    trainPosition[r] = i
  })
  const evaluated = Uint32Array.from([...split.train, ...split.validation].sort((a, b) => a - b))
  const policy: KeySizePolicy = { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }
  let pk: PublicKey | undefined
  let tree: Tree | undefined
  const entries: Array<LookupEntry> = []

  const engine = () => (pk === undefined ? Effect.fail(invalid(party, "no key announced yet")) : Compute.engine(pk, policy, party))
  const current = (index: number) =>
    tree === undefined || tree.index !== index ? Effect.fail(invalid(party, `tree ${index} is not the current tree ${tree?.index ?? "(none)"}`)) : Effect.succeed(tree)

  /** Row-major codes of `rows` (m × F). */
  const codesOf = (rows: ArrayLike<number>): Uint8Array => {
    const out = new Uint8Array(rows.length * F)
    for (let i = 0; i < rows.length; i++) for (let f = 0; f < F; f++) out[i * F + f] = binned.codes[f]![rows[i]!]!
    return out
  }

  const summary = (): Spec.FeatureSummary => ({ party, rows: input.ids.length, bins: binCounts })

  const acceptKey = (msg: Spec.KeyAnnouncement) =>
    Effect.try({
      try: () => {
        if (pk !== undefined) throw new Error("a key was announced already")
        // The participant refuses keys below 2048 bits whatever the task says (Keys.checkBits).
        pk = Serialization.decodePublicKey(msg.publicKey, policy)
      },
      catch: (error) => invalid(party, `key: ${error instanceof Error ? error.message : String(error)}`)
    })

  const startTree = (msg: Spec.TreeStart) =>
    Effect.gen(function*() {
      const e = yield* engine()
      const expected = tree === undefined ? 0 : tree.index + 1
      if (msg.tree !== expected) return yield* Effect.fail(invalid(party, `tree ${msg.tree} announced, expected ${expected}`))
      if (msg.local) {
        tree = { index: msg.tree, local: true }
        return
      }
      const layout = yield* guard(party, "InvalidMessage", () => GhPacking.layoutFromSlotBits(e.pk, msg.slotBits, party))
      if (input.mode === "standard") {
        if (msg.gradients === undefined) return yield* Effect.fail(invalid(party, "standard mode: the tree's gradients are missing"))
        const gradients = yield* Compute.fromList(e.pk, msg.gradients, split.train.length, "gradients", party)
        tree = { index: msg.tree, local: false, layout, gradients }
      } else {
        if (msg.gradients !== undefined) return yield* Effect.fail(invalid(party, "hidden-instances mode sends gradients per node"))
        tree = { index: msg.tree, local: false, layout }
      }
    })

  const histograms = (msg: Spec.HistogramRequest) =>
    Effect.gen(function*() {
      const e = yield* engine()
      const t = yield* current(msg.tree)
      if (t.local || t.layout === undefined) return yield* Effect.fail(invalid(party, `tree ${msg.tree} is grown by the label holder alone`))
      const w = e.width
      const parts: Array<Uint8Array> = []
      const nodeOf: Array<number> = []
      const rowsOf: Array<ArrayLike<number>> = []
      for (const [k, node] of msg.nodes.entries()) {
        if (input.mode === "standard") {
          if (node.rows === undefined || node.gradients !== undefined) return yield* Effect.fail(invalid(party, `node ${node.node}: standard mode sends rows`))
          const rows = yield* guard(party, "InvalidMessage", () => Residues.decodeRows(node.rows!, input.ids.length, `node ${node.node}`, party))
          const cts = new Uint8Array(rows.length * w)
          for (let i = 0; i < rows.length; i++) {
            const p = trainPosition[rows[i]!]!
            if (p < 0) return yield* Effect.fail(invalid(party, `node ${node.node}: row ${rows[i]} is not a training row`))
            cts.set(t.gradients!.subarray(p * w, (p + 1) * w), i * w)
          }
          parts.push(cts)
          rowsOf.push(rows)
          for (let i = 0; i < rows.length; i++) nodeOf.push(k)
        } else {
          if (node.gradients === undefined || node.rows !== undefined) return yield* Effect.fail(invalid(party, `node ${node.node}: hidden-instances mode sends gradients`))
          parts.push(yield* Compute.fromList(e.pk, node.gradients, split.train.length, `node ${node.node}`, party))
          rowsOf.push(split.train)
          for (let i = 0; i < split.train.length; i++) nodeOf.push(k)
        }
      }
      if (msg.nodes.length > 0xffff) return yield* Effect.fail(invalid(party, "too many nodes in one level"))
      const packed = yield* Compute.histograms(e, {
        ciphertexts: Residues.concat(parts),
        nodeOf: Uint16Array.from(nodeOf),
        codes: Residues.concat(rowsOf.map(codesOf)),
        nodes: msg.nodes.length,
        binCounts,
        modes: binned.modes,
        slotBits: t.layout.slotBits,
        cellsPerCiphertext: t.layout.cellsPerCiphertext
      })
      return { tree: msg.tree, depth: msg.depth, histograms: Compute.toList(e.pk, packed) } satisfies Spec.HistogramReply
    })

  const splitRows = (msg: Spec.SplitRequest) =>
    Effect.gen(function*() {
      const e = yield* engine()
      const t = yield* current(msg.tree)
      if (t.local) return yield* Effect.fail(invalid(party, `tree ${msg.tree} is grown by the label holder alone`))
      const replies: Array<Spec.SplitReply["splits"][number]> = []
      const created: Array<LookupEntry> = []
      for (const s of msg.splits) {
        if (s.feature >= F) return yield* Effect.fail(invalid(party, `node ${s.node}: no column at position ${s.feature}`))
        if (s.bin >= binCounts[s.feature]! - 1) return yield* Effect.fail(invalid(party, `node ${s.node}: bin ${s.bin} is not a split point of column ${s.feature}`))
        const codes = binned.codes[s.feature]!
        const record = randomRecord()
        created.push({ record, tree: msg.tree, column: binned.columns[s.feature]!, threshold: binned.bins[s.feature]!.cuts[s.bin]! })
        if (input.mode === "standard") {
          if (s.rows === undefined) return yield* Effect.fail(invalid(party, `node ${s.node}: standard mode sends rows`))
          const rows = yield* guard(party, "InvalidMessage", () => Residues.decodeRows(s.rows!, input.ids.length, `split ${s.node}`, party))
          // Test rows stay out of training: a request naming one is refused, not answered.
          if (rows.some((r) => split.roles[r] === Roles.Role.test)) return yield* Effect.fail(invalid(party, `node ${s.node}: asks about a test row`))
          const left = new Uint8Array(rows.length)
          rows.forEach((r, i) => {
            left[i] = codes[r]! <= s.bin ? 1 : 0
          })
          replies.push({ node: s.node, record, left: Residues.encodeBits(left) })
        } else {
          if (s.indicators === undefined) return yield* Effect.fail(invalid(party, `node ${s.node}: hidden-instances mode sends indicators`))
          const indicators = yield* Compute.fromList(e.pk, s.indicators, evaluated.length, `split ${s.node}`, party)
          const bits = Uint8Array.from(evaluated, (r) => (codes[r]! <= s.bin ? 1 : 0))
          replies.push({ node: s.node, record, left: Compute.toList(e.pk, yield* Compute.selectBits(e, indicators, bits)) })
        }
      }
      entries.push(...created)
      return { tree: msg.tree, splits: replies } satisfies Spec.SplitReply
    })

  const finish = (msg: Spec.Finish): FeatureHolderModel => {
    tree = undefined
    return { party, entries: entries.filter((e) => e.tree < msg.trees) }
  }

  /** The lookup records of the finished trees (before tree `next` starts). */
  const snapshot = (next: number): ReadonlyArray<LookupEntry> => entries.filter((e) => e.tree < next)

  /** Continues an interrupted run of the same task after `trees` trees, with their lookup records. */
  const restore = (trees: number, saved: ReadonlyArray<LookupEntry>) =>
    tree !== undefined || entries.length > 0
      ? Effect.fail(new SecureBoostError({ reason: "ResumeMismatch", party, detail: "progress is restored before the first tree only" }))
      : saved.some((e) => e.tree >= trees || !binned.columns.includes(e.column))
      ? Effect.fail(new SecureBoostError({ reason: "ResumeMismatch", party, detail: `the saved lookup records do not belong to the first ${trees} trees of this party's columns` }))
      : Effect.sync(() => {
        entries.push(...saved)
        // As if tree trees − 1 had just ended here: the next TreeStart must announce tree `trees`.
        if (trees > 0) tree = { index: trees - 1, local: true }
      })

  return { party, summary, acceptKey, startTree, histograms, split: splitRows, finish, snapshot, restore, bins: () => binsDigest(binned) }
}

export type FeatureHolder = ReturnType<typeof make>
