/**
 * Pins retried over two embedded Helia nodes on loopback: the party's node is connected to a holder that does not
 * have the block yet, so the first tries fail (BlockNotFound); the block put on the holder after the third failed
 * try (the old bound) is pinned at a later one. A block nobody has ends as a typed PinFailed after the bounded tries.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as Pinner from "./Pinner.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe("Pinner: a pin retried until a connected node has the block", () => {
  let scope: Scope.Closeable
  let holder: ArtifactBlocksShape
  let party: ArtifactBlocksShape

  beforeAll(async () => {
    scope = await run(Scope.make())
    const started = await run(Scope.provide(HeliaBlocks.make(), scope))
    holder = started.blocks
    // Each try looks for the block for 300 ms.
    party = (await run(Scope.provide(HeliaBlocks.make({ peers: [started.node.addresses[0]!], defaultTimeoutMs: 300 }), scope))).blocks
  }, 60_000)

  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
  })

  const block = (text: string) => new TextEncoder().encode(`${text} ${Math.random()}`)

  it("pins a block that reaches a connected node only after three failed tries, and reports each try", async () => {
    const bytes = block("sealed model")
    const { cidOf } = await import("@jointly/core/internal/artifacts/Blocks")
    const cid = (await cidOf(bytes)).toString()
    const events: Array<Pinner.PinEvent> = []
    const pinner = Pinner.make({
      blocks: party,
      retry: { initialMs: 50, maxDelayMs: 200, attempts: 10 },
      emit: (event) => {
        events.push(event)
        // The block becomes available once three tries have failed.
        if (event.type === "pin-retry" && event.attempt === 3) void run(holder.put(bytes))
      }
    })
    expect(await run(party.has(cid))).toBe(false)
    const pinning = pinner.pin("0x01", { role: "model", cid })
    // Nothing happens until the effect runs.
    expect(pinner.status()).toEqual([])
    const status = await run(pinning)
    expect(status).toMatchObject({ state: "pinned", cid, role: "model" })
    expect(status.attempts).toBeGreaterThanOrEqual(4)
    expect(events.filter((e) => e.type === "pin-retry").map((e) => (e as { attempt: number }).attempt).slice(0, 3)).toEqual([1, 2, 3])
    expect(events.at(-1)).toMatchObject({ type: "pinned", ok: true, cid, attempts: status.attempts })
    // Held by the party's node now, and listed as pinned.
    expect(await run(party.has(cid))).toBe(true)
    expect(pinner.status()).toEqual([status])
  }, 60_000)

  it("gives a block no node has up after the bounded tries, with a typed PinFailed, and keeps it listed as failed", async () => {
    const { cidOf } = await import("@jointly/core/internal/artifacts/Blocks")
    const cid = (await cidOf(block("never put"))).toString()
    const events: Array<Pinner.PinEvent> = []
    const pinner = Pinner.make({ blocks: party, retry: { initialMs: 20, maxDelayMs: 40, attempts: 3 }, emit: (event) => events.push(event) })
    const status = await run(pinner.pin("0x02", { role: "result", cid }))
    expect(status).toMatchObject({ state: "failed", attempts: 3, detail: expect.stringMatching(/^BlockNotFound: /) })
    expect(events.map((e) => e.type)).toEqual(["pin-retry", "pin-retry", "pinned"])
    const last = events.at(-1) as Extract<Pinner.PinEvent, { type: "pinned" }>
    expect(last.ok).toBe(false)
    expect(last.error).toBeInstanceOf(Pinner.PinFailed)
    expect(last.error).toMatchObject({ _tag: "PinFailed", cid, attempts: 3, lastError: "BlockNotFound" })
    expect(pinner.status()).toEqual([status])
    // A CID that is not one fails at once: waiting would not fix it.
    const bad = await run(pinner.pin("0x03", { role: "result", cid: "not-a-cid" }))
    expect(bad).toMatchObject({ state: "failed", attempts: 1, detail: expect.stringMatching(/^InvalidCid/) })
    expect(events.slice(3).map((e) => e.type)).toEqual(["pinned"])
  }, 60_000)
})
