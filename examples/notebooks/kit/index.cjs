// The notebooks' entry (`import { load } from "@jointly/examples"`). tslab compiles cells to CommonJS and
// resolves packages through `main`/`types`, while the notebooks run the repository's TypeScript sources: this
// file registers tsx's ESM loader and the `@jointly/source` condition (cli/bin/from-sources.mjs) and hands back
// the TypeScript helpers through a real dynamic import (a .cjs file keeps it one; tsx's own CommonJS `register`
// resolves its loader wrongly, hence the ESM entry).
"use strict"

let loaded
exports.load = () => {
  loaded ??= import("../../../cli/bin/from-sources.mjs")
    .then(() => import("./Notebook.ts"))
    // Set by notebooks.test.ts only: the notebooks share one running chain and coordinator (Notebook.ts `joining`).
    .then(async (kit) => {
      const shared = process.env.JOINTLY_NOTEBOOK_CLUSTER
      const start = shared ? await kit.joining(shared) : kit.startCluster
      // This is the kernel's edge: JOINTLY_LOG, read here as the CLI reads it, sets the cluster's log level.
      const { levelOf } = await import("@jointly/coordinator/internal/Log")
      const logLevel = process.env.JOINTLY_LOG === undefined ? undefined : levelOf(process.env.JOINTLY_LOG)
      return { ...kit, startCluster: (parties, options = {}) => start(parties, logLevel === undefined ? options : { logLevel, ...options }) }
    })
  return loaded
}
