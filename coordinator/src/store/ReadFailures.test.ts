/**
 * The stores' and the chain's reads fail with their own tagged errors, not as defects: the artifact store
 * (ArtifactStoreFailed), the model store (ModelStoreFailed), the chain index (ChainIndexFailed) over a real embedded
 * PostgreSQL (PGlite) that has been closed under them, and the role reader (RolesUnreadable) over a chain that
 * refuses, which reads again once the chain answers. The HTTP services answer them as the API says: an upload not
 * stored, a chain index read and a model or artifact read not made are 503 Unavailable, never a defect. The
 * access policy's grant reads on chain and its predictions table fail as PolicyReadFailed naming the operation; the
 * admission registry's org read as OrgUnreadable, which admission answers Unavailable. A prediction the model
 * runtime fails is typed too: a failed computation Unavailable, a model it cannot run Tampered.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Effect, Exit } from "effect"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ArtifactStore from "../artifacts/ArtifactStore.ts"
import * as Auth from "../auth/Auth.ts"
import * as ChainIndex from "../governance/ChainIndex.ts"
import * as Policy from "../http/Policy.ts"
import * as Roles from "../http/Roles.ts"
import * as Services from "../http/Services.ts"
import * as Log from "../Log.ts"
import * as ModelStore from "../models/ModelStore.ts"
import { ModelRuntimeError, type ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Sql from "./Sql.ts"
import * as TaskStore from "./TaskStore.ts"

const dir = mkdtempSync(join(tmpdir(), "jointly-read-failures-"))
let sql: Sql.Sql
let artifacts: ArtifactStore.ArtifactStore
let models: ModelStore.ModelStore
let index: ChainIndex.ChainIndex
let stored: string
let memberRowRefused: unknown
const linear = { format: "linear", weights: [0.5], bias: 0, link: "identity", featureColumns: ["x"] }
const tfjs = { format: "tfjs-layers", topology: {}, weightShapes: [[1, 1], [1]], weights: Buffer.from(new Float32Array([0.5, 0]).buffer).toString("base64"), featureColumns: ["x"] }
const predictRefused: Record<string, unknown> = {}

/** The failure of `effect`: a typed one (its tag), or "defect" when it died. */
const failureOf = async <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return { tag: "success" as const }
  const failure = Cause.findErrorOption(exit.cause)
  return failure._tag === "Some" ? { tag: failure.value._tag, error: failure.value } : { tag: "defect" as const }
}

beforeAll(async () => {
  sql = await Sql.openPglite(join(dir, "store"))
  await Effect.runPromise(TaskStore.make(sql))
  artifacts = ArtifactStore.make(sql)
  models = ModelStore.make(sql)
  index = ChainIndex.make({ sql, ledger: {} as never, deployBlock: 0n, log: Log.make("test-index") })
  stored = await Effect.runPromise(artifacts.putJson({ stored: true }))
  // While the database answers: the same calls succeed (so what fails below is the database, not the call).
  expect(await Effect.runPromise(models.put(linear))).toMatch(/^0x[0-9a-f]{64}$/)
  expect(await Effect.runPromise(index.search(""))).toEqual([])
  // A row not as the index writes it (addresses not a list) is decoded once at the read and refused there, typed.
  await sql.query(`insert into members(company_id, name, state, addresses, block) values ('0x01', 'an org', 'Audited', '{"not": "a list"}', 1)`)
  memberRowRefused = await failureOf(index.members())
  // A tfjs model whose runtime fails: typed by why, the store's database answering (it is not what fails here).
  for (const reason of ["ComputeFailed", "InvalidModel"] as const) {
    const runtime = { predict: () => Effect.fail(new ModelRuntimeError({ reason, detail: "test: the runtime refused" })) } as unknown as ModelRuntimeApi
    const service = await Effect.runPromise(Effect.provide(Effect.service(Services.Models), Services.Models.layer(ModelStore.make(sql, { runtime: async () => runtime }))))
    const id = await Effect.runPromise(models.put(tfjs))
    predictRefused[reason] = await failureOf(service.predict(id, [[1]]))
  }
  await sql.close()
}, 60_000)

afterAll(() => removeDir(dir))

describe("typed read and write failures", () => {
  it("the artifact store: ArtifactStoreFailed naming the operation, for reads and writes", async () => {
    for (const [operation, effect] of [
      ["get", artifacts.get(stored)],
      ["raw", artifacts.raw(stored)],
      ["about", artifacts.about(stored)],
      ["usage", artifacts.usage(Wallet.createRandom().address)],
      ["putOwned", artifacts.putOwned(new Uint8Array([1, 2, 3]), "raw", Wallet.createRandom().address, 1_000)],
      ["put", artifacts.putJson({ other: 1 })],
      ["link", artifacts.link(`0x${"ab".repeat(32)}`, "result", stored, "0x00")],
      ["byTask", artifacts.byTask(`0x${"ab".repeat(32)}`)]
    ] as const) {
      expect(await failureOf(effect as Effect.Effect<unknown, { readonly _tag: string }>), operation).toMatchObject({ tag: "ArtifactStoreFailed", error: { operation } })
    }
  })

  it("the model store: ModelStoreFailed for a put and a read the database did not answer; Tampered before any write", async () => {
    expect(await failureOf(models.put({ ...linear, bias: 1 }))).toMatchObject({ tag: "ModelStoreFailed", error: { operation: "put" } })
    expect(await failureOf(models.get(`0x${"0".repeat(64)}`))).toMatchObject({ tag: "ModelStoreFailed", error: { operation: "get" } })
    expect(await failureOf(models.list())).toMatchObject({ tag: "ModelStoreFailed", error: { operation: "list" } })
    // Not a model: refused as Tampered without reaching the (closed) database.
    expect(await failureOf(models.put({ format: "linear", weights: "nope" }))).toMatchObject({ tag: "Tampered" })
  })

  it("a prediction the model runtime failed: a computation 503 Unavailable, a model it cannot run Tampered (500), named, not a defect", () => {
    expect(predictRefused["ComputeFailed"]).toMatchObject({ tag: "Unavailable", error: { message: expect.stringContaining("the model store failed (predict): model runtime: ComputeFailed: test: the runtime refused") } })
    expect(predictRefused["InvalidModel"]).toMatchObject({ tag: "Tampered", error: { message: expect.stringMatching(/^model 0x[0-9a-f]{64} cannot be run: model runtime: InvalidModel: test: the runtime refused$/) } })
  })

  it("the chain index: ChainIndexFailed, which the API's governance routes answer as 503 Unavailable", async () => {
    expect(memberRowRefused).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "members", detail: expect.stringContaining("not as the index wrote it") } })
    expect(await failureOf(index.search("oncology"))).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "search" } })
    expect(await failureOf(index.members())).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "members" } })
    const query = Services.querier(Effect.succeed(index))
    expect(await failureOf(query((i) => i.grants()))).toMatchObject({ tag: "Unavailable", error: { message: expect.stringContaining("the chain index could not be read (grants)") } })
  })

  it("the chain index following the chain: start and sync fail as ChainIndexFailed when the chain or the store does not answer", async () => {
    const log = Log.make("test-index", "error")
    const chainDown = ChainIndex.make({ sql, ledger: { blockNumber: () => Promise.reject(new Error("connect ECONNREFUSED (test: the chain is down)")) } as never, deployBlock: 0n, log })
    expect(await failureOf(chainDown.start())).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "start", detail: expect.stringContaining("ECONNREFUSED") } })
    expect(await failureOf(chainDown.sync())).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "sync", detail: expect.stringContaining("ECONNREFUSED") } })
    // The chain answers, the store (closed) does not: the cursor is not read.
    const storeDown = ChainIndex.make({ sql, ledger: { blockNumber: async () => 5n } as never, deployBlock: 0n, log })
    expect(await failureOf(storeDown.start())).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "start" } })
    expect(await failureOf(storeDown.sync())).toMatchObject({ tag: "ChainIndexFailed", error: { operation: "sync" } })
    expect(await failureOf(storeDown.stop())).toEqual({ tag: "success" })
  })

  it("the access policy: PolicyReadFailed naming the grant read or the predictions table, answered as Unavailable", async () => {
    const policy = Policy.make({ store: { get: () => Effect.succeed(undefined) }, sql })
    expect(await failureOf(policy.predictions())).toMatchObject({ tag: "PolicyReadFailed", error: { operation: "predictions" } })
    const grant = { tokenId: "0x" + "01".repeat(32), maxUses: 5, used: 0 }
    expect(await failureOf(policy.countUse(grant, "0x" + "02".repeat(32), Wallet.createRandom().address, 1))).toMatchObject({ tag: "PolicyReadFailed", error: { operation: "recordPrediction" } })
    // A catalogue entry of the model by its trainer, then a chain that does not answer the grant read.
    const trainer = Wallet.createRandom().address
    const entries = [{ owner: trainer, datasetId: "0x" + "03".repeat(32) }]
    const refusingChain = Policy.make({
      store: { get: () => Effect.succeed(undefined) },
      sql,
      index: { byContentHash: () => Effect.succeed(entries) } as never,
      governance: { latestGrant: () => Promise.reject(new Error("connect ECONNREFUSED (test: the chain is down)")) } as never
    })
    const refused = await failureOf(refusingChain.modelGrant(Wallet.createRandom().address, "0x" + "02".repeat(32), [trainer]))
    expect(refused).toMatchObject({ tag: "PolicyReadFailed", error: { operation: "latestGrant", detail: expect.stringContaining("ECONNREFUSED") } })
    expect(Services.unavailable(refused.error as Policy.PolicyReadFailed)).toMatchObject({ _tag: "Unavailable", message: expect.stringContaining("(latestGrant)") })
  })

  it("the HTTP services: an upload not stored and an artifact read not made are Unavailable (503), not a defect", async () => {
    const service = await Effect.runPromise(Effect.provide(Effect.service(Services.Artifacts), Services.Artifacts.layer(artifacts)))
    expect(await failureOf(service.putOwned(new Uint8Array([4]), "raw", Wallet.createRandom().address, 1_000))).toMatchObject({ tag: "Unavailable", error: { message: expect.stringContaining("nothing was stored") } })
    expect(await failureOf(service.get(stored))).toMatchObject({ tag: "Unavailable", error: { message: expect.stringContaining("artifact store") } })
  })

  it("the admission registry: OrgUnreadable naming the account, answered by checkOrg as the refusal Unavailable", async () => {
    const registry = Auth.registryOf(() => Promise.reject(new Error("connect ECONNREFUSED (test: the chain is down)")))
    const account = Wallet.createRandom().address
    expect(await failureOf(registry.orgOf(account))).toMatchObject({ tag: "OrgUnreadable", error: { address: account, detail: expect.stringContaining("ECONNREFUSED") } })
    const auth = Auth.make(registry, { recover: () => account })
    expect(await failureOf(auth.checkOrg(account))).toMatchObject({ tag: "AdmissionRefused", error: { code: "Unavailable", detail: expect.stringContaining(`the chain could not be read for ${account}`) } })
  })

  it("the admission's DID reads: DidUnresolved naming the account, answered by admit as the refusal Unavailable, the nonce unspent", async () => {
    const account = Wallet.createRandom().address
    const loginKey = Wallet.createRandom().address
    const didDown = Auth.didKeysOf<never>(() => Promise.reject(new Error("connect ECONNREFUSED (test: the DID registry is down)")))
    expect(await failureOf(didDown(account))).toMatchObject({ tag: "DidUnresolved", error: { account, detail: expect.stringContaining("ECONNREFUSED") } })
    const registry = { orgOf: () => Effect.succeed({ state: "Audited" as const, name: "ACME" }) }
    const login = (auth: ReturnType<typeof Auth.make>) => ({ account, nonce: auth.issueNonce().nonce, issuedAt: Math.floor(Date.now() / 1000), signature: "0x" })
    // A login signed by a login key: only the DID can say whether it counts.
    const byLoginKey = Auth.make(registry, { recover: () => loginKey }, { loginSigners: didDown })
    const first = login(byLoginKey)
    expect(await failureOf(byLoginKey.admit(first))).toMatchObject({ tag: "AdmissionRefused", error: { code: "Unavailable", detail: expect.stringContaining(`the DID of ${account} could not be resolved: connect ECONNREFUSED`) } })
    // Nothing spent: the same Login is refused for the same reason, not as a nonce already used.
    expect(await failureOf(byLoginKey.admit(first))).toMatchObject({ tag: "AdmissionRefused", error: { code: "Unavailable" } })
    // A client certificate presented: only the DID can say whether it is the org's.
    const byCertificate = Auth.make(registry, { recover: () => account }, { tlsClientKeys: didDown })
    expect(await failureOf(byCertificate.admit(login(byCertificate), { clientKey: "ab".repeat(32) }))).toMatchObject({ tag: "AdmissionRefused", error: { code: "Unavailable", detail: expect.stringContaining(`the DID of ${account} could not be resolved`) } })
  })

  it("roles: RolesUnreadable while the chain refuses, nothing cached, and read again once it answers", async () => {
    let up = false
    const chain = async <A>(value: A) => {
      if (!up) throw new Error("connect ECONNREFUSED")
      return value
    }
    const roles = Roles.make({
      orgOf: (a) => Roles.chainRead(a, () => chain({ state: "Audited", name: "ACME" })),
      isSupervisor: (a) => Roles.chainRead(a, () => chain(false)),
      isOperator: (a) => Roles.chainRead(a, () => chain(false))
    })
    const account = Wallet.createRandom().address
    expect(await failureOf(roles.of(account))).toMatchObject({ tag: "RolesUnreadable", error: { address: account, message: expect.stringContaining("ECONNREFUSED") } })
    up = true
    expect(await Effect.runPromise(roles.of(account))).toMatchObject({ member: true, org: "ACME" })
  })

  it("roles: a chain read's own typed failure is the caller's RolesUnreadable as it was raised, one read for concurrent callers, nothing cached", async () => {
    let reads = 0
    let up = false
    const account = Wallet.createRandom().address
    const roles = Roles.make({
      orgOf: (a) =>
        Effect.suspend(() => {
          reads++
          return up ? Effect.succeed({ state: "Suspended", name: "ACME" }) : Effect.fail(new Roles.RolesUnreadable({ address: a, detail: "the registry contract reverted" }))
        }),
      isSupervisor: () => Effect.succeed(false),
      isOperator: () => Effect.succeed(true)
    })
    const failed = await Promise.all([failureOf(roles.of(account)), failureOf(roles.of(account))])
    for (const f of failed) expect(f).toMatchObject({ tag: "RolesUnreadable", error: { address: account, detail: "the registry contract reverted" } })
    expect(reads).toBe(1)
    expect(roles.cached(account)).toBeUndefined()
    up = true
    expect(await Effect.runPromise(roles.of(account))).toEqual({ member: false, supervisor: false, operator: true, orgState: "Suspended", org: "ACME" })
    expect(reads).toBe(2)
  })
})

