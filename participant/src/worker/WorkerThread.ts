/**
 * One worker thread behind comlink, as the pool and the protocol worker both spawn it (the Node adapter of
 * Thread.ts): booted through `boot.mjs` (which registers tsx, then imports the host module named by `entry`),
 * watched for its exit, and ready only once its host module has loaded and answers `threadId()`.
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import { Crashed, type Thread } from "./Thread.ts"

export { Crashed, transferable } from "./Thread.ts"

const bootUrl = new URL("./boot.mjs", import.meta.url)

export interface WorkerThread<Api> extends Thread<Api> {
  readonly worker: Worker
}

/**
 * Spawns a thread running `entry` (a module path relative to this folder) with `workerData` merged into
 * `{ entry }`; rejects with Crashed when the thread exits before its host module answers.
 */
export const spawn = async <Api extends { readonly threadId: () => number }>(
  entry: string,
  workerData: Readonly<Record<string, unknown>> = {}
): Promise<WorkerThread<Api>> => {
  const worker = new Worker(bootUrl, { workerData: { ...workerData, entry } })
  let lastError = "the worker thread exited"
  // Without an "error" listener an uncaught exception in a worker would crash this process.
  worker.on("error", (error) => {
    lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  })
  const state = { alive: true }
  const exited = new Promise<string>((resolve) =>
    worker.once("exit", (code) => {
      state.alive = false
      resolve(`${lastError} (exit code ${code})`)
    })
  )
  const untilExit = <A>(call: Promise<A>): Promise<A> =>
    Promise.race([call, exited.then((detail) => Promise.reject(new Crashed(detail)))])
  const remote = Comlink.wrap<Api>(nodeEndpoint(worker))
  // Wait until the host module has loaded, so a broken module fails here, not at the first call.
  await untilExit(Promise.resolve(remote.threadId()))
  return { worker, remote, exited, state, untilExit, terminate: async () => void (await worker.terminate()) }
}

/** A module given as a URL or a file path (relative to the working directory), as a URL a worker can import. */
export const moduleUrl = (module: string | URL): string =>
  module instanceof URL ? module.href : /^[a-z][a-z0-9+.-]*:/i.test(module) ? module : pathToFileURL(resolve(module)).href
