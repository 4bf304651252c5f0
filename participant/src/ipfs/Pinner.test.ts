/**
 * Pins retried over two embedded Helia nodes on loopback: the party's node is connected to a holder that does not
 * have the block yet, so the first tries fail (BlockNotFound); the block put on the holder after the third failed
 * try (the old bound) is pinned at a later one. A block nobody has ends as a typed PinFailed after the bounded tries.
 * Pins still owed when the party's node stops — one still retrying, one given up — are kept on disk beside its
 * blocks and pinned after it starts again.
 */
import { Effect, Exit, Scope } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { cidOf } from "@jointly/core/internal/artifacts/Blocks"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as Pinner from "./Pinner.ts"
import * as OwedPins from "./OwedPins.ts"
import * as Agent from "../Agent.ts"

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

describe("Pinner: pins still owed survive a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "jointly-owed-"))
  let holderScope: Scope.Closeable
  let holder: Awaited<ReturnType<typeof startHolder>>
  const startHolder = () => run(Scope.provide(HeliaBlocks.make(), holderScope))

  beforeAll(async () => {
    holderScope = await run(Scope.make())
    holder = await startHolder()
  }, 60_000)

  afterAll(async () => {
    await run(Scope.close(holderScope, Exit.void))
    await removeDir(dir)
  })

  /** The party as a process would start it: its node on `dir`, the owed pins read from there. */
  const startParty = async (scope: Scope.Scope, attempts: number) => {
    const party = await run(Scope.provide(HeliaBlocks.make({ directory: dir, peers: [holder.node.addresses[0]!], defaultTimeoutMs: 200 }), scope))
    const owed = await run(OwedPins.open(OwedPins.fileIn(dir)))
    const events: Array<Pinner.PinEvent> = []
    const pinner = Pinner.make({ blocks: party.blocks, owed, retry: { initialMs: 50, maxDelayMs: 100, attempts }, emit: (event) => events.push(event) })
    return { party, owed, pinner, events }
  }

  it("a participant restarted with pins still owed (one retrying, one given up) pins them after the restart", async () => {
    const pending = new TextEncoder().encode(`sealed model ${Math.random()}`)
    const givenUp = new TextEncoder().encode(`sealed result ${Math.random()}`)
    const cids = { pending: (await cidOf(pending)).toString(), givenUp: (await cidOf(givenUp)).toString() }

    const before = await run(Scope.make())
    const first = await startParty(before, 3)
    // Given up after its three tries: still owed, as failed.
    expect(await run(first.pinner.pin("0x07", { role: "result", cid: cids.givenUp }))).toMatchObject({ state: "failed" })
    // Still retrying when the participant stops (its tries are not used up).
    const slow = Pinner.make({ blocks: first.party.blocks, owed: first.owed, retry: { initialMs: 50, maxDelayMs: 100, attempts: 1_000 }, emit: (event) => first.events.push(event) })
    Effect.runFork(Effect.forkIn(slow.pin("0x06", { role: "model", cid: cids.pending }), before))
    await new Promise<void>((resolve) => {
      const wait = setInterval(() => {
        if (first.events.some((e) => e.type === "pin-retry" && e.cid === cids.pending && e.attempt >= 2)) resolve(clearInterval(wait))
      }, 20)
    })
    await run(Scope.close(before, Exit.void))
    const onDisk = JSON.parse(readFileSync(OwedPins.fileIn(dir), "utf8")) as { owed: Array<{ artifact: { cid: string }; state: string }> }
    expect(onDisk.owed.map((o) => [o.artifact.cid, o.state]).sort()).toEqual([[cids.pending, "pending"], [cids.givenUp, "failed"]].sort())

    // The blocks reach a connected node while the participant is down.
    await run(holder.blocks.put(pending))
    await run(holder.blocks.put(givenUp))

    // The participant starts again (the agent, as `jointly participant` runs it; its coordinator is not up yet).
    const agent = await Agent.start({
      coordinatorUrl: "http://127.0.0.1:9",
      wallet: Wallet.createRandom(),
      datasets: [],
      compute: "inline",
      policy: () => ({ decision: "reject", reason: "restart test" }),
      ipfs: { directory: dir, peers: [holder.node.addresses[0]!], defaultTimeoutMs: 500 },
      pinRetry: { initialMs: 50, maxDelayMs: 100, attempts: 20 }
    })
    try {
      const pins = await vi.waitFor(() => {
        const done = agent.ipfs!.pins().filter((p) => p.state === "pinned")
        if (done.length < 2) throw new Error(`pinned so far: ${done.length}`)
        return done
      }, { timeout: 20_000 })
      expect(pins.map((r) => [r.cid, r.taskId, r.role]).sort()).toEqual([[cids.pending, "0x06", "model"], [cids.givenUp, "0x07", "result"]].sort())
      // Nothing owed any more, on disk either.
      await vi.waitFor(() => expect(JSON.parse(readFileSync(OwedPins.fileIn(dir), "utf8")).owed).toEqual([]), { timeout: 5_000 })
    } finally {
      await agent.close()
    }
    // Held by the node on that directory: pinned there.
    const after = await run(Scope.make())
    try {
      const party = await run(Scope.provide(HeliaBlocks.make({ directory: dir }), after))
      expect(await run(party.blocks.pinned(cids.pending))).toBe(true)
      expect(await run(party.blocks.pinned(cids.givenUp))).toBe(true)
    } finally {
      await run(Scope.close(after, Exit.void))
    }
  }, 60_000)

  it("an owed pins file that is not one is refused with a typed error naming it", async () => {
    const bad = join(dir, "not-owed.json")
    const { writeFileSync } = await import("node:fs")
    writeFileSync(bad, JSON.stringify({ version: 1, owed: [{ taskId: "0x01", artifact: { role: "weights", cid: "x" }, state: "pending" }] }))
    const error = await run(Effect.flip(OwedPins.open(bad)))
    expect(error).toMatchObject({ _tag: "OwedPinsUnreadable", file: bad })
  })
})
