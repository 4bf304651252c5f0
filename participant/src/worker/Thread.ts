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

/**
 * `Thread.untilExit` over a thread's `exited`: each call settles as `call` does, or rejects with Crashed once the
 * thread has exited. A call's link to the exit is dropped as soon as it settles. Racing every call against
 * `exited` instead (`Promise.race([call, exited.then(…)])`) chains a reaction onto a promise that stays pending
 * for the thread's whole life, and that reaction holds the race's promise and so its value: every reply a thread
 * ever sent stayed reachable — with the protocol worker, each stage's reply bytes, ≈ 25 MB per OT-PSI bucket.
 */
export const exitRace = (exited: Promise<string>) => {
  const waiting = new Set<(crash: Crashed) => void>()
  let crash: Crashed | undefined
  void exited.then((detail) => {
    crash = new Crashed(detail)
    for (const reject of waiting) reject(crash)
    waiting.clear()
  })
  const untilExit = <A>(call: Promise<A>): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      if (crash !== undefined) return reject(crash)
      waiting.add(reject)
      call.then(resolve, reject).finally(() => waiting.delete(reject))
    })
  return {
    untilExit,
    /** Calls not settled yet (diagnostic: what the exit would reject). */
    pending: () => waiting.size
  }
}

/** Sends `bytes` by transfer when they own their whole buffer; a view into a larger buffer is copied first. */
export const transferable = (bytes: Uint8Array): Uint8Array => {
  const owned =
    bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes
      : bytes.slice()
  return Comlink.transfer(owned, [owned.buffer as ArrayBuffer])
}
