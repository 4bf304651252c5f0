/**
 * One module Web Worker behind the platform-neutral `Thread` interface (worker/Thread.ts): the job pool's seats
 * (WebWorkers.ts) and the protocol worker (ProtocolThread.ts). Apart from the pool because the page imports it
 * for the protocol worker alone.
 */
import * as Comlink from "comlink"
import { exitRace, type Thread } from "../worker/Thread.ts"

/**
 * Starts a module Web Worker behind the pool's `Thread` interface (Thread.ts): an uncaught error or an unreadable
 * message ends it, and every call made through `untilExit` then rejects with Crashed. Also the protocol
 * worker's thread (ProtocolThread.ts).
 */
export const startThread = <Api>(url: string | URL, name: string): Thread<Api> => {
  const worker = new Worker(url, { type: "module", name })
  const state = { alive: true }
  let exit: (detail: string) => void = () => {}
  const exited = new Promise<string>((resolve) => (exit = resolve))
  const stop = (detail: string) => {
    if (!state.alive) return
    state.alive = false
    worker.terminate()
    exit(detail)
  }
  worker.addEventListener("error", (event) => {
    event.preventDefault()
    stop(`the worker failed: ${event.message || "an error while loading or running it"}`)
  })
  worker.addEventListener("messageerror", () => stop("the worker sent a message that could not be read"))
  const { untilExit } = exitRace(exited)
  const remote = Comlink.wrap<Api>(worker)
  return {
    remote,
    exited,
    state,
    untilExit,
    terminate: async () => {
      remote[Comlink.releaseProxy]()
      stop("terminated")
    }
  }
}
