/**
 * The Web Worker side of the browser participant's job pool (the browser's JobHost.ts): at `init` it builds the
 * portable backends once (`@jointly/backends/portable`: the AssemblyScript Montgomery kernel, libsodium,
 * node-seal's worker build, tfjs on its WASM backend — binaries fetched from the page's `assets` URL) and the job
 * registry over them (worker/jobs.ts, the same table Node's worker threads run), then runs jobs by name on bytes.
 * Bundled on its own (scripts/bundle-browser.mjs) and started by WebWorkers.ts, spoken to with comlink.
 */
import * as Comlink from "comlink"
import { Effect } from "effect"
import * as Backends from "@jointly/backends/internal/Backends"
import * as PortableBackends from "@jointly/backends/portable"
import type { JobHostApi } from "../worker/JobHostApi.ts"
import { runJob } from "../worker/JobHostApi.ts"
import { jobs, type JobRegistry } from "../worker/jobs.ts"

/** What a job worker is told at start: plain data. */
export interface JobWorkerSetup {
  /** Base URL of the bundle's assets (jointly-bigint.wasm, tfjs-backend-wasm*.wasm). */
  readonly assets: string
  /** "ts" forces the exact TypeScript big-integer kernel (a baseline); the WASM kernel by default. */
  readonly bigint?: "wasm" | "ts"
  /** A number this worker reports as its id (for tests and progress). */
  readonly id: number
}

export interface JobWorkerApi extends JobHostApi {
  readonly init: (setup: JobWorkerSetup) => Promise<void>
}

let registry: JobRegistry | undefined
let id = 0

const api: JobWorkerApi = {
  init: async (setup) => {
    id = setup.id
    const backends = await Backends.build(PortableBackends.layer({
      choice: { bigint: setup.bigint ?? "wasm" },
      bigintWasm: new URL("jointly-bigint.wasm", setup.assets),
      tfjsWasmPaths: setup.assets
    }))
    registry = await Effect.runPromise(Effect.provide(jobs, backends.layer))
  },
  run: async (job, input) => {
    if (registry === undefined) throw new Error("the job worker was not initialised")
    return runJob(registry, job, input)
  },
  threadId: () => id
}

Comlink.expose(api)
