#!/usr/bin/env node
// The `jointly` CLI from the repository's TypeScript sources (development and tests: LocalCluster spawns this
// when it runs from sources itself), so no build step stands between an edit and a run.
import "./from-sources.mjs"

await import("../src/main.ts")
