/**
 * A start called off part-way (a test's `beforeAll` that timed out: its `cluster` variable is still undefined, so
 * only the starter its `afterAll` stops can reach it) leaves no process behind: the chain, and participants that
 * had not yet said they were ready, are stopped before `start` rejects and before the starter's `stop()` returns.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { descendants } from "@jointly/core/internal/testing/Processes"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "./LocalCluster.ts"

const demo = (file: string) => fileURLToPath(new URL(`../../../examples/demo/${file}`, import.meta.url))

const dirs: Array<string> = []
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir)
})

describe.skipIf(process.platform !== "linux")("LocalCluster.starter stopped while it starts", () => {
  it("stops the chain and the participants still starting, by pid, before the start rejects and stop() returns", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jointly-calloff-"))
    dirs.push(dir)
    const before = new Set((await descendants(process.pid)).keys())
    const columns = [{ name: "glucose", type: "number" }] as const
    const starter = LocalCluster.starter()
    let seen = new Map<number, string>()
    let stopped: Promise<void> | undefined
    const starting = starter.start({
      dataDir: join(dir, "cluster"),
      parties: ["north", "south"].map((name) => ({ name, datasets: [{ name: "pima", file: demo(`pima-${name}.csv`), columns }] })),
      onProgress: (line) => {
        if (!line.startsWith("coordinator:")) return
        // Called off once both participant processes exist and before either is ready: the moment a timed-out
        // `beforeAll` used to leave them running.
        void (async () => {
          for (;;) {
            const now = new Map([...(await descendants(process.pid))].filter(([pid]) => !before.has(pid)))
            if ([...now.values()].filter((command) => / participant --config /.test(command)).length === 2) {
              seen = now
              stopped = starter.stop()
              return
            }
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        })()
      }
    })
    await expect(starting).rejects.toThrow(/called off/)
    await stopped
    expect([...seen.values()].some((command) => /anvil/.test(command)), [...seen.values()].join("\n")).toBe(true)
    const alive = new Set((await descendants(process.pid)).keys())
    expect([...seen.keys()].filter((pid) => alive.has(pid)).map((pid) => `${pid} ${seen.get(pid)}`)).toEqual([])
  })
})

describe("LocalCluster.start joining a running cluster", () => {
  it("refuses the options of a cluster that starts its own chain and coordinator, naming them, before it starts anything", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jointly-joins-"))
    dirs.push(dir)
    const joins = { dataDir: join(dir, "none"), rpcUrl: "http://127.0.0.1:9", coordinatorUrl: "http://127.0.0.1:9" }
    await expect(LocalCluster.start({ dataDir: join(dir, "cluster"), parties: [], joins, ipfs: true, coordinatorProcess: true })).rejects.toThrow(/coordinatorProcess, ipfs do not apply/)
    await expect(LocalCluster.start({ dataDir: join(dir, "cluster"), parties: [], joins, chainRetryMaxMs: 1_000 })).rejects.toThrow(/: chainRetryMaxMs do not apply/)
    await expect(LocalCluster.start({ dataDir: join(dir, "cluster"), parties: [], joins })).rejects.toThrow(/no deployment in .*none/)
    expect(await readdir(dir)).toEqual(["cluster"])
  })
})
