/**
 * Executes every notebook headless (`jupyter nbconvert --execute` with the tslab kernel), so a failing cell
 * fails the tests. Needs Jupyter and the tslab kernel (`.ci/run` installs both); without them the notebooks
 * are skipped, unless JOINTLY_NOTEBOOKS=1 (set by CI) says they must run.
 *
 * One notebook runs as an analyst runs it: its cells start its whole cluster (chain, contracts, coordinator,
 * participants) and stop it. The others join one chain and coordinator this file starts (the kit's `joining`,
 * through JOINTLY_NOTEBOOK_CLUSTER) and start, use and stop only their own participants: a chain and a
 * coordinator per notebook proved nothing the standalone one does not, and their starts were most of this
 * file's time.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const dir = fileURLToPath(new URL(".", import.meta.url))
const notebooks = (await readdir(dir)).filter((f) => f.endsWith(".ipynb")).sort()

const kernelInstalled = (() => {
  try {
    // Debian's jupyter has no `kernelspec` subcommand without jupyter-client's scripts: ask the library.
    const specs = execFileSync("/usr/bin/python3", ["-c", "import json; from jupyter_client.kernelspec import KernelSpecManager; print(json.dumps(KernelSpecManager().find_kernel_specs()))"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    return "tslab" in JSON.parse(specs)
  } catch {
    return false
  }
})()
const required = process.env.JOINTLY_NOTEBOOKS === "1"

const jupyter = existsSync("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter"

/** The notebook whose cells start and stop its whole cluster, as the README runs every notebook. */
const standalone = "01-joint-statistics.ipynb"

/** Runs `notebook` headless; with `shared` (a file of `LocalCluster.shared()`), its cluster joins that one. */
const execute = (notebook: string, out: string, shared: string | undefined) =>
  new Promise<{ code: number | null; log: string }>((resolve) => {
    const child = spawn(jupyter, ["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300", "--output", out, join(dir, notebook)], {
      cwd: dir,
      env: { ...process.env, JOINTLY_LOG: process.env.JOINTLY_LOG ?? "error", ...(shared === undefined ? {} : { JOINTLY_NOTEBOOK_CLUSTER: shared }) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let log = ""
    child.stdout.on("data", (d) => (log += d))
    child.stderr.on("data", (d) => (log += d))
    child.on("exit", (code) => resolve({ code, log }))
  })

describe.skipIf(!kernelInstalled && !required)("notebooks (tslab, executed headless)", () => {
  it("has the kernel it needs", () => expect(kernelInstalled, "jupyter with the tslab kernel (see .ci/run)").toBe(true))

  const base = LocalCluster.starter()
  let root: Promise<string> | undefined
  /**
   * The file describing the shared chain and coordinator, for the notebooks that join them. Started, not awaited,
   * before the standalone notebook (the first) runs, so the two starts overlap; a joining notebook awaits it.
   */
  let shared: Promise<string> | undefined
  beforeAll(() => {
    root = mkdtemp(join(tmpdir(), "jointly-nb-cluster-"))
    shared = root.then(async (dir) => {
      const cluster = await base.start({ dataDir: join(dir, "cluster"), parties: [] })
      await writeFile(join(dir, "shared.json"), JSON.stringify(cluster.shared()))
      return join(dir, "shared.json")
    })
    // Its failure is reported by the notebooks that await it.
    shared.catch(() => {})
  })
  afterAll(async () => {
    await base.stop()
    const dir = await root
    if (dir !== undefined) await removeDir(dir)
  })

  for (const notebook of notebooks) {
    it(`${notebook} runs every cell without an error`, async () => {
      const out = await mkdtemp(join(tmpdir(), "jointly-nb-"))
      try {
        const run = await execute(notebook, join(out, notebook), notebook === standalone ? undefined : await shared)
        expect(run.code, run.log.slice(-4000)).toBe(0)
        const executed = JSON.parse(await readFile(join(out, notebook), "utf8")) as { cells: Array<{ cell_type: string; outputs?: Array<{ output_type: string }> }> }
        const errors = executed.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "error")
        expect(errors).toEqual([])
      } finally {
        await removeDir(out)
      }
    }, 400_000)
  }
})
