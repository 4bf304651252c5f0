/**
 * The little of IndexedDB the browser participant uses, as promises: a database of named object stores (keyed
 * by an explicit key, values structured-cloned — CryptoKeys included) and one request at a time in its own
 * transaction. Works in a page and in a Web Worker.
 */
export class IdbUnavailable extends Error {
  constructor(detail: string) {
    super(detail)
    this.name = "IdbUnavailable"
  }
}

export const request = <A>(r: IDBRequest<A>): Promise<A> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(new IdbUnavailable(String(r.error?.message ?? r.error)))
  })

/** Opens `name` (version 1), creating `stores` (out-of-line keys) the first time. */
export const open = (name: string, stores: ReadonlyArray<string>): Promise<IDBDatabase> => {
  if (typeof indexedDB === "undefined") return Promise.reject(new IdbUnavailable("this context has no IndexedDB"))
  const opening = indexedDB.open(name, 1)
  opening.onupgradeneeded = () => {
    for (const store of stores) if (!opening.result.objectStoreNames.contains(store)) opening.result.createObjectStore(store)
  }
  return request(opening)
}

/** Runs one request on `store` of an open database, in a transaction of its own. */
export const run = <A>(database: IDBDatabase, store: string, mode: IDBTransactionMode, f: (store: IDBObjectStore) => IDBRequest<A>): Promise<A> =>
  request(f(database.transaction(store, mode).objectStore(store)))
