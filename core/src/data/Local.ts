/** How protocols reach a dataset through `LocalData`: as a source (any size) or materialised (small data). */
import { Effect } from "effect"
import type { ParticipantFailure } from "../protocols/Protocol.ts"
import * as MemorySource from "./MemorySource.ts"
import { type DataSource, LocalData } from "./Tabular.ts"

/** The host's source for `name`, or the in-memory engine over its materialised table when the host gives none. */
export const source = (name: string): Effect.Effect<DataSource, ParticipantFailure, LocalData> =>
  Effect.gen(function*() {
    const local = yield* LocalData
    if (local.source !== undefined) return yield* local.source(name)
    return MemorySource.make(yield* local.dataset(name))
  })
