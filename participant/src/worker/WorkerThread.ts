/**
 * One worker thread behind comlink, as the pool and the protocol worker both spawn it (the Node adapter of
 * Thread.ts): its host module loaded, watched for its exit, and ready only once that module answers `threadId()`.
 *
 * Built (`dist/*.js`, an installed package) the host module is JavaScript the thread loads as it is. Run from
 * sources (`src/*.ts`: development, tests, the repository's CLI) it is TypeScript, booted through `boot.mjs`,
 * which registers tsx first; the thread resolves sibling packages to their sources too (`@jointly/source`).
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import { exitRace, type Thread } from "./Thread.ts"

export { Crashed, transferable } from "./Thread.ts"

const fromSources = import.meta.url.endsWith(".ts")
const sourceCondition = "--conditions=@jointly/source"

/** The modules of this folder a thread can run (named without their extension: `.ts` or `.js`). */
export type Host = "JobHost" | "ProtocolWorkerHost" | "OtPsiParty"

/** How a thread starts its host module. */
const launch = (host: Host, workerData: Readonly<Record<string, unknown>>): Worker =>
  fromSources
    ? new Worker(new URL("./boot.mjs", import.meta.url), {
      workerData: { ...workerData, entry: `./${host}.ts` },
      execArgv: process.execArgv.includes(sourceCondition) ? process.execArgv : [...process.execArgv, sourceCondition]
    })
    : new Worker(new URL(`./${host}.js`, import.meta.url), { workerData })

export interface WorkerThread<Api> extends Thread<Api> {
  readonly worker: Worker
}

/**
 * Spawns a thread running the host module `host` of this folder (`"JobHost"`) with `workerData`; rejects with
 * Crashed when the thread exits before its host module answers.
 */
export const spawn = async <Api extends { readonly threadId: () => number }>(
  host: Host,
  workerData: Readonly<Record<string, unknown>> = {}
): Promise<WorkerThread<Api>> => {
  const worker = launch(host, workerData)
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
  const { untilExit } = exitRace(exited)
  const remote = Comlink.wrap<Api>(nodeEndpoint(worker))
  // Wait until the host module has loaded, so a broken module fails here, not at the first call.
  await untilExit(Promise.resolve(remote.threadId()))
  return { worker, remote, exited, state, untilExit, terminate: async () => void (await worker.terminate()) }
}

/** A module given as a URL or a file path (relative to the working directory), as a URL a worker can import. */
export const moduleUrl = (module: string | URL): string =>
  module instanceof URL ? module.href : /^[a-z][a-z0-9+.-]*:/i.test(module) ? module : pathToFileURL(resolve(module)).href
