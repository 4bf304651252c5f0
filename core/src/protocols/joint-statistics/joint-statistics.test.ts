/**
 * Joint statistics end to end in memory: both roles over InMemoryHost (every message through its Schema and
 * JSON), checked bit for bit against the integer reference of Aggregates and, independently, against float
 * arithmetic on the raw rows within the fixed-point rounding bound.
 */
import { Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import type { TaskSpec } from "../../task/TaskSpec.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import { ParticipantFailure } from "../Protocol.ts"
import { binOf, localVector, statistics } from "./Aggregates.ts"
import * as Coordinator from "./coordinator.ts"
import { Result as Decoded } from "effect"
import * as Protocols from "../Protocols.ts"
import * as Participant from "./participant.ts"
import { Params, type Result } from "./spec.ts"
import { InvalidParams, validate } from "./spec.ts"

/** The declaration's verdict on a spec, as the scheduler reaches it (`Protocols.decodeTask`). */
const checkParams = (spec: TaskSpec) => {
  const decoded = Protocols.decodeTask(spec)
  return Decoded.isSuccess(decoded)
    ? { ok: true as const, task: decoded.success }
    : { ok: false as const, problem: decoded.failure._tag === "InvalidTaskParams" ? decoded.failure.problem : decoded.failure.message }
}

/** Seeded PRNG (mulberry32): a failure reproduces. Test data only, never keys. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Rows = Record<string, Array<number>>

const table = (name: string, rows: Rows): TabularData => {
  const columnNames = Object.keys(rows)
  const rowCount = rows[columnNames[0]!]!.length
  return {
    name,
    rowCount,
    columnNames,
    isNumeric: () => true,
    numeric: (column) => Float64Array.from(rows[column]!),
    strings: (column) => rows[column]!.map(String)
  }
}

/** Party data: a has negatives and three decimals, b is integer-valued, with values on and beyond the edges. */
const randomParty = (seed: number, rowCount: number): Rows => {
  const random = prng(seed)
  const a: Array<number> = []
  const b: Array<number> = []
  for (let i = 0; i < rowCount; i++) {
    a.push(Math.round((random() * 2000 - 1000) * 1000) / 1000)
    b.push(Math.floor(random() * 140) - 30)
  }
  // Edge cases of the histogram of b (edges -20..100): first edge, inner edge, last edge, just outside.
  b.push(-20, 0, 100, 100, -20.5, 100.5, 1e6)
  a.push(-0.001, 0, 0.001, -999.999, 999.999, 12.5, -12.5)
  return { a, b }
}

const edges = { b: [-20, 0, 25, 50, 100] }

const run = async (parties: ReadonlyArray<Rows>, params: Params, faults: ReadonlyArray<ReadonlyArray<InMemoryHost.Fault>> = []) => {
  const host = InMemoryHost.make(
    parties.map((rows, i) => {
      const data = table(`d${i}`, rows)
      const layer = Layer.succeed(LocalData, {
        dataset: (name: string) =>
          name === "shared"
            ? Effect.succeed(data)
            : Effect.fail(new ParticipantFailure({ participant: "?", stage: "dataset", code: "UnknownDataset", detail: name }))
      })
      return {
        handlers: Participant.handlers("shared", params),
        provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>,
        faults: faults[i] ?? []
      }
    })
  )
  const result = await Effect.runPromise(host.run((session) => Coordinator.run(session, params, { timeoutMs: 5_000 })))
  return { host, result: result as Result }
}

/** The integer reference: every party's local vector summed in plaintext. */
const reference = (parties: ReadonlyArray<Rows>, params: Params, contributors: ReadonlyArray<string>) => {
  const vectors = parties.map((rows, i) => localVector(table(`d${i}`, rows), params))
  const total = vectors[0]!.map((_, k) => vectors.reduce((acc, v) => acc + v[k]!, 0n))
  return statistics(total, params, contributors)
}

/** Float statistics of the pooled rows, computed without any fixed-point step. */
const floatStats = (values: ReadonlyArray<number>) => {
  const n = values.length
  const sum = values.reduce((s, x) => s + x, 0)
  const mean = sum / n
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)
  return { n, sum, mean, variance, std: Math.sqrt(variance) }
}

const pooled = (parties: ReadonlyArray<Rows>, column: string, keep: (row: Record<string, number>) => boolean = () => true) => {
  const out: Array<number> = []
  for (const rows of parties) {
    const names = Object.keys(rows)
    for (let i = 0; i < rows[names[0]!]!.length; i++) {
      const row = Object.fromEntries(names.map((c) => [c, rows[c]![i]!]))
      if (keep(row)) out.push(row[column]!)
    }
  }
  return out
}

const halfUlp = 2 ** -17

describe("joint statistics over InMemoryHost", () => {
  const parties = [randomParty(1, 400), randomParty(2, 250), randomParty(3, 333)]
  const all: Params = { columns: ["a", "b"], statistics: ["count", "sum", "mean", "variance", "std", "histogram"], histogram: edges }

  it("equals the integer reference exactly and float arithmetic within the fixed-point bound (negatives included)", async () => {
    const { host, result } = await run(parties, all)
    expect(result).toEqual(reference(parties, all, host.participants))
    expect(result.contributors).toEqual(host.participants)

    for (const column of ["a", "b"]) {
      const values = pooled(parties, column)
      const f = floatStats(values)
      const got = result.columns[column]!
      expect(result.count).toBe(f.n)
      // Each value is rounded once to a multiple of 2^-16: at most half a step of error per value.
      expect(Math.abs(got.sum! - f.sum)).toBeLessThanOrEqual(f.n * halfUlp + 1e-9)
      expect(Math.abs(got.mean! - f.mean)).toBeLessThanOrEqual(halfUlp + 1e-12)
      // Var(x + e) − Var(x) ≤ 2·std·max|e| + max|e|²; the float side adds its own tiny error.
      expect(Math.abs(got.variance! - f.variance)).toBeLessThanOrEqual(2 * f.std * halfUlp + halfUlp ** 2 + 1e-9 * f.variance)
      expect(Math.abs(got.std! - f.std)).toBeLessThanOrEqual(halfUlp + 1e-9 * f.std)
    }
    // b is integer-valued: its fixed-point encoding is exact, so only float rounding separates the two.
    const b = floatStats(pooled(parties, "b"))
    expect(result.columns.b!.sum).toBe(b.sum)
    expect(result.columns.b!.mean).toBeCloseTo(b.mean, 9)
    expect(Math.abs(result.columns.b!.variance! - b.variance)).toBeLessThanOrEqual(1e-9 * b.variance)
  })

  it("counts histogram bins numpy's way: [e_i, e_i+1), last bin closed, values outside not counted", async () => {
    const { result } = await run(parties, all)
    const values = pooled(parties, "b")
    const e = edges.b
    const expected = new Array<number>(e.length - 1).fill(0)
    for (const v of values) {
      if (v < e[0]! || v > e[e.length - 1]!) continue
      const bin = v === e[e.length - 1] ? e.length - 2 : e.findIndex((_, i) => i < e.length - 1 && v >= e[i]! && v < e[i + 1]!)
      expected[bin]!++
    }
    const histogram = result.columns.b!.histogram!
    expect(histogram.edges).toEqual(e)
    expect(histogram.counts).toEqual(expected)
    const inside = values.filter((v) => v >= -20 && v <= 100).length
    expect(histogram.counts.reduce((s, c) => s + c, 0)).toBe(inside)
    expect(inside).toBeLessThan(values.length) // the planted -20.5, 100.5 and 1e6 really are outside
    // The edge rules themselves.
    expect(binOf(e, -20)).toBe(0)
    expect(binOf(e, 0)).toBe(1)
    expect(binOf(e, 100)).toBe(3)
    expect(binOf(e, 99.999)).toBe(3)
    expect(binOf(e, -20.000001)).toBe(-1)
    expect(binOf(e, 100.000001)).toBe(-1)
    expect(binOf(e, Number.NaN)).toBe(-1)
  })

  it("applies the where filter to every statistic", async () => {
    const params: Params = { ...all, where: { column: "a", op: "<", value: 0 } }
    const { host, result } = await run(parties, params)
    expect(result).toEqual(reference(parties, params, host.participants))
    const negatives = (row: Record<string, number>) => row.a! < 0
    const f = floatStats(pooled(parties, "b", negatives))
    expect(result.count).toBe(f.n)
    expect(result.count).toBeLessThan(pooled(parties, "b").length)
    expect(result.columns.b!.sum).toBe(f.sum)
    expect(result.columns.b!.mean).toBeCloseTo(f.mean, 9)
    const a = floatStats(pooled(parties, "a", negatives))
    expect(a.mean).toBeLessThan(0)
    expect(Math.abs(result.columns.a!.mean! - a.mean)).toBeLessThanOrEqual(halfUlp)
    expect(result.columns.b!.histogram!.counts.reduce((s, c) => s + c, 0)).toBe(pooled(parties, "b", (r) => negatives(r) && r.b! >= -20 && r.b! <= 100).length)
  })

  it("stays exact over all parties when one drops out after sending its masked input (tolerance 1)", async () => {
    const params: Params = { ...all, dropoutTolerance: 1 }
    const { host, result } = await run(parties, params, [[], [], [{ kind: "dropout", fromStage: "secagg.unmask" }]])
    expect(result.contributors).toHaveLength(3)
    expect(result).toEqual(reference(parties, params, host.participants))
  })
})

describe("joint statistics parameters", () => {
  const party = (n: number) => ({ participant: `0x${n.toString(16).padStart(40, "0")}`, dataset: "d" })
  const spec = (params: unknown, parties = 3): TaskSpec =>
    ({ kind: "statistics.horizontal", initiator: party(99).participant, nonce: "n", parties: Array.from({ length: parties }, (_, i) => party(i + 1)), params }) as unknown as TaskSpec
  const base: Params = { columns: ["x", "y"], statistics: ["mean", "histogram"], histogram: { x: [0, 1, 2] } }

  it.each([
    ["columns", { ...base, columns: ["x", "x"] }, 3],
    ["histogram.x", { ...base, histogram: { x: [0, 2, 1] } }, 3],
    ["histogram.x", { ...base, histogram: { x: [0, 0] } }, 3],
    ["histogram.x", { ...base, histogram: { x: [5] } }, 3],
    ["histogram.z", { ...base, histogram: { x: [0, 1], z: [0, 1] } }, 3],
    ["histogram", { ...base, histogram: undefined }, 3],
    ["dropoutTolerance", { ...base, dropoutTolerance: 2 }, 3],
    ["dropoutTolerance", { ...base, dropoutTolerance: 1 }, 2],
    ["parties", base, 1]
  ] as const)("rejects a bad %s with InvalidParams naming the field", (field, params, parties) => {
    const problem = validate(Schema.decodeUnknownSync(Params)(params), parties)
    expect(problem).toBeInstanceOf(InvalidParams)
    expect(problem!.field).toBe(field)
    const checked = checkParams(spec(params, parties))
    expect(checked.ok).toBe(false)
    expect(!checked.ok && checked.problem).toContain(`invalid statistics parameters: ${field}:`)
  })

  it("rejects what the Schema cannot decode, naming the offending field", () => {
    const unknownStatistic = checkParams(spec({ ...base, statistics: ["median"] }))
    expect(unknownStatistic.ok).toBe(false)
    expect(!unknownStatistic.ok && unknownStatistic.problem).toMatch(/^params: .*statistics/s)
    const noColumns = checkParams(spec({ ...base, columns: [] }))
    expect(!noColumns.ok && noColumns.problem).toMatch(/columns/)
    const infiniteEdge = checkParams(spec({ ...base, histogram: { x: [0, "Infinity"] } }))
    expect(!infiniteEdge.ok && infiniteEdge.problem).toMatch(/histogram/)
  })

  it("accepts valid parameters and reports the columns a participant's policy must allow", () => {
    const checked = checkParams(spec({ ...base, where: { column: "w", op: ">=", value: 3 } }))
    expect(checked.ok).toBe(true)
    expect(checked.ok && checked.task.protocol.columns(checked.task.params)).toEqual(["x", "y", "w"])
  })
})
