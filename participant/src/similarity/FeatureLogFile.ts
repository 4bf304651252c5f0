/**
 * The owner's log of feature transactions for `query.similar` (core/src/protocols/similarity/FeatureIndex.ts),
 * kept beside its other outputs: `<data dir>/indexes/<dataset>.ndjson`, one epoch per line
 * ({ epoch, transactions: [{ op: add|update|delete, id, features?, label?, location? }] }), epochs 1, 2, … in
 * order. Every query rebuilds the index from the dataset (epoch 0) and this log, so an update is found by the
 * next query and the root the owner signs names its epoch. Without a data dir or a log the index is the
 * dataset alone.
 */
import { appendFile, mkdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { Epoch as EpochSchema, FeatureLog, type Transaction } from "@jointly/core/internal/protocols/similarity/FeatureIndex"

type Epoch = typeof EpochSchema.Type
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"

/** A dataset name as a file name: the participant's own names only, never a path. */
const fileOf = (dataDir: string, dataset: string): string => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/u.test(dataset)) throw new Error(`dataset name ${JSON.stringify(dataset)} cannot name an index log`)
  return join(dataDir, "indexes", `${dataset}.ndjson`)
}

const decodeEpoch = Schema.decodeUnknownSync(Schema.fromJsonString(EpochSchema))

/** The epochs of `dataset`'s log, checked line by line (numbered 1, 2, … without a gap). */
export const read = async (dataDir: string, dataset: string): Promise<Array<Epoch>> => {
  let text: string
  try {
    text = await readFile(fileOf(dataDir, dataset), "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
    throw error
  }
  const epochs: Array<Epoch> = []
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue
    let epoch: Epoch
    try {
      epoch = decodeEpoch(line)
    } catch (error) {
      throw new Error(`index log of ${dataset}, line ${i + 1}: ${error instanceof Error ? error.message : String(error)}`)
    }
    if (epoch.epoch !== epochs.length + 1) throw new Error(`index log of ${dataset}, line ${i + 1}: epoch ${epoch.epoch} follows epoch ${epochs.length}`)
    epochs.push(epoch)
  }
  return epochs
}

/** Appends the next epoch of `dataset`'s log; resolves with its number. One writer per dataset (the owner's host). */
export const append = async (dataDir: string, dataset: string, transactions: ReadonlyArray<Transaction>): Promise<number> => {
  const file = fileOf(dataDir, dataset)
  const epoch = (await read(dataDir, dataset)).length + 1
  const line = Schema.encodeSync(Schema.fromJsonString(EpochSchema))({ epoch, transactions })
  await mkdir(join(dataDir, "indexes"), { recursive: true })
  await appendFile(file, line + "\n")
  return epoch
}

/** The `FeatureLog` service over the host's data dir (none: every index is its dataset alone). */
export const layer = (dataDir: string | undefined): Layer.Layer<FeatureLog> =>
  Layer.succeed(FeatureLog, {
    epochs: (dataset) =>
      dataDir === undefined
        ? Effect.succeed([])
        : Effect.tryPromise({
          try: () => read(dataDir, dataset),
          catch: (error) => new ParticipantFailure({ participant: "self", stage: "similar.keys", code: "InvalidIndexLog", detail: error instanceof Error ? error.message : String(error) })
        })
  })
