/**
 * The partial-model store's rules, whatever holds its records (PROTOCOLS.md §6.6 "Ours"): every model, part and
 * training-progress record sealed with AES-256-GCM (PartialModels.seal*, its header authenticated), served to
 * its owner only, the progress of the last two iteration boundaries kept, a finished task's progress removed by
 * its authenticated-but-clear header. Where the records live is the platform's: files under the data directory
 * on Node (PartialModelStore.ts), IndexedDB in a browser (browser/IndexedDbModels.ts). Portable.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Schema } from "effect"
import { PartialModelError } from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as Sealing from "@jointly/core/internal/protocols/vertical/PartialModels"

/** Where sealed records are kept: each under the key of the id it holds (`keyOf`), as the sealed file's JSON text. */
export interface SealedRecords {
  /** Replaces the record of `key` at once (never a half-written record). */
  readonly write: (key: string, text: string) => Promise<void>
  /** The record's text, or undefined when there is none. */
  readonly read: (key: string) => Promise<string | undefined>
  readonly remove: (key: string) => Promise<void>
  /** Every record: its key and text. */
  readonly list: () => Promise<ReadonlyArray<{ readonly key: string; readonly text: string }>>
}

/** A record's key: SHA-256 of its id, hex (ids hold task ids and formats, not names a file system or index likes). */
export const keyOf = (id: string): string => bytesToHex(sha256(utf8ToBytes(id)))

const encodeFile = Schema.encodeSync(Sealing.SealedFile)

/** Models kept opened (the most recently read), so repeated predictions with one model skip the unsealing. */
export const OPENED_MODELS = 8

/** The store over `records`, sealing under `key`, serving `owner` only. */
export const over = (records: SealedRecords, key: Sealing.SealingKey, owner: string): Sealing.Store => {
  // The last models opened, each with the sealed text it came from. A read whose record still holds that very
  // text (compared whole) gets the same decoded object: no AES-GCM, JSON, content hash or Schema pass, and the
  // same key objects, whose fixed-base tables the kernels keep per object, for every online prediction. Any other
  // text is opened and checked again, so an altered file fails as before. Bounded: only the recent models' key
  // shares stay in memory beyond their requests.
  const opened = new Map<string, { readonly text: string; readonly model: Sealing.PartialModel }>()
  const foreign = (other: string, modelId: string) => new PartialModelError({ reason: "Foreign", modelId, detail: `this store serves ${owner}, not ${other}` })
  const io = (modelId: string) => (cause: unknown) => new PartialModelError({ reason: "Io", modelId, detail: cause instanceof Error ? cause.message : String(cause) })
  const mine = (other: string) => other.toLowerCase() === owner.toLowerCase()
  const write = (id: string, sealed: Sealing.SealedFile) =>
    Effect.tryPromise({ try: () => records.write(keyOf(id), JSON.stringify(encodeFile(sealed))), catch: io(id) })
  const read = (id: string, what: string) =>
    Effect.flatMap(Effect.tryPromise({ try: () => records.read(keyOf(id)), catch: io(id) }), (text) =>
      text === undefined ? Effect.fail(new PartialModelError({ reason: "Missing", modelId: id, detail: `no ${what} at ${owner}` })) : Effect.succeed(text))

  return {
    put: (other, model) =>
      Effect.gen(function*() {
        if (!mine(other)) return yield* foreign(other, model.modelId)
        const sealed = yield* Sealing.seal(key, owner, model)
        yield* write(model.modelId, sealed)
        return { digest: sealed.digest }
      }),
    get: (other, modelId) =>
      Effect.gen(function*() {
        if (!mine(other)) return yield* foreign(other, modelId)
        const text = yield* read(modelId, `partial model ${modelId}`)
        const hit = opened.get(modelId)
        opened.delete(modelId)
        if (hit !== undefined && hit.text === text) {
          opened.set(modelId, hit) // most recent last
          return hit.model
        }
        const model = yield* Sealing.open(key, owner, modelId, text)
        opened.set(modelId, { text, model })
        if (opened.size > OPENED_MODELS) opened.delete(opened.keys().next().value!)
        return model
      }),
    saveProgress: (other, progress) =>
      Effect.gen(function*() {
        const id = Sealing.progressId(progress.taskId, progress.iteration)
        if (!mine(other)) return yield* foreign(other, id)
        yield* write(id, yield* Sealing.sealProgress(key, owner, progress))
        // Only the last two boundaries are ever resumed from; older ones would only let a replay go further back.
        yield* Effect.promise(() => records.remove(keyOf(Sealing.progressId(progress.taskId, progress.iteration - 2))).catch(() => undefined))
      }),
    removeProgress: (other, taskId) =>
      Effect.gen(function*() {
        const prefix = Sealing.progressPrefix(taskId)
        if (!mine(other)) return yield* foreign(other, prefix)
        return yield* Effect.tryPromise({
          try: async () => {
            let removed = 0
            for (const record of await records.list()) {
              const header = (() => {
                try {
                  return JSON.parse(record.text) as { format?: unknown; modelId?: unknown }
                } catch {
                  return undefined
                }
              })()
              // Only this task's progress; a header that lies about its id would fail authentication on load anyway.
              if (header?.format !== "jointly/vertical-training-progress" || typeof header.modelId !== "string" || !header.modelId.startsWith(prefix)) continue
              // The key must be the one the id hashes to, so a record cannot get another task's progress removed.
              if (record.key !== keyOf(header.modelId)) continue
              await records.remove(record.key)
              removed++
            }
            return removed
          },
          catch: io(prefix)
        })
      }),
    putPart: (other, format, modelId, encoded) =>
      Effect.gen(function*() {
        const id = Sealing.partId(format, modelId)
        if (!mine(other)) return yield* foreign(other, id)
        const sealed = yield* Sealing.sealPart(key, owner, format, modelId, encoded)
        yield* write(id, sealed)
        return { digest: sealed.digest }
      }),
    removePart: (other, format, modelId) =>
      Effect.gen(function*() {
        const id = Sealing.partId(format, modelId)
        if (!mine(other)) return yield* foreign(other, id)
        yield* Effect.tryPromise({ try: () => records.remove(keyOf(id)), catch: io(id) })
      }),
    getPart: (other, format, modelId) =>
      Effect.gen(function*() {
        const id = Sealing.partId(format, modelId)
        if (!mine(other)) return yield* foreign(other, id)
        const text = yield* read(id, `${format} ${modelId}`)
        return yield* Sealing.openPart(key, owner, format, modelId, text)
      }),
    loadProgress: (other, taskId, iteration) =>
      Effect.gen(function*() {
        const id = Sealing.progressId(taskId, iteration)
        if (!mine(other)) return yield* foreign(other, id)
        const text = yield* read(id, `training progress of ${taskId} at iteration ${iteration}`)
        return yield* Sealing.openProgress(key, owner, taskId, iteration, text)
      })
  }
}

/** The store of a host with nowhere to keep a model: every call fails with "NoStore", saying why. */
export const none = (why: string): Sealing.Store => {
  const fail = (modelId: string) => Effect.fail(new PartialModelError({ reason: "NoStore", modelId, detail: why }))
  return {
    put: (_owner, model) => fail(model.modelId),
    get: (_owner, modelId) => fail(modelId),
    saveProgress: (_owner, progress) => fail(Sealing.progressId(progress.taskId, progress.iteration)),
    loadProgress: (_owner, taskId, iteration) => fail(Sealing.progressId(taskId, iteration)),
    removeProgress: (_owner, taskId) => fail(Sealing.progressPrefix(taskId)),
    putPart: (_owner, format, modelId) => fail(Sealing.partId(format, modelId)),
    getPart: (_owner, format, modelId) => fail(Sealing.partId(format, modelId)),
    removePart: (_owner, format, modelId) => fail(Sealing.partId(format, modelId))
  }
}
