// Worker threads start without the parent's TypeScript loader: register tsx, then load the TS worker module.
import { register } from "tsx/esm/api"

register()
await import("./JobHost.ts")
