/**
 * The worker-thread side of the pool: builds this worker's backends once from the pool's choice
 * (`workerData.backends`, plain data; `@jointly/backends/node`), builds the pool's job registries over them —
 * jobs.ts, then each of `workerData.modules` (extra registry modules, later ones win on a name clash) — and
 * runs jobs by name on bytes. Started by WorkerThread.ts.
 */
import * as Comlink from "comlink"
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs"
import { Effect, Schema } from "effect"
import { parentPort, threadId, workerData } from "node:worker_threads"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { type JobHostApi, runJob, WorkerSetup } from "./JobHostApi.ts"
import { jobs as defaultJobs, type JobRegistry, type RegistryModule } from "./jobs.ts"

const setup = Schema.decodeUnknownSync(WorkerSetup)(workerData ?? {})
// The worker's backends live as long as the worker: nothing closes them before the thread ends.
const backends = await Backends.build(NodeBackends.layer(setup.backends))

const loadRegistry = async (): Promise<JobRegistry> => {
  const modules: Array<RegistryModule> = [defaultJobs]
  for (const url of setup.modules) {
    const module = (await import(url)) as { jobs?: RegistryModule }
    if (!Effect.isEffect(module.jobs)) throw new Error(`job module ${url} exports no \`jobs\` registry`)
    modules.push(module.jobs)
  }
  const tables = await Effect.runPromise(Effect.provide(Effect.all(modules), backends.layer))
  return Object.assign({}, ...tables) as JobRegistry
}

const registry = await loadRegistry()

const api: JobHostApi = {
  run: (job, input) => runJob(registry, job, input),
  threadId: () => threadId
}

if (parentPort === null) throw new Error("JobHost.ts must run in a worker thread")
Comlink.expose(api, nodeEndpoint(parentPort))
