// Run from sources only (WorkerThread.ts): worker threads start without the parent's TypeScript loader, so this
// registers tsx, then loads the TypeScript host module the spawner names (`workerData.entry`, relative to this
// folder). Built packages start their JavaScript host modules directly and never load this file.
import { workerData } from "node:worker_threads"
import { register } from "tsx/esm/api"

register()
await import(new URL(workerData.entry, import.meta.url).href)
