/**
 * The packages as a partner gets them: `npm pack` each published package (from its built `dist/`), install the
 * tarballs into an empty folder with a plain package.json — offline, from the tarballs and npm's cache — and
 *   - from a plain `.mjs` file (no TypeScript anywhere), start an Agent for one organisation of a running
 *     consortium and, as its analyst through `@jointly/coordinator/client`, complete a joint statistics task and a
 *     PSI: the statistics equal the plaintext reference exactly, the PSI output equals the plaintext intersection;
 *   - type-check a `.ts` consumer against the shipped declarations with `tsc --noEmit`.
 * The rest of the consortium (anvil, the coordinator, two participant processes) runs from the repository.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "@jointly/coordinator/internal/testing/fixtures"

const run = promisify(execFile)
const repo = fileURLToPath(new URL("../../", import.meta.url))
const consumer = fileURLToPath(new URL("./consumer/", import.meta.url))
/** What a partner installs: the CLI is not needed to embed an agent. */
const published = ["core", "wasm", "backends", "participant", "coordinator"]
const npm = (args: ReadonlyArray<string>, cwd: string, timeout = 240_000) =>
  run("npm", [...args], { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } })
const versionOf = async (name: string) => JSON.parse(await readFile(join(repo, "node_modules", name, "package.json"), "utf8")).version as string

const columns: DatasetSpec["columns"] = [
  { name: "glucose", type: "number" },
  { name: "mass", type: "number" },
  { name: "age", type: "integer" }
]
const params: Params = {
  columns: ["glucose", "mass", "age"],
  statistics: ["count", "sum", "mean", "variance", "histogram"],
  histogram: { glucose: [0, 100, 140, 200] },
  where: { column: "glucose", op: ">", value: 0 }
}
const idFiles = ["a", "b", "c"].map((p) => join(repo, `examples/query/bcw_vertical_party_${p}_psi.csv`))
const idsOf = async (file: string) => (await readFile(file, "utf8")).trim().split(/\r?\n/).slice(1).map((line) => line.split(",")[0]!)

let dir: string
let app: string
let cluster: LocalCluster.LocalCluster | undefined
const starter = LocalCluster.starter()
let parts: Array<F.Csv>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-pack-"))
  app = join(dir, "app")
  const tarballs = join(dir, "tarballs")
  await mkdir(app)
  await mkdir(tarballs)
  const packed = JSON.parse((await npm(["pack", "--json", "--pack-destination", tarballs, ...published.flatMap((p) => ["-w", p])], repo)).stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  expect(packed.map((p) => p.filename).sort()).toEqual(published.map((p) => `jointly-${p}-0.1.0.tgz`).sort())
  for (const p of packed) {
    const files = p.files.map((f) => f.path)
    const entry = p.filename.includes("backends") ? "dist/NodeBackends.js" : "dist/index.js"
    expect(files).toEqual(expect.arrayContaining(["LICENSE", "CHANGELOG.md", "package.json", entry, `${entry.slice(0, -3)}.d.ts`, `${entry}.map`]))
    expect(files.filter((f) => f.startsWith("src/") || f.endsWith(".test.js") || f.includes("tsbuildinfo"))).toEqual([])
    // The native groups ship as C sources built by the package's install script, never as this machine's binary.
    if (p.filename.includes("backends")) {
      expect(files).toEqual(expect.arrayContaining(["native/build.mjs", "native/ristretto.c", "native/x25519.c", "native/napi_args.c"]))
      expect(files.filter((f) => f.endsWith(".node"))).toEqual([])
    }
  }
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "partner-app", version: "1.0.0", private: true, type: "module" }, null, 2))
  // The partner's own direct dependencies beside ours (its wallet and, for Redacted, Effect), at the versions
  // npm's cache holds; `--prefer-offline` takes every registry package from that cache.
  await npm(["install", "--prefer-offline", ...packed.map((p) => join(tarballs, p.filename)), `effect@${await versionOf("effect")}`, `ethers@${await versionOf("ethers")}`, `typescript@${await versionOf("typescript")}`, `@types/node@${await versionOf("@types/node")}`], app, 480_000)
  // Its install script compiled the native groups here (CI has a C compiler, Node's headers and libsodium).
  expect(existsSync(join(app, "node_modules/@jointly/backends/dist/native/groups.node"))).toBe(true)
  for (const file of ["agent.mjs", "typed.ts"]) await copyFile(join(consumer, file), join(app, file))

  const data = join(dir, "data")
  await mkdir(data)
  parts = F.splitRoundRobin(F.pima(), 3)
  const csvFiles = await Promise.all(parts.map((p, i) => F.writeCsv(data, `pima-${i}.csv`, p)))
  const idCsvs = await Promise.all(idFiles.map(async (file, i) => {
    const out = join(data, `ids-${i}.csv`)
    await writeFile(out, "id\n" + (await idsOf(file)).join("\n") + "\n")
    return out
  }))
  const datasets = (i: number): ReadonlyArray<DatasetSpec> => [
    { name: "pima", file: csvFiles[i]!, columns },
    { name: "ids", file: idCsvs[i]!, columns: [{ name: "id", type: "string" }], id: "id" }
  ]
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: [
      { name: "north", datasets: datasets(0) },
      { name: "south", datasets: datasets(1) },
      { name: "embedded", datasets: datasets(2), external: true }
    ]
  })
}, 900_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

describe("the packed packages, installed into an empty application", () => {
  it("run an embedded Agent from plain JavaScript through a joint statistics task and a PSI", async () => {
    const c = cluster!
    const embedded = c.parties.find((p) => p.name === "embedded")!
    const partyList = (dataset: string) => c.parties.map((p) => ({ participant: p.address, dataset }))
    const config = {
      coordinatorUrl: c.coordinatorUrl,
      dataDir: embedded.dataDir,
      passphrase: (await readFile(join(embedded.dataDir, "passphrase"), "utf8")).trim(),
      datasets: JSON.parse(await readFile(join(embedded.dataDir, "participant.json"), "utf8")).datasets,
      analyst: c.keys.analyst.address,
      analystKey: c.keys.analyst.privateKey,
      statistics: { kind: "statistics.horizontal", name: "installed", parties: partyList("pima"), params },
      psi: { kind: "query.psi", parties: partyList("ids"), params: { idColumn: "id", receivers: [embedded.address], maxIds: 10_000 } }
    }
    await writeFile(join(app, "config.json"), JSON.stringify(config))
    // No loader, no TypeScript: a production Node running what npm installed.
    const { stdout } = await run(process.execPath, ["agent.mjs", "config.json"], { cwd: app, timeout: 420_000, env: { ...process.env, NODE_OPTIONS: "", JOINTLY_LOG: "error" } })
    const out = JSON.parse(stdout.trim().split("\n").at(-1)!)

    expect(out.refused).toBe(true)
    expect(out.address).toBe(embedded.address)
    expect(out.badColumn).toMatchObject({ tag: "DatasetError", reason: "MissingColumn" })
    expect(out.events).toContain("consent:true")

    expect(out.statistics.status).toBe("Succeeded")
    const { contributors: _, ...expected } = F.exactReference(parts, params, [])
    const { contributors, ...result } = out.statistics.result
    expect(result).toEqual(expected)
    expect(new Set(contributors)).toEqual(new Set(c.parties.map((p) => p.address)))

    const sets = await Promise.all(idFiles.map(async (file) => new Set(await idsOf(file))))
    const shared = [...sets[0]!].filter((id) => sets[1]!.has(id) && sets[2]!.has(id))
    expect(shared.length).toBeGreaterThan(0)
    expect(out.psi.status).toBe("Succeeded")
    expect(out.psi.result.cardinality).toBe(shared.length)
    expect(new Set(out.psiOutput)).toEqual(new Set(shared))
  }, 600_000)

  it("ship source maps that carry their TypeScript (no src/ in the tarballs)", async () => {
    const map = JSON.parse(await readFile(join(app, "node_modules/@jointly/participant/dist/Agent.js.map"), "utf8"))
    expect(map.sources).toEqual(["../src/Agent.ts"])
    expect(map.sourcesContent[0]).toContain("export const start = async (config: AgentConfig)")
  })

  it("type-check a TypeScript consumer against the shipped declarations", async () => {
    await writeFile(join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2023", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"] },
      files: ["typed.ts"]
    }))
    const result = await run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: app, timeout: 240_000 }).then(
      () => "",
      (error: { stdout?: string }) => error.stdout ?? String(error)
    )
    expect(result).toBe("")
  }, 300_000)
})
