/** How protocols reach a dataset through `LocalData`: as a source (any size) or materialised (small data). */
import { Effect, Stream } from "effect"
import type { ParticipantFailure } from "../protocols/Protocol.ts"
import { DatasetError } from "./DatasetError.ts"
import * as MemorySource from "./MemorySource.ts"
import { type Batch, type DataSource, defaultMaxRows, fromBatches, LocalData, type TabularData } from "./Tabular.ts"

/** The host's source for `name`, or the in-memory engine over its materialised table when the host gives none. */
export const source = (name: string): Effect.Effect<DataSource, ParticipantFailure, LocalData> =>
  Effect.gen(function*() {
    const local = yield* LocalData
    if (local.source !== undefined) return yield* local.source(name)
    return MemorySource.make(yield* local.dataset(name))
  })

/** Rows read in one batch by `columns`. */
const BATCH_ROWS = 65_536

/**
 * Only `columns` of a dataset, in memory, in source order (row i is the source's row i, as `ids` numbers
 * them): what a protocol that holds its features and label for training needs — read through the source's
 * bounded batches, never every declared column. Names the dataset does not declare are left out, so the
 * caller's own check names them. Past `maxRows` rows (the host's cap, else 1M) it fails with `TooLarge`.
 * A host that hands over in-memory tables gets its table back as it is.
 */
export const columns = (
  name: string,
  wanted: ReadonlyArray<string>,
  options: { readonly maxRows?: number } = {}
): Effect.Effect<TabularData, ParticipantFailure | DatasetError, LocalData> =>
  Effect.gen(function*() {
    const local = yield* LocalData
    if (local.source === undefined) return yield* local.dataset(name)
    const from = yield* local.source(name)
    const specs = from.columns.filter((c) => wanted.includes(c.name))
    const maxRows = options.maxRows ?? local.maxRows ?? defaultMaxRows
    const parts: Array<Batch> = []
    let rows = 0
    yield* Stream.runForEach(from.batches({ columns: specs.map((c) => c.name), size: BATCH_ROWS }), (batch) =>
      Effect.suspend(() => {
        rows += batch.length
        if (rows > maxRows) {
          return Effect.fail(new DatasetError({ reason: "TooLarge", source: from.origin, detail: `more than the ${maxRows} rows a protocol may hold in memory` }))
        }
        parts.push(batch)
        return Effect.void
      }))
    return fromBatches(from.name, specs, parts, from.origin)
  })
