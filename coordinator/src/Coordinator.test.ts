/**
 * The foundation end to end, with real parts only: anvil as the chain, the coordinator's socket.io hub and
 * HTTP API on a real port over a PGlite directory, and three participant processes (LocalCluster). One cluster
 * serves every test of this file; the tests run in order and the dropout tests, which kill processes, last.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet, keccak256, toUtf8Bytes } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as FixedPoint from "@jointly/core/internal/crypto/FixedPoint"
import { reasonHash, type TaskHistoryEntry } from "@jointly/core/internal/ledger/Ledger"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import { digest } from "@jointly/core/internal/wire/Canonical"
import type { WireError } from "@jointly/core/internal/wire/Messages"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Agent from "@jointly/participant/internal/Agent"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import { fundAccounts } from "./chain/Anvil.ts"
import * as Consortium from "./local/Consortium.ts"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as F from "./testing/fixtures.ts"

const kind = "statistics.horizontal"
const pimaColumns: DatasetSpec["columns"] = [
  { name: "pregnant", type: "integer" },
  { name: "glucose", type: "number" },
  { name: "pressure", type: "number" },
  { name: "insulin", type: "number" },
  { name: "mass", type: "number" },
  { name: "pedigree", type: "number" },
  { name: "age", type: "integer" },
  { name: "label", type: "integer" }
]
const names = ["north", "south", "east"] as const

// The canary: a value and a row id planted in every party's copy, which must never leave the participants.
const canaryValue = 987654.321
const canaryId = `canary-${randomBytes(8).toString("hex")}`
const canaryFixed = FixedPoint.scale(16, canaryValue)

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let full: F.Csv
let parts: Array<F.Csv>
let canaryParts: Array<F.Csv>
let files: Array<string>

const party = (name: (typeof names)[number]) => cluster.parties.find((p) => p.name === name)!
const coordinator = () => cluster.coordinator()!
const spec = (params: Params, dataset = "pima", who: ReadonlyArray<string> = cluster.parties.map((p) => p.address)) => ({
  kind,
  name: "integration test",
  parties: who.map((participant) => ({ participant, dataset })) as never,
  params
})
/** A plain Wallet (createRandom gives an HDNodeWallet, which the Agent's config type does not take). */
const freshWallet = () => new Wallet(Wallet.createRandom().privateKey)
const history = (taskId: string) => cluster.supervisorLedger.taskHistory(taskId)
const transitions = (h: ReadonlyArray<TaskHistoryEntry>) =>
  h.flatMap((e) => (e._tag === "TaskTransitioned" ? [`${e.from}->${e.to}`] : []))

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-coordinator-"))
  const data = join(dir, "csv")
  await mkdir(data)
  full = F.pima()
  parts = F.splitRoundRobin(full, 3)
  files = await Promise.all(parts.map((p, i) => F.writeCsv(data, `pima-${names[i]}.csv`, p)))
  // Canary copies: an id column, and in one row of each party the planted value and (first party) id.
  const glucose = full.header.indexOf("glucose")
  canaryParts = parts.map((p, i) => ({
    header: [...p.header, "rid"],
    rows: p.rows.map((r, j) => {
      const row = [...r, j === 7 && i === 0 ? canaryId : `row-${i}-${j}`]
      if (j === 7) row[glucose] = String(canaryValue)
      return row
    })
  }))
  const canaryFiles = await Promise.all(canaryParts.map((p, i) => F.writeCsv(data, `canary-${names[i]}.csv`, p)))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: names.map((name, i) => ({
      name,
      datasets: [
        { name: "pima", file: files[i]!, columns: pimaColumns },
        { name: "canary", file: canaryFiles[i]!, columns: [...pimaColumns, { name: "rid", type: "string" }], id: "rid" }
      ],
      // east shares every pima column but insulin: a task touching insulin breaks its "columns" rule.
      ...(name === "east"
        ? {
          policy: {
            mode: "auto",
            taskKinds: ["*"],
            initiators: ["*"],
            minParties: 2,
            datasets: { pima: { columns: pimaColumns.map((c) => c.name).filter((c) => c !== "insulin") }, canary: {} }
          } as never
        }
        : {})
    }))
  })
}, 300_000)

afterAll(async () => {
  await starter.stop()
  await removeDir(dir)
})

describe("joint statistics through the whole stack", () => {
  const everything: Params = {
    columns: ["glucose", "mass", "pedigree", "age"],
    statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
    histogram: { glucose: [0, 80, 100, 120, 140, 160, 180, 200], age: [21, 30, 40, 50, 60] }
  }
  const filtered: Params = { ...everything, where: { column: "glucose", op: ">", value: 0 } }

  it("equals the plaintext statistics of pima.csv split over 3 participants, with and without a filter, notarized on chain", async () => {
    const [plainId, filteredId] = await Promise.all([cluster.submit(spec(everything)), cluster.submit(spec(filtered))])
    const [plain, withWhere] = await Promise.all([cluster.waitForTask(plainId), cluster.waitForTask(filteredId)])

    for (const [detail, params, keep] of [
      [plain, everything, () => true],
      [withWhere, filtered, (row: Record<string, number>) => row.glucose! > 0]
    ] as const) {
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      const result = detail.result as Result
      expect(result.contributors).toHaveLength(3)
      // Bit for bit the integer reference over the whole, unsplit table.
      expect(result).toEqual(F.exactReference([full], params, result.contributors))

      // And independently of Aggregates: float arithmetic over the rows' text, within the fixed-point bound.
      const step = 2 ** -16
      for (const column of params.columns) {
        const f = F.floatColumn(full, column, keep)
        const got = result.columns[column]!
        expect(result.count).toBe(f.n)
        expect(Math.abs(got.sum! - f.sum)).toBeLessThanOrEqual(f.n * step)
        const integral = f.values.every(Number.isInteger)
        expect(Math.abs(got.mean! - f.mean)).toBeLessThanOrEqual(integral ? 1e-9 * Math.abs(f.mean) : step)
        expect(Math.abs(got.variance! - f.variance)).toBeLessThanOrEqual(integral ? 1e-9 * f.variance : 2 * f.std * step + step * step)
        expect(Math.abs(got.std! - f.std)).toBeLessThanOrEqual(integral ? 1e-9 * f.std : step)
        const edges = params.histogram?.[column]
        if (edges) expect(got.histogram).toEqual({ edges, counts: F.histogram(f.values, edges) })
        else expect(got.histogram).toBeUndefined()
      }

      // The stored digest is the digest of the stored result, and it is what the chain recorded.
      expect(detail.resultDigest).toBe(digest(detail.result))
      const h = await history(detail.id)
      expect(h.filter((e) => e._tag === "TaskCreated")).toHaveLength(1)
      const consents = h.filter((e) => e._tag === "ConsentRecorded")
      expect(consents).toHaveLength(3)
      expect(new Set(consents.map((c) => c.participant.toLowerCase()))).toEqual(new Set(cluster.parties.map((p) => p.address.toLowerCase())))
      expect(consents.every((c) => c.approve)).toBe(true)
      expect(transitions(h)).toEqual(["Submitted->AwaitingConsent", "AwaitingConsent->Scheduled", "Scheduled->Running", "Running->Succeeded"])
      expect(h.filter((e) => e._tag === "PhaseCommitted")).toHaveLength(1)
      const recorded = h.filter((e) => e._tag === "ResultRecorded")
      expect(recorded).toHaveLength(1)
      expect(recorded[0]!.resultDigest).toBe(detail.resultDigest)
      // Exactly the outbox's events went on chain, each once, in the transactions the store names.
      expect(new Set(h.map((e) => e.eventId.toLowerCase())).size).toBe(h.length)
      expect(detail.chain.every((c) => c.status === "confirmed")).toBe(true)
      expect(new Map(h.map((e) => [e.eventId.toLowerCase(), e.txHash]))).toEqual(new Map(detail.chain.map((c) => [c.eventId.toLowerCase(), c.txHash])))
    }
    expect((plain.result as Result).count).toBe(768)
    // The filter really dropped rows (pima codes a missing glucose as 0).
    expect((withWhere.result as Result).count).toBeLessThan((plain.result as Result).count)
  })
})

describe("admission", () => {
  const rejectAll: Agent.ConsentPolicy = () => ({ decision: "reject", reason: "test agent" })
  const agentFor = (wallet: Wallet) => Agent.start({ coordinatorUrl: cluster.coordinatorUrl, wallet, datasets: [], policy: rejectAll })
  const register = async (wallet: Wallet, name: string) => {
    await fundAccounts(cluster.rpcUrl, [wallet.address])
    const own = await Consortium.ledgerFor(cluster.rpcUrl, wallet, cluster.deployment)
    try {
      return (
        await own.register({
          name,
          registrationNumber: `test-${wallet.address}`,
          encPubKey: wallet.signingKey.compressedPublicKey,
          dossierHash: keccak256(toUtf8Bytes(name))
        })
      ).companyId
    } finally {
      await own.close()
    }
  }

  it("refuses an unregistered, a not yet audited and a suspended org at the handshake, naming why", async () => {
    const unregistered = freshWallet()
    const toAudit = freshWallet()
    const suspended = freshWallet()
    await register(toAudit, `Pending Audit ${randomUUID()}`)
    const suspendedId = await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, {
      name: `Suspended Org ${randomUUID()}`,
      wallet: suspended,
      encryptionPublicKey: suspended.signingKey.compressedPublicKey
    }, true)
    await cluster.supervisorLedger.setState(suspendedId, "Suspended", keccak256(toUtf8Bytes("test suspension")))

    const agents = await Promise.all([unregistered, toAudit, suspended].map(agentFor))
    try {
      const outcomes = await Promise.all(agents.map((a) => a.connected.then(() => undefined, (e: unknown) => e)))
      expect(outcomes[0]).toBeInstanceOf(Agent.AdmissionRefused)
      expect(outcomes[0]).toMatchObject({ code: "OrgNotRegistered", detail: expect.stringContaining("not bound to any registered organisation") })
      expect(outcomes[1]).toMatchObject({ _tag: "AdmissionRefused", code: "OrgNotAudited", detail: expect.stringContaining("awaits the supervisor's audit") })
      expect(outcomes[2]).toMatchObject({ _tag: "AdmissionRefused", code: "OrgSuspended", detail: expect.stringContaining("suspended") })
      expect(agents.every((a) => !a.isConnected())).toBe(true)
      expect(coordinator().hub.online()).not.toContain(suspended.address)
    } finally {
      await Promise.all(agents.map((a) => a.close()))
    }
  })
})

describe("bad messages", () => {
  it("answers each bad message with a typed wire.error and keeps serving", async () => {
    // An admitted org run in process, taking east's rows, so its raw socket is ours to misuse.
    const wallet = freshWallet()
    await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, {
      name: `Rogue ${randomUUID()}`,
      wallet,
      encryptionPublicKey: wallet.signingKey.compressedPublicKey
    }, true)
    const rogue = await Agent.start({
      coordinatorUrl: cluster.coordinatorUrl,
      wallet,
      datasets: [{ name: "pima", file: files[2]!, columns: pimaColumns }],
      policy: () => ({ decision: "approve", reason: "test" })
    })
    const errors: Array<WireError> = []
    rogue.on((event) => void (event.type === "wire-error" && errors.push(event.error)))
    const expectError = (code: string, ref: string) =>
      F.eventually(() => errors.find((e) => e.code === code && e.ref === ref), `wire.error ${code} for ${ref}`)
    try {
      await rogue.connected
      const server = [...coordinator().hub.io.of("/participants").sockets.values()].find((s) => s.data.account === rogue.address)!
      // While the first request is in flight: a reply to an id never issued, and one naming the wrong stage.
      let first: { requestId: string; taskId: string; stage: string } | undefined
      const junk = randomUUID()
      server.onAnyOutgoing((event, payload) => {
        if (event !== "stage.request" || first) return
        first = payload
        rogue.rawEmit("stage.reply", { requestId: junk, taskId: payload.taskId, stage: payload.stage, outcome: { ok: true, payload: {} } })
        rogue.rawEmit("stage.reply", { requestId: payload.requestId, taskId: payload.taskId, stage: "secagg.bogus", outcome: { ok: true, payload: {} } })
      })
      const north = party("north").address
      const south = party("south").address
      const params: Params = { columns: ["glucose", "age"], statistics: ["count", "mean", "variance"] }
      const id = await cluster.submit(spec(params, "pima", [north, south, rogue.address]))
      const detail = await cluster.waitForTask(id)
      expect(detail.status, String(detail.reason)).toBe("Succeeded")
      // The junk did not disturb the computation: north, south and the rogue hold the whole table.
      expect(detail.result).toEqual(F.exactReference([full], params, (detail.result as Result).contributors))
      expect(await expectError("UnknownRequest", junk)).toMatchObject({ message: expect.stringContaining(junk) })
      expect(await expectError("UnknownStage", first!.requestId)).toMatchObject({ message: expect.stringContaining("secagg.bogus") })

      // After the task: the same reply again, a reply for a task that does not run, garbage and an event nobody
      // defined. (An oversized frame closes the sender's connection in the transport: transport/SocketLimits.test.ts.)
      rogue.rawEmit("stage.reply", { requestId: first!.requestId, taskId: first!.taskId, stage: first!.stage, outcome: { ok: true, payload: { ready: true } } })
      await expectError("Replayed", first!.requestId)
      const stray = randomUUID()
      rogue.rawEmit("stage.reply", { requestId: stray, taskId: keccak256(randomBytes(8)), stage: "statistics.prepare", outcome: { ok: true, payload: {} } })
      await expectError("UnknownTask", stray)
      rogue.rawEmit("stage.reply", { requestId: 42, outcome: "yes" })
      expect(await expectError("Malformed", "stage.reply")).toMatchObject({ message: expect.stringContaining("requestId") })
      rogue.rawEmit("task.hijack", { taskId: id })
      expect(await expectError("UnknownStage", "task.hijack")).toMatchObject({ message: "unknown event task.hijack" })
      expect(rogue.isConnected()).toBe(true)

      // The coordinator still serves everyone.
      const after = await cluster.waitForTask(await cluster.submit(spec(params)))
      expect(after.status, String(after.reason)).toBe("Succeeded")
      expect(after.result).toEqual(F.exactReference([full], params, (after.result as Result).contributors))
    } finally {
      await rogue.close()
    }
  })
})

describe("bad datasets", () => {
  const passphrase = "correct horse battery staple"
  /** Runs `jointly participant` over one bad CSV; resolves with its exit code and stderr. */
  const runParticipant = async (name: string, csv: string) => {
    const home = join(dir, "bad", name)
    await mkdir(home, { recursive: true })
    const file = join(home, `${name}.csv`)
    await writeFile(file, csv)
    // The identity exists already (at a cheap KDF cost): the run under test fails on its data, not its key.
    await Keystore.openPromise({ dataDir: home, passphrase, scryptN: 1024 })
    const config = join(home, "participant.json")
    await writeFile(config, JSON.stringify({
      coordinatorUrl: cluster.coordinatorUrl,
      dataDir: home,
      datasets: [{ name: "pima", file, columns: pimaColumns }],
      policy: { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { pima: {} } }
    }))
    const child: ChildProcess = spawn(process.execPath, [LocalCluster.cliPath(), "participant", "--config", config], {
      env: { ...process.env, JOINTLY_KEY_PASSPHRASE: passphrase },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let stdout = ""
    child.stderr!.on("data", (chunk) => (stderr += chunk))
    child.stdout!.on("data", (chunk) => (stdout += chunk))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    return { file, code, stderr, stdout }
  }

  it("stops a participant process on a missing column, a non-numeric value or NaN, naming file, line and column, before it connects", async () => {
    const io = coordinator().hub.io
    let connections = 0
    let nonces = 0
    const countConnection = () => void connections++
    const countNonce = (req: import("node:http").IncomingMessage) => void (req.url?.startsWith("/api/auth/nonce") && nonces++)
    io.engine.on("connection", countConnection)
    io.httpServer.on("request", countNonce)
    try {
      const text = F.toText(parts[0]!).split("\n")
      const withCell = (line: number, column: string, value: string) => {
        const lines = [...text]
        const cells = lines[line - 1]!.split(",")
        cells[parts[0]!.header.indexOf(column)] = value
        lines[line - 1] = cells.join(",")
        return lines.join("\n")
      }
      const insulin = parts[0]!.header.indexOf("insulin")
      const withoutInsulin = text.map((l) => l.split(",").filter((_, i) => i !== insulin).join(",")).join("\n")
      const [missing, notNumeric, nan] = await Promise.all([
        runParticipant("missing-column", withoutInsulin),
        runParticipant("not-numeric", withCell(5, "glucose", "high")),
        runParticipant("nan", withCell(9, "mass", "NaN"))
      ])
      for (const run of [missing, notNumeric, nan]) {
        expect(run.code).not.toBe(0)
        expect(run.stdout).not.toContain("ready")
      }
      expect(missing.stderr).toContain(`jointly: ${missing.file}, line 1, column "insulin": MissingColumn`)
      expect(notNumeric.stderr).toContain(`jointly: ${notNumeric.file}, line 5, column "glucose": NotNumeric: "high" is not a number`)
      expect(nan.stderr).toContain(`jointly: ${nan.file}, line 9, column "mass": NotFinite`)
    } finally {
      io.engine.off("connection", countConnection)
      io.httpServer.off("request", countNonce)
    }
    // Nothing was sent: no login nonce asked for, no socket opened.
    expect(nonces).toBe(0)
    expect(connections).toBe(0)
  })
})

describe("consent", () => {
  it("ends a task Rejected when a participant's policy refuses it, with the rule's reason on record and on chain", async () => {
    const east = party("east").address
    const id = await cluster.submit(spec({ columns: ["glucose", "insulin"], statistics: ["mean"] }))
    const detail = await cluster.waitForTask(id)
    expect(detail.status).toBe("Rejected")
    expect(detail.reason).toBe(`participant ${east} rejected the task: column insulin of dataset pima is not shareable`)
    const refusal = detail.consents.find((c) => c.participant.toLowerCase() === east.toLowerCase())
    expect(refusal).toMatchObject({ approve: false, reason: "column insulin of dataset pima is not shareable" })
    expect(detail.result).toBeNull()

    const h = await history(id)
    const onChain = h.find((e) => e._tag === "ConsentRecorded" && e.participant.toLowerCase() === east.toLowerCase())
    expect(onChain).toMatchObject({ approve: false, reasonHash: reasonHash(refusal!.reason) })
    const last = h.at(-1)!
    expect(last).toMatchObject({ _tag: "TaskTransitioned", from: "AwaitingConsent", to: "Rejected", reasonHash: reasonHash(detail.reason!) })
    expect(h.some((e) => e._tag === "TaskTransitioned" && e.to === "Scheduled")).toBe(false)
    expect(h.some((e) => e._tag === "ResultRecorded")).toBe(false)
  })
})

describe("confidentiality", () => {
  it("never lets a planted value or row id out: not in a socket frame, the store or the chain", async () => {
    const capture = F.captureFrames(coordinator().hub.io)
    const params: Params = {
      columns: ["glucose", "mass"],
      statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
      histogram: { glucose: [0, 100, 200] }
    }
    const id = await cluster.submit(spec(params, "canary"))
    const detail = await cluster.waitForTask(id)
    capture.stop()
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    // The canary rows were in the computation (so their absence below means something).
    expect(detail.result).toEqual(F.exactReference(canaryParts, params, (detail.result as Result).contributors))
    expect((detail.result as Result).columns.glucose!.sum!).toBeGreaterThan(3 * canaryValue)

    const needles = [
      String(canaryValue),
      canaryId,
      canaryFixed.toString(),
      canaryFixed.toString(16),
      (canaryFixed * canaryFixed).toString(),
      (canaryFixed * canaryFixed).toString(16)
    ]
    const hexNeedles = [...needles.map(F.utf8Hex), canaryFixed.toString(16), (canaryFixed * canaryFixed).toString(16)]

    const frames = capture.frames.join("\n")
    expect(capture.frames.some((f) => f.includes('"secagg.masked-input"'))).toBe(true)
    expect(frames).toContain(id)
    for (const needle of needles) expect(frames, `socket frames leak ${needle}`).not.toContain(needle)

    const store = await F.dumpStore(coordinator().store.sql)
    expect(store.tables).toEqual(expect.arrayContaining(["tasks", "task_events", "consents", "outbox"]))
    expect(store.text).toContain(id)
    for (const needle of needles) expect(store.text, `the store leaks ${needle}`).not.toContain(needle)

    const chain = await F.dumpChain(cluster.rpcUrl)
    expect(chain.text).toContain(id.slice(2).toLowerCase())
    for (const needle of [...needles.map((n) => n.toLowerCase()), ...hexNeedles]) expect(chain.text, `the chain leaks ${needle}`).not.toContain(needle)
  })
})

describe("dropouts", () => {
  const hook = { JOINTLY_TEST_EXIT_AFTER_STAGE: "secagg.masked-input" }
  /** Restarts a party's process with the test hook that kills it right after it sends its masked input. */
  const relaunchWithHook = async (p: LocalCluster.Party) => {
    if (p.process.exitCode === null && p.process.signalCode === null) {
      const exited = new Promise((r) => p.process.once("exit", r))
      p.process.kill("SIGTERM")
      await exited
    }
    await F.eventually(() => !coordinator().hub.isOnline(p.address), `${p.name} offline`)
    await cluster.launch(p, hook)
    // Wrapped: an async function returning a bare promise would wait for it.
    return { exited: new Promise<number | null>((r) => p.process.once("exit", (code) => r(code))) }
  }
  const params = (tolerance: number): Params => ({
    columns: ["glucose", "mass", "age"],
    statistics: ["count", "sum", "mean", "variance", "std", "histogram"],
    histogram: { age: [20, 40, 60, 80] },
    dropoutTolerance: tolerance
  })

  it("stays exact over all 3 parties' rows when one dies right after sending its masked input (tolerance 1)", async () => {
    const east = party("east")
    const { exited } = await relaunchWithHook(east)
    const id = await cluster.submit(spec(params(1)))
    const detail = await cluster.waitForTask(id)
    expect(await exited).toBe(75)
    expect(east.stderr.some((l) => l.includes('"test-exit"'))).toBe(true)
    expect(detail.status, String(detail.reason)).toBe("Succeeded")
    const result = detail.result as Result
    expect(result.contributors).toHaveLength(3)
    expect(result.contributors).toContain(east.address)
    expect(result).toEqual(F.exactReference([full], params(1), result.contributors))
    // east really was gone for the unmasking: 2 of 3 answered it.
    const progress = detail.events.filter((e) => e.type === "Progress").map((e) => e.data as { stage: string; done: number; total: number })
    expect(progress).toContainEqual(expect.objectContaining({ stage: "secagg.masked-input", done: 3, total: 3 }))
    expect(progress).toContainEqual(expect.objectContaining({ stage: "secagg.unmask", done: 2, total: 3 }))
  })

  it("fails with TooManyDropouts when two of three die after masking (tolerance 1)", async () => {
    const exits = (await Promise.all([relaunchWithHook(party("east")), relaunchWithHook(party("south"))])).map((r) => r.exited)
    const id = await cluster.submit(spec(params(1)))
    const detail = await cluster.waitForTask(id)
    expect(await Promise.all(exits)).toEqual([75, 75])
    expect(detail.status).toBe("Failed")
    expect(detail.reason).toContain("TooManyDropouts")
    expect(detail.result).toBeNull()
    const h = await history(id)
    expect(transitions(h).at(-1)).toBe("Running->Failed")
    expect(h.some((e) => e._tag === "ResultRecorded")).toBe(false)
  })
})
