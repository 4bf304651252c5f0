/**
 * A notebook's cluster start that fails or is called off leaves nothing behind: the processes it started are
 * stopped and its temporary directory (keystores, chain state, the coordinator's store) is removed before
 * `startCluster` rejects. Each test points the kit's temporary directory (`os.tmpdir()`, from TMPDIR) at a
 * fresh folder of its own, so whatever the start wrote there is seen.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it, vi } from "vitest"
import { descendants } from "@jointly/core/internal/testing/Processes"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { repoFile, startCluster } from "./Notebook.ts"

const roots: Array<string> = []
afterEach(() => {
  vi.unstubAllEnvs()
})
afterAll(async () => {
  for (const root of roots) await removeDir(root)
})

/** A fresh folder that `os.tmpdir()` returns until the test ends. */
const freshTmp = async () => {
  const root = await mkdtemp(join(tmpdir(), "jointly-kit-"))
  roots.push(root)
  vi.stubEnv("TMPDIR", root)
  return root
}

const columns = [{ name: "glucose", type: "number" }] as const
const parties = ["north", "south"].map((name) => ({ name, datasets: [{ name: "pima", file: repoFile(`examples/demo/pima-${name}.csv`), columns }] }))

describe.skipIf(process.platform !== "linux")("startCluster that does not finish", () => {
  it("called off once the chain runs: the chain is stopped and the directory removed before it rejects", async () => {
    const root = await freshTmp()
    const before = new Set((await descendants(process.pid)).keys())
    const call = new AbortController()
    let started = new Map<number, string>()
    const starting = startCluster(parties, {
      signal: call.signal,
      onProgress: async (line) => {
        if (!line.startsWith("chain:")) return
        started = new Map([...(await descendants(process.pid))].filter(([pid]) => !before.has(pid)))
        call.abort()
      }
    })
    await expect(starting).rejects.toThrow(/called off/)
    expect([...started.values()].some((command) => /anvil/.test(command)), [...started.values()].join("\n")).toBe(true)
    const alive = new Set((await descendants(process.pid)).keys())
    expect([...started.keys()].filter((pid) => alive.has(pid)).map((pid) => `${pid} ${started.get(pid)}`)).toEqual([])
    expect(await readdir(root)).toEqual([])
  })

  it("called off before it began: nothing started and no directory left", async () => {
    const root = await freshTmp()
    await expect(startCluster(parties, { signal: AbortSignal.abort() })).rejects.toThrow()
    expect(await readdir(root)).toEqual([])
  })
})
