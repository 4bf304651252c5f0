/**
 * Three organisations on separate hosts, for real (issue 12 item 5): the chain, the coordinator, an operator
 * host and each participant in its own network namespace made by this test (testing/Netns.ts: veth pairs to a
 * bridge in a switch namespace, a private /24 that exists nowhere else, all torn down at the end), brought up
 * with the CLI alone as docs/deploy.md does it (testing/HostsCluster.ts), the coordinator serving HTTPS/WSS
 * with a certificate from a CA the test makes. Joint statistics, a PSI and a vertical SVM on 2048-bit threshold
 * Paillier run across them and equal their plaintext references. Participants refuse a coordinator whose
 * certificate they do not trust, and plain http to another host, with typed errors naming it.
 *
 * Needs root for `ip netns`; where namespaces cannot be made the file is skipped with the reason printed.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import * as Reference from "@jointly/core/internal/protocols/vertical/Reference"
import type * as Spec from "@jointly/core/internal/protocols/vertical/spec"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import { cliPath } from "@jointly/cli/internal/local/LocalCluster"
import * as HostsCluster from "./testing/HostsCluster.ts"
import * as F from "./testing/fixtures.ts"
import * as Netns from "./testing/Netns.ts"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const unavailable = Netns.unavailable()
if (unavailable !== undefined) console.warn(`SeparateHosts.test.ts skipped: ${unavailable}`)

const example = (name: string) => fileURLToPath(new URL(`../../examples/query/${name}`, import.meta.url))
const orgs = [["north", "a"], ["south", "b"], ["east", "c"]] as const
const pimaColumns: DatasetSpec["columns"] = [
  { name: "pregnant", type: "integer" }, { name: "glucose", type: "number" }, { name: "pressure", type: "number" }, { name: "triceps", type: "number" },
  { name: "insulin", type: "number" }, { name: "mass", type: "number" }, { name: "pedigree", type: "number" }, { name: "age", type: "integer" },
  { name: "label", type: "integer" }
]

let dir: string
let net: Netns.Network
let cluster: HostsCluster.HostsCluster
let pima: F.Csv
let tables: Array<Reference.Table>
const party = (name: string) => cluster.parties.find((p) => p.name === name)!

describe.skipIf(unavailable !== undefined)("separate hosts over TLS", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-hosts-"))
    pima = F.pima()
    const parts = F.splitRoundRobin(pima, 3)
    tables = await Promise.all(orgs.map(async ([, file]) => Reference.parseCsv(await readFile(example(`bcw_vertical_party_${file}_psi.csv`), "utf8"))))
    net = Netns.make(HostsCluster.hostNames(orgs.map(([name]) => ({ name }))))
    cluster = await HostsCluster.start(net, {
      dir,
      onProgress: (line) => process.env.HOSTS_DEBUG && process.stderr.write(`hosts: ${line}\n`),
      parties: await Promise.all(orgs.map(async ([name, file], i) => ({
        name,
        datasets: [
          { name: "pima", file: await F.writeCsv(dir, `pima-${name}.csv`, parts[i]!), columns: pimaColumns },
          { name: "bcw", file: example(`bcw_vertical_party_${file}_psi.csv`), columns: tables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) }
        ] as ReadonlyArray<DatasetSpec>
      })))
    })
  }, 300_000)

  afterAll(async () => {
    net?.teardown()
    if (dir) await removeDir(dir)
  })

  it("puts every party on its own host: the coordinator is reachable over https at its private address only", () => {
    expect(cluster.coordinatorUrl).toBe(`https://${cluster.net.hosts.coordinator!.address}:8443`)
    expect(new Set(Object.values(cluster.net.hosts).map((h) => h.ns)).size).toBe(3 + orgs.length)
  })

  it("computes joint statistics, a PSI and a vertical SVM (2048-bit threshold Paillier) across the hosts", async () => {
    const parties = (dataset: string) => orgs.map(([name]) => ({ participant: party(name).address, dataset }))
    const statsParams: Params = { columns: ["glucose", "mass", "age"], statistics: ["count", "mean", "variance"], where: { column: "glucose", op: ">", value: 0 } }
    const trainParams = Reference.trainParams(orgs.map(([name], i) => ({ address: party(name).address, table: tables[i]! })), { keyBits: 2048, updates: 100, batchSize: 50 })
    // Generous round timeouts: a loaded 2-core machine runs all of this at once.
    const roundTimeoutMs = 240_000
    const [stats, psi, svm] = await Promise.all([
      cluster.submit({ kind: "statistics.horizontal", name: "across hosts", parties: parties("pima"), params: statsParams, roundTimeoutMs }),
      cluster.submit({ kind: "query.psi", name: "shared ids", parties: parties("bcw"), params: { idColumn: "id", maxIds: 10_000, receivers: [party("north").address, party("east").address] }, roundTimeoutMs }),
      cluster.submit({ kind: "modeling.vertical-svm", name: "vertical across hosts", parties: parties("bcw"), params: trainParams, roundTimeoutMs })
    ])

    expect(stats.status, String(stats.reason)).toBe("Succeeded")
    expect(stats.result).toEqual(F.exactReference([pima], statsParams, (stats.result as Result).contributors))

    expect(psi.status, String(psi.reason)).toBe("Succeeded")
    const idSets = tables.map((t) => new Set(t.rows.map((r) => r[t.columns.indexOf("id")]!)))
    const shared = [...idSets[0]!].filter((id) => idSets.every((s) => s.has(id)))
    expect((psi.result as { cardinality: number }).cardinality).toBe(shared.length)

    expect(svm.status, String(svm.reason)).toBe("Succeeded")
    const trained = svm.result as Spec.TrainResult
    expect(trained.rows).toBe(shared.length)
    const holder = JSON.parse(await readFile(join(party("north").dataDir, "outputs", `${svm.taskId}.json`), "utf8"))
    const ref = Reference.reference(tables, 1, "svm", trainParams, trained.schedule, holder.alignedIds)
    expect(holder.evaluation.ids).toEqual(ref.testIds)
    const agreed = Reference.agreement(ref, holder.evaluation)
    expect(agreed.disagreements).toEqual([])
    for (const m of ["accuracy", "precision", "recall"] as const) expect(trained.test[m]).toBeCloseTo(agreed.metrics[m], 12)
  }, 300_000)

  it("refuses a coordinator whose certificate it does not trust, and plain http to another host, naming it", async () => {
    const coordinatorHost = cluster.net.hosts.coordinator!.address
    const impostor = TestCa.make(await mkdtemp(join(dir, "impostor-")), "Impostor CA")
    const config = JSON.parse(await readFile(party("east").configFile, "utf8"))
    const variants = {
      impostor: { ...config, ca: impostor.certFile, dataDir: join(dir, "untrusted-impostor") },
      system: { ...config, ca: undefined, dataDir: join(dir, "untrusted-system") },
      http: { ...config, coordinatorUrl: `http://${coordinatorHost}:8443`, dataDir: join(dir, "untrusted-http") }
    }
    const outcomes = await Promise.all(Object.entries(variants).map(async ([name, body]) => {
      const file = join(dir, `untrusted-${name}.json`)
      await writeFile(file, JSON.stringify(body))
      const run = await cluster.net.run("east", [process.execPath, cliPath(), "participant", "--config", file], { JOINTLY_LOG: "error", ...cluster.participantEnv })
      return [name, run] as const
    }))
    for (const [name, run] of outcomes) {
      expect(run.code, `${name}: ${run.stderr}`).toBe(1)
      if (name === "http") {
        expect(run.stderr).toContain(`jointly: refusing http://${coordinatorHost}:8443: plain http to ${coordinatorHost}, which is not a loopback address`)
        continue
      }
      expect(run.stderr).toContain(`jointly: the server at ${coordinatorHost} presented a certificate that is not trusted here (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`)
      const refused = run.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).find((e) => e.type === "refused")
      expect(refused).toMatchObject({ code: "UntrustedCertificate", host: coordinatorHost, verification: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
    }
    // The trusted participants were not disturbed.
    for (const [name] of orgs) expect(party(name).started.child.exitCode).toBeNull()
  }, 180_000)
})
