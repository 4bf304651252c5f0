/**
 * Joint prediction (spec.ts "Prediction"): the label holder walks every record through every tree; its own
 * splits it answers from its own columns, a split owned by a feature holder it asks that party by lookup record
 * id. All records and trees advance together, one round per level, so a batch of any size takes at most
 * maxDepth rounds, and an online request of one id the same. Each feature holder sees only the (record
 * position, lookup record) pairs of its own splits that some record reached; the label holder sees the path and
 * the score; the requester gets the score.
 */
import { Effect } from "effect"
import { invalid, SecureBoostError } from "./Errors.ts"
import type { FeatureHolderModel, LabelHolderModel } from "./Model.ts"
import * as Objective from "./Objective.ts"
import * as Residues from "./Residues.ts"
import type * as Spec from "./spec.ts"

export interface Values {
  /** Values of a column over the request's records, in request order. */
  readonly column: (name: string) => Float64Array | undefined
  readonly records: number
}

const encodePairs = (pairs: ReadonlyArray<readonly [number, number]>): Uint8Array => {
  const out = new Uint8Array(pairs.length * 8)
  const view = new DataView(out.buffer)
  pairs.forEach(([a, b], i) => {
    view.setUint32(8 * i, a, true)
    view.setUint32(8 * i + 4, b, true)
  })
  return out
}

/** The label holder's side of one prediction request. */
export const walker = (model: LabelHolderModel, request: string, own: Values) => {
  const at = model.trees.map(() => new Int32Array(own.records))
  let round = 0
  /** The last round's questions, per party: (tree, record) in query order. */
  let asked = new Map<number, Array<readonly [number, number]>>()

  const ownValue = (column: string, record: number): number => {
    const values = own.column(column)
    if (values === undefined) throw new SecureBoostError({ reason: "InvalidData", party: 0, detail: `the model splits on column ${column}, which this dataset lacks` })
    const x = values[record]!
    if (!Number.isFinite(x)) throw new SecureBoostError({ reason: "InvalidData", party: 0, detail: `column ${column}, record ${record}: ${x} is not finite` })
    return x
  }

  /** Advances every (tree, record) through the label holder's own splits; returns the next round's queries. */
  const next = (): Effect.Effect<Map<number, Spec.PredictQuery> | undefined, SecureBoostError> =>
    Effect.try({
      try: () => {
        const queries = new Map<number, { records: Array<string>; index: Map<string, number>; pairs: Array<readonly [number, number]> }>()
        asked = new Map()
        model.trees.forEach((tree, t) => {
          for (let i = 0; i < own.records; i++) {
            for (;;) {
              const node = tree.nodes[at[t]![i]!]!
              if (node.kind === "leaf") break
              if (node.kind === "split") {
                at[t]![i] = ownValue(node.column, i) <= node.threshold ? node.left : node.right
                continue
              }
              let q = queries.get(node.party)
              if (q === undefined) queries.set(node.party, (q = { records: [], index: new Map(), pairs: [] }))
              let r = q.index.get(node.record)
              if (r === undefined) {
                r = q.records.length
                q.records.push(node.record)
                q.index.set(node.record, r)
              }
              q.pairs.push([i, r])
              const list = asked.get(node.party) ?? []
              list.push([t, i])
              asked.set(node.party, list)
              break
            }
          }
        })
        if (queries.size === 0) return undefined
        const out = new Map<number, Spec.PredictQuery>()
        for (const [party, q] of queries) out.set(party, { request, round, records: q.records, queries: encodePairs(q.pairs) })
        return out
      },
      catch: (error) => (error instanceof SecureBoostError ? error : invalid(0, String(error)))
    })

  /** Applies one party's answer to this round's questions. */
  const answer = (party: number, a: Spec.PredictAnswer): Effect.Effect<void, SecureBoostError> =>
    Effect.try({
      try: () => {
        const questions = asked.get(party)
        if (questions === undefined || a.request !== request || a.round !== round) throw invalid(party, `answer to round ${a.round} of ${a.request} was not asked`)
        const bits = Residues.decodeBits(a.left, questions.length, "prediction answer", party)
        questions.forEach(([t, i], k) => {
          const node = model.trees[t]!.nodes[at[t]![i]!]!
          if (node.kind === "leaf") throw invalid(party, "answer for a record at a leaf")
          at[t]![i] = bits[k] === 1 ? node.left : node.right
        })
        asked.delete(party)
      },
      catch: (error) => (error instanceof SecureBoostError ? error : invalid(party, String(error)))
    })

  /** Closes the round (every asked party must have answered). */
  const endRound = (): Effect.Effect<void, SecureBoostError> =>
    asked.size > 0 ? Effect.fail(invalid([...asked.keys()][0]!, `no answer in round ${round}`)) : Effect.sync(() => void round++)

  /** Margins after the walk (every record at a leaf of every tree). */
  const margins = (): Float64Array => {
    const out = new Float64Array(own.records).fill(model.baseMargin)
    model.trees.forEach((tree, t) => {
      for (let i = 0; i < own.records; i++) {
        const node = tree.nodes[at[t]![i]!]!
        if (node.kind !== "leaf") throw new RangeError(`record ${i} has not reached a leaf of tree ${t}`)
        out[i]! += node.weight
      }
    })
    return out
  }

  const predictions = (): Float64Array => margins().map((m) => Objective.transform(model.objective, m))

  return { next, answer, endRound, margins, predictions }
}

/** A feature holder's answer to one round: x ≤ threshold for each asked (record, lookup record). */
export const answer = (model: FeatureHolderModel, values: Values, q: Spec.PredictQuery): Effect.Effect<Spec.PredictAnswer, SecureBoostError> =>
  Effect.try({
    try: () => {
      const party = model.party
      const byRecord = new Map(model.entries.map((e) => [e.record, e] as const))
      const entries = q.records.map((r) => {
        const e = byRecord.get(r)
        if (e === undefined) throw new SecureBoostError({ reason: "UnknownRecord", party, detail: `no lookup record ${r}` })
        const column = values.column(e.column)
        if (column === undefined) throw new SecureBoostError({ reason: "InvalidData", party, detail: `lookup record ${r} splits on column ${e.column}, which this dataset lacks` })
        return { threshold: e.threshold, column, name: e.column }
      })
      if (q.queries.length % 8 !== 0) throw invalid(party, "queries must be u32 pairs")
      const view = new DataView(q.queries.buffer, q.queries.byteOffset, q.queries.byteLength)
      const count = q.queries.length / 8
      const left = new Uint8Array(count)
      for (let k = 0; k < count; k++) {
        const record = view.getUint32(8 * k, true)
        const entry = entries[view.getUint32(8 * k + 4, true)]
        if (record >= values.records || entry === undefined) throw invalid(party, `query ${k} names record ${record} or a lookup index out of range`)
        const x = entry.column[record]!
        if (!Number.isFinite(x)) throw new SecureBoostError({ reason: "InvalidData", party, detail: `column ${entry.name}, record ${record}: ${x} is not finite` })
        left[k] = x <= entry.threshold ? 1 : 0
      }
      return { request: q.request, round: q.round, left: Residues.encodeBits(left) }
    },
    catch: (error) => (error instanceof SecureBoostError ? error : invalid(model.party, String(error)))
  })
