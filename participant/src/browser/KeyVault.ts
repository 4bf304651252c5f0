/**
 * The browser participant's account key at rest: in IndexedDB, encrypted (AES-256-GCM) under a WebCrypto key
 * that is itself stored in IndexedDB as a **non-extractable** CryptoKey. Script on the page can ask the browser
 * to decrypt with it but can never read its bytes, so a copy of the database (a backup, a profile folder, a
 * disk image) holds nothing that opens the account without this browser profile. The wrapped account key is
 * bound to its address (GCM's additional data), so a record swapped under another address fails to open.
 *
 * What it does not protect against: script running in the page's origin while the page is open (XSS) can ask
 * for decryption like the participant does — a page that holds a key must keep a strict CSP. An org that wants
 * the key out of the page entirely uses an injected EIP-1193 wallet instead (not built yet).
 */
import { getAddress, hexlify, Wallet } from "ethers"

const STORE = "keys"
const VERSION = 1

export class KeyVaultError extends Error {
  constructor(readonly reason: "NoKey" | "Corrupt" | "Unavailable" | "Exists", detail: string) {
    super(`key vault: ${reason}: ${detail}`)
    this.name = "KeyVaultError"
  }
}

interface Record {
  readonly address: string
  /** The non-extractable AES-GCM key (structured-cloned by IndexedDB as a CryptoKey). */
  readonly wrappingKey: CryptoKey
  readonly iv: Uint8Array
  readonly sealed: Uint8Array
}

const request = <A>(r: IDBRequest<A>): Promise<A> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(new KeyVaultError("Unavailable", String(r.error?.message ?? r.error)))
  })

const openDb = (name: string): Promise<IDBDatabase> => {
  if (typeof indexedDB === "undefined") return Promise.reject(new KeyVaultError("Unavailable", "this context has no IndexedDB"))
  const opening = indexedDB.open(name, VERSION)
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE, { keyPath: "slot" })
  return request(opening)
}

const withStore = async <A>(db: string, mode: IDBTransactionMode, f: (store: IDBObjectStore) => IDBRequest<A>): Promise<A> => {
  const database = await openDb(db)
  try {
    return await request(f(database.transaction(STORE, mode).objectStore(STORE)))
  } finally {
    database.close()
  }
}

const utf8 = (text: string) => new TextEncoder().encode(text)

export interface VaultOptions {
  /** IndexedDB database name (default "jointly-participant"). */
  readonly database?: string
  /** Which key of the database (default "account"): one browser profile may hold several orgs' keys. */
  readonly slot?: string
}

export interface KeyVault {
  /** The address of the stored key, without opening it; undefined when the slot is empty. */
  readonly address: () => Promise<string | undefined>
  /** Opens the stored key as a wallet; rejects with KeyVaultError "NoKey" or "Corrupt". */
  readonly open: () => Promise<Wallet>
  /**
   * Stores `privateKey` (hex) under a fresh non-extractable key; rejects with "Exists" if the slot holds a key
   * (`remove` it first: replacing an org's identity is a deliberate act).
   */
  readonly store: (privateKey: string) => Promise<string>
  /** Creates a new account key in the slot and returns its address (the org then registers it). */
  readonly create: () => Promise<string>
  readonly remove: () => Promise<void>
}

export const make = (options: VaultOptions = {}): KeyVault => {
  const db = options.database ?? "jointly-participant"
  const slot = options.slot ?? "account"
  const read = () => withStore(db, "readonly", (s) => s.get(slot) as IDBRequest<(Record & { slot: string }) | undefined>)
  const store = async (privateKey: string) => {
    if ((await read()) !== undefined) throw new KeyVaultError("Exists", `slot ${slot} of ${db} already holds a key`)
    const wallet = new Wallet(privateKey)
    const address = getAddress(wallet.address)
    const wrappingKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"])
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const secret = utf8(wallet.privateKey)
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8(address) }, wrappingKey, secret))
    secret.fill(0)
    await withStore(db, "readwrite", (s) => s.put({ slot, address, wrappingKey, iv, sealed }))
    return address
  }
  return {
    address: async () => (await read())?.address,
    open: async () => {
      const record = await read()
      if (record === undefined) throw new KeyVaultError("NoKey", `slot ${slot} of ${db} holds no key`)
      let opened: Uint8Array
      try {
        opened = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: record.iv as BufferSource, additionalData: utf8(record.address) }, record.wrappingKey, record.sealed as BufferSource))
      } catch {
        throw new KeyVaultError("Corrupt", `the key in slot ${slot} does not open under this profile's wrapping key`)
      }
      const wallet = new Wallet(new TextDecoder().decode(opened))
      opened.fill(0)
      if (getAddress(wallet.address) !== record.address) throw new KeyVaultError("Corrupt", `the key in slot ${slot} is not the key of ${record.address}`)
      return wallet
    },
    store,
    create: () => store(hexlify(crypto.getRandomValues(new Uint8Array(32)))),
    remove: async () => {
      await withStore(db, "readwrite", (s) => s.delete(slot))
    }
  }
}
