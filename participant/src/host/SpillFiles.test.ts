/**
 * The Spill service on a real disk: a resumable directory is found again as it was left (by an earlier attempt, or
 * before the host restarted), and the host's start clears what nothing resumes from — fresh directories, and
 * resumable ones left untouched past the keeping time — but keeps the others.
 */
import { mkdtemp, readdir, stat, utimes } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import * as SpillFiles from "./SpillFiles.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

let dataDir: string
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "jointly-spill-"))
})
afterEach(async () => {
  await removeDir(dataDir)
})

const bytes = (...values: Array<number>) => Uint8Array.from(values)

describe("SpillFiles", () => {
  it("reopens a resumable directory with what it held; a fresh one is private and new each time", async () => {
    const spill = SpillFiles.make(dataDir)
    const first = await Effect.runPromise(spill.resumable("psi-0xabc"))
    expect(first.found).toBe(false)
    await Effect.runPromise(first.dir.append(3, bytes(1, 2)))
    await Effect.runPromise(first.dir.append(3, bytes(3)))
    // As after a restart: another service value over the same data directory.
    const again = await Effect.runPromise(SpillFiles.make(dataDir).resumable("psi-0xabc"))
    expect(again.found).toBe(true)
    expect(await Effect.runPromise(again.dir.read(3))).toEqual(bytes(1, 2, 3))
    const other = await Effect.runPromise(spill.resumable("psi-0xdef"))
    expect(other.found).toBe(false)
    expect(await Effect.runPromise(other.dir.read(3))).toEqual(new Uint8Array(0))
    const mode = (await stat(join(SpillFiles.rootOf(dataDir), "task-psi-0xabc"))).mode & 0o777
    expect(mode).toBe(0o700)
    await Effect.runPromise(again.dir.remove)
    expect((await Effect.runPromise(spill.resumable("psi-0xabc"))).found).toBe(false)
  })

  it("clears fresh directories and resumable ones past the keeping time at the host's start, keeps the rest", async () => {
    const spill = SpillFiles.make(dataDir)
    await Effect.runPromise(Effect.flatMap(spill.open("psi-scratch"), (dir) => dir.append(0, bytes(9))))
    const kept = await Effect.runPromise(spill.resumable("psi-0x01"))
    await Effect.runPromise(kept.dir.append(0, bytes(1)))
    const old = await Effect.runPromise(spill.resumable("psi-0x02"))
    await Effect.runPromise(old.dir.append(0, bytes(2)))
    const hourAgo = new Date(Date.now() - 60 * 60 * 1000)
    await utimes(join(SpillFiles.rootOf(dataDir), "task-psi-0x02"), hourAgo, hourAgo)

    await Effect.runPromise(SpillFiles.clearStale(dataDir, 30 * 60 * 1000))
    expect(await readdir(SpillFiles.rootOf(dataDir))).toEqual(["task-psi-0x01"])
    expect(await Effect.runPromise(kept.dir.read(0))).toEqual(bytes(1))
    // A host without a spill root yet starts cleanly.
    await Effect.runPromise(SpillFiles.clearStale(join(dataDir, "elsewhere")))
  })
})
