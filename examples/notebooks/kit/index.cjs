// The notebooks' entry (`import { load } from "@jointly/examples"`). tslab compiles cells to CommonJS and
// resolves packages through `main`/`types`, while Jointly is TypeScript run through tsx: this file registers
// tsx's ESM loader and hands back the TypeScript helpers through a real dynamic import (a .cjs file keeps it
// one; tsx's own CommonJS `register` resolves its loader wrongly, hence the ESM entry).
"use strict"

let loaded
exports.load = () => {
  loaded ??= import("tsx/esm/api").then(({ register }) => {
    register()
    return import("./Notebook.ts")
  })
  return loaded
}
