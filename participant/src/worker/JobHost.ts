/**
 * The worker-thread side of the pool: looks jobs up by name and runs them on bytes. Loaded by `boot.mjs`.
 *
 * `workerData.modules` lists extra registry modules (each exporting `jobs: JobRegistry`) merged over the
 * default registry, so embedders and tests can add jobs without touching `jobs.ts`.
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { parentPort, threadId, workerData } from "node:worker_threads"
import { JobNotFoundName, type JobHostApi } from "./JobHostApi.ts"
import { jobs as defaultJobs, type JobRegistry } from "./jobs.ts"

const loadRegistry = async (): Promise<JobRegistry> => {
  const modules: ReadonlyArray<string> = (workerData as { modules?: ReadonlyArray<string> } | undefined)?.modules ?? []
  let registry: JobRegistry = defaultJobs
  for (const url of modules) {
    const module = (await import(url)) as { jobs?: JobRegistry }
    if (module.jobs === undefined) throw new Error(`job module ${url} exports no \`jobs\``)
    registry = { ...registry, ...module.jobs }
  }
  return registry
}

const registry = await loadRegistry()

const api: JobHostApi = {
  run: async (job, input) => {
    const fn = Object.hasOwn(registry, job) ? registry[job] : undefined
    if (fn === undefined) {
      const error = new Error(`no job named "${job}" in the worker's registry`)
      error.name = JobNotFoundName
      throw error
    }
    const output = await fn(input)
    if (!(output instanceof Uint8Array)) throw new TypeError(`job "${job}" returned ${typeof output}, not a Uint8Array`)
    return output.buffer instanceof ArrayBuffer ? Comlink.transfer(output, [output.buffer]) : output
  },
  threadId: () => threadId
}

if (parentPort === null) throw new Error("JobHost.ts must run in a worker thread")
Comlink.expose(api, nodeEndpoint(parentPort))
