// Development only: lets this Node process run the repository's TypeScript sources — tsx for the syntax, and
// every `@jointly/*` import resolved to its sources (the `@jointly/source` export condition) instead of the
// built `dist/`. The same as starting Node with `--conditions=@jointly/source --import tsx`, for processes
// whose flags we do not choose (a notebook kernel, a bin).
import { register } from "node:module"
import { register as registerTsx } from "tsx/esm/api"

registerTsx()
register("./source-condition.mjs", import.meta.url)
