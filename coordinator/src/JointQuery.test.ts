/**
 * Joint query over real processes: anvil, the coordinator and three participant processes (LocalCluster), the
 * bcw id files of examples/query/. Each receiver's output file (<party data dir>/outputs/<taskId>.json) equals
 * the plaintext computation; the coordinator's stored result holds no ids, only the cardinality and digests. The
 * OT engine (`protocol: "ot"`) between two of them gives the same intersection as the ECDH ring and the plaintext.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sha256Digest } from "@jointly/core/internal/wire/Canonical"
import * as PartialModels from "@jointly/core/internal/protocols/vertical/PartialModels"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as PartialModelStore from "@jointly/participant/internal/modeling/vertical/PartialModelStore"
import * as F from "./testing/fixtures.ts"

const example = (name: string) => fileURLToPath(new URL(`../../examples/query/${name}`, import.meta.url))
const files = {
  a: { file: example("bcw_vertical_party_a_psi.csv"), columns: [{ name: "id", type: "string" }, { name: "clump_thickness", type: "integer" }] },
  b: { file: example("bcw_vertical_party_b_psi.csv"), columns: [{ name: "id", type: "string" }, { name: "marginal_adhesion", type: "integer" }] },
  c: { file: example("bcw_vertical_party_c_psi.csv"), columns: [{ name: "id", type: "string" }] }
} as const

const csv = async (file: string) => {
  const [header, ...lines] = (await readFile(file, "utf8")).trim().split(/\r?\n/)
  const columns = header!.split(",")
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, j) => [columns[j]!, v])))
}

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-query-"))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: (["a", "b", "c"] as const).map((name) => ({ name, datasets: [{ name: "bcw", ...files[name] }] as never }))
  })
}, 400_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

const party = (name: string) => cluster.party(name)
const outputOf = async (name: string, taskId: string): Promise<any> => cluster.outputOf(name, taskId)

const run = (kind: string, names: ReadonlyArray<string>, params: Record<string, unknown>) => cluster.runTask(kind, { parties: names, dataset: "bcw", params, timeoutMs: 60_000 })

describe("joint query over real processes (bcw)", () => {
  it("3-party PSI and a hidden query equal the plaintext computation (intersection-sum: in-memory test)", async () => {
    const rows = { a: await csv(files.a.file), b: await csv(files.b.file), c: await csv(files.c.file) }
    const ids = (name: "a" | "b" | "c") => new Set(rows[name].map((r) => r.id!))
    const shared = new Set([...ids("a")].filter((id) => ids("b").has(id) && ids("c").has(id)))
    expect(shared.size).toBe(413)

    const psi = await run("query.psi", ["a", "b", "c"], { idColumn: "id", receivers: [party("a").address, party("c").address], maxIds: 10_000 })
    for (const name of ["a", "c"]) {
      const output = await outputOf(name, psi.id)
      expect(new Set(output.ids)).toEqual(shared)
      const { digest, ...rest } = output
      expect(digest).toBe(sha256Digest(rest))
    }
    const stored = psi.detail.result as { cardinality: number; outputs: Array<{ digest: string }> }
    expect(stored.cardinality).toBe(413)
    expect(stored.outputs.map((o) => o.digest)).toEqual([(await outputOf("a", psi.id)).digest, (await outputOf("c", psi.id)).digest])
    for (const id of [...shared].slice(0, 20)) expect(JSON.stringify(psi.detail)).not.toContain(`"${id}"`)

    // The querier looks up every id of its own column (some of which b lacks), within maxQueries.
    const hidden = await run("query.hidden", ["b", "c"], { provider: party("b").address, querier: party("c").address, idColumn: "id", columns: ["marginal_adhesion"], maxQueries: 10_000 })
    const found = (await outputOf("c", hidden.id)).found as Array<{ id: string; row: { marginal_adhesion: number } }>
    const bById = new Map([...rows.b].reverse().map((r) => [r.id!, Number(r.marginal_adhesion)] as const))
    const expectedFound = [...ids("c")].filter((id) => bById.has(id))
    expect(new Set(found.map((f) => f.id))).toEqual(new Set(expectedFound))
    for (const f of found) expect(f.row.marginal_adhesion).toBe(bById.get(f.id))
  }, 180_000)

  it("2-party PSI on the OT engine equals the ECDH ring and the plaintext, for one receiver and for both", async () => {
    const rows = { a: await csv(files.a.file), b: await csv(files.b.file) }
    const b = new Set(rows.b.map((r) => r.id!))
    const shared = new Set(rows.a.map((r) => r.id!).filter((id) => b.has(id)))
    const ecdh = await run("query.psi", ["a", "b"], { idColumn: "id", receivers: [party("a").address], maxIds: 10_000, protocol: "ecdh" })
    const ot = await run("query.psi", ["a", "b"], { idColumn: "id", receivers: [party("a").address], maxIds: 10_000, protocol: "ot" })
    expect(new Set((await outputOf("a", ot.id)).ids)).toEqual(shared)
    expect([...(await outputOf("a", ot.id)).ids].sort()).toEqual([...(await outputOf("a", ecdh.id)).ids].sort())
    expect((ot.detail.result as { cardinality: number }).cardinality).toBe(shared.size)
    // The coordinator relayed the engine's sealed messages: its task record names no id.
    for (const id of [...shared].slice(0, 20)) expect(JSON.stringify(ot.detail)).not.toContain(`"${id}"`)

    // Both receivers, in buckets of 128 ids: each party's set goes to its spill directory on disk (psi/spec.ts
    // "Buckets"), which is gone once the engine is done (the spill root exists, so it was used, and is empty).
    const both = await run("query.psi", ["a", "b"], { idColumn: "id", receivers: [party("b").address, party("a").address], maxIds: 10_000, protocol: "ot", bucketIds: 128 })
    for (const name of ["a", "b"] as const) {
      const output = await outputOf(name, both.id)
      expect(new Set(output.ids)).toEqual(shared)
      expect(output.rows.map((row: number) => rows[name][row]!.id)).toEqual(output.ids)
      expect(output.setSize).toBe(new Set(rows[name].map((r) => r.id!)).size)
      expect(await readdir(join(party(name).dataDir, "spill"))).toEqual([])
      // Streamed from the merged runs: in row order, the digest that of the whole output, no partial file left.
      expect(output.rows).toEqual([...output.rows].sort((x: number, y: number) => x - y))
      const { digest, ...rest } = output
      expect(digest).toBe(sha256Digest(rest))
      expect((await readdir(join(party(name).dataDir, "outputs"))).filter((f) => f.endsWith(".partial"))).toEqual([])
    }
  }, 180_000)

  it("OT-PSI in buckets: the receiver's process killed mid-engine suspends the task; restarted, it resumes after the buckets both kept and outputs the plaintext intersection", async () => {
    const rows = { a: await csv(files.a.file), b: await csv(files.b.file) }
    const b = new Set(rows.b.map((r) => r.id!))
    const shared = new Set(rows.a.map((r) => r.id!).filter((id) => b.has(id)))
    // 64 ids per bucket: bcw's ≈ 700 ids run as 16 engine sessions, long enough to kill the receiver mid-way.
    const params = { idColumn: "id", receivers: [party("a").address], maxIds: 10_000, protocol: "ot", bucketIds: 64 }
    const id = await cluster.submit({ kind: "query.psi", parties: ["a", "b"].map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never, params })
    const bucketsDone = async () => {
      const events = (await cluster.task(id).catch(() => undefined))?.events ?? []
      return Math.max(0, ...events.filter((e) => e.type === "Progress" && (e.data as { stage: string }).stage === "query.ot").map((e) => (e.data as { done: number }).done))
    }
    await F.eventually(async () => ((await bucketsDone()) >= 4 ? true : undefined), "4 buckets done", 120_000)
    await F.crashUntilSuspended(cluster, party("a"), id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.attempt).toBe(1)
    const resumed = detail.events.find((e) => e.type === "Progress" && String((e.data as { detail?: string }).detail).startsWith("resumed"))
    // When a party reported bucket 4 done, both had recorded the first 3 (each bucket's session needs both engines).
    expect((resumed?.data as { done: number; total: number } | undefined)?.done).toBeGreaterThanOrEqual(3)
    expect((resumed?.data as { total: number }).total).toBe(16)
    const output = await outputOf("a", id)
    expect(new Set(output.ids)).toEqual(shared)
    expect(output.ids).toHaveLength(shared.size)
    expect(output.rows.map((row: number) => rows.a[row]!.id)).toEqual(output.ids)
    // Once the task is over, neither party keeps its resumable spill directory.
    for (const name of ["a", "b"]) await F.eventually(async () => ((await readdir(join(party(name).dataDir, "spill"))).length === 0 ? true : undefined), `${name}'s spill directory removed`, 20_000)
  }, 360_000)

  it("ECDH-PSI on disk: the receiver's process killed mid-ring suspends the task; restarted, it resumes after the chunks every party recorded and outputs the plaintext intersection", async () => {
    const rows = { a: await csv(files.a.file), b: await csv(files.b.file) }
    const b = new Set(rows.b.map((r) => r.id!))
    const shared = new Set(rows.a.map((r) => r.id!).filter((id) => b.has(id)))
    // 16 ids per chunk and per partition: bcw's ≈ 700 ids go to disk and run as ≈ 44 units of the ring (RingProgress.ts),
    // recorded every 4 units (sparse records: a unit's progress is reported after its record).
    const params = { idColumn: "id", receivers: [party("a").address], maxIds: 10_000, protocol: "ecdh", bucketIds: 16, chunkSize: 16, checkpointUnits: 4, checkpointSeconds: 3600 }
    const id = await cluster.submit({ kind: "query.psi", parties: ["a", "b"].map((n) => ({ participant: party(n).address, dataset: "bcw" })) as never, params })
    const blinds = async () => ((await cluster.task(id).catch(() => undefined))?.events ?? []).filter((e) => e.type === "Progress" && (e.data as { stage: string }).stage === "query.blind")
    const unitsDone = async () => Math.max(0, ...(await blinds()).map((e) => (e.data as { done: number }).done))
    await F.eventually(async () => ((await unitsDone()) >= 8 ? true : undefined), "8 units of the ring done", 120_000)
    // The exponent the resumed ring needs is sealed at rest by the participant's store (never in the spill directory).
    const secrets = (name: string) => PartialModelStore.fileOf(party(name).dataDir, PartialModels.partId("jointly/psi-ecdh-secrets", id))
    const sealed = JSON.parse(await readFile(secrets("a"), "utf8"))
    expect(sealed.format).toBe("jointly/psi-ecdh-secrets")
    expect(sealed.ciphertext.length).toBeGreaterThan(0)
    await F.crashUntilSuspended(cluster, party("a"), id)
    const detail = await cluster.waitForTask(id, { timeoutMs: 180_000 })
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    expect(detail.attempt).toBe(1)
    const events = detail.events.filter((e) => e.type === "Progress" && (e.data as { stage: string }).stage === "query.blind").map((e) => e.data as { done: number; total: number; detail?: string })
    const at = events.findIndex((e) => String(e.detail).startsWith("resumed"))
    // Resumed where both had recorded (the kill came after unit 8 was reported, so after its record), at a record of
    // the sparse policy, and no unit at or below it ran again.
    expect(events[at]!.done).toBeGreaterThanOrEqual(8)
    expect(events[at]!.done % 4 === 0 || events[at]!.done === events[at]!.total).toBe(true)
    expect(Math.min(...events.slice(at + 1).map((e) => e.done))).toBe(events[at]!.done + 1)
    const output = await outputOf("a", id)
    expect(new Set(output.ids)).toEqual(shared)
    expect(output.ids).toHaveLength(shared.size)
    expect(output.rows.map((row: number) => rows.a[row]!.id)).toEqual(output.ids)
    for (const name of ["a", "b"]) {
      await F.eventually(async () => ((await readdir(join(party(name).dataDir, "spill"))).length === 0 ? true : undefined), `${name}'s spill directories removed`, 20_000)
      await F.eventually(async () => ((await readFile(secrets(name)).then(() => false, () => true)) ? true : undefined), `${name}'s sealed secrets removed`, 20_000)
    }
  }, 360_000)
})
