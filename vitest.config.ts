import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// In the repository every `@jointly/*` import resolves to TypeScript sources through the `@jointly/source`
// export condition (installed packages resolve to `dist/`): vite's resolver for the modules vitest transforms,
// and Node's (`--conditions`) for the forks, the worker threads they start and anything loaded outside vite.
const sourceCondition = "@jointly/source"

export default defineConfig({
  resolve: { conditions: [sourceCondition, ...defaultServerConditions] },
  ssr: { resolve: { conditions: [sourceCondition, ...defaultServerConditions], externalConditions: [sourceCondition] } },
  test: {
    include: ["{core,coordinator,participant,wasm,backends,cli,examples}/src/**/*.test.ts", "examples/**/*.test.ts", "scripts/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    // Integration tests start anvil, PGlite and child processes: give them room on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    execArgv: [`--conditions=${sourceCondition}`],
    maxWorkers: 2,
    fileParallelism: true
  }
})
