/**
 * A browser participant's sealed partial models (vertical training's own blocks and key shares, its progress at
 * iteration boundaries, SecureBoost's parts): the store of Node (SealedModelStore.ts: same sealed format, same
 * owner, tamper and foreign-record checks) over IndexedDB, one database per owner (`<prefix>-<address>`), so a
 * reloaded tab predicts with the model it trained.
 *
 * The sealing key is an AES-256-GCM WebCrypto key generated in this browser profile and stored in the same
 * database **non-extractable**: script can ask the browser to seal and open with it, never read it, so a copy of
 * the database (a backup, a profile folder) holds nothing legible. On Node the key is derived from the keystore's
 * secret instead; here the account key may live in a wallet this page never sees, so the models are bound to the
 * profile: clearing the site's data loses them, as deleting Node's data directory does.
 */
import type { SealingKey, Store } from "@jointly/core/internal/protocols/vertical/PartialModels"
import * as SealedModelStore from "../modeling/vertical/SealedModelStore.ts"
import * as Idb from "./Idb.ts"

const RECORDS = "records"
const KEYS = "keys"
const SEALING_KEY = "sealing-key"

export interface IndexedDbModelsOptions {
  /** The participant's address: the only owner the store serves, and part of its database's name. */
  readonly owner: string
  /** Database name prefix (default "jointly-models"). */
  readonly prefix?: string
}

const bytes = (buffer: ArrayBuffer) => new Uint8Array(buffer)

/** The profile's non-extractable sealing key of `database`, created on first use. */
const sealingKey = async (database: IDBDatabase): Promise<SealingKey> => {
  let key = await Idb.run(database, KEYS, "readonly", (s) => s.get(SEALING_KEY) as IDBRequest<CryptoKey | undefined>)
  if (key === undefined) {
    const fresh = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"])
    // `add`, not `put`: if another tab created one meanwhile, that one wins and is read back.
    await Idb.run(database, KEYS, "readwrite", (s) => s.add(fresh, SEALING_KEY)).catch(() => undefined)
    key = await Idb.run(database, KEYS, "readonly", (s) => s.get(SEALING_KEY) as IDBRequest<CryptoKey | undefined>)
    if (key === undefined) throw new Idb.IdbUnavailable("the sealing key could not be stored")
  }
  const k = key
  return {
    encrypt: async (nonce, associatedData, plaintext) =>
      bytes(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce as BufferSource, additionalData: associatedData as BufferSource }, k, plaintext as BufferSource)),
    decrypt: async (nonce, associatedData, ciphertext) =>
      bytes(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce as BufferSource, additionalData: associatedData as BufferSource }, k, ciphertext as BufferSource))
  }
}

/** Sealed records as values of one object store. */
const records = (database: IDBDatabase): SealedModelStore.SealedRecords => ({
  write: async (key, text) => void (await Idb.run(database, RECORDS, "readwrite", (s) => s.put(text, key))),
  read: (key) => Idb.run(database, RECORDS, "readonly", (s) => s.get(key) as IDBRequest<string | undefined>),
  remove: async (key) => void (await Idb.run(database, RECORDS, "readwrite", (s) => s.delete(key))),
  list: async () => {
    const [keys, texts] = await Promise.all([
      Idb.run(database, RECORDS, "readonly", (s) => s.getAllKeys()),
      Idb.run(database, RECORDS, "readonly", (s) => s.getAll() as IDBRequest<Array<string>>)
    ])
    return keys.map((key, i) => ({ key: String(key), text: texts[i]! }))
  }
})

export const databaseName = (options: IndexedDbModelsOptions) => `${options.prefix ?? "jointly-models"}-${options.owner.toLowerCase()}`

/** Opens (creating if needed) the owner's database and sealing key; rejects with IdbUnavailable without IndexedDB. */
export const open = async (options: IndexedDbModelsOptions) => {
  const database = await Idb.open(databaseName(options), [RECORDS, KEYS])
  return { store: SealedModelStore.over(records(database), await sealingKey(database), options.owner), close: () => database.close() }
}

/**
 * The owner's store, or — without IndexedDB (a private window that refuses it, an old browser) — a store whose every
 * call fails with "NoStore" saying why, so a task that needs one fails with a reason instead of the page.
 */
export const openOrNone = (options: IndexedDbModelsOptions): Promise<{ readonly store: Store; readonly close: () => void }> =>
  open(options).catch((error: unknown) => ({
    store: SealedModelStore.none(`no IndexedDB for sealed models here: ${error instanceof Error ? error.message : String(error)}`),
    close: () => {}
  }))
