/**
 * The participant's persistent store of its vertical partial models on Node (PROTOCOLS.md §6.6 "Ours": each party
 * keeps its own block w^p, and its threshold key share, private): the rules of SealedModelStore.ts over one file
 * per record, `<data dir>/vertical-models/<sha256(id)>.json`, sealed with AES-256-GCM under a key derived from
 * the keystore's account secret (PartialModels.storeKey), written atomically (temporary file, then rename) and
 * readable by the owner only. A restarted participant reads its models back; a file that was altered, sealed
 * under another key or belongs to another owner or model fails with a typed PartialModelError. Training progress
 * (PartialModels.Progress) is kept the same way, for resuming training after a coordinator restart, and removed
 * when the coordinator says the task is over.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { Layer } from "effect"
import { getBytes } from "ethers"
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { PartialModels } from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as Sealing from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as SealedModelStore from "./SealedModelStore.ts"

export const DIRECTORY = "vertical-models"

export interface StoreOptions {
  /** The participant's data directory (the keystore's). */
  readonly dataDir: string
  /** The participant's address: the only owner this store serves. */
  readonly owner: string
  /** A secret from the participant's keystore (the account private key, 0x-hex or bytes); only a derived key is used. */
  readonly secret: string | Uint8Array
}

export const fileOf = (dataDir: string, modelId: string): string => join(dataDir, DIRECTORY, `${SealedModelStore.keyOf(modelId)}.json`)

/** Sealed records as files of `<data dir>/vertical-models/`, owner-only. */
export const files = (dataDir: string): SealedModelStore.SealedRecords => {
  const directory = join(dataDir, DIRECTORY)
  const file = (key: string) => join(directory, `${key}.json`)
  return {
    write: async (key, text) => {
      const temporary = `${file(key)}.${bytesToHex(crypto.getRandomValues(new Uint8Array(6)))}.tmp`
      await mkdir(directory, { recursive: true, mode: 0o700 })
      await writeFile(temporary, text, { mode: 0o600, flag: "wx" })
      await rename(temporary, file(key))
    },
    read: (key) => readFile(file(key), "utf8").catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? undefined : Promise.reject(cause))),
    remove: (key) => rm(file(key), { force: true }),
    list: async () => {
      const names = await readdir(directory).catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? [] : Promise.reject(cause)))
      const records = await Promise.all(names.filter((n) => n.endsWith(".json")).map(async (name) => {
        const text = await readFile(join(directory, name), "utf8").catch(() => undefined)
        return text === undefined ? undefined : { key: name.slice(0, -".json".length), text }
      }))
      return records.filter((r) => r !== undefined)
    }
  }
}

export const make = (options: StoreOptions): Sealing.Store =>
  SealedModelStore.over(
    files(options.dataDir),
    Sealing.rawKey(Sealing.storeKey(typeof options.secret === "string" ? getBytes(options.secret) : options.secret, options.owner)),
    options.owner
  )

/**
 * The host's layer. Without a data directory there is nowhere to keep a model, and training fails at its first
 * iteration boundary with "NoStore" instead of keeping state that a restart would lose.
 */
export const layer = (options: { readonly dataDir?: string | undefined; readonly owner: string; readonly secret: string | Uint8Array }): Layer.Layer<PartialModels> => {
  const { dataDir } = options
  return Layer.succeed(PartialModels, dataDir ? make({ dataDir, owner: options.owner, secret: options.secret }) : SealedModelStore.none("no data directory is configured for this participant"))
}
