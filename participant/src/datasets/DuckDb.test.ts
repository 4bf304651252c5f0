/**
 * DuckDB's spill directories on disk: named by the pid of their process, removed by `close`, and those a killed
 * process left removed by `clearStale` while a live process's are kept.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as DuckDb from "./DuckDb.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const dirs: Array<string> = []
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir)
})

describe("DuckDb spill directories", () => {
  it("removes those of dead pids only, and leaves names of another form alone", async () => {
    const root = await mkdtemp(join(tmpdir(), "jointly-duckdb-test-"))
    dirs.push(root)
    const child = spawn(process.execPath, ["-e", ""])
    await new Promise((r) => child.once("exit", r))
    const dead = join(root, `jointly-duckdb-${child.pid}-abc123`)
    const live = join(root, `jointly-duckdb-${process.pid}-abc123`)
    const other = join(root, "jointly-duckdb-abc123")
    for (const dir of [dead, live, other]) await mkdir(dir)
    await DuckDb.clearStale(root)
    expect([existsSync(dead), existsSync(live), existsSync(other)]).toEqual([false, true, true])
  })

  it("names the engine's directory by this pid and removes it on close", async () => {
    const duck = await DuckDb.open({ threads: 1 })
    const connection = await duck.instance.connect()
    const spill = (await connection.runAndReadAll("SELECT current_setting('temp_directory')")).getRows()[0]![0] as string
    connection.closeSync()
    expect(DuckDb.pidOf(spill.slice(spill.lastIndexOf("/") + 1))).toBe(process.pid)
    expect(existsSync(spill)).toBe(true)
    duck.close()
    expect(existsSync(spill)).toBe(false)
  })
})
