// Worker threads start without the parent's TypeScript loader: register tsx, then load the TS host module
// the spawner names (`workerData.entry`, relative to this folder; the job pool's JobHost.ts by default).
import { workerData } from "node:worker_threads"
import { register } from "tsx/esm/api"

register()
await import(new URL(workerData?.entry ?? "./JobHost.ts", import.meta.url).href)
