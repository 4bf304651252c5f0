/**
 * The portable entries reach no Node built-in (scripts/check-portable-graph.mjs, also `npm run check:portable`),
 * and core names none outside tests, test support and its build script. The Node composition is the control:
 * the same walk must find its node:crypto.
 */
import { describe, expect, it } from "vitest"
import { coreNodeImports, defaultEntries, nodeImportsOf } from "../../scripts/check-portable-graph.mjs"

describe("the portable import graph", () => {
  for (const entry of defaultEntries) {
    it(`${entry} reaches no Node built-in`, async () => {
      const { found, inputs } = await nodeImportsOf(entry)
      expect(inputs).toBeGreaterThan(10)
      expect(found.map((f) => `${f.module} ← ${f.chain.join(" → ")}`)).toEqual([])
    })
  }

  it("finds the Node built-ins of the Node composition, with the chain that reaches them", async () => {
    const { found } = await nodeImportsOf("backends/src/NodeBackends.ts")
    const crypto = found.find((f) => f.module === "node:crypto" && f.importer === "backends/src/node/OpenSslKernels.ts")
    expect(crypto?.chain).toEqual(["backends/src/NodeBackends.ts", "backends/src/node/OpenSslKernels.ts"])
  })

  it("core imports no Node built-in outside tests, test support and the build script", () => {
    expect(coreNodeImports()).toEqual([])
  })
})
