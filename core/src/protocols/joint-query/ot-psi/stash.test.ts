/**
 * The stash in use: with the bin count squeezed to the element count (load factor 1, far past 3-way cuckoo's
 * 0.92 threshold) some elements can only go to the stash, and the engine must still find them.
 */
import { Effect } from "effect"
import { describe, expect, it, vi } from "vitest"
import * as Aes from "./Aes.ts"
import * as Cuckoo from "./Cuckoo.ts"
import { pick, plainIntersection, run } from "./TestSupport.ts"

vi.mock("./spec.ts", async (original) => ({ ...(await original<typeof import("./spec.ts")>()), binCount: (n: number) => n }))

describe("OT-based PSI with elements in the stash", () => {
  it("finds intersection elements that sit in the stash", async () => {
    const insert = vi.spyOn(Cuckoo, "insert")
    const receiverIds = Array.from({ length: 150 }, (_, i) => `id-${i}`)
    const senderIds = Array.from({ length: 150 }, (_, i) => `id-${i + 30}`)
    const result = await Effect.runPromise(run(receiverIds, senderIds, { receiverLayer: Aes.portableLayer, seed: "stash", stash: 16, revealToSender: true }))
    const stashed = insert.mock.results[0]!.value as Cuckoo.Table
    expect(stashed.stash.length).toBeGreaterThan(0)
    expect(pick(receiverIds, result.receiver.indices).sort()).toEqual(plainIntersection(receiverIds, senderIds))
    expect(pick(senderIds, result.sender.indices)).toEqual(pick(receiverIds, result.receiver.indices))
  })
})
