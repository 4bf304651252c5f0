/**
 * Two Helia nodes on one store directory, as a running participant and `jointly files` beside it: their changes
 * to the store take turns under the directory's lock. While another holder keeps the lock, a change waits and then
 * fails with a BlockStoreFailed naming the lock; once released, it goes through, and both nodes' puts and pins made
 * at once all end pinned.
 */
import { Effect, Exit, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import lockfile from "proper-lockfile"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as HeliaBlocks from "./HeliaBlocks.ts"
import * as StoreLock from "./StoreLock.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe("StoreLock: one IPFS store directory shared by two processes' nodes", () => {
  const dir = mkdtempSync(join(tmpdir(), "jointly-lock-"))
  let scope: Scope.Closeable
  let participant: ArtifactBlocksShape
  let files: ArtifactBlocksShape

  beforeAll(async () => {
    scope = await run(Scope.make())
    // Both wait long enough for the twelve changes at once of the second test to take turns on a loaded machine
    // (400 ms was not: CI saw a put time out behind the others); the first test waits this out once.
    participant = (await run(Scope.provide(HeliaBlocks.make({ directory: dir, lockTimeoutMs: 5_000 }), scope))).blocks
    files = (await run(Scope.provide(HeliaBlocks.make({ directory: dir, ownIdentity: true, lockTimeoutMs: 5_000 }), scope))).blocks
  }, 60_000)

  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
    await removeDir(dir)
  })

  it("a change waits for the lock another holder keeps, fails naming it after the timeout, and goes through once released", async () => {
    const release = await lockfile.lock(dir, { lockfilePath: StoreLock.lockPathOf(dir), realpath: false })
    const block = new TextEncoder().encode(`while locked ${Math.random()}`)
    try {
      const refused = await run(Effect.flip(participant.put(block)))
      expect(refused).toMatchObject({ _tag: "BlockStoreFailed", operation: "lock" })
      expect(refused.message).toContain(`the IPFS store ${dir} is locked by another process`)
    } finally {
      await release()
    }
    const cid = await run(participant.put(block))
    expect(await run(files.pinned(cid))).toBe(true)
  }, 30_000)

  it("puts and unpins from both nodes at once all take effect, each seen by the other", async () => {
    const blocks = Array.from({ length: 12 }, (_, i) => new TextEncoder().encode(`block ${i} ${Math.random()}`))
    const cids = await Promise.all(blocks.map((b, i) => run((i % 2 === 0 ? participant : files).put(b))))
    for (const cid of cids) {
      expect(await run(participant.pinned(cid))).toBe(true)
      expect(await run(files.pinned(cid))).toBe(true)
    }
    await Promise.all(cids.slice(0, 6).map((cid, i) => run((i % 2 === 0 ? files : participant).unpin(cid))))
    for (const [i, cid] of cids.entries()) expect(await run(participant.pinned(cid))).toBe(i >= 6)
  }, 60_000)
})
