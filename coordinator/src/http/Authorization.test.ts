/**
 * The authorisation matrix, built from the API's declaration: every declared route × every kind of caller →
 * the status it must get, derived from the route's Access rule. A route without a rule, or without a probe here,
 * fails the test; so does any cell that differs. Over a real LocalCluster (anvil, the coordinator, participant
 * processes), with real sign-ins (EIP-4361) and a member suspended on chain after it signed in.
 *
 * Fixtures: task T (initiator: the analyst; parties: north, south; result recipient: another member, "auditor"),
 * run to the end; a linear model in the model store trained by T's parties; an artifact uploaded by north.
 */
import { mkdtemp, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Wallet, keccak256, toUtf8Bytes, getBytes } from "ethers"
import { Effect, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Rule } from "@jointly/core/internal/api/Access"
import { routes } from "@jointly/core/internal/api/Api"
import * as ApiClient from "@jointly/core/internal/api/Client"
import { taskId as taskIdOf, type TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { makeGovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as HumanToken from "@jointly/participant/internal/policy/HumanToken"
import * as Consortium from "../local/Consortium.ts"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"

const demo = fileURLToPath(new URL("../../../examples/demo/", import.meta.url))
const columns: DatasetSpec["columns"] = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age", "label"].map((name) => ({ name, type: "number" as const }))

const roles = ["anonymous", "unknown", "suspended", "member", "initiator", "party", "recipient", "supervisor", "operator"] as const
type Role = (typeof roles)[number]

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
const wallets = {} as Record<Exclude<Role, "anonymous">, Wallet>
const tokens = {} as Record<Role, string | undefined>
let taskId: string
let modelId: string
let artifactCid: string
let resultCid: string

const admit = async (name: string) => {
  const wallet = Wallet.createRandom() as unknown as Wallet
  const companyId = await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name, wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }, true)
  return { wallet, companyId }
}

const signIn = async (wallet: Wallet) => {
  const client = ApiClient.make({ url: cluster.coordinatorUrl, signer: wallet })
  await client.signIn()
  return client.token()!
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-authz-"))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    parties: ["north", "south"].map((name) => ({ name, datasets: [{ name: "pima", file: join(demo, `pima-${name}.csv`), columns }] }))
  })
  const [member, recipient, suspended] = [await admit("westbank"), await admit("auditor"), await admit("eastbank")]
  Object.assign(wallets, {
    unknown: Wallet.createRandom(),
    suspended: suspended.wallet,
    member: member.wallet,
    initiator: cluster.keys.analyst,
    party: await cluster.walletOf("north"),
    recipient: recipient.wallet,
    supervisor: cluster.keys.supervisor,
    operator: cluster.keys.coordinator
  })
  for (const role of roles) tokens[role] = role === "anonymous" ? undefined : await signIn(wallets[role])
  // Suspended after it signed in: its token is still well formed and unexpired, the chain says no.
  await cluster.supervisorLedger.setState(suspended.companyId as `0x${string}`, "Suspended", keccak256(toUtf8Bytes("matrix test")))

  taskId = await cluster.submit({
    kind: "statistics.horizontal",
    parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never,
    params: { columns: ["glucose"], statistics: ["count", "mean"] },
    recipients: [recipient.wallet.address] as never
  })
  const coordinator = cluster.coordinator()!
  // The analyst watches until the end; it is not the recipient, so it reads no result.
  await cluster.client.watch(taskId, { timeoutMs: 120_000 })
  modelId = await Effect.runPromise(coordinator.models.put({ format: "linear", weights: [0.01, -0.02], bias: 0.5, link: "sigmoid", featureColumns: ["glucose", "mass"] }, { taskId }))
  resultCid = ((await Effect.runPromise(coordinator.store.events(taskId))).find((e) => e.type === "ArtifactStored")!.data as { cid: string }).cid
  artifactCid = await cluster.clientFor(wallets.party).putArtifact(new TextEncoder().encode("north's sealed payload"))
}, 600_000)

afterAll(async () => {
  await starter.stop()
  if (dir) await removeDir(dir)
})

// ---------------------------------------------------------------- the probes: one request per route

interface Probe {
  readonly params?: () => Record<string, string>
  readonly query?: () => Record<string, string>
  readonly body?: (role: Role) => Promise<unknown> | unknown
  /** The status when the caller passes the rule (what the handler answers the probe). */
  readonly allowed: number
}

/** A submission by `role` itself of a task whose kind does not exist: past the rule, the scheduler refuses it (400). */
const ownSubmission = async (role: Role) => {
  const wallet = role === "anonymous" ? Wallet.createRandom() : wallets[role]
  const spec = { kind: "no.such-kind", initiator: wallet.address, nonce: `${role}-${Date.now()}`, parties: [{ participant: cluster.parties[0]!.address, dataset: "pima" }], params: {} } as unknown as TaskSpec
  return { spec, signature: await wallet.signMessage(getBytes(taskIdOf(spec))) }
}

const challengeFor = async (address: string) => {
  const response = await fetch(`${cluster.coordinatorUrl}/api/auth/challenge`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ address }) })
  return ((await response.json()) as { message: string }).message
}
const dashboardToken = async (name: string) => (await readFile(join(cluster.parties.find((p) => p.name === name)!.dataDir, "dashboard-token"), "utf8")).trim()
/** A dashboard token sign-in as party `as`, MACed with party `tokenOf`'s token. */
const tokenSignIn = async (as: string, tokenOf: string) => {
  const message = await challengeFor(cluster.parties.find((p) => p.name === as)!.address)
  return { message, mac: HumanToken.signInMac(await dashboardToken(tokenOf), message) }
}

const probes: Record<string, Probe> = {
  "meta.health": { allowed: 200 },
  "meta.openapi": { allowed: 200 },
  "auth.nonce": { allowed: 200 },
  "auth.challenge": { body: () => ({ address: Wallet.createRandom().address }), allowed: 200 },
  "auth.signIn": {
    body: async () => {
      const wallet = Wallet.createRandom()
      const response = await fetch(`${cluster.coordinatorUrl}/api/auth/challenge`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ address: wallet.address }) })
      const { message } = (await response.json()) as { message: string }
      return { message, signature: await wallet.signMessage(message) }
    },
    allowed: 200
  },
  // North's dashboard token over a challenge for north: north's participant checks it and signs for itself.
  "auth.tokenSignIn": { body: async () => tokenSignIn("north", "north"), allowed: 200 },
  "auth.me": { allowed: 200 },
  "tasks.submit": { body: ownSubmission, allowed: 400 },
  "tasks.list": { allowed: 200 },
  "tasks.get": { params: () => ({ id: taskId }), allowed: 200 },
  "tasks.result": { params: () => ({ id: taskId }), allowed: 200 },
  // T has ended: a permitted cancel answers its final status and changes nothing.
  "tasks.cancel": { params: () => ({ id: taskId }), body: () => ({ reason: "matrix" }), allowed: 200 },
  "tasks.verify": { params: () => ({ id: taskId }), allowed: 200 },
  "tasks.events": { allowed: 200 },
  "governance.catalog": { allowed: 200 },
  "governance.catalogEntry": { params: () => ({ datasetId: `0x${"ee".repeat(32)}` }), allowed: 404 },
  "governance.grants": { allowed: 200 },
  "governance.modelRequests": { allowed: 200 },
  "governance.supervision": { allowed: 200 },
  "governance.members": { allowed: 200 },
  "governance.rejections": { allowed: 200 },
  "governance.pendingConsents": { allowed: 200 },
  "governance.decideConsent": { params: () => ({ id: taskId, participant: cluster.parties[0]!.address }), body: () => ({ approve: true, reason: "late", mac: "0x00" }), allowed: 409 },
  "models.list": { allowed: 200 },
  "models.get": { params: () => ({ modelId }), allowed: 200 },
  "models.weights": { params: () => ({ modelId }), allowed: 200 },
  "models.predict": { params: () => ({ modelId }), body: () => ({ rows: [[120, 30]] }), allowed: 200 },
  "artifacts.put": { body: (role) => ({ codec: "raw", base64: Buffer.from(`bytes of ${role} ${Date.now()}`).toString("base64") }), allowed: 201 },
  "artifacts.get": { params: () => ({ cid: artifactCid }), allowed: 200 }
}

// ---------------------------------------------------------------- what each rule admits

const member = new Set<Role>(["member", "initiator", "party", "recipient"])
/** Who passes `rule` over the fixtures (T, the model T's parties trained, north's artifact). */
const admits = (rule: Rule, role: Role): boolean => {
  switch (rule._tag) {
    case "Public":
      return true
    case "SignedIn":
      return role !== "anonymous"
    case "Member":
      return member.has(role) || role === "supervisor"
    case "Known":
      return member.has(role) || role === "supervisor" || role === "operator"
    case "Supervisor":
      return role === "supervisor"
    case "TaskViewer":
    case "ModelViewer":
      return ["initiator", "party", "recipient", "supervisor", "operator"].includes(role)
    case "TaskCanceller":
      return ["initiator", "supervisor", "operator"].includes(role)
    case "ResultRecipient":
      return role === "recipient"
    case "ModelTrainer":
    case "ModelPredictor":
      return role === "party"
    case "ArtifactReader":
      return role === "party"
  }
}

const expected = (rule: Rule, role: Role, probe: Probe) => (admits(rule, role) ? probe.allowed : role === "anonymous" ? 401 : 403)

const call = async (route: ReturnType<typeof routes>[number], probe: Probe, role: Role) => {
  const params = probe.params?.() ?? {}
  const path = route.path.replace(/:(\w+)/g, (_m, name: string) => encodeURIComponent(params[name]!))
  const query = probe.query ? `?${new URLSearchParams(probe.query())}` : ""
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (tokens[role] !== undefined) headers.authorization = `Bearer ${tokens[role]}`
  const body = probe.body === undefined ? undefined : JSON.stringify(await probe.body(role))
  const abort = new AbortController()
  const response = await fetch(`${cluster.coordinatorUrl}${path}${query}`, { method: route.method, headers, body, signal: abort.signal })
  // The event stream stays open: its status is all the matrix needs.
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) abort.abort()
  else await response.arrayBuffer()
  return response.status
}

describe("authorisation matrix over the declared routes", () => {
  it("every declared route has an access rule and a probe, and public routes are exactly health, OpenAPI, nonce and the sign-in exchange", () => {
    const declared = routes()
    for (const r of declared) {
      expect(r.rule, `${r.group}.${r.name} declares no Access rule`).toBeDefined()
      expect(probes[`${r.group}.${r.name}`], `${r.group}.${r.name} has no probe in the matrix`).toBeDefined()
      // The guard sits on every route that is not public, and on none that is.
      expect(r.guarded, `${r.group}.${r.name}`).toBe(r.rule!._tag !== "Public")
    }
    expect(Object.keys(probes).sort()).toEqual(declared.map((r) => `${r.group}.${r.name}`).sort())
    expect(declared.filter((r) => r.rule?._tag === "Public").map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      ["GET /api/auth/nonce", "GET /api/health", "GET /api/openapi.json", "POST /api/auth/challenge", "POST /api/auth/sign-in", "POST /api/auth/token-sign-in"]
    )
  })

  it("answers every route × caller with the status its rule says", async () => {
    const mismatches: Array<string> = []
    const table: Array<string> = []
    for (const route of routes()) {
      const probe = probes[`${route.group}.${route.name}`]!
      const row: Array<string> = []
      for (const role of roles) {
        const want = expected(route.rule!, role, probe)
        const got = await call(route, probe, role)
        row.push(`${role}=${got}`)
        if (got !== want) mismatches.push(`${route.method} ${route.path} as ${role}: ${got}, expected ${want}`)
      }
      table.push(`${route.method} ${route.path}: ${row.join(" ")}`)
    }
    expect(mismatches, table.join("\n")).toEqual([])
  }, 300_000)

  it("signs a dashboard user in as a participant's org only with that participant's token, while it is connected", async () => {
    const post = async (body: unknown) => {
      const response = await fetch(`${cluster.coordinatorUrl}/api/auth/token-sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      return { status: response.status, body: (await response.json()) as { _tag?: string; reason?: string; address?: string; token?: string; roles?: { member: boolean } } }
    }
    // North's token: a session bound to north's account, with north's roles, that the guard accepts.
    const north = cluster.parties.find((p) => p.name === "north")!
    const ok = await post(await tokenSignIn("north", "north"))
    expect(ok.status).toBe(200)
    expect(ok.body.address).toBe(north.address)
    expect(ok.body.roles?.member).toBe(true)
    const me = await fetch(`${cluster.coordinatorUrl}/api/tasks/${taskId}`, { headers: { authorization: `Bearer ${ok.body.token}` } })
    expect(me.status).toBe(200)
    // South's challenge under north's token: south's participant refuses; so does north's under a made-up token.
    expect((await post(await tokenSignIn("south", "north"))).body).toMatchObject({ _tag: "SignInRefused", reason: "BadToken" })
    const forged = await challengeFor(north.address)
    expect((await post({ message: forged, mac: HumanToken.signInMac("not-the-token", forged) })).body).toMatchObject({ _tag: "SignInRefused", reason: "BadToken" })
    // An account with no participant connected: nobody can check a token for it.
    const stranger = await challengeFor(wallets.member.address)
    expect((await post({ message: stranger, mac: HumanToken.signInMac(await dashboardToken("north"), stranger) })).body).toMatchObject({ _tag: "SignInRefused", reason: "Unreachable" })
    // A message this coordinator did not issue is never relayed.
    const replaced = (await challengeFor(north.address)).replace(/Nonce: \w+/, "Nonce: 0123456789abcdef0123")
    expect((await post({ message: replaced, mac: HumanToken.signInMac(await dashboardToken("north"), replaced) })).body).toMatchObject({ _tag: "SignInRefused", reason: "UnknownNonce" })
    expect(cluster.coordinator()!.rejections.get("http.token")).toBeGreaterThanOrEqual(2)
  })

  it("refuses the probes of the issue by name: the wrong caller gets 401 or 403", async () => {
    const byName = (group: string, name: string) => routes().find((r) => r.group === group && r.name === name)!
    const refused = async (group: string, name: string, role: Role, status: number) =>
      expect(await call(byName(group, name), probes[`${group}.${name}`]!, role), `${group}.${name} as ${role}`).toBe(status)
    // GET a task's result: no one but its recipient, not even its initiator or the supervisor.
    await refused("tasks", "result", "anonymous", 401)
    await refused("tasks", "result", "initiator", 403)
    await refused("tasks", "result", "party", 403)
    await refused("tasks", "result", "supervisor", 403)
    // GET a model's weights: only the parties that trained it.
    await refused("models", "weights", "anonymous", 401)
    await refused("models", "weights", "initiator", 403)
    await refused("models", "weights", "member", 403)
    // POST predict without training the model or holding a grant.
    await refused("models", "predict", "anonymous", 401)
    await refused("models", "predict", "member", 403)
    // POST cancel someone else's task.
    await refused("tasks", "cancel", "anonymous", 401)
    await refused("tasks", "cancel", "party", 403)
    await refused("tasks", "cancel", "member", 403)
    // POST artifacts as anyone but an audited member.
    await refused("artifacts", "put", "anonymous", 401)
    await refused("artifacts", "put", "unknown", 403)
    await refused("artifacts", "put", "suspended", 403)
    // GET supervision as anyone but the supervisor.
    await refused("governance", "supervision", "anonymous", 401)
    await refused("governance", "supervision", "member", 403)
    await refused("governance", "supervision", "operator", 403)
  })

  it("serves the result artifact to the recipient alone, and names why it refuses", async () => {
    const get = async (role: Role) =>
      fetch(`${cluster.coordinatorUrl}/api/artifacts/${resultCid}`, { headers: tokens[role] === undefined ? {} : { authorization: `Bearer ${tokens[role]}` } })
    expect((await get("recipient")).status).toBe(200)
    for (const role of ["initiator", "party", "supervisor"] as const) expect((await get(role)).status, role).toBe(403)
    const suspended = (await (await get("suspended")).json()) as { _tag: string; reason: string }
    expect(suspended).toMatchObject({ _tag: "Forbidden", reason: "OrgSuspended" })
    const forged = await fetch(`${cluster.coordinatorUrl}/api/auth/me`, { headers: { authorization: `Bearer ${tokens.member!.slice(0, -4)}AAAA` } })
    expect(forged.status).toBe(401)
  })

  it("lets a member predict under a grant for the model found on chain, counting each use, and refuses it once used up", async () => {
    const chainOf = (wallet: Wallet) =>
      makeGovernanceLedger({ rpcUrl: cluster.rpcUrl, privateKey: wallet.privateKey, addresses: { ...cluster.deployment.suite!, registry: cluster.deployment.registry, deployBlock: cluster.deployment.deployBlock } })
    const [owner, requester] = [await chainOf(wallets.party), await chainOf(wallets.member)]
    try {
      const predict = () => call(routes().find((r) => r.name === "predict")!, probes["models.predict"]!, "member")
      expect(await predict()).toBe(403)
      // A trainer (north) opens the model to grants: a catalogue entry whose content hash is the model id.
      const { datasetId } = await owner.publishDataset({ domain: "model", name: "glucose-model", attrs: "[]", size: 0, contentHash: modelId as `0x${string}`, location: `jointly://models/${modelId}`, policy: "GrantRequired" })
      const latest = BigInt(Number((await jsonRpc<{ timestamp: string }>(cluster.rpcUrl, "eth_getBlockByNumber", ["latest", false])).timestamp))
      const { tokenId } = await requester.requestGrant({ datasetId: datasetId as `0x${string}`, purpose: "predict", expiry: latest + 3600n, maxUses: 2 })
      // Requested, not yet approved: still refused.
      await Effect.runPromise(cluster.coordinator()!.index!.sync())
      expect(await predict()).toBe(403)
      await owner.decideGrant(tokenId as `0x${string}`, true)
      await Effect.runPromise(cluster.coordinator()!.index!.sync())
      expect(await predict()).toBe(200)
      expect(await predict()).toBe(200)
      // Two uses counted against maxUses 2: the grant is used up here, though the chain logged none.
      expect(await predict()).toBe(403)
      const grants = await cluster.clientFor(wallets.member).grants()
      expect(grants.predictions.filter((p) => p.tokenId === tokenId.toLowerCase())).toHaveLength(2)
      // A member that merely knows the model id gets nothing from someone else's grant.
      expect(await call(routes().find((r) => r.name === "predict")!, probes["models.predict"]!, "recipient")).toBe(403)
    } finally {
      await owner.close()
      await requester.close()
    }
  }, 120_000)

  it("streams each viewer the events of the tasks it may see, and no others", async () => {
    /** Reads `GET /api/events` as `role` through the typed client (it decodes the stream with the declared Schema). */
    const listen = (role: Role) => {
      const seen: Array<{ type: string; taskId?: string | null }> = []
      const client = ApiClient.make({ url: cluster.coordinatorUrl, signer: wallets[role as Exclude<Role, "anonymous">] })
      const fiber = Effect.runFork(
        Effect.flatMap(client.call((api) => api.tasks.events()), (events) => Stream.runForEach(events, (e) => Effect.sync(() => void seen.push(e))))
      )
      return { seen, stop: () => Effect.runPromise(Fiber.interrupt(fiber)) }
    }
    const [initiator, party, outsider] = [listen("initiator"), listen("party"), listen("member")]
    await new Promise((r) => setTimeout(r, 500))
    const id = await cluster.submit({
      kind: "statistics.horizontal",
      parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "pima" })) as never,
      params: { columns: ["age"], statistics: ["count"] }
    })
    await cluster.waitForTask(id, { timeoutMs: 120_000 })
    await new Promise((r) => setTimeout(r, 500))
    await Promise.all([initiator.stop(), party.stop(), outsider.stop()])
    const about = (l: ReturnType<typeof listen>) => l.seen.filter((e) => e.taskId === id).map((e) => e.type)
    expect(about(initiator)).toContain("status")
    expect(about(party)).toContain("status")
    expect(about(outsider)).toEqual([])
  }, 180_000)
})
