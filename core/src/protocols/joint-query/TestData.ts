/**
 * Test support: the example id files (examples/query/, copied from the shared datasets) as TabularData, an
 * InMemoryHost participant config with LocalData, a capturing TaskOutput (whole or streamed) and the portable AES of the OT engine,
 * and plaintext references.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { Effect, Layer } from "effect"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import { TaskOutput } from "../../data/TaskOutput.ts"
import { exampleText } from "../../testing/Datasets.ts"
import type { ParticipantConfig } from "../../testing/InMemoryHost.ts"
import { ParticipantFailure, type StageHandler } from "../Protocol.ts"
import * as Aes from "./ot-psi/Aes.ts"

export const exampleFile = (name: string): string => exampleText(`query/${name}`)

/** A CSV (no quoting) as a table; a column is numeric when every non-empty cell parses as a number. */
export const csvTable = (name: string, text: string): TabularData => {
  const [header, ...lines] = text.trim().split(/\r?\n/)
  const columns = header!.split(",")
  const cells = lines.map((line) => line.split(","))
  return table(name, Object.fromEntries(columns.map((c, j) => [c, cells.map((row) => row[j] ?? "")])))
}

export const table = (name: string, columns: Record<string, ReadonlyArray<string>>): TabularData => {
  const names = Object.keys(columns)
  const numeric = (c: string) => columns[c]!.every((v) => v === "" || Number.isFinite(Number(v)))
  return {
    name,
    rowCount: columns[names[0]!]!.length,
    columnNames: names,
    isNumeric: numeric,
    numeric: (c) => {
      if (!numeric(c)) throw new Error(`${c} is not numeric`)
      return Float64Array.from(columns[c]!, (v) => (v === "" ? Number.NaN : Number(v)))
    },
    // As the participant's adapter does: a numeric column's text is the number's shortest form.
    strings: (c) => (numeric(c) ? columns[c]!.map((v) => (v === "" ? "" : String(Number(v)))) : columns[c]!)
  }
}

export const outputs = new Map<string, Map<string, unknown>>()

/** A participant serving `data` as dataset "ids"; its outputs land in `outputs.get(label)`. */
export const party = (label: string, data: TabularData, handlers: ReadonlyArray<StageHandler<any, any, any>>, extra: Partial<ParticipantConfig> = {}): ParticipantConfig => {
  const written = new Map<string, unknown>()
  outputs.set(label, written)
  const layer = Layer.mergeAll(
    Layer.succeed(LocalData, {
      dataset: (name: string) =>
        name === "ids" ? Effect.succeed(data) : Effect.fail(new ParticipantFailure({ participant: label, stage: "dataset", code: "UnknownDataset", detail: name }))
    }),
    Layer.succeed(TaskOutput, {
      write: (taskId: string, output: unknown) => Effect.sync(() => {
        written.set(taskId, output)
        return `test:${label}/outputs/${taskId}.json`
      }),
      // A streamed output (data/StreamedOutput.ts) is kept as the object its text parses to.
      open: (taskId: string) => {
        const pieces: Array<Uint8Array> = []
        return Effect.succeed({
          append: (bytes: Uint8Array) => Effect.sync(() => void pieces.push(bytes.slice())),
          commit: Effect.sync(() => {
            written.set(taskId, JSON.parse(new TextDecoder().decode(concatBytes(...pieces))))
            return `test:${label}/outputs/${taskId}.json`
          }),
          abort: Effect.sync(() => void pieces.splice(0))
        })
      }
    }),
    Aes.portableLayer
  )
  return {
    handlers,
    provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>,
    ...extra
  }
}

/** Distinct non-empty ids of a column, as the protocol reads them. */
export const idSet = (data: TabularData, column: string): Set<string> => new Set(data.strings(column).filter((id) => id !== ""))

export const intersect = (...sets: ReadonlyArray<Set<string>>): Set<string> => new Set([...sets[0]!].filter((id) => sets.every((s) => s.has(id))))
