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
      return shared ? { ...kit, startCluster: await kit.joining(shared) } : kit
    })
  return loaded
}
