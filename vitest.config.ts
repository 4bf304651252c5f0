import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["{core,coordinator,participant,wasm,backends,cli,examples}/src/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    // Integration tests start anvil, PGlite and child processes: give them room on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true
  }
})
