/**
 * A worker as the pool sees it, whatever runs it: a Node worker thread (WorkerThread.ts) today, a browser Web
 * Worker behind the same interface tomorrow. Portable: comlink only.
 */
import * as Comlink from "comlink"

/** Why a call did not return: the worker exited under it (crash, uncaught exception, termination). */
export class Crashed {
  constructor(readonly detail: string) {}
}

export interface Thread<Api> {
  readonly remote: Comlink.Remote<Api>
  /** Settles with a description once the worker has exited, for whatever reason. */
  readonly exited: Promise<string>
  readonly state: { alive: boolean }
  /** `call`, or a rejection with Crashed as soon as the worker exits first. */
  readonly untilExit: <A>(call: Promise<A>) => Promise<A>
  readonly terminate: () => Promise<void>
}

/** Sends `bytes` by transfer when they own their whole buffer; a view into a larger buffer is copied first. */
export const transferable = (bytes: Uint8Array): Uint8Array => {
  const owned =
    bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes
      : bytes.slice()
  return Comlink.transfer(owned, [owned.buffer as ArrayBuffer])
}
