/**
 * The participant's persistent store of its vertical partial models (PROTOCOLS.md §6.6 "Ours": each party keeps
 * its own block w^p, and its threshold key share, private). One file per model,
 * `<data dir>/vertical-models/<sha256(modelId)>.json`, sealed with AES-256-GCM under a key derived from the
 * keystore's account secret (PartialModels.storeKey), its header (owner, model id, content hash) authenticated
 * with it; files are written atomically (temporary file, then rename) and readable by the owner only. A
 * restarted participant reads its models back; a file that was altered, sealed under another key or belongs to
 * another owner or model fails with a typed PartialModelError. Training progress (w^p, id order and committed
 * RPI at the last two iteration boundaries, PartialModels.Progress) is kept the same way, for resuming training
 * after a coordinator restart, and removed when the coordinator says the task is over (`removeProgress`: the
 * files of a task are found by their authenticated-but-clear header, since file names are hashes).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Layer, Schema } from "effect"
import { getBytes } from "ethers"
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { PartialModelError, PartialModels } from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as Sealing from "@jointly/core/internal/protocols/vertical/PartialModels"

export const DIRECTORY = "vertical-models"

export interface StoreOptions {
  /** The participant's data directory (the keystore's). */
  readonly dataDir: string
  /** The participant's address: the only owner this store serves. */
  readonly owner: string
  /** A secret from the participant's keystore (the account private key, 0x-hex or bytes); only a derived key is used. */
  readonly secret: string | Uint8Array
}

export const fileOf = (dataDir: string, modelId: string): string => join(dataDir, DIRECTORY, `${bytesToHex(sha256(utf8ToBytes(modelId)))}.json`)

const encodeFile = Schema.encodeSync(Sealing.SealedFile)

export const make = (options: StoreOptions): Sealing.Store => {
  const key = Sealing.storeKey(typeof options.secret === "string" ? getBytes(options.secret) : options.secret, options.owner)
  const foreign = (owner: string, modelId: string) =>
    new PartialModelError({ reason: "Foreign", modelId, detail: `this store serves ${options.owner}, not ${owner}` })
  const io = (modelId: string) => (cause: unknown) => new PartialModelError({ reason: "Io", modelId, detail: cause instanceof Error ? cause.message : String(cause) })
  const mine = (owner: string) => owner.toLowerCase() === options.owner.toLowerCase()
  const write = (id: string, sealed: Sealing.SealedFile) => {
    const file = fileOf(options.dataDir, id)
    const temporary = `${file}.${bytesToHex(crypto.getRandomValues(new Uint8Array(6)))}.tmp`
    return Effect.tryPromise({
      try: async () => {
        await mkdir(join(options.dataDir, DIRECTORY), { recursive: true, mode: 0o700 })
        await writeFile(temporary, JSON.stringify(encodeFile(sealed)), { mode: 0o600, flag: "wx" })
        await rename(temporary, file)
      },
      catch: io(id)
    })
  }
  const read = (id: string, what: string) =>
    Effect.flatMap(
      Effect.tryPromise({
        try: () => readFile(fileOf(options.dataDir, id), "utf8").catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? undefined : Promise.reject(cause))),
        catch: io(id)
      }),
      (text) => (text === undefined ? Effect.fail(new PartialModelError({ reason: "Missing", modelId: id, detail: `no ${what} at ${options.owner}` })) : Effect.succeed(text))
    )

  return {
    put: (owner, model) =>
      Effect.gen(function*() {
        if (!mine(owner)) return yield* foreign(owner, model.modelId)
        const sealed = Sealing.seal(key, options.owner, model)
        yield* write(model.modelId, sealed)
        return { digest: sealed.digest }
      }),
    get: (owner, modelId) =>
      Effect.gen(function*() {
        if (!mine(owner)) return yield* foreign(owner, modelId)
        const text = yield* read(modelId, `partial model ${modelId}`)
        return yield* Sealing.open(key, options.owner, modelId, text)
      }),
    saveProgress: (owner, progress) =>
      Effect.gen(function*() {
        const id = Sealing.progressId(progress.taskId, progress.iteration)
        if (!mine(owner)) return yield* foreign(owner, id)
        yield* write(id, Sealing.sealProgress(key, options.owner, progress))
        // Only the last two boundaries are ever resumed from; older ones would only let a replay go further back.
        yield* Effect.promise(() => rm(fileOf(options.dataDir, Sealing.progressId(progress.taskId, progress.iteration - 2)), { force: true }).catch(() => undefined))
      }),
    removeProgress: (owner, taskId) =>
      Effect.gen(function*() {
        const prefix = Sealing.progressPrefix(taskId)
        if (!mine(owner)) return yield* foreign(owner, prefix)
        const directory = join(options.dataDir, DIRECTORY)
        return yield* Effect.tryPromise({
          try: async () => {
            const names = await readdir(directory).catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? [] : Promise.reject(cause)))
            let removed = 0
            for (const name of names.filter((n) => n.endsWith(".json"))) {
              const file = join(directory, name)
              const header = await readFile(file, "utf8").then((text) => JSON.parse(text) as { format?: unknown; modelId?: unknown }, () => undefined)
              // Only this task's progress; a header that lies about its id would fail authentication on load anyway.
              if (header?.format !== "jointly/vertical-training-progress" || typeof header.modelId !== "string" || !header.modelId.startsWith(prefix)) continue
              // The name must be the one the id hashes to, so a file cannot get another task's progress removed.
              if (file !== fileOf(options.dataDir, header.modelId)) continue
              await rm(file, { force: true })
              removed++
            }
            return removed
          },
          catch: io(prefix)
        })
      }),
    putPart: (owner, format, modelId, encoded) =>
      Effect.gen(function*() {
        const id = Sealing.partId(format, modelId)
        if (!mine(owner)) return yield* foreign(owner, id)
        const sealed = Sealing.sealPart(key, options.owner, format, modelId, encoded)
        yield* write(id, sealed)
        return { digest: sealed.digest }
      }),
    getPart: (owner, format, modelId) =>
      Effect.gen(function*() {
        const id = Sealing.partId(format, modelId)
        if (!mine(owner)) return yield* foreign(owner, id)
        const text = yield* read(id, `${format} ${modelId}`)
        return yield* Sealing.openPart(key, options.owner, format, modelId, text)
      }),
    loadProgress: (owner, taskId, iteration) =>
      Effect.gen(function*() {
        const id = Sealing.progressId(taskId, iteration)
        if (!mine(owner)) return yield* foreign(owner, id)
        const text = yield* read(id, `training progress of ${taskId} at iteration ${iteration}`)
        return yield* Sealing.openProgress(key, options.owner, taskId, iteration, text)
      })
  }
}

/**
 * The host's layer. Without a data directory there is nowhere to keep a model, and training fails at its first
 * iteration boundary with "NoStore" instead of keeping state that a restart would lose.
 */
export const layer = (options: { readonly dataDir?: string | undefined; readonly owner: string; readonly secret: string | Uint8Array }): Layer.Layer<PartialModels> => {
  const { dataDir } = options
  if (dataDir) return Layer.succeed(PartialModels, make({ dataDir, owner: options.owner, secret: options.secret }))
  const none = (modelId: string) => Effect.fail(new PartialModelError({ reason: "NoStore", modelId, detail: "no data directory is configured for this participant" }))
  return Layer.succeed(PartialModels, {
    put: (_owner, model) => none(model.modelId),
    get: (_owner, modelId) => none(modelId),
    saveProgress: (_owner, progress) => none(Sealing.progressId(progress.taskId, progress.iteration)),
    loadProgress: (_owner, taskId, iteration) => none(Sealing.progressId(taskId, iteration)),
    removeProgress: (_owner, taskId) => none(Sealing.progressPrefix(taskId)),
    putPart: (_owner, format, modelId) => none(Sealing.partId(format, modelId)),
    getPart: (_owner, format, modelId) => none(Sealing.partId(format, modelId))
  })
}
