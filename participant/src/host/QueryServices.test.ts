/** The pool-backed QueryCompute gives the inline kernel's bytes, and names a forged point's index. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import { poolCompute } from "./QueryServices.ts"

describe("QueryServices.poolCompute", () => {
  for (const group of Group.groupNames) {
    it(`${group}: hashes and blinds across worker threads exactly as the inline kernel does`, async () => {
      await Group.ready()
      const ops = Group.groups[group]
      // The pool's workers run the native kernels where built; this thread's small chunks the WASM ones.
      const pool = poolCompute({ size: 2, groups: Compute.wasmKernels })
      try {
        const ids = Array.from({ length: 1100 }, (_, i) => `id-${i}`)
        const domain = Group.domain("psi", "test")
        const [a, b] = [ops.randomScalar(), ops.randomScalar()]
        const pooled = await Effect.runPromise(pool.hashBlind(group, domain, ids, a))
        expect(pooled).toEqual(await Effect.runPromise(Compute.inline(Compute.wasmKernels).hashBlind(group, domain, ids, a)))
        expect(pooled).toEqual(ops.hashBlindEncoded(domain, Group.encodeIds(ids), a)) // the WASM group's bytes
        const twice = await Effect.runPromise(pool.blind(group, pooled, b))
        expect(twice).toEqual(await Effect.runPromise(Compute.inline(Compute.wasmKernels).blind(group, pooled, b)))
        // Commutativity, the property PSI rests on.
        expect(twice).toEqual(await Effect.runPromise(pool.blind(group, await Effect.runPromise(pool.hashBlind(group, domain, ids, b)), a)))

        const forged = twice.slice()
        forged.fill(0xff, 1000 * 32, 1001 * 32)
        const error = await Effect.runPromise(Effect.flip(pool.blind(group, forged, a)))
        expect(error._tag).toBe("InvalidPoint")
        expect(error.index).toBe(1000)
      } finally {
        await pool.close()
      }
    }, 60_000)
  }
})
