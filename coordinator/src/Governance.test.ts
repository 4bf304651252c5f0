/**
 * Governance and audit end to end (issue 7), with real parts only: anvil, the coordinator over PGlite, three
 * participant processes holding thirds of the Breast Cancer Wisconsin table, and the `jointly` CLI's commands. One
 * cluster for the file; the tests run in order (suspension and votes change membership, so they come late).
 *
 * The commands run in this process (`Commands.*` with `print: false`, returning what the CLI prints), against the
 * same chain and cluster: a `jointly` child process costs seconds of start-up each, and dozens of them were most
 * of this file's time. The binary's wiring (arguments, passphrase from the environment, JSON on stdout, exit
 * codes) keeps its child-process tests: catalog publish, verify (exit 0 and exit 1), and files serve.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import { getAddress, getBytes, hexlify, keccak256, toUtf8Bytes, Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as ModelToData from "@jointly/core/internal/governance/ModelToData"
import { resultRecipientsOfSpec } from "@jointly/core/internal/protocols/Protocols"
import { digest } from "@jointly/core/internal/wire/Canonical"
import * as Shapley from "@jointly/core/internal/incentives/Shapley"
import * as Valuation from "@jointly/core/internal/incentives/Valuation"
import * as GovernanceClient from "@jointly/core/internal/governance/GovernanceClient"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { datasetIdOf, modelRequestIdOf, paramKey, type GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import * as GrantScope from "@jointly/core/internal/ledger/GrantScope"
import { companyIdOf, ChainError } from "@jointly/core/internal/ledger/Ledger"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import { fundAccounts } from "./chain/Anvil.ts"
import { ensureDeployment, loadDeployment, saveDeployment } from "./chain/Deployment.ts"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Consortium from "./local/Consortium.ts"
import * as Commands from "@jointly/cli/internal/governance"
import * as Membership from "@jointly/cli/internal/membership"
import * as Cli from "./testing/Cli.ts"
import * as F from "./testing/fixtures.ts"
import * as Log from "./Log.ts"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as ClientCertificates from "./auth/ClientCertificates.ts"

const names = ["north", "south", "east"] as const
type Name = (typeof names)[number]
const features = ["clump_thickness", "uniformity_cell_size", "uniformity_cell_shape", "marginal_adhesion", "single_epithelial_cell_size", "bare_nuclei", "bland_chromatin", "normal_nucleoli", "mitoses"]
const bcwColumns: DatasetSpec["columns"] = [{ name: "id", type: "string" }, ...features.map((name) => ({ name, type: "integer" as const })), { name: "label", type: "integer" }]
const statsKind = "statistics.horizontal"

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let full: F.Csv
let train: F.Csv
let test: F.Csv
let parts: Array<F.Csv>
const chains = new Map<string, GovernanceLedger>()

const party = (name: Name) => cluster.parties.find((p) => p.name === name)!
/** The chain as `name` (a party, "analyst" or "supervisor") sees it. */
const chainOf = async (name: Name | "analyst" | "supervisor"): Promise<GovernanceLedger> => {
  const cached = chains.get(name)
  if (cached) return cached
  let wallet: Wallet
  if (name === "analyst") wallet = cluster.keys.analyst
  else if (name === "supervisor") wallet = cluster.keys.supervisor
  else {
    const passphrase = (await readFile(join(party(name).dataDir, "passphrase"), "utf8")).trim()
    wallet = Redacted.value((await Keystore.openPromise({ dataDir: party(name).dataDir, passphrase })).account) as unknown as Wallet
  }
  const chain = (await Consortium.governanceFor(cluster.rpcUrl, wallet, cluster.deployment))!
  chains.set(name, chain)
  return chain
}

const cli = Cli.run

const passphraseOf = async (name: Name) => (await readFile(join(party(name).dataDir, "passphrase"), "utf8")).trim()
const passphraseEnv = async (name: Name) => ({ JOINTLY_KEY_PASSPHRASE: await passphraseOf(name) })
/** The `jointly catalog publish` command in this process (the CLI itself is exercised once, for north). */
const publish = async (name: Name, dataset: string, retire = false) =>
  Commands.catalogPublish({ config: join(party(name).dataDir, "participant.json"), dataset, retire, passphrase: await passphraseOf(name), print: false })
const spec = (who: ReadonlyArray<Name> = names, params: unknown = { columns: ["clump_thickness", "mitoses"], statistics: ["count", "sum", "mean"] }, dataset = "bcw") => ({
  kind: statsKind,
  parties: who.map((n) => ({ participant: party(n).address, dataset })) as never,
  params
})
const runTask = async (who: ReadonlyArray<Name> = names, dataset = "bcw") => cluster.waitForTask(await cluster.submit(spec(who, undefined, dataset)))
const increaseTime = async (seconds: number) => {
  await jsonRpc(cluster.rpcUrl, "evm_increaseTime", [seconds])
  await jsonRpc(cluster.rpcUrl, "evm_mine", [])
}
const now = async () => BigInt(Number((await jsonRpc<{ timestamp: string }>(cluster.rpcUrl, "eth_getBlockByNumber", ["latest", false])).timestamp))
const reverted = async (p: Promise<unknown>) => {
  const error = await p.then(() => undefined, (e) => e)
  expect(error, "expected a revert").toBeInstanceOf(ChainError)
  return (error as ChainError).revertName
}
/** A command refused before anything was sent (the CLI: exit 1 with this message on stderr). */
const refused = async (p: Promise<unknown>, message: RegExp) => {
  const error = await p.then(() => undefined, (e) => e)
  expect(error, "expected a refusal").toBeInstanceOf(Commands.CommandFailed)
  expect((error as Error).message).toMatch(message)
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-governance-"))
  const data = join(dir, "csv")
  await mkdir(data)
  const text = await readFile(datasetFile("bcw.csv"), "utf8")
  const [head, ...lines] = text.split(/\r?\n/).filter((l) => l.trim() !== "")
  full = { header: head!.split(","), rows: lines.map((l) => l.split(",")) }
  // 20% held out as the test set the incentives commit to; the rest dealt round robin to the three owners.
  test = { header: full.header, rows: full.rows.filter((_, i) => i % 5 === 4) }
  train = { header: full.header, rows: full.rows.filter((_, i) => i % 5 !== 4) }
  parts = F.splitRoundRobin(train, 3)
  const files = await Promise.all(parts.map((p, i) => F.writeCsv(data, `bcw-${names[i]}.csv`, p)))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    // Every process with its IPFS node: the tasks' sealed artifacts pinned by their parties (last describe).
    ipfs: true,
    parties: names.map((name, i) => ({
      name,
      datasets: [
        { name: "bcw", file: files[i]!, columns: bcwColumns },
        { name: "bcw-copy", file: files[i]!, columns: bcwColumns }
      ],
      policy: { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { bcw: {}, "bcw-copy": {} } } as never,
      catalog: {
        bcw: { domain: "oncology", location: `https://data.example/${name}/bcw`, policy: name === "north" ? "GrantRequired" : "Open" },
        "bcw-copy": { domain: "oncology-archive", policy: "Open" }
      }
    }))
  })
}, 300_000)

afterAll(async () => {
  for (const chain of chains.values()) await chain.close()
  await starter.stop()
  await removeDir(dir)
})

type CatalogRow = { datasetId: string; name: string; owner: string; version: number; state: string; contentHash: string; size: string; attrs: string; policy: string }
const catalog = async (q: string, all = false) => ({ datasets: (await cluster.client.catalog(q, { includeRetired: all })) as unknown as Array<CatalogRow> })
/** The CLI's commands sign in with the key in JOINTLY_KEY: the analyst's. */
const analystEnv = () => ({ JOINTLY_KEY: cluster.keys.analyst.privateKey })

describe("data catalogue", () => {
  it("publishes from the registered source (CLI), bumps versions, retires, and finds datasets by keyword through the chain-built index", async () => {
    const r = await cli(["catalog", "publish", "--config", join(party("north").dataDir, "participant.json"), "--dataset", "bcw"], await passphraseEnv("north"))
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ event: "published", version: 1, rows: parts[0]!.rows.length })
    for (const name of ["south", "east"] as const) expect(await publish(name, "bcw")).toMatchObject({ event: "published", version: 1, rows: parts[names.indexOf(name)]!.rows.length })
    // A second publish is a new version of the same entry.
    expect((await publish("south", "bcw")).version).toBe(2)
    await publish("south", "bcw-copy")

    const found = await F.eventually(async () => {
      const r = await catalog("oncology")
      return r.datasets.length === 4 && r.datasets.some((d) => d.version === 2) ? r : undefined
    }, "the index to catch up")
    const north = found.datasets.find((d) => d.owner === party("north").address && d.name === "bcw")!
    expect(north.datasetId).toBe(datasetIdOf(party("north").address, "bcw"))
    expect(north.policy).toBe("GrantRequired")
    expect(north.size).toBe(String(parts[0]!.rows.length))
    expect(JSON.parse(north.attrs).map((c: { name: string }) => c.name)).toEqual(bcwColumns.map((c) => c.name))
    // Metadata only: not a single row value of the dataset is in the catalogue entry.
    expect(north.contentHash).toMatch(/^0x[0-9a-f]{64}$/)
    // Keyword search over attributes, and through the CLI.
    expect((await catalog("bland_chromatin")).datasets).toHaveLength(4)
    expect((await catalog("nothing-like-this")).datasets).toHaveLength(0)
    // … and through the SDK.
    expect((await GovernanceClient.make(cluster.coordinatorUrl, cluster.keys.analyst).catalog.search("clump_thickness")).map((d) => d.datasetId).sort()).toEqual(found.datasets.map((d) => d.datasetId).sort())
    const viaCommand = await Commands.catalogSearch({ url: cluster.coordinatorUrl, q: "oncology-archive", all: false, signer: cluster.keys.analyst, print: false })
    expect(viaCommand.datasets.map((d) => d.name)).toEqual(["bcw-copy"])

    // Retire: gone from search (still listed with all=1).
    expect((await publish("south", "bcw-copy", true)).event).toBe("retired")
    await F.eventually(async () => ((await catalog("oncology-archive")).datasets.length === 0 ? true : undefined), "retirement indexed")
    expect((await catalog("oncology-archive", true)).datasets[0]!.state).toBe("Retired")
  })

  it("rebuilds the same index from the deployment block in a fresh store", async () => {
    const { makeGovernanceLedger: make } = await import("@jointly/core/internal/ledger/GovernanceLedger")
    const { openPglite } = await import("./store/Sql.ts")
    const { migrate } = await import("./store/schema.sql.ts")
    const ChainIndex = await import("./governance/ChainIndex.ts")
    const sql = await openPglite(join(dir, "fresh-index"))
    await migrate(sql)
    const reader = await make({ rpcUrl: cluster.rpcUrl, privateKey: Wallet.createRandom().privateKey, addresses: { ...cluster.deployment.suite!, registry: cluster.deployment.registry } })
    const index = ChainIndex.make({ sql, ledger: reader, deployBlock: cluster.deployment.deployBlock, log: Log.make("test-index") })
    await Effect.runPromise(index.start())
    expect((await Effect.runPromise(index.search("oncology"))).map((d) => d.datasetId).sort()).toEqual((await catalog("oncology")).datasets.map((d) => d.datasetId).sort())
    await Effect.runPromise(index.stop())
    await reader.close()
    await sql.close()
  })

  it("refuses a task on a catalogue entry whose content hash no longer matches the file", async () => {
    const east = await chainOf("east")
    const entry = (await east.getDataset(datasetIdOf(party("east").address, "bcw")))!
    // The entry now describes another snapshot than the file east serves.
    await east.publishDataset({ ...entry, contentHash: keccak256(toUtf8Bytes("another snapshot")) })
    const detail = await runTask(["south", "east"])
    expect(detail.status).toBe("Rejected")
    expect(detail.reason).toMatch(/ContentHashMismatch/)
    // Republishing from the real file (a new version) serves tasks again.
    expect((await publish("east", "bcw")).version).toBe(entry.version + 2)
    expect((await runTask(["south", "east"])).status).toBe("Succeeded")
  })
})

let honestTaskId: string

describe("access grants", () => {
  const northBcw = () => datasetIdOf(party("north").address, "bcw")

  it("rejects bad requests: unknown dataset, retired dataset", async () => {
    const analyst = await chainOf("analyst")
    const expiry = (await now()) + 3600n
    expect(await reverted(analyst.requestGrant({ datasetId: keccak256(toUtf8Bytes("no such dataset")), purpose: statsKind, expiry, maxUses: 1 }))).toBe("UnknownDataset")
    expect(await reverted(analyst.requestGrant({ datasetId: datasetIdOf(party("south").address, "bcw-copy"), purpose: statsKind, expiry, maxUses: 1 }))).toBe("DatasetNotAvailable")
  })

  it("enforces grants at the owner's participant: none, valid (use logged), exhausted, revoked, expired", async () => {
    const analyst = await chainOf("analyst")
    const north = await chainOf("north")
    // No grant: north refuses before its data is touched.
    const none = await runTask()
    expect(none.status).toBe("Rejected")
    expect(none.reason).toMatch(/NoGrant/)

    // Request → owner review → token; one use.
    const one = await analyst.requestGrant({ datasetId: northBcw(), purpose: statsKind, expiry: (await now()) + 3600n, maxUses: 1 })
    expect((await analyst.getGrant(one.tokenId))!.status).toBe("Requested")
    expect(await reverted(analyst.decideGrant(one.tokenId, true))).toBe("NotOwner")
    await north.decideGrant(one.tokenId, true, "policy: research use")
    const ok = await runTask()
    expect(ok.status, String(ok.reason)).toBe("Succeeded")
    honestTaskId = ok.id
    expect((await analyst.getGrant(one.tokenId))!.uses).toBe(1)
    // Exhausted: the second task is refused.
    const exhausted = await runTask()
    expect(exhausted.status).toBe("Rejected")
    expect(exhausted.reason).toMatch(/Exhausted/)

    // A new grant, then revoked: takes effect for the next task.
    const many = await analyst.requestGrant({ datasetId: northBcw(), purpose: `${statsKind},modeling.secure-svm`, expiry: (await now()) + 3600n, maxUses: 10 })
    await north.decideGrant(many.tokenId, true)
    expect((await runTask()).status).toBe("Succeeded")
    await north.revokeGrant(many.tokenId, "audit finding")
    const revoked = await runTask()
    expect(revoked.status).toBe("Rejected")
    expect(revoked.reason).toMatch(/Revoked/)

    // Expired.
    const short = await analyst.requestGrant({ datasetId: northBcw(), purpose: "*", expiry: (await now()) + 30n, maxUses: 10 })
    await north.decideGrant(short.tokenId, true)
    await increaseTime(60)
    const expired = await runTask()
    expect(expired.status).toBe("Rejected")
    expect(expired.reason).toMatch(/Expired/)
    expect(await analyst.checkGrant(short.tokenId)).toBe("Expired")

    // Every use is logged on chain and indexed: exactly the two tasks that ran.
    const grants = await F.eventually(async () => {
      const g = (await cluster.client.grants()) as unknown as { grants: Array<{ tokenId: string; status: string; uses: number }>; uses: Array<{ taskId: string }> }
      return g.uses.length === 2 && g.grants.some((x) => x.status === "Revoked") ? g : undefined
    }, "grant uses indexed")
    expect(grants.uses.map((u) => u.taskId)).toContain(honestTaskId.toLowerCase())
  })
})

describe("grant scopes", () => {
  it("binds a grant to the scope its owner approved: a task reading other columns is refused before the use is logged", async () => {
    const analyst = await chainOf("analyst")
    const north = join(party("north").dataDir, "participant.json")
    const scope = { version: 1, columns: ["clump_thickness"], kinds: [statsKind] } as const
    const scopeFile = join(dir, "scope.json")
    const otherFile = join(dir, "scope-other.json")
    await writeFile(scopeFile, JSON.stringify(scope))
    await writeFile(otherFile, JSON.stringify({ ...scope, columns: ["clump_thickness", "mitoses"] }))
    const requested = await analyst.requestGrant({ datasetId: datasetIdOf(party("north").address, "bcw"), purpose: statsKind, scopeHash: GrantScope.hashOf(scope), expiry: (await now()) + 3600n, maxUses: 5 })

    // The owner approves what it has read: a document other than the one committed on chain is refused.
    const decide = async (scope: string, reason?: string) =>
      Commands.grant({ action: "decide", token: requested.tokenId, config: north, passphrase: await passphraseOf("north"), approve: true, scope, reason, print: false })
    await refused(decide(otherFile), /not the document the requester committed to/)
    expect((await analyst.getGrant(requested.tokenId))!.status).toBe("Requested")
    expect(await decide(scopeFile, "one column")).toMatchObject({ event: "approved", tokenId: requested.tokenId })

    const outside = await runTask()
    expect(outside.status).toBe("Rejected")
    expect(outside.reason).toMatch(/OutOfScope/)
    expect(outside.reason).toMatch(/mitoses/)
    expect((await analyst.getGrant(requested.tokenId))!.uses).toBe(0)

    const inside = await cluster.waitForTask(await cluster.submit(spec(names, { columns: ["clump_thickness"], statistics: ["count", "sum", "mean"] })))
    expect(inside.status, String(inside.reason)).toBe("Succeeded")
    expect((await analyst.getGrant(requested.tokenId))!.uses).toBe(1)
  })
})

describe("model to data", () => {
  const send = async (analysis: ModelToData.Analysis, signer: Wallet) => {
    const analyst = await chainOf("analyst")
    const to = party("north").address
    const datasetId = datasetIdOf(to, "bcw")
    const nonce = hexlify(randomBytes(32))
    const reqId = modelRequestIdOf(analyst.account, to, datasetId, nonce)
    const payload: ModelToData.RequestPayload = { version: 1, reqId, datasetId, dataset: "bcw", from: analyst.account, to, nonce, analysis }
    const signature = await ModelToData.sign(signer, payload)
    const ownerKey = (await analyst.encryptionKeyOf(to))!
    const { ciphertext, payloadHash } = ModelToData.seal(ownerKey, payload, signature)
    const cid = await cluster.client.putArtifact(ciphertext)
    await analyst.requestModel({ datasetId, to, payloadHash, payloadURI: `cid:${cid}`, expiry: (await now()) + 600n, nonce })
    return F.eventually(async () => {
      const r = await analyst.getModelRequest(reqId)
      return r && r.state !== "Requested" ? r : undefined
    }, "the owner's answer", 30_000)
  }

  it("runs a signed, encrypted statistics request at the owner and returns the aggregate encrypted to the initiator, both digests on chain", async () => {
    const answered = await send({ template: "statistics", columns: ["clump_thickness", "bare_nuclei"], statistics: ["count", "mean", "std"] }, cluster.keys.analyst)
    expect(answered.state).toBe("Answered")
    const indexed = await F.eventually(async () => {
      const requests = (await cluster.client.modelRequests(party("north").address)) as unknown as Array<{ reqId: string; state: string; resultURI: string; payloadHash: string }>
      return requests.find((x) => x.reqId === answered.reqId && x.state === "Answered")
    }, "the answer indexed")
    const { base64 } = await cluster.client.getArtifact(indexed.resultURI)
    const result = ModelToData.openResult(getBytes(cluster.keys.analyst.privateKey), answered.reqId, new Uint8Array(Buffer.from(base64, "base64")), answered.resultHash!) as {
      count: number
      columns: Record<string, { count: number; mean: number; std: number }>
    }
    const reference = F.floatColumn(parts[0]!, "clump_thickness")
    expect(result.count).toBe(parts[0]!.rows.length)
    expect(result.columns.clump_thickness!.mean).toBeCloseTo(reference.mean, 9)
    expect(result.columns.clump_thickness!.std).toBeCloseTo(reference.std, 9)
    // Aggregates only: no per-row values came back.
    expect(JSON.stringify(result).length).toBeLessThan(ModelToData.defaultLimits.maxOutputBytes)
  })

  it("refuses a request whose signature is forged, on chain, and says why", async () => {
    const forger = new Wallet(Wallet.createRandom().privateKey)
    const refused = await send({ template: "statistics", columns: ["mitoses"], statistics: ["mean"] }, forger)
    expect(refused.state).toBe("Refused")
    const logged = await F.eventually(() => party("north").stderr.find((l) => l.includes(refused.reqId) && l.includes("model-refused")), "the refusal logged")
    expect(logged).toContain("BadSignature")
  })
})

describe("verify", () => {
  const verify = (taskId: string) => cli(["verify", taskId, "--url", cluster.coordinatorUrl, "--rpc-url", cluster.rpcUrl], analystEnv())
  const sql = () => cluster.coordinator()!.store.sql

  it("passes on an honest run", async () => {
    const r = await verify(honestTaskId)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/PASSED/)
    expect(r.stderr).toMatch(/signature/)
    expect(r.stderr).toMatch(/phase/)
    expect(r.stderr).toMatch(/artifact result/)
  })

  /** Applies `edit`, expects verify to fail naming `expected`, then applies `undo` (params: $1 is the task id). */
  /** The first kind goes through the CLI (exit code 1); the others run the same command in this process. */
  let viaCli = true
  const tamper = async (label: string, edit: [string, ReadonlyArray<unknown>], undo: [string, ReadonlyArray<unknown>], expected: RegExp) => {
    await sql().query(edit[0], [honestTaskId, ...edit[1]])
    try {
      if (viaCli) {
        viaCli = false
        const r = await verify(honestTaskId)
        expect(r.code, `${label}: ${r.stderr}`).toBe(1)
        expect(r.stderr).toMatch(/FAILED/)
        expect(r.stderr, label).toMatch(expected)
      } else {
        const r = await Commands.verifyTask({ taskId: honestTaskId, url: cluster.coordinatorUrl, rpcUrl: cluster.rpcUrl, signer: cluster.keys.analyst })
        expect(r.ok, label).toBe(false)
        expect(r.report).toMatch(/FAILED/)
        expect(r.report, label).toMatch(expected)
      }
    } finally {
      await sql().query(undo[0], [honestTaskId, ...undo[1]])
    }
  }

  it("fails loudly on each kind of tampering", async () => {
    const [row] = await sql().query<{ result: unknown; result_digest: string }>(`select result, result_digest from tasks where id = $1`, [honestTaskId])
    await tamper("result edited in the store",
      [`update tasks set result = jsonb_set(result, '{count}', '1') where id = $1`, []],
      [`update tasks set result = $2 where id = $1`, [JSON.stringify(row!.result)]],
      /FAIL result: stored result hashes/)
    await tamper("result digest mismatch",
      [`update tasks set result_digest = $2 where id = $1`, [keccak256(toUtf8Bytes("x"))]],
      [`update tasks set result_digest = $2 where id = $1`, [row!.result_digest]],
      /FAIL result: stored digest/)
    const [consent] = await sql().query<{ participant: string; signature: string }>(`select participant, signature from consents where task_id = $1 limit 1`, [honestTaskId])
    const forged = await new Wallet(Wallet.createRandom().privateKey).signMessage("not a consent")
    await tamper("consent signature replaced",
      [`update consents set signature = $2 where task_id = $1 and participant = $3`, [forged, consent!.participant]],
      [`update consents set signature = $2 where task_id = $1 and participant = $3`, [consent!.signature, consent!.participant]],
      /FAIL consent of .*store matches chain/)
    const [phase] = await sql().query<{ id: string; data: { root: string } }>(`select id, data from task_events where task_id = $1 and type = 'PhaseCommitted'`, [honestTaskId])
    expect(phase).toBeDefined()
    await tamper("phase commitment altered",
      [`update task_events set data = jsonb_set(data, '{root}', to_jsonb($2::text)) where task_id = $1 and id = $3`, [keccak256(toUtf8Bytes("forged root")), phase!.id]],
      [`update task_events set data = jsonb_set(data, '{root}', to_jsonb($2::text)) where task_id = $1 and id = $3`, [phase!.data.root, phase!.id]],
      /FAIL phase/)
    await tamper("phase commitment missing",
      [`update task_events set type = 'PhaseHidden' where task_id = $1 and id = $2`, [phase!.id]],
      [`update task_events set type = 'PhaseCommitted' where task_id = $1 and id = $2`, [phase!.id]],
      /FAIL phase .*missing from the store/)
    const [artifact] = await sql().query<{ cid: string; bytes: Uint8Array }>(`select cid, bytes from artifacts where task_id = $1`, [honestTaskId])
    await tamper("artifact bytes changed",
      [`update artifacts set bytes = $2 where task_id = $1 and cid = $3`, [new TextEncoder().encode('{"count":1}'), artifact!.cid]],
      [`update artifacts set bytes = $2 where task_id = $1 and cid = $3`, [artifact!.bytes, artifact!.cid]],
      /FAIL artifact result/)
    expect((await Commands.verifyTask({ taskId: honestTaskId, url: cluster.coordinatorUrl, rpcUrl: cluster.rpcUrl, signer: cluster.keys.analyst })).ok).toBe(true)
  })
})

describe("e-data certificates", () => {
  it("notarizes a file's salted hash with the submitter's signature and verifies it; an edited file fails", async () => {
    const file = join(dir, "agreement.txt")
    await writeFile(file, "Data-sharing agreement between north and the analyst, signed 2026-01-01.\n")
    const made = await Commands.certify({ file, dataDir: cluster.dataDir, rpcUrl: cluster.rpcUrl, print: false })
    const cert = JSON.parse(await readFile(`${file}.cert.json`, "utf8"))
    expect(made.certId).toBe(cert.certId)
    expect(cert.submitter).toBe(getAddress(cluster.keys.analyst.address))
    expect((await Commands.certifyChecks({ file, cert: `${file}.cert.json`, rpcUrl: cluster.rpcUrl })).ok).toBe(true)
    // An endorsement by another member is counted on chain.
    await (await chainOf("north")).endorse(cert.certId)
    expect((await (await chainOf("north")).getCert(cert.certId))!.endorsements).toBe(1)
    await writeFile(file, "Data-sharing agreement between north and the analyst, signed 2026-01-02.\n")
    const bad = await Commands.certifyChecks({ file, cert: `${file}.cert.json`, rpcUrl: cluster.rpcUrl })
    expect(bad.ok).toBe(false)
    expect(bad.checks.find((c) => c.name === "document hash")!.ok).toBe(false)
  })

  it("the operator's certified file goes to IPFS sealed to the analyst and its readers, on the coordinator's node; verify fetches and opens it as the operator and as a named reader, a member not named is refused (NotAReader)", async () => {
    const file = join(dir, "order.txt")
    const content = "Purchase order 7 from the analyst to north: 40 annotated scans, by 2026-05-01.\n"
    await writeFile(file, content)
    await Commands.certify({ file, dataDir: cluster.dataDir, rpcUrl: cluster.rpcUrl, readers: [party("north").address], print: false })
    const cert = JSON.parse(await readFile(`${file}.cert.json`, "utf8"))
    expect(cert.submitter).toBe(getAddress(cluster.keys.analyst.address))
    expect(JSON.parse(cert.ipfs.meta)).toEqual({ name: "order.txt", bytes: content.length, cid: cert.ipfs.cid })
    // The operator, from the data directory: the document fetched by its notarized CID, opened with the analyst's key.
    const target = join(dir, "order-fetched.txt")
    await Commands.certifyVerify({ cert: `${file}.cert.json`, rpcUrl: cluster.rpcUrl, dataDir: cluster.dataDir, out: target })
    expect(await readFile(target, "utf8")).toBe(content)
    // North, named as a reader, fetches it from the running coordinator's node (the certify process is gone) and opens it.
    const coordinatorNode = cluster.ipfs.coordinator()!.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
    const configOf = (n: Name) => join(party(n).dataDir, "participant.json")
    await rm(target)
    await Commands.certifyVerify({ cert: `${file}.cert.json`, rpcUrl: cluster.rpcUrl, config: configOf("north"), passphrase: await passphraseOf("north"), ipfsPeer: coordinatorNode, out: target })
    expect(await readFile(target, "utf8")).toBe(content)
    // South is not a reader: the block is checked against the notarized CID, not opened.
    const asSouth = await Commands.certifyChecks({ cert: `${file}.cert.json`, rpcUrl: cluster.rpcUrl, config: configOf("south"), passphrase: await passphraseOf("south"), ipfsPeer: coordinatorNode })
    expect(asSouth.ok).toBe(false)
    expect(asSouth.checks.find((c) => c.name === "document on IPFS")!.detail).toMatch(/NotAReader/)
  })

  it("a participant's certified file goes to IPFS sealed to its readers; verify fetches it by the notarized CID from the owner's node", async () => {
    const configOf = (n: Name) => join(party(n).dataDir, "participant.json")
    const file = join(dir, "contract.txt")
    const content = "Supply contract between north and south: 1,200 units at 7.40, delivered by 2026-03-31.\n"
    await writeFile(file, content)
    const made = await Commands.certify({ file, config: configOf("north"), passphrase: await passphraseOf("north"), readers: [party("south").address], print: false })
    const cert = JSON.parse(await readFile(`${file}.cert.json`, "utf8"))
    expect(cert.ipfs.cid).toBe(made.cid)
    expect(JSON.parse(cert.ipfs.meta)).toEqual({ name: "contract.txt", bytes: content.length, cid: cert.ipfs.cid })
    // The certify process is gone: north's running participant serves the block from the store it put it in.
    const northAgent = party("north").ipfs!.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
    const target = join(dir, "contract-fetched.txt")
    const asSouth = { rpcUrl: cluster.rpcUrl, config: configOf("south"), passphrase: await passphraseOf("south"), ipfsPeer: northAgent }
    const verified = await Commands.certifyChecks({ ...asSouth, cert: `${file}.cert.json`, out: target })
    expect(verified.ok, JSON.stringify(verified.checks)).toBe(true)
    expect(await readFile(target, "utf8")).toBe(content)
    expect(verified.checks.find((c) => c.name === "document on IPFS")!.detail).toMatch(/opened and checked/)
    // A certificate file pointed at another block (here north's shared prices, or any CID) is refused: the chain's
    // metadata hash binds the CID it was signed with.
    const forged = join(dir, "contract-forged.cert.json")
    const otherCid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    await writeFile(forged, JSON.stringify({ ...cert, ipfs: { cid: otherCid, meta: JSON.stringify({ ...JSON.parse(cert.ipfs.meta), cid: otherCid }) } }))
    const mismatch = await Commands.certifyChecks({ ...asSouth, cert: forged })
    expect(mismatch.ok).toBe(false)
    const check = mismatch.checks.find((c) => c.name === "document on IPFS")!
    expect(check.ok).toBe(false)
    expect(check.detail).toMatch(/^CertificateMismatch: certificate meta mismatch/)
  })
})

describe("incentives", () => {
  /** Logistic regression by full-batch gradient descent from zeros: deterministic, plaintext, per coalition. */
  const trainAndScore = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
    const idx = features.map((f) => full.header.indexOf(f))
    const label = full.header.indexOf("label")
    const x = rows.map((r) => idx.map((i) => Number(r[i]) / 10))
    const y = rows.map((r) => Number(r[label]))
    const w = new Array<number>(features.length).fill(0)
    let b = 0
    for (let epoch = 0; epoch < 200; epoch++) {
      const gw = new Array<number>(features.length).fill(0)
      let gb = 0
      for (let k = 0; k < x.length; k++) {
        const p = 1 / (1 + Math.exp(-(x[k]!.reduce((s, v, j) => s + v * w[j]!, b))))
        const e = p - y[k]!
        for (let j = 0; j < w.length; j++) gw[j]! += e * x[k]![j]!
        gb += e
      }
      for (let j = 0; j < w.length; j++) w[j]! -= (0.5 * gw[j]!) / x.length
      b -= (0.5 * gb) / x.length
    }
    let tp = 0, fp = 0, fn = 0
    for (const r of test.rows) {
      const score = idx.reduce((s, i, j) => s + (Number(r[i]) / 10) * w[j]!, b)
      const predicted = score >= 0
      const actual = Number(r[label]) === 1
      if (predicted && actual) tp++
      else if (predicted) fp++
      else if (actual) fn++
    }
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
  }

  it("pays the 3 owners their Shapley shares in points after the dispute window, exactly, the test set committed first", async () => {
    const analyst = await chainOf("analyst")
    const supervisor = await chainOf("supervisor")
    const settlementId = keccak256(toUtf8Bytes(`settlement-${randomBytes(8).toString("hex")}`))
    // §9 "Gaming": the test set's hash and the recipe go on chain before any coalition is scored.
    const testSetHash = keccak256(toUtf8Bytes(F.toText(test)))
    const recipe = "logistic regression, full-batch GD, 200 epochs, lr 0.5, features/10, threshold 0"
    const committed = await analyst.commitTestSet(settlementId, testSetHash, keccak256(toUtf8Bytes(recipe)))

    const f1Cache = new Map<number, number>()
    const worth = (mask: number) => {
      if (!f1Cache.has(mask)) f1Cache.set(mask, trainAndScore(parts.flatMap((p, i) => (mask & (1 << i) ? p.rows : []))))
      return f1Cache.get(mask)!
    }
    const shares = Shapley.ownerShares(3, worth)
    expect(shares.method).toBe("exact")
    // Exact values equal the average over all 3! orderings.
    const brute = Shapley.bruteForce(3, worth)
    shares.raw.forEach((phi, i) => expect(phi).toBeCloseTo(brute[i]!, 12))
    expect(shares.raw.reduce((a, b) => a + b, 0)).toBeCloseTo(worth(7), 12)

    // The valuation: owners alone (Thm. 1), exact numerators from the fixed-point score table, whose salted
    // hash is all the chain learns of the scores.
    const scores = Valuation.fixedPointScores(3, worth)
    const salt = hexlify(randomBytes(32))
    const owners = names.map((n) => party(n).address)
    const stream = Valuation.stream({ price: 1_000_003n, uses: 1n, thirdParty: getAddress(`0x${"00".repeat(20)}`), owners, miners: 0, scores, salt })
    stream.ownerShares.forEach((x, i) => expect(Number(x) / Number(stream.denominator)).toBeCloseTo(shares.shares[i]!, 6))
    const valuation: Valuation.Valuation = { settlementId, period: 1n, streams: [stream], miners: Valuation.noMiners, testSetHash, modelHashes: [] }
    await supervisor.mintPoints(analyst.account, 1_000_003n)
    const before = await Promise.all(owners.map((o) => analyst.points(o)))
    const posted = await analyst.postValuation(valuation, await analyst.signValuation(valuation))
    expect(posted.blockNumber).toBeGreaterThan(committed.blockNumber)
    expect(await reverted(analyst.finalizeSettlement(valuation))).toBe("WindowOpen")
    await increaseTime(Number((await supervisor.getSettlement(settlementId))!.disputeDeadline - (await now())) + 1)
    const settled = await analyst.finalizeSettlement(valuation)
    const paid = (await Promise.all(owners.map((o) => analyst.points(o)))).map((a, i) => a - before[i]!)
    const { entries, toTreasury } = Valuation.payouts(valuation)
    expect(paid).toEqual(entries.slice(0, 3).map((e) => e.amount))
    expect(settled.toTreasury).toBe(toTreasury)
    expect(paid.reduce((a, b) => a + b, 0n) + toTreasury).toBe(1_000_003n)
  })
})

describe("supervision", () => {
  it("shows members, tasks and grants, and a suspension stops the org's open tasks at once and drops its socket", async () => {
    const supervisor = cluster.clientFor(cluster.keys.supervisor)
    const view = (await supervisor.supervision()) as unknown as { members: Array<{ name: string; state: string; addresses: Array<string> }>; tasks: Array<{ id: string; status: string }>; grants: Array<unknown> }
    expect(view.members.map((m) => m.name).sort()).toEqual(["EAST", "LOCAL-ANALYST", "NORTH", "SOUTH"])
    expect(view.members.every((m) => m.state === "Audited")).toBe(true)
    expect(view.tasks.some((t) => t.id === honestTaskId && t.status === "Succeeded")).toBe(true)
    expect(view.grants.length).toBeGreaterThanOrEqual(3)
    const members = await Commands.supervise({ what: "members", url: cluster.coordinatorUrl, dataDir: cluster.dataDir, print: false })
    expect((members as { members: Array<unknown> }).members).toHaveLength(4)

    // south goes offline, so a task over south and east waits for consent; then the supervisor suspends east.
    const south = party("south")
    const exited = new Promise((r) => south.process.once("exit", r))
    south.process.kill("SIGTERM")
    await exited
    const id = await cluster.submit(spec(["south", "east"]))
    await F.eventually(async () => ((await cluster.task(id)).consents.length === 1 ? true : undefined), "east's consent")
    expect(await Commands.supervise({ what: "suspend", org: party("east").address, dataDir: cluster.dataDir, rpcUrl: cluster.rpcUrl, print: false })).toMatchObject({ event: "suspended", state: "Suspended" })
    const failed = await cluster.waitForTask(id, { timeoutMs: 20_000 })
    expect(failed.status).toBe("Failed")
    expect(failed.reason).toMatch(/EAST/)
    expect(failed.reason).toMatch(/suspended/)
    await F.eventually(() => (cluster.coordinator()!.hub.isOnline(party("east").address) ? undefined : true), "east's socket dropped")
    const suspended = (await supervisor.supervision()) as unknown as { members: Array<{ name: string; state: string }> }
    expect(suspended.members.find((m) => m.name === "EAST")!.state).toBe("Suspended")

    // Restore by name (the command resolves it through the supervision view).
    await Commands.supervise({ what: "restore", org: "east", url: cluster.coordinatorUrl, dataDir: cluster.dataDir, rpcUrl: cluster.rpcUrl, print: false })
    await cluster.launch(south)
    await F.eventually(() => (cluster.coordinator()!.hub.isOnline(party("east").address) ? true : undefined), "east back (the agent retries after being dropped)", 30_000)
  })
})

describe("governance votes", () => {
  it("admits by a > 2/3 vote after the deadline, refuses non-members and self-votes on removal, expels, and sets parameters", async () => {
    const [analyst, north, south, east] = await Promise.all([chainOf("analyst"), chainOf("north"), chainOf("south"), chainOf("east")])
    expect(await north.memberCount()).toBe(4n)
    // A newcomer registers itself (ToAudit) and is admitted by vote, not by the supervisor.
    const newcomer = new Wallet(Wallet.createRandom().privateKey)
    await fundAccounts(cluster.rpcUrl, [newcomer.address])
    const own = await Consortium.ledgerFor(cluster.rpcUrl, newcomer, cluster.deployment)
    await own.register({ name: "Newcomer Clinic", registrationNumber: "NC-1", encPubKey: newcomer.signingKey.compressedPublicKey, dossierHash: keccak256(toUtf8Bytes("dossier")) })
    await own.close()
    const target = companyIdOf("Newcomer Clinic", "NC-1")
    const newChain = (await Consortium.governanceFor(cluster.rpcUrl, newcomer, cluster.deployment))!
    chains.set("newcomer" as never, newChain)

    const admit = await north.propose({ kind: "AddMember", target, deadline: (await now()) + 100n })
    expect(await reverted(newChain.vote(admit.id, true))).toBe("NotMember")
    await north.vote(admit.id, true)
    await south.vote(admit.id, true)
    expect(await reverted(south.vote(admit.id, true))).toBe("AlreadyVoted")
    await east.vote(admit.id, true)
    expect(await reverted(analyst.execute(admit.id))).toBe("VotingOpen")
    await increaseTime(120)
    expect(await reverted(analyst.vote(admit.id, true))).toBe("VotingClosed")
    expect((await analyst.execute(admit.id)).passed).toBe(true)
    expect((await cluster.supervisorLedger.getCompany(target))!.state).toBe("Audited")
    expect(await north.memberCount()).toBe(5n)

    // Expel: the target may not vote on its own removal; 3 of the other 4 is more than 2/3.
    const expel = await analyst.propose({ kind: "RemoveMember", target, deadline: (await now()) + 100n })
    expect((await analyst.getProposal(expel.id))!.electorate).toBe(4)
    expect(await reverted(newChain.vote(expel.id, false))).toBe("CannotVoteOnOwnRemoval")
    await analyst.vote(expel.id, true)
    await north.vote(expel.id, true)
    await south.vote(expel.id, true)
    await east.vote(expel.id, false)
    await increaseTime(120)
    expect((await north.execute(expel.id)).passed).toBe(true)
    expect((await cluster.supervisorLedger.getCompany(target))!.state).toBe("Revoked")

    // Parameters: 2 of 4 fails; 3 of 4 sets it.
    const low = await north.propose({ kind: "SetParam", key: paramKey("minParties"), value: 3n, deadline: (await now()) + 100n })
    await north.vote(low.id, true)
    await south.vote(low.id, true)
    await increaseTime(120)
    expect((await north.execute(low.id)).passed).toBe(false)
    expect(await north.param("minParties")).toBe(0n)
    const high = await north.propose({ kind: "SetParam", key: paramKey("minParties"), value: 3n, deadline: (await now()) + 100n })
    for (const c of [north, south, east]) await c.vote(high.id, true)
    await increaseTime(120)
    expect((await east.execute(high.id)).passed).toBe(true)
    expect(await north.param("minParties")).toBe(3n)
  })
})

describe("the members' and the supervisor's commands", () => {
  const config = (name: Name) => join(party(name).dataDir, "participant.json")
  /** A member's options: its config, its keystore's passphrase (the CLI reads it from the environment). */
  const member = async (name: Name) => ({ config: config(name), passphrase: await passphraseOf(name), print: false })
  /** The supervisor's: the local cluster's operator keys. */
  const supervisor = () => ({ dataDir: cluster.dataDir, rpcUrl: cluster.rpcUrl, print: false })
  const posted = async () => {
    const analyst = await chainOf("analyst")
    const settlementId = keccak256(toUtf8Bytes(`cli-settlement-${randomBytes(8).toString("hex")}`))
    const testSetHash = keccak256(toUtf8Bytes(F.toText(test)))
    await analyst.commitTestSet(settlementId, testSetHash, keccak256(toUtf8Bytes("recipe")))
    const owners = names.map((n) => party(n).address)
    const stream = Valuation.stream({ price: 10_007n, uses: 3n, thirdParty: getAddress(`0x${"00".repeat(20)}`), owners, miners: 0, scores: [0n, 300n, 500n, 700n, 600n, 800n, 900n, 1_000n], salt: hexlify(randomBytes(32)) })
    const valuation: Valuation.Valuation = { settlementId, period: 1n, streams: [stream], miners: Valuation.noMiners, testSetHash, modelHashes: [] }
    await (await chainOf("supervisor")).mintPoints(analyst.account, 30_021n)
    await analyst.postValuation(valuation, await analyst.signValuation(valuation))
    return { settlementId, valuation, owners }
  }

  it("settlement show, dispute, arbitrate (reject) and finalize: the owners paid what the contract computes", async () => {
    const { settlementId, valuation, owners } = await posted()
    const settlement = async (name: Name, action: string, reason?: string): Promise<Record<string, unknown>> => Commands.settlement({ action, id: settlementId, reason, ...(await member(name)) })
    const shown = (await settlement("north", "show")) as { settlement: { status: string }; payouts: { entries: Array<{ amount: bigint }>; toTreasury: bigint } }
    expect(shown.settlement.status).toBe("Posted")
    const { entries, toTreasury } = Valuation.payouts(valuation)
    expect(shown.payouts.entries.map((e) => BigInt(e.amount))).toEqual(entries.map((e) => e.amount))
    expect(BigInt(shown.payouts.toTreasury)).toBe(toTreasury)

    const disputed = await settlement("south", "dispute", "the score of {south} is too low")
    expect(disputed).toMatchObject({ event: "disputed" })
    // A member cannot arbitrate, and a disputed settlement does not pay.
    expect(await reverted(settlement("north", "finalize"))).toBe("WrongStatus")
    expect(await Commands.settlement({ action: "arbitrate", id: settlementId, verdict: "reject", reason: "the scores match the committed table", ...supervisor() })).toMatchObject({ upheld: false })

    const chain = await chainOf("north")
    const before = await Promise.all(owners.map((o) => chain.points(o)))
    await increaseTime(Number((await chain.getSettlement(settlementId))!.disputeDeadline - (await now())) + 1)
    const finalized = (await settlement("east", "finalize")) as { toTreasury: bigint }
    expect(BigInt(finalized.toTreasury)).toBe(toTreasury)
    const paid = (await Promise.all(owners.map((o) => chain.points(o)))).map((a, i) => a - before[i]!)
    // The owners' entries come first; the stream's third party (none here) follows with 0.
    expect(paid).toEqual(entries.slice(0, owners.length).map((e) => e.amount))
    expect(((await settlement("north", "show")) as { settlement: { status: string } }).settlement.status).toBe("Finalized")
  }, 300_000)

  it("supervise pause stops new settlements until unpause; a member cannot pause", async () => {
    expect(await reverted((await chainOf("north")).setPaused("settlement", true))).toBe("AccessControlUnauthorizedAccount")
    expect(await Commands.supervise({ what: "pause", org: "settlement", ...supervisor() })).toMatchObject({ event: "paused" })
    const analyst = await chainOf("analyst")
    const id = keccak256(toUtf8Bytes(`paused-${randomBytes(8).toString("hex")}`))
    expect(await reverted(analyst.commitTestSet(id, keccak256(toUtf8Bytes("t")), keccak256(toUtf8Bytes("r"))))).toBe("EnforcedPause")
    expect(await Commands.supervise({ what: "unpause", org: "settlement", ...supervisor() })).toMatchObject({ event: "unpaused" })
    await analyst.commitTestSet(id, keccak256(toUtf8Bytes("t")), keccak256(toUtf8Bytes("r")))
  }, 300_000)

  it("member join, endorse and supervise approve-join bind a second address of an organisation, in that order only", async () => {
    // North's second participant: its own keystore and config, the same chain.
    const north2Dir = join(dir, "north-2")
    await mkdir(north2Dir)
    const passphrase = randomBytes(16).toString("hex")
    const identity = await Keystore.openPromise({ dataDir: north2Dir, passphrase })
    await fundAccounts(cluster.rpcUrl, [identity.address])
    const north2Config = join(north2Dir, "participant.json")
    await writeFile(north2Config, JSON.stringify({ ...JSON.parse(await readFile(config("north"), "utf8")), dataDir: north2Dir }))
    type Shown = { active: boolean; companyId: string; pendingJoin?: string; joinEndorsedBy?: string; company: { addresses: Array<string> } }
    const asNorth2 = (action: string, arg?: string): Promise<Record<string, unknown>> => Membership.member({ action, arg, config: north2Config, passphrase, print: false })
    const asMember = async (name: Name, action: string, arg?: string): Promise<Record<string, unknown>> => Membership.member({ action, arg, ...(await member(name)) })
    const approve = () => Membership.approveJoin({ account: identity.address, ...supervisor() })

    const north = (await asMember("north", "show")) as Shown
    expect(north.active).toBe(true)
    expect(await asNorth2("join", north.companyId)).toMatchObject({ event: "join-requested" })
    // The supervisor approves only what the company endorsed; another company cannot endorse it.
    await refused(approve(), /not endorsed/)
    expect(await reverted(asMember("south", "endorse", identity.address))).toBe("NoJoinRequest")
    expect(await asMember("north", "endorse", identity.address)).toMatchObject({ endorsedBy: party("north").address })
    const pending = (await asNorth2("show")) as Shown
    expect([pending.active, pending.pendingJoin, pending.joinEndorsedBy]).toEqual([false, north.companyId, party("north").address])
    expect(await approve()).toMatchObject({ companyId: north.companyId })
    const bound = (await asMember("south", "show", identity.address)) as Shown
    expect([bound.active, bound.companyId]).toEqual([true, north.companyId])
    expect(bound.company.addresses).toContain(identity.address)
  }, 300_000)

  it("governance propose-upgrade, vote, close and execute move the settlement to a new implementation after the delay, balances intact", async () => {
    const chain = await chainOf("north")
    const owners = names.map((n) => party(n).address)
    const balances = await Promise.all(owners.map((o) => chain.points(o)))
    const governance = async (name: Name, action: string, arg?: string, support?: string, hours?: number): Promise<Record<string, unknown>> =>
      Commands.governance({ action, arg, support, ...(hours === undefined ? {} : { hours }), ...(await member(name)) })
    const proposed = (await governance("north", "propose-upgrade", "settlement", undefined, 1)) as { id: bigint; implementation: string; current: string }
    expect(proposed.implementation).not.toBe(proposed.current)
    const id = String(proposed.id)
    expect(await governance("south", "vote", id, "yes")).toMatchObject({ event: "voted" })
    // Two more of the four members: 3/4 > 2/3.
    for (const name of ["north", "east"] as const) await (await chainOf(name)).vote(BigInt(id), true)
    expect(await reverted(governance("south", "close", id))).toBe("VotingOpen")
    await increaseTime(3_601)
    const closed = (await governance("south", "close", id)) as { passed: boolean }
    expect(closed.passed).toBe(true)
    // The timelock's delay has not passed: the upgrade is refused, the implementation unchanged.
    expect(await reverted(governance("east", "execute", id))).toBe("TimelockNotReady")
    expect(await chain.implementationOf("settlement")).toBe(proposed.current)
    const shown = (await governance("east", "show", id)) as { timelockDelay: bigint }
    await increaseTime(Number(BigInt(shown.timelockDelay)) + 1)
    expect(await governance("east", "execute", id)).toMatchObject({ event: "executed" })
    expect(await chain.implementationOf("settlement")).toBe(proposed.implementation)
    expect(await Promise.all(owners.map((o) => chain.points(o)))).toEqual(balances)
  }, 300_000)
})

describe("deployment", () => {
  it("extends a saved deployment.json written before the governance contracts, keeping registry and ledger", async () => {
    const { makeEthersLedger } = await import("@jointly/core/internal/ledger/EthersLedger")
    const old = join(dir, "old-deployment")
    // What a coordinator saved before issue 7: registry and ledger only.
    const client = await makeEthersLedger({ rpcUrl: cluster.rpcUrl, privateKey: cluster.keys.supervisor.privateKey })
    const bare = await client.deploy()
    await client.close()
    await saveDeployment(old, bare)
    const extended = await ensureDeployment({ dataDir: old, rpcUrl: cluster.rpcUrl, privateKey: cluster.keys.supervisor.privateKey })
    expect(extended.reused).toBe(true)
    expect([extended.deployment.registry, extended.deployment.ledger]).toEqual([bare.registry, bare.ledger])
    expect(extended.deployment.suite).toBeDefined()
    expect((await loadDeployment(old))!.suite).toEqual(extended.deployment.suite)
    const again = await ensureDeployment({ dataDir: old, rpcUrl: cluster.rpcUrl, privateKey: cluster.keys.supervisor.privateKey })
    expect(again.deployment).toEqual(extended.deployment)

    // A registry that cannot take this governance set (its governor is already another contract) is redeployed.
    const other = join(dir, "other-deployment")
    const { suite: _suite, ...withoutSuite } = (await loadDeployment(cluster.dataDir))!
    await saveDeployment(other, withoutSuite)
    const fresh = await ensureDeployment({ dataDir: other, rpcUrl: cluster.rpcUrl, privateKey: cluster.keys.supervisor.privateKey })
    expect(fresh.reused).toBe(false)
    expect(fresh.deployment.registry).not.toBe(withoutSuite.registry)
    expect(fresh.deployment.suite).toBeDefined()
  })
})

describe("files for a fee (PROTOCOLS §2.6, §11 item 39)", () => {
  it("shares an encrypted file from the CLI, serves its key to a paying member, who fetches it by CID from the uploader's node; the uploader withdraws the escrowed fee after the window", async () => {
    const supervisor = await chainOf("supervisor")
    for (const n of ["north", "south"] as const) await supervisor.mintPoints(party(n).address, 100n)
    const points = (n: Name) => supervisor.points(party(n).address)
    const before = { north: await points("north"), south: await points("south") }
    const configOf = (n: Name) => join(party(n).dataDir, "participant.json")
    const content = `sku,price\n${Array.from({ length: 200 }, (_, i) => `sku-${i},${(i * 13) % 97}`).join("\n")}\n`
    const source = join(dir, "prices.csv")
    await writeFile(source, content)

    const asMember = async (n: Name) => ({ config: configOf(n), passphrase: await passphraseOf(n), print: false })
    const { cid, uploadFee } = (await Commands.files({ action: "share", arg: source, fee: "7", ...(await asMember("north")) })) as { cid: string; uploadFee: bigint }
    expect(await points("north")).toBe(before.north - BigInt(uploadFee))
    // share put the block in the store of north's configured node (its config's ipfs section): north's running
    // participant serves it, with no `files` process up.
    const scope = await Effect.runPromise(Scope.make())
    try {
      const northAgent = party("north").ipfs!.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
      const reader = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [northAgent] }), scope))
      const block = await Effect.runPromise(Effect.result(reader.blocks.get(cid, { timeoutMs: 10_000 })))
      expect(block._tag, "north's participant node serves the shared block").toBe("Success")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    // A config that runs no IPFS node is told so, before anything is paid or put.
    const offConfig = join(party("north").dataDir, "participant-no-ipfs.json")
    await writeFile(offConfig, JSON.stringify({ ...JSON.parse(await readFile(configOf("north"), "utf8")), ipfs: "off" }))
    await refused(Commands.files({ action: "share", arg: source, ...(await asMember("north")), config: offConfig }), /runs no IPFS node/)
    expect(await points("north")).toBe(before.north - BigInt(uploadFee))

    const server = spawn(process.execPath, [LocalCluster.cliPath(), "files", "serve", "--watch", "--config", configOf("north")], {
      env: { ...process.env, ...(await passphraseEnv("north")) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let requestId = ""
    try {
      // Its first output is the node's addresses (pretty JSON, so read until the object closes).
      const serving = await new Promise<{ peerId: string; addresses: Array<string> }>((resolve, reject) => {
        let text = ""
        server.stdout.on("data", (d) => {
          text += d
          const end = text.indexOf("\n}")
          if (end >= 0) resolve(JSON.parse(text.slice(0, end + 2)))
        })
        server.on("exit", (code) => reject(new Error(`files serve exited with ${code}`)))
      })
      const peer = serving.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
      // Its own peer id beside the participant's node on the same store, so peers never mistake one for the other.
      expect(serving.peerId).not.toBe(party("north").ipfs!.peerId)
      const target = join(dir, "prices-fetched.csv")
      const fetched = (await Commands.files({ action: "fetch", arg: cid, out: target, ipfsPeer: peer, waitSeconds: 60, ...(await asMember("south")) })) as { requestId: string }
      expect(await readFile(target, "utf8")).toBe(content)
      requestId = fetched.requestId
      expect(fetched).toMatchObject({ event: "fetched", name: "prices.csv", bytes: content.length, fee: 7n })
      // The fee is held by the exchange for the dispute window after delivery: north is not paid yet.
      expect(await points("south")).toBe(before.south - 7n)
      expect(await points("north")).toBe(before.north - BigInt(uploadFee))
    } finally {
      server.kill("SIGTERM")
    }
    const escrow = (await Commands.files({ action: "show", arg: requestId, ...(await asMember("north")) })) as { state: string; escrow: string; amount: bigint; deadline: bigint; chainTime: bigint; uploader: string }
    expect(escrow).toMatchObject({ state: "InWindow", escrow: "Held", amount: 7n, uploader: getAddress(party("north").address) })
    expect(await reverted(Commands.files({ action: "withdraw", arg: requestId, ...(await asMember("north")) }))).toBe("WindowOpen")
    await increaseTime(Number(BigInt(escrow.deadline) - BigInt(escrow.chainTime)) + 1)
    // `withdraw` alone takes every fee of north's sales that is due: this one, exactly its price.
    const withdrawn = (await Commands.files({ action: "withdraw", ...(await asMember("north")) })) as { total: bigint; requestIds: Array<string> }
    expect(withdrawn.requestIds).toContain(requestId)
    expect(await points("north")).toBe(before.north - BigInt(uploadFee) + 7n)
    expect(await points("south")).toBe(before.south - 7n)
  }, 120_000)
})

describe("DID keys from the CLI's commands (PROTOCOLS §2.6)", () => {
  /** `jointly did <action> [arg]` as east. */
  const didOfEast = async (action: string, arg?: string, more: { days?: number; next?: string } = {}): Promise<Record<string, unknown>> =>
    Commands.did({ action, arg, ...more, config: join(party("east").dataDir, "participant.json"), passphrase: await passphraseOf("east"), print: false })
  it("publishes the keystore's encryption key and a login key in the org's did:ethr document, and revokes the login key", async () => {
    const loginKey = Wallet.createRandom().address
    expect(await didOfEast("publish-encryption-key")).toMatchObject({ event: "encryption-key-published" })
    expect(await didOfEast("add-login-key", loginKey, { days: 30 })).toMatchObject({ event: "login-key-added", key: loginKey, validDays: 30 })
    const doc = (await didOfEast("show")) as { did: string; loginSigners: Array<string>; encryptionKeys: Array<string> }
    expect(doc.did.toLowerCase()).toContain(party("east").address.slice(2).toLowerCase())
    expect(doc.loginSigners).toContain(loginKey)
    expect(doc.encryptionKeys.at(-1)).toBe((await Keystore.openPromise({ dataDir: party("east").dataDir, passphrase: await passphraseOf("east") })).encryptionPublicKey.toLowerCase())

    expect(await didOfEast("revoke-login-key", loginKey)).toMatchObject({ event: "login-key-revoked", key: loginKey })
    const after = (await didOfEast("show")) as { loginSigners: Array<string> }
    expect(after.loginSigners).not.toContain(loginKey)
    expect(after.loginSigners).toContain(getAddress(party("east").address))
    // A typo is refused before anything is sent.
    await refused(didOfEast("add-login-key", "0x1234"), /an address/)
  }, 120_000)

  it("publishes a consent key and a TLS client certificate's key, and rotates the certificate", async () => {
    const consentKey = Wallet.createRandom().address
    const certs = await mkdtemp(join(tmpdir(), "jointly-did-certs-"))
    try {
      const ca = TestCa.make(certs)
      const [first, second] = [ca.issue("first", ["east"], "clientAuth"), ca.issue("second", ["east"], "clientAuth")]
      const [firstKey, secondKey] = [first, second].map((c) => ClientCertificates.spkiOfPem(c.cert))
      expect(await didOfEast("add-consent-key", consentKey)).toMatchObject({ event: "consent-key-added", key: consentKey })
      expect(await didOfEast("publish-tls-key", first.certFile)).toMatchObject({ event: "tls-key-published", key: firstKey })
      const shown = (await didOfEast("show")) as { consentSigners: Array<string>; tlsClientKeys: Array<string> }
      expect(shown.consentSigners).toContain(consentKey)
      expect(shown.tlsClientKeys).toEqual([firstKey])
      expect(await didOfEast("rotate-tls-key", first.certFile, { next: second.certFile })).toMatchObject({ event: "tls-key-rotated", previous: firstKey, next: secondKey })
      const after = (await didOfEast("show")) as { tlsClientKeys: Array<string> }
      expect(after.tlsClientKeys).toEqual([secondKey])
      // A file that holds no certificate is refused before anything is sent.
      await refused(didOfEast("publish-tls-key", first.keyFile), /not a PEM certificate/)
    } finally {
      await removeDir(certs)
    }
  }, 120_000)
})

describe("artifacts on IPFS (issue 16 item 1)", () => {
  // Last in the file: it stops the coordinator's node, which members' uploads above are mirrored to.
  it("every party pins the task's sealed result; verify checks it by CID from a party's node, and each party's node still serves it once the coordinator's is gone", async () => {
    const detail = await cluster.task(honestTaskId)
    const stored = detail.events.find((e) => e.type === "ArtifactStored" && (e.data as { role?: string }).role === "result")
    const sealedCid = (stored?.data as { sealedCid?: string } | undefined)?.sealedCid
    expect(sealedCid, "the task names the sealed copy of its result").toBeDefined()
    const loopback = (name: Name) => party(name).ipfs!.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
    await cluster.ipfs.stopCoordinatorNode()
    const scope = await Effect.runPromise(Scope.make())
    try {
      // TaskEnded named the block to every party, and each pinned it on its own node: a node that knows that party's
      // alone gets it from there (bitswap serves only what a node holds; the coordinator's node is stopped).
      const blocks: Array<Uint8Array> = []
      for (const name of names) {
        const auditor = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [loopback(name)] }), scope))
        const fetched = await Effect.runPromise(Effect.result(auditor.blocks.get(sealedCid!, { timeoutMs: 20_000 })))
        expect(fetched._tag, `${name}'s node serves ${sealedCid}; its pin events: ${party(name).stderr.filter((l) => l.includes(`"pinned"`)).join(" | ")}`).toBe("Success")
        if (fetched._tag === "Success") blocks.push(fetched.success)
      }
      // verify fetches the sealed result from south's node, checks it against the chain, and (the analyst is its reader) opens it.
      const fromSouth = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [loopback("south")] }), scope))
      const verified = await Commands.verifyTask({ taskId: honestTaskId, url: cluster.coordinatorUrl, rpcUrl: cluster.rpcUrl, signer: cluster.keys.analyst, blocks: fromSouth.blocks })
      expect(verified.ok, verified.report).toBe(true)
      expect(verified.report).toMatch(new RegExp(`ok +artifact result sealed ${sealedCid}: the chain holds its hash`))
      expect(verified.report).toMatch(/ok +artifact result sealed .*opened, it: matches the chain digest/)
      const block = blocks[0]!
      const result = JSON.parse(new TextDecoder().decode(Envelope.open(block, getBytes(cluster.keys.analyst.privateKey), `task/${honestTaskId.toLowerCase()}/result`)))
      expect(digest(result)).toBe(detail.resultDigest)
      expect(result).toEqual(detail.result)
      // Sealed: the result is not in the block in clear; it is sealed to the task's recipients exactly (each one's
      // registered key), so south opens it only if it is one of them, and any other key is refused.
      expect(Buffer.from(block).includes(Buffer.from(JSON.stringify(detail.result).slice(1, 24)))).toBe(false)
      const recipients = resultRecipientsOfSpec(detail.spec as never)
      expect(Envelope.inspect(block).readers).toHaveLength(new Set(recipients.map((r) => r.toLowerCase())).size)
      const southKey = (await Keystore.openPromise({ dataDir: party("south").dataDir, passphrase: await passphraseOf("south") })).encryptionSecretKey
      const southOpens = (() => {
        try {
          return Envelope.open(block, Redacted.value(southKey)).length > 0
        } catch {
          return false
        }
      })()
      expect(southOpens).toBe(recipients.some((r) => r.toLowerCase() === party("south").address.toLowerCase()))
      expect(() => Envelope.open(block, Ecies.generateKeyPair().secretKey)).toThrow(/NotAReader/)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 120_000)
})
