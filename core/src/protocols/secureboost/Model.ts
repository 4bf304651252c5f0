/**
 * The trained model, in the parts each party keeps (SecureBoost §4, "lookup table"):
 *
 * - the label holder keeps every tree's shape and leaf weights; a split on its own column carries the column
 *   and threshold, a split on another party's column only that party and the record id of its lookup entry;
 * - a feature holder keeps its lookup table: record id → (tree, column, threshold), nothing else.
 *
 * Node numbering is breadth-first in creation order (root 0; the children of a level's nodes, left before
 * right, in that level's order), the same in the secure parties and the plaintext reference, so their trees can
 * be compared node by node.
 */
import { Schema } from "effect"
import { objectives } from "./Objective.ts"

export const Leaf = Schema.Struct({ kind: Schema.Literal("leaf"), weight: Schema.Finite })
export const OwnSplit = Schema.Struct({
  kind: Schema.Literal("split"),
  party: Schema.Literal(0),
  column: Schema.String,
  threshold: Schema.Finite,
  left: Schema.Int,
  right: Schema.Int
})
export const RemoteSplit = Schema.Struct({
  kind: Schema.Literal("remote"),
  /** Index of the owner in the task's party order (≥ 1: the label holder is 0). */
  party: Schema.Int,
  record: Schema.String,
  left: Schema.Int,
  right: Schema.Int
})
export const Node = Schema.Union([Leaf, OwnSplit, RemoteSplit])
export type Node = typeof Node.Type

export const Tree = Schema.Struct({ nodes: Schema.Array(Node) })
export type Tree = typeof Tree.Type

/** What the label holder seals at rest. */
export const LabelHolderModel = Schema.Struct({
  objective: Schema.Literals(objectives),
  baseMargin: Schema.Finite,
  trees: Schema.Array(Tree),
  /** Feature holders' party indices (1…) whose lookup entries the trees reference. */
  parties: Schema.Int
})
export type LabelHolderModel = typeof LabelHolderModel.Type

export const LookupEntry = Schema.Struct({
  record: Schema.String,
  tree: Schema.Int,
  column: Schema.String,
  threshold: Schema.Finite
})
export type LookupEntry = typeof LookupEntry.Type

/** What a feature holder seals at rest: its lookup table. */
export const FeatureHolderModel = Schema.Struct({ party: Schema.Int, entries: Schema.Array(LookupEntry) })
export type FeatureHolderModel = typeof FeatureHolderModel.Type

/**
 * The leaf a row reaches in `tree`, asking `goesLeft` at every split (the label holder's own splits and remote
 * ones alike: the caller decides how each is answered).
 */
export const leafOf = (tree: Tree, goesLeft: (node: Exclude<Node, { kind: "leaf" }>) => boolean): number => {
  let at = 0
  for (;;) {
    const node = tree.nodes[at]!
    if (node.kind === "leaf") return at
    at = goesLeft(node) ? node.left : node.right
  }
}

export const weightOf = (tree: Tree, leaf: number): number => {
  const node = tree.nodes[leaf]!
  if (node.kind !== "leaf") throw new RangeError(`node ${leaf} is not a leaf`)
  return node.weight
}
