/**
 * Test and bench support: the repository's vertical splits (datasets/*_vertical_party_{a,b,c}.csv, full files,
 * label at party a) as aligned party inputs for LocalRun, and synthetic tables for scale. The alignment stands
 * in for the aligned PSI join: the ids every party holds, in the label holder's file order.
 */
import { readFileSync } from "node:fs"
import { datasetFile } from "./Datasets.ts"
import type { PartyData, TrainInput } from "../protocols/secureboost/LocalRun.ts"
import * as Reference from "../protocols/secureboost/Reference.ts"

export type Vertical = Pick<TrainInput, "labelHolder" | "featureHolders">

interface Csv {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

const parse = (text: string): Csv => {
  const [header, ...lines] = text.trim().split(/\r?\n/)
  return { header: header!.split(","), rows: lines.map((l) => l.split(",")) }
}

const party = (csv: Csv, ids: ReadonlyArray<string>, skip: ReadonlyArray<string>): PartyData => {
  const idAt = csv.header.indexOf("id")
  const byId = new Map(csv.rows.map((r) => [r[idAt]!, r] as const))
  return {
    ids,
    columns: csv.header.flatMap((name, k) => (skip.includes(name) ? [] : [{ name, values: Float64Array.from(ids, (id) => Number(byId.get(id)![k])) }]))
  }
}

/**
 * A vertical split of `datasets/` (bcw, wdbc, german_credit), the label column `label` at party a; with `_psi`,
 * the files where each party holds 85% of the ids (bcw, wdbc), restricted to the ids all three hold.
 */
export const vertical = (name: "bcw" | "wdbc" | "german_credit", suffix: "" | "_psi" = ""): Vertical => {
  const csvs = ["a", "b", "c"].map((p) => parse(readFileSync(datasetFile(`${name}_vertical_party_${p}${suffix}.csv`), "utf8")))
  const idsOf = (c: Csv) => c.rows.map((r) => r[c.header.indexOf("id")]!)
  const held = csvs.slice(1).map((c) => new Set(idsOf(c)))
  const ids = idsOf(csvs[0]!).filter((id) => held.every((s) => s.has(id)))
  const a = csvs[0]!
  const labelAt = a.header.indexOf("label")
  const labelById = new Map(a.rows.map((r) => [r[a.header.indexOf("id")]!, Number(r[labelAt])] as const))
  return {
    labelHolder: { ...party(a, ids, ["id", "label"]), labels: Float64Array.from(ids, (id) => labelById.get(id)!) },
    featureHolders: csvs.slice(1).map((c) => party(c, ids, ["id"]))
  }
}

/** The plaintext reference's joined table of a vertical set. */
export const joined = (v: Vertical): Reference.Table => Reference.join([v.labelHolder, ...v.featureHolders], v.labelHolder.labels)

/** A tiny deterministic PRNG (xorshift32) for synthetic data: reproducible, never for secrets. */
export const prng = (seed: number) => {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

/**
 * A synthetic binary task of `rows` rows over parties with `features[i]` continuous columns each: the label is
 * a noisy logistic function of a few columns of every party, so every party's columns matter.
 */
export const synthetic = (rows: number, features: ReadonlyArray<number>, seed = 7): Vertical => {
  const random = prng(seed)
  const ids = Array.from({ length: rows }, (_, i) => `row-${String(i).padStart(7, "0")}`)
  const parties = features.map((count, p) => ({
    ids,
    columns: Array.from({ length: count }, (_, f) => ({ name: `p${p}_f${f}`, values: Float64Array.from({ length: rows }, () => random() * 2 - 1) }))
  }))
  const score = new Float64Array(rows)
  parties.forEach((p) => p.columns.slice(0, 3).forEach((c, f) => c.values.forEach((x, i) => {
    score[i]! += (f === 1 ? -1.5 : 1.2) * x + (f === 2 ? x * x : 0)
  })))
  const labels = score.map((s) => (random() < 1 / (1 + Math.exp(-2 * s)) ? 1 : 0))
  return { labelHolder: { ...parties[0]!, labels }, featureHolders: parties.slice(1) }
}

/** The parties of the diabetes regression task (fixtures/xgboost_reference.py DIABETES_PARTIES), label at the first. */
export const diabetesParties = [["age", "sex", "bmi"], ["bp", "s1", "s2", "s3"], ["s4", "s5", "s6"]] as const

/** datasets/diabetes.csv split over three parties by columns; ids d0001… by row. */
export const diabetes = (): Vertical => {
  const csv = parse(readFileSync(datasetFile("diabetes.csv"), "utf8"))
  const ids = csv.rows.map((_, i) => `d${String(i + 1).padStart(4, "0")}`)
  const column = (name: string) => Float64Array.from(csv.rows, (r) => Number(r[csv.header.indexOf(name)]))
  const parties = diabetesParties.map((names) => ({ ids, columns: names.map((name) => ({ name, values: column(name) })) }))
  return { labelHolder: { ...parties[0]!, labels: column("label") }, featureHolders: parties.slice(1) }
}
