/**
 * The refusals the model, artifact, sign-in and governance handlers (and the dashboard's static files) make
 * themselves, each answered with its own status and tagged body: the stores and the sessions fail with the API's
 * tagged errors, and the endpoint declarations alone give their statuses. A refusal turned into a defect would answer 500 with no tag; one caught
 * as another would answer another tag. Over a real node:http port, the real model and artifact stores, task store,
 * policy and sessions on an embedded PostgreSQL (PGlite), with real EIP-4361 sign-ins; only the chain's role and
 * DID reads (which a test takes down and brings back), the scheduler and the participant relay are stubs.
 */
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiClient from "@jointly/core/internal/api/Client"
import type { DashboardSignInAck } from "@jointly/core/internal/wire/Messages"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as ArtifactStore from "../artifacts/ArtifactStore.ts"
import * as Auth from "../auth/Auth.ts"
import { DashboardReadFailed } from "../dashboard/Dashboard.ts"
import { ChainIndexFailed } from "../governance/ChainIndex.ts"
import * as Rejections from "../limits/Rejections.ts"
import * as ModelStore from "../models/ModelStore.ts"
import * as Sql from "../store/Sql.ts"
import * as LossySpent from "../testing/LossySpent.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as Policy from "./Policy.ts"
import * as Roles from "./Roles.ts"
import * as Server from "./Server.ts"
import * as Sessions from "./Sessions.ts"

const dir = mkdtempSync(join(tmpdir(), "jointly-handler-refusals-"))
const server = createServer()
let url: string
let sql: Sql.Sql
let attached: { close: () => Promise<void> }
const rejections = Rejections.make()
const party = Wallet.createRandom()
const outsider = Wallet.createRandom()
/** A member holding a grant on chain to predict with the model (the only account the stub grant reads answer for). */
const grantee = Wallet.createRandom()
const grantToken = `0x${"ef".repeat(32)}`
/** Grant reads on chain answered before the chain stops answering them; whether the chain index answers. */
let grantReadsLeft = Number.POSITIVE_INFINITY
/** The sign-in nonce store, whose next spend a test may have recorded and then fail (its answer lost). */
const nonceStore = LossySpent.make()
let indexUp = true
const tokens: Record<string, string> = {}
/** What the stub relay answers a dashboard token sign-in (undefined: the participant is not connected; an Error: the relay rejects). */
let relayAnswer: DashboardSignInAck | Error | undefined
const quotaBytes = 64
const taskId = `0x${"cd".repeat(32)}`
let modelId: string
/** An account whose DID names a login key, and whether the chain (role reads, DID registry) answers. */
const delegating = Wallet.createRandom()
const loginKey = Wallet.createRandom()
let chainUp = true
/** Statements the stores' database answers before it fails every one (a full disk: refused, not unreachable). */
let storeQueriesLeft = Number.POSITIVE_INFINITY
const failing = (sql: Sql.Sql): Sql.Sql => {
  const query: Sql.Sql["query"] = (text, params) => storeQueriesLeft-- <= 0 ? Promise.reject(new Error("could not write block: No space left on device")) : sql.query(text, params)
  return { ...sql, query, transaction: (body) => sql.transaction((tx) => body({ ...tx, query: (text, params) => storeQueriesLeft-- <= 0 ? Promise.reject(new Error("could not write block: No space left on device")) : tx.query(text, params) })) }
}
const chainRead = async <A>(value: A): Promise<A> => {
  if (!chainUp) throw new Error("connect ECONNREFUSED 127.0.0.1:8545")
  return value
}

const call = async (method: string, path: string, options: { token?: string; body?: unknown } = {}) => {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined }
}

beforeAll(async () => {
  sql = await Sql.openPglite(join(dir, "store"))
  const stores = failing(sql)
  const store = await Effect.runPromise(TaskStore.make(stores))
  const models = ModelStore.make(stores)
  const artifacts = ArtifactStore.make(stores)
  const spec = { kind: "statistics.horizontal", initiator: party.address, nonce: "refusals", parties: [{ participant: party.address, dataset: "pima" }], params: {} } as unknown as TaskSpec
  await Effect.runPromise(store.insert(taskId, spec, taskId, [party.address], "test"))
  modelId = await Effect.runPromise(models.put({ format: "linear", weights: [0.01, -0.02], bias: 0.5, link: "sigmoid", featureColumns: ["glucose", "mass"] }, { taskId }))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  attached = Server.attach({
    server,
    limits: { artifactQuotaBytes: quotaBytes },
    store,
    scheduler: {} as never,
    models,
    artifacts,
    parts: {
      chain: { chainId: "31337", coordinator: party.address, registry: party.address, ledger: party.address },
      socketNonce: () => ({ nonce: "0x00", expiresAt: 0 }),
      sessions: Sessions.make({
        expected: () => ({ domain: new URL(url).host, uri: url, chainId: 31337 }),
        spent: nonceStore.spent,
        loginSigners: Auth.didKeysOf((account) => chainRead(new Set(account === delegating.address ? [account, loginKey.address] : [account])))
      }),
      roles: Roles.make({
        orgOf: (a) => Roles.chainRead(a, () => chainRead({ state: "Audited", name: "ACME" })),
        isSupervisor: (a) => Roles.chainRead(a, () => chainRead(false)),
        isOperator: (a) => Roles.chainRead(a, () => chainRead(false))
      }),
      policy: Policy.make({
        store,
        models,
        artifacts,
        sql,
        // The model published for grants by its trainer, found in the index by its content hash (= model id).
        index: {
          byContentHash: (hash: string) =>
            indexUp
              ? Effect.succeed(hash === modelId ? [{ owner: party.address, datasetId: `0x${"0d".repeat(32)}` }] : [])
              : Effect.fail(new ChainIndexFailed({ operation: "byContentHash", detail: "the store connection was closed" }))
        } as never,
        governance: {
          latestGrant: async (_dataset: string, requester: string) => {
            if (grantReadsLeft-- <= 0) throw new Error("connect ECONNREFUSED 127.0.0.1:8545")
            return requester === grantee.address ? grantToken : undefined
          },
          checkGrant: () => chainRead("Valid"),
          getGrant: () => chainRead({ purpose: "predict", uses: 0, maxUses: 100 })
        } as never
      }),
      // The dashboard's files: one the file system refuses (a disk error), none other.
      dashboard: {
        file: (path: string) =>
          path === "/dashboard/app.js"
            ? Effect.fail(new DashboardReadFailed({ source: `file ${join(dir, "public", "app.js")}`, detail: "EIO: i/o error, read" }))
            : Effect.undefined
      } as never,
      humans: { list: () => [] } as never,
      relaySignIn: async () => {
        if (relayAnswer instanceof Error) throw relayAnswer
        return relayAnswer
      },
      bus: { publish: () => {}, subscribe: () => () => {} },
      rejections
    }
  })
  for (const [name, wallet] of Object.entries({ party, outsider, grantee })) {
    const client = ApiClient.make({ url, signer: wallet })
    await client.signIn()
    tokens[name] = client.token()!
  }
})

afterAll(async () => {
  await attached?.close()
  await new Promise((r) => server.close(r))
  await sql?.close()
  await removeDir(dir)
})

describe("handler refusals", () => {
  it("models: lists and predicts for a trainer, 404 UnknownModel for an unknown id, 400 InvalidRows for a short row", async () => {
    expect((await call("GET", "/api/models", { token: tokens.party })).body.models.map((m: { id: string }) => m.id)).toEqual([modelId])
    const meta = await call("GET", `/api/models/${modelId}`, { token: tokens.party })
    expect(meta).toMatchObject({ status: 200, body: { featureColumns: ["glucose", "mass"], trainers: [party.address] } })
    const unknown = `0x${"0".repeat(64)}`
    for (const path of [`/api/models/${unknown}`, `/api/models/${unknown}/weights`]) {
      expect(await call("GET", path, { token: tokens.party })).toMatchObject({ status: 404, body: { _tag: "UnknownModel" } })
    }
    const predicted = await call("POST", `/api/models/${modelId}/predict`, { token: tokens.party, body: { rows: [[120, 30], { glucose: 80, mass: 40 }] } })
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))
    expect(predicted.status).toBe(200)
    expect(predicted.body.predictions.map((p: { prediction: number }) => p.prediction)).toEqual([sigmoid(0.01 * 120 - 0.02 * 30 + 0.5), sigmoid(0.01 * 80 - 0.02 * 40 + 0.5)].map((v) => expect.closeTo(v, 12)))
    const short = await call("POST", `/api/models/${modelId}/predict`, { token: tokens.party, body: { rows: [[120, 30], [120]] } })
    expect(short).toMatchObject({ status: 400, body: { _tag: "InvalidRows", message: expect.stringContaining("row 1") } })
    // Not a trainer and no grant on chain: the policy's refusal, before the handler.
    expect(await call("POST", `/api/models/${modelId}/predict`, { token: tokens.outsider, body: { rows: [[1, 2]] } })).toMatchObject({ status: 403, body: { _tag: "Forbidden", reason: "NoGrant" } })
  })

  it("models: a prediction under a grant is counted; a grant read the chain or the index does not answer is 503 Unavailable, nothing counted", async () => {
    const predict = () => call("POST", `/api/models/${modelId}/predict`, { token: tokens.grantee, body: { rows: [[120, 30]] } })
    const counted = async () => Number((await sql.query<{ n: string }>(`select count(*) as n from grant_predictions where token_id = $1`, [grantToken]))[0]!.n)
    expect(await predict()).toMatchObject({ status: 200, body: { modelId } })
    expect(await counted()).toBe(1)
    try {
      // The guard finds the grant; the handler's second look, to count the use, finds the chain gone.
      grantReadsLeft = 1
      expect(await predict()).toMatchObject({ status: 503, body: { _tag: "Unavailable", message: expect.stringContaining("(latestGrant)") } })
      grantReadsLeft = Number.POSITIVE_INFINITY
      // The index down: the guard cannot look for a grant at all.
      indexUp = false
      expect(await predict()).toMatchObject({ status: 503, body: { _tag: "Unavailable", message: expect.stringContaining("(byContentHash)") } })
    } finally {
      grantReadsLeft = Number.POSITIVE_INFINITY
      indexUp = true
    }
    expect(await counted()).toBe(1)
    expect(await predict()).toMatchObject({ status: 200 })
    expect(await counted()).toBe(2)
  })

  it("artifacts: 413 QuotaExceeded past the member's quota (a re-upload is free), 500 Tampered for altered bytes, 404 for none", async () => {
    const upload = (text: string) => call("POST", "/api/artifacts", { token: tokens.party, body: { codec: "raw", base64: Buffer.from(text).toString("base64") } })
    const first = await upload("a".repeat(40))
    expect(first.status).toBe(201)
    expect(await upload("b".repeat(40))).toMatchObject({ status: 413, body: { _tag: "QuotaExceeded", usedBytes: 40, quotaBytes } })
    expect(await upload("a".repeat(40))).toMatchObject({ status: 201, body: { cid: first.body.cid } })
    const read = await call("GET", `/api/artifacts/${first.body.cid}`, { token: tokens.party })
    expect(Buffer.from(read.body.base64, "base64").toString()).toBe("a".repeat(40))
    await sql.query(`update artifacts set bytes = $2 where cid = $1`, [first.body.cid, new TextEncoder().encode("c".repeat(40))])
    expect(await call("GET", `/api/artifacts/${first.body.cid}`, { token: tokens.party })).toMatchObject({ status: 500, body: { _tag: "Tampered" } })
    const other = first.body.cid.slice(0, -4) + (first.body.cid.endsWith("aaaa") ? "bbbb" : "aaaa")
    expect(await call("GET", `/api/artifacts/${other}`, { token: tokens.party })).toMatchObject({ status: 404, body: { _tag: "UnknownArtifact" } })
  })

  it("sign-in: 401 SignInRefused for another signer, a replayed nonce, an unconnected or refusing participant", async () => {
    const wallet = Wallet.createRandom()
    const challenge = async () => (await call("POST", "/api/auth/challenge", { body: { address: wallet.address } })).body.message as string
    const message = await challenge()
    expect(await call("POST", "/api/auth/sign-in", { body: { message, signature: await Wallet.createRandom().signMessage(message) } }))
      .toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "BadSignature" } })
    // The refused attempt spent the nonce.
    expect(await call("POST", "/api/auth/sign-in", { body: { message, signature: await wallet.signMessage(message) } }))
      .toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "UnknownNonce" } })
    const fresh = await challenge()
    expect(await call("POST", "/api/auth/sign-in", { body: { message: fresh, signature: await wallet.signMessage(fresh) } }))
      .toMatchObject({ status: 200, body: { address: wallet.address, roles: { member: true } } })

    const relayed = await challenge()
    const mac = `0x${"11".repeat(32)}`
    relayAnswer = undefined
    expect(await call("POST", "/api/auth/token-sign-in", { body: { message: relayed, mac } })).toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "Unreachable" } })
    // A relay that rejects (the socket dropped mid-ask) is the participant not answering, not a 500.
    relayAnswer = new Error("socket closed")
    expect(await call("POST", "/api/auth/token-sign-in", { body: { message: relayed, mac } }))
      .toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "Unreachable", message: expect.stringContaining("socket closed") } })
    const before = rejections.get("http.token")
    relayAnswer = { ok: false, detail: "wrong token" }
    expect(await call("POST", "/api/auth/token-sign-in", { body: { message: relayed, mac } })).toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "BadToken" } })
    expect(rejections.get("http.token")).toBe(before + 1)
    relayAnswer = { ok: true, signature: await wallet.signMessage(relayed) }
    expect(await call("POST", "/api/auth/token-sign-in", { body: { message: relayed, mac } })).toMatchObject({ status: 200, body: { address: wallet.address } })
  })

  it("sign-in while the chain does not answer: 503 Unavailable naming the DID or the roles, the nonce unspent, the same message good once it is back", async () => {
    const signIn = (message: string, signature: string) => call("POST", "/api/auth/sign-in", { body: { message, signature } })
    const challenge = async (address: string) => (await call("POST", "/api/auth/challenge", { body: { address } })).body.message as string
    const direct = Wallet.createRandom()
    const byLoginKey = await challenge(delegating.address)
    const byAccount = await challenge(direct.address)
    const attempts = [
      { message: byLoginKey, signature: await loginKey.signMessage(byLoginKey), address: delegating.address, cause: `the DID of ${delegating.address} could not be resolved` },
      { message: byAccount, signature: await direct.signMessage(byAccount), address: direct.address, cause: `the roles of ${direct.address} could not be read` }
    ]
    chainUp = false
    try {
      for (const a of attempts) {
        expect(await signIn(a.message, a.signature)).toMatchObject({ status: 503, body: { _tag: "Unavailable", message: expect.stringContaining(a.cause) } })
        // Still down: still unavailable, not a replay.
        expect(await signIn(a.message, a.signature)).toMatchObject({ status: 503, body: { _tag: "Unavailable" } })
      }
    } finally {
      chainUp = true
    }
    for (const a of attempts) {
      const back = await signIn(a.message, a.signature)
      expect(back).toMatchObject({ status: 200, body: { address: a.address, roles: { member: true } } })
      expect((await call("GET", "/api/auth/me", { token: back.body.token })).body.address).toBe(a.address)
      // Spent by the sign-in that succeeded.
      expect(await signIn(a.message, a.signature)).toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "UnknownNonce" } })
    }
  })

  it("sign-in whose nonce store fails while spending: 503 NonceUnsettled, asking for a new challenge, which is then good", async () => {
    const wallet = Wallet.createRandom()
    const challenge = async () => (await call("POST", "/api/auth/challenge", { body: { address: wallet.address } })).body.message as string
    const message = await challenge()
    nonceStore.failNextSpend()
    expect(await call("POST", "/api/auth/sign-in", { body: { message, signature: await wallet.signMessage(message) } }))
      .toMatchObject({ status: 503, body: { _tag: "NonceUnsettled", message: expect.stringContaining("ask for a new challenge") } })
    const fresh = await challenge()
    expect(await call("POST", "/api/auth/sign-in", { body: { message: fresh, signature: await wallet.signMessage(fresh) } })).toMatchObject({ status: 200, body: { address: wallet.address } })
  })

  it("reads whose store fails: 503 Unavailable naming the failure (in the guard or the handler), nothing changed, the same reads answered once it is back", async () => {
    const stored = await call("POST", "/api/artifacts", { token: tokens.party, body: { codec: "raw", base64: Buffer.from("kept").toString("base64") } })
    expect(stored.status).toBe(201)
    const reads = [`/api/tasks`, `/api/tasks/${taskId}`, `/api/tasks/${taskId}/result`, `/api/tasks/${taskId}/verify`, `/api/models`, `/api/models/${modelId}`, `/api/models/${modelId}/weights`, `/api/artifacts/${stored.body.cid}`]
    const rows = async () => (await sql.query<{ n: string }>(`select (select count(*) from tasks) + (select count(*) from models) + (select count(*) from artifacts) as n`))[0]!.n
    const before = await rows()
    try {
      storeQueriesLeft = 0
      for (const path of reads) {
        expect({ path, ...(await call("GET", path, { token: tokens.party })) }).toMatchObject({ path, status: 503, body: { _tag: "Unavailable", message: expect.stringContaining("No space left on device") } })
      }
      // The guard's read of the task answered, the handler's reads of its events not.
      storeQueriesLeft = 1
      expect(await call("GET", `/api/tasks/${taskId}`, { token: tokens.party })).toMatchObject({ status: 503, body: { _tag: "Unavailable", message: expect.stringContaining("No space left on device") } })
    } finally {
      storeQueriesLeft = Number.POSITIVE_INFINITY
    }
    expect(await rows()).toBe(before)
    for (const path of reads.filter((p) => !p.endsWith("/verify"))) expect({ path, status: (await call("GET", path, { token: tokens.party })).status }).toEqual({ path, status: 200 })
  })

  it("a dashboard file the file system does not give: 503 Unavailable naming it by its URL, not a defect", async () => {
    const refused = await call("GET", "/dashboard/app.js")
    expect(refused).toEqual({ status: 503, body: { _tag: "Unavailable", message: "the dashboard file /dashboard/app.js could not be read; try again later" } })
    expect(await call("GET", "/dashboard/none.js")).toEqual({ status: 404, body: undefined })
  })

  it("governance reads: 503 Unavailable on a coordinator without governance contracts", async () => {
    for (const path of ["/api/catalog", "/api/grants", "/api/model-requests"]) {
      expect(await call("GET", path, { token: tokens.party })).toMatchObject({ status: 503, body: { _tag: "Unavailable" } })
    }
  })
})
