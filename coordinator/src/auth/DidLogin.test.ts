/**
 * did:ethr identity over the real chain (anvil) and the real coordinator socket: an org publishes a login key and
 * an encryption key in the ERC-1056 registry deployed with the other contracts, `ethr-did-resolver` reads them
 * back, the coordinator admits a participant whose Login that key signs, and after a rotation on chain the old key
 * is refused at the next handshake while the new one is admitted. Consent keys (`veriKey` delegates) sign an org's
 * task consents: the coordinator and TaskLedger take one its DID names, refuse one never published for it, expired
 * or revoked, and the audit checks a consent against the DID as of the consent's block. A participant process whose
 * config names a consent key and a login key (encrypted key files beside it) signs with them, `jointly verify`
 * accepts its consents as the DID's, and after `jointly did revoke-consent-key` it refuses to start with that key.
 */
import { randomUUID } from "node:crypto"
import * as https from "node:https"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { Signature, Wallet, encodeBytes32String, solidityPackedKeccak256, toBeHex } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiClient from "@jointly/core/internal/api/Client"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import * as Chain from "@jointly/core/internal/ledger/Chain"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import * as DidRegistry from "@jointly/core/internal/ledger/generated/DidRegistry"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import * as Agent from "@jointly/participant/internal/Agent"
import * as DelegateKeys from "@jointly/participant/internal/keystore/DelegateKeys"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import type { WireError } from "@jointly/core/internal/wire/Messages"
import { fundAccounts } from "../chain/Anvil.ts"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import * as Consortium from "../local/Consortium.ts"
import * as ConsentKeys from "../audit/ConsentKeys.ts"
import * as Cli from "../testing/Cli.ts"
import * as Verify from "../audit/Verify.ts"
import * as VerifySources from "../audit/VerifySources.ts"
import * as F from "../testing/fixtures.ts"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Coordinator from "../Coordinator.ts"
import * as ClientCertificates from "./ClientCertificates.ts"

const freshWallet = () => new Wallet(Wallet.createRandom().privateKey)
const year = 365n * 86_400n
/** The order n of secp256k1 (SEC 2 §2.4.1): a low-s signature (r, s) has the high-s twin (r, n − s). */
const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let chain: Chain.ChainClient
let registry: string
const org = freshWallet()
/** Another member: the second party of the consent tests' tasks (never online), and a DID of its own. */
const other = freshWallet()

const agentWith = (loginKey: Wallet, consentKey?: Wallet) =>
  Agent.start({
    coordinatorUrl: cluster.coordinatorUrl,
    wallet: org,
    loginKey,
    ...(consentKey === undefined ? {} : { consentKey }),
    datasets: [],
    compute: "inline",
    policy: () => ({ decision: "reject", reason: "identity test" })
  })
/** How the handshake ends for a participant of `org` whose Login `loginKey` signs. */
const handshake = async (loginKey: Wallet) => {
  const agent = await agentWith(loginKey)
  try {
    return await agent.connected.then(() => "admitted" as const, (error: unknown) => error)
  } finally {
    await agent.close()
  }
}

/** How the HTTP API's sign-in (EIP-4361) for `org` ends when `loginKey` signs it: the session's account, or the refusal. */
const httpSignIn = (loginKey: Wallet) =>
  ApiClient.make({ url: cluster.coordinatorUrl, signer: { getAddress: async () => org.address, signMessage: (message) => loginKey.signMessage(message) } })
    .signIn().then((account) => account, (error: unknown) => error)

/**
 * A task for `org` alone, answered by its participant whose consents `consentKey` signs: "recorded" once the
 * (rejecting) consent is kept and the task Rejected, or the wire.error the coordinator answered with.
 */
const consentBy = async (consentKey: Wallet) => {
  const agent = await agentWith(org, consentKey)
  const errors: Array<WireError> = []
  agent.on((event) => void (event.type === "wire-error" && errors.push(event.error)))
  try {
    await agent.connected
    const parties = [org, other].map((w) => ({ participant: w.address, dataset: "none" }))
    const id = await cluster.submit({ kind: "statistics.horizontal", parties: parties as never, params: { columns: ["x"], statistics: ["count"] } })
    const outcome = await F.eventually(async () => {
      const refusal = errors.find((e) => e.ref === "task.consent")
      if (refusal !== undefined) return refusal
      return (await cluster.task(id)).status === "Rejected" ? "recorded" as const : undefined
    }, `task ${id} answered`, 30_000)
    return { id, outcome, task: await cluster.task(id) }
  } finally {
    await agent.close()
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-did-"))
  const pima = await F.pimaParties(dir, ["north", "south"])
  // south's process is started by its test, once its config names the delegated keys.
  cluster = await starter.start({ dataDir: join(dir, "cluster"), parties: pima.parties.map((p) => (p.name === "south" ? { ...p, external: true } : p)) })
  registry = cluster.deployment.suite!.didRegistry!
  chain = await Chain.make({ rpcUrl: cluster.rpcUrl, confirmations: 1 })
  await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, {
    name: `DID Bank ${randomUUID()}`,
    wallet: org,
    encryptionPublicKey: org.signingKey.compressedPublicKey
  }, true)
  await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: `DID Shop ${randomUUID()}`, wallet: other, encryptionPublicKey: other.signingKey.compressedPublicKey }, true)
}, 180_000)

afterAll(async () => {
  await chain?.close()
  await starter.stop()
  await removeDir(dir)
})

const cli = Cli.run

const stop = async (party: LocalCluster.Party) => {
  if (party.process === undefined || party.process.exitCode !== null || party.process.signalCode !== null) return
  const exited = new Promise((resolve) => party.process.once("exit", resolve))
  party.process.kill("SIGTERM")
  await exited
}

describe("did:ethr identity on the consortium chain", () => {
  it("is deployed with the other contracts, and a fresh account's DID document names only the account", async () => {
    expect(registry).toMatch(/^0x[0-9a-fA-F]{40}$/)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const keys = await resolver.resolve(org.address)
    expect(keys.did).toBe(`did:ethr:0x7a69:${org.address}`)
    expect([...keys.loginSigners]).toEqual([org.address])
    expect(keys.encryptionKeys).toEqual([])
  })

  it("publishes, resolves and rotates login and encryption keys; only the DID's controller may change them", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const first = freshWallet()
    const encryption = [freshWallet(), freshWallet()].map((w) => w.signingKey.compressedPublicKey)

    await controller.addLoginKey(first.address, year)
    await controller.addEncryptionKey(encryption[0]!, year)
    let keys = await resolver.resolve(org.address)
    expect(keys.loginSigners).toEqual(new Set([org.address, first.address]))
    expect(keys.encryptionKeys).toEqual([encryption[0]!.toLowerCase()])

    await controller.addEncryptionKey(encryption[1]!, year)
    await controller.revokeEncryptionKey(encryption[0]!)
    keys = await resolver.resolve(org.address)
    expect(keys.encryptionKeys).toEqual([encryption[1]!.toLowerCase()])
    // The on-chain delegate check agrees with the resolver.
    const view = DidRegistry.connect(registry, chain.provider)
    expect(await view.validDelegate(org.address, encodeBytes32String("sigAuth"), first.address)).toBe(true)

    // Another account cannot add a key to this DID.
    const intruder = freshWallet()
    await fundAccounts(cluster.rpcUrl, [intruder.address])
    const forged = DidIdentity.makeController(chain, chain.signer(intruder.privateKey), registry, org.address)
    await expect(forged.addLoginKey(intruder.address, year)).rejects.toMatchObject({ _tag: "ChainError" })
    keys = await resolver.resolve(org.address)
    expect(keys.loginSigners.has(intruder.address)).toBe(false)
    await controller.revokeLoginKey(first.address)
  })

  it("takes a change signed off chain by the DID's controller from any relayer, once (ERC-1056 signed variants)", async () => {
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const view = DidRegistry.connect(registry, chain.provider)
    const delegate = freshWallet()
    const sigAuth = encodeBytes32String("sigAuth")
    const nonce = await view.nonce(org.address)
    const digest = solidityPackedKeccak256(
      ["bytes1", "bytes1", "address", "uint256", "address", "string", "bytes32", "address", "uint256"],
      ["0x19", "0x00", registry, nonce, org.address, "addDelegate", sigAuth, delegate.address, year]
    )
    const sig = Signature.from(org.signingKey.sign(digest))
    const relayer = freshWallet()
    await fundAccounts(cluster.rpcUrl, [relayer.address])
    // Its malleable twin (s → n − s, v flipped) recovers the same signer with ecrecover alone; OpenZeppelin's ECDSA
    // refuses it, so it does not spend the nonce and the genuine signature still counts.
    const malleated = [org.address, sig.v === 27 ? 28 : 27, sig.r, toBeHex(secp256k1Order - BigInt(sig.s), 32), sigAuth, delegate.address, year]
    await expect(
      chain.send(chain.signer(relayer.privateKey), { to: registry, data: DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", malleated) }, "test.malleated")
    ).rejects.toMatchObject({ _tag: "ChainError" })
    const data = DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", [org.address, sig.v, sig.r, sig.s, sigAuth, delegate.address, year])
    await chain.send(chain.signer(relayer.privateKey), { to: registry, data }, "test.addDelegateSigned")
    expect((await resolver.resolve(org.address)).loginSigners.has(delegate.address)).toBe(true)
    // The nonce moved: the same signature replayed is refused, and a signature by anyone else never counts.
    await expect(chain.send(chain.signer(relayer.privateKey), { to: registry, data }, "test.replay")).rejects.toMatchObject({ _tag: "ChainError" })
    const forged = Signature.from(relayer.signingKey.sign(digest))
    const forgedData = DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", [org.address, forged.v, forged.r, forged.s, sigAuth, relayer.address, year])
    await expect(chain.send(chain.signer(relayer.privateKey), { to: registry, data: forgedData }, "test.forged")).rejects.toMatchObject({ _tag: "ChainError" })
    await DidIdentity.makeController(chain, chain.signer(org.privateKey), registry).revokeLoginKey(delegate.address)
    expect((await resolver.resolve(org.address)).loginSigners.has(delegate.address)).toBe(false)
  })

  it("admits a Login and an HTTP sign-in signed by a published login key, and refuses both at the next attempt once rotated away", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const before = freshWallet()
    const after = freshWallet()
    const never = freshWallet()

    expect(await handshake(never)).toMatchObject({ _tag: "AdmissionRefused", code: "KeyNotAuthorized" })

    expect(await httpSignIn(never)).toMatchObject({ _tag: "SignInRefused", reason: "BadSignature" })

    await controller.addLoginKey(before.address, year)
    expect(await handshake(before)).toBe("admitted")
    // The HTTP API's sign-in for the org, signed by the login key: the token is the org's.
    expect(await httpSignIn(before)).toBe(org.address)

    await controller.rotateLoginKey(before.address, after.address, year)
    const refused = await handshake(before)
    expect(refused).toBeInstanceOf(Agent.AdmissionRefused)
    expect(refused).toMatchObject({ code: "KeyNotAuthorized", detail: expect.stringContaining(before.address) })
    expect(await httpSignIn(before)).toMatchObject({ _tag: "SignInRefused", reason: "BadSignature", message: expect.stringContaining(`signed by ${before.address}`) })
    expect(await handshake(after)).toBe("admitted")
    expect(await httpSignIn(after)).toBe(org.address)
    // The account key itself still signs for the org.
    expect(await handshake(org)).toBe("admitted")
  }, 60_000)

  it("takes a consent signed by a consent key the DID names, and refuses one never published, another member's, expired or revoked, recording nothing", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const [current, expiring, revoked, never, foreign] = [freshWallet(), freshWallet(), freshWallet(), freshWallet(), freshWallet()]
    // Another member publishes `foreign` as its own consent key: no use to `org`.
    await DidIdentity.makeController(chain, chain.signer(other.privateKey), registry).addConsentKey(foreign.address, year)
    await controller.addConsentKey(current.address, year)
    await controller.addConsentKey(revoked.address, year)
    await controller.revokeConsentKey(revoked.address)
    await controller.addConsentKey(expiring.address, 2n)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    // Login keys are not consent keys, nor the other way round.
    const keys = await resolver.resolve(org.address)
    expect(keys.consentSigners).toEqual(new Set([org.address, current.address, expiring.address]))
    expect(keys.loginSigners.has(current.address)).toBe(false)

    const accepted = await consentBy(current)
    expect(accepted.outcome).toBe("recorded")
    expect(accepted.task.consents).toMatchObject([{ participant: org.address, approve: false }])
    // The ledger took it too: the coordinator's audit finds the chain's consent and the store's alike.
    const audit = await F.eventually(async () => {
      const v = await cluster.client.verify(accepted.id)
      return v.pending === 0 ? v : undefined
    }, "the consent on chain", 30_000)
    expect(audit.checks.filter((c) => !c.ok)).toEqual([])
    expect(audit.checks.find((c) => c.name === `consent of ${org.address}: signature`)?.detail).toContain(`consent key of the participant's DID`)

    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const refusals = { never: "NeverPublished", foreign: "NeverPublished", revoked: "ExpiredOrRevoked", expiring: "ExpiredOrRevoked" } as const
    for (const [name, key] of Object.entries({ never, foreign, revoked, expiring })) {
      const refused = await consentBy(key)
      expect(refused.outcome, name).toMatchObject({ code: "KeyNotAuthorized", message: expect.stringContaining(`${refusals[name as keyof typeof refusals]}: ${key.address} is not a consent key of`) })
      expect(refused.task.status, name).toBe("AwaitingConsent")
      expect(refused.task.consents, name).toEqual([])
      await cluster.client.cancel(refused.id)
    }
  }, 120_000)

  it("audits a consent against the DID as of its block: a key revoked since still counts, a key not yet or never named is flagged", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const key = freshWallet()
    const before = await chain.provider.getBlockNumber()
    await controller.addConsentKey(key.address, year)
    const { id, outcome, task } = await consentBy(key)
    expect(outcome).toBe("recorded")
    const history = await F.eventually(async () => {
      const h = await cluster.supervisorLedger.taskHistory(id as `0x${string}`)
      return h.some((e) => e._tag === "ConsentRecorded") ? h : undefined
    }, "the consent on chain", 30_000)
    await controller.revokeConsentKey(key.address)
    const consentSigners = await ConsentKeys.fromLedger(chain.provider, chain.chainId, cluster.deployment.ledger)
    expect(consentSigners).toBeDefined()
    const domain = await cluster.supervisorLedger.domain()
    const stored: Verify.StoredTask = { id, spec: task.spec, status: task.status, result: null, resultDigest: null, events: [], consents: task.consents }
    /** The audit's verdict on the consent's signature, over `history` altered by `alter`. */
    const signatureCheck = async (alter: (e: Extract<typeof history[number], { _tag: "ConsentRecorded" }>) => object = (e) => e) => {
      const altered = history.map((e) => (e._tag === "ConsentRecorded" ? { ...e, ...alter(e) } : e))
      const checks = await Effect.runPromise(Verify.verify({ history: altered, task: stored }).pipe(
        Effect.provide(VerifySources.coordinatorStores({})),
        Effect.provideService(Verify.ChainSource, { domain, consentSigners: consentSigners! })
      ))
      return checks.find((c) => c.name === `consent of ${org.address}: signature`)
    }
    // Revoked after the consent: at the consent's block it was a consent key.
    expect(await signatureCheck()).toMatchObject({ ok: true, detail: expect.stringContaining(`by ${key.address}, a consent key`) })
    // The same signature dated before the key was published does not count.
    expect(await signatureCheck(() => ({ blockNumber: BigInt(before) }))).toMatchObject({ ok: false, detail: expect.stringContaining(`recovers ${key.address}, neither the participant nor a consent key`) })
    // A consent signed by a key the DID never named is flagged, whatever the block.
    const stranger = freshWallet()
    const forged = await Eip712.signConsent(stranger, domain, { taskId: id, specHash: id, approve: false, reasonHash: history.find((e) => e._tag === "ConsentRecorded")!.reasonHash })
    expect(await signatureCheck(() => ({ signature: forged }))).toMatchObject({ ok: false, detail: expect.stringContaining(`recovers ${stranger.address}, neither`) })
  }, 60_000)
})

describe("TLS client certificates bound to the DID", () => {
  let tlsCoordinator: Awaited<ReturnType<typeof Coordinator.start>>
  let ca: TestCa.TestCa
  const closing: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    const certs = join(dir, "certs")
    await mkdir(certs)
    ca = TestCa.make(certs)
    const server = ca.issue("coordinator", ["127.0.0.1"])
    // A second coordinator of the same deployment, over TLS, that asks every participant for a DID-named certificate.
    const ledger = await Consortium.ledgerFor(cluster.rpcUrl, cluster.keys.coordinator, cluster.deployment)
    const governance = await Consortium.governanceFor(cluster.rpcUrl, cluster.keys.coordinator, cluster.deployment)
    closing.push(() => ledger.close(), async () => governance?.close())
    tlsCoordinator = await Coordinator.start({ store: join(dir, "tls-store"), ledger, governance, host: "127.0.0.1", port: 0, tls: { cert: server.cert, key: server.key }, clientCertificates: true })
    closing.unshift(() => tlsCoordinator.close())
  }, 180_000)

  afterAll(async () => {
    for (const close of closing) await close()
  })

  /** How the handshake over TLS ends for `org` presenting `certificate` (none when undefined). */
  const tlsHandshake = async (certificate?: TestCa.Issued) => {
    const agent = await Agent.start({
      coordinatorUrl: tlsCoordinator.url,
      trust: { ca: ca.cert, ...(certificate === undefined ? {} : { clientCertificate: { cert: certificate.cert, key: certificate.key } }) },
      wallet: org,
      datasets: [],
      compute: "inline",
      policy: () => ({ decision: "reject", reason: "identity test" })
    })
    try {
      return await agent.connected.then(() => "admitted" as const, (error: unknown) => error)
    } finally {
      await agent.close()
    }
  }

  /** A JSON POST to the TLS coordinator's HTTP API, over a connection presenting `certificate` if given. */
  const tlsPost = (path: string, body: unknown, certificate?: TestCa.Issued) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const request = https.request(new URL(path, tlsCoordinator.url), {
        method: "POST",
        ca: ca.cert,
        ...(certificate === undefined ? {} : { cert: certificate.cert, key: certificate.key }),
        headers: { "content-type": "application/json" }
      }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }))
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end(JSON.stringify(body))
    })

  it("admits only a client certificate whose key the DID names: none and an unnamed one refused, the rotated-away one refused, the new one admitted; the HTTP sign-in of that account likewise, spending nothing when refused", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const [first, second] = [ca.issue("org-first", ["org"], "clientAuth"), ca.issue("org-second", ["org"], "clientAuth")]
    const [firstKey, secondKey] = [first, second].map((c) => ClientCertificates.spkiOfPem(c.cert))

    expect(await tlsHandshake()).toMatchObject({ _tag: "AdmissionRefused", code: "ClientCertificateMissing" })
    // Signed by the CA the coordinator itself trusts, but not named by the DID: refused all the same.
    expect(await tlsHandshake(first)).toMatchObject({ _tag: "AdmissionRefused", code: "ClientCertificateNotInDid" })

    await controller.addTlsClientKey(firstKey!, year)
    expect((await resolver.resolve(org.address)).tlsClientKeys).toEqual([firstKey])
    expect(await tlsHandshake(first)).toBe("admitted")

    await controller.rotateTlsClientKey(firstKey!, secondKey!, year)
    expect((await resolver.resolve(org.address)).tlsClientKeys).toEqual([secondKey])
    expect(await tlsHandshake(first)).toMatchObject({ _tag: "AdmissionRefused", code: "ClientCertificateNotInDid" })
    expect(await tlsHandshake(second)).toBe("admitted")

    // The HTTP API's sign-in asks the same of an account whose DID names certificates: its login key alone, or the
    // rotated-away certificate, gets no token; and a refusal spends nothing (the same signed message then succeeds).
    const { message } = (await tlsPost("/api/auth/challenge", { address: org.address })).body as { message: string }
    const signIn = { message, signature: await org.signMessage(message) }
    for (const certificate of [undefined, first]) {
      const refused = await tlsPost("/api/auth/sign-in", signIn, certificate)
      expect(refused, JSON.stringify(refused.body)).toMatchObject({ status: 401, body: { _tag: "SignInRefused", reason: "ClientCertificate" } })
    }
    expect(await tlsPost("/api/auth/sign-in", signIn, second)).toMatchObject({ status: 200, body: { address: org.address } })
    // An account whose DID names none (an analyst's wallet in a browser) signs in without one.
    const analyst = Wallet.createRandom()
    const challenge = (await tlsPost("/api/auth/challenge", { address: analyst.address })).body as { message: string }
    expect(await tlsPost("/api/auth/sign-in", { message: challenge.message, signature: await analyst.signMessage(challenge.message) })).toMatchObject({ status: 200, body: { address: analyst.address } })
  }, 60_000)
})

describe("a participant signing with the consent and login keys its DID names", () => {
  let south: LocalCluster.Party
  let passphrase: string
  const consentKey = new Wallet(Wallet.createRandom().privateKey)
  const loginKey = new Wallet(Wallet.createRandom().privateKey)
  const params: Params = { columns: ["glucose"], statistics: ["count", "sum"] }

  beforeAll(async () => {
    south = cluster.party("south")
    passphrase = (await readFile(join(south.dataDir, "passphrase"), "utf8")).trim()
    // The two keys in their own encrypted files beside the config, under the participant's passphrase.
    await AccountKeystore.save(join(south.dataDir, "consent-key.json"), consentKey.privateKey, passphrase, { scryptN: 1 << 12 })
    await AccountKeystore.save(join(south.dataDir, "login-key.json"), loginKey.privateKey, passphrase, { scryptN: 1 << 12 })
    const configFile = join(south.dataDir, "participant.json")
    const config = JSON.parse(await readFile(configFile, "utf8"))
    await writeFile(configFile, JSON.stringify({ ...config, consentKey: "consent-key.json", loginKey: "login-key.json" }, null, 2))
  })

  afterAll(async () => {
    if (south !== undefined) await stop(south)
  })

  const did = (action: string, key: string) => cli(["did", action, key, "--config", join(south.dataDir, "participant.json")], { JOINTLY_KEY_PASSPHRASE: passphrase })

  it("completes a task whose consent its consent key signed and `jointly verify` accepts; after revoke-consent-key it refuses to start and the coordinator refuses that key's consent", async () => {
    for (const [action, key] of [["add-consent-key", consentKey], ["add-login-key", loginKey]] as const) {
      const published = await did(action, key.address)
      expect(published.code, published.stderr).toBe(0)
    }
    await cluster.launch(south)

    const { id, detail } = await cluster.runTask("statistics.horizontal", { parties: ["north", "south"], dataset: "pima", params })
    expect((detail.result as Result).count).toBe(F.pima().rows.length)
    const consent = detail.consents.find((c) => c.participant === south.address)!
    const domain = await cluster.supervisorLedger.domain()
    // Signed by the consent key, not by the account.
    expect(Eip712.consentSigner(domain, { taskId: id, specHash: id, approve: true, reasonHash: reasonHash(consent.reason) }, consent.signature)).toBe(consentKey.address)

    const verified = await F.eventually(async () => {
      const r = await cli(["verify", id, "--url", cluster.coordinatorUrl, "--rpc-url", cluster.rpcUrl, "--json"], { JOINTLY_KEY: cluster.keys.analyst.privateKey })
      const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> }
      return report.checks.some((c) => c.name === `consent of ${south.address}: signature`) ? { r, report } : undefined
    }, "the consents on chain", 60_000)
    expect(verified.r.code, verified.r.stderr).toBe(0)
    expect(verified.report.ok).toBe(true)
    expect(verified.report.checks.find((c) => c.name === `consent of ${south.address}: signature`)?.detail).toContain(`by ${consentKey.address}, a consent key`)

    // Revoked on chain: the participant no longer starts with it.
    await stop(south)
    const revoked = await did("revoke-consent-key", consentKey.address)
    expect(revoked.code, revoked.stderr).toBe(0)
    const before = south.stderr.length
    await expect(cluster.launch(south)).rejects.toThrow(/exited with code 1 before it was ready/)
    const refusal = south.stderr.slice(before).map((line) => { try { return JSON.parse(line) } catch { return undefined } }).find((e) => e?.type === "refused")
    const chainId = (await cluster.supervisorLedger.domain()).chainId
    expect(refusal).toMatchObject({ code: "DelegateKeyNotInDid", role: "consent", key: consentKey.address, did: DidIdentity.didOf(chainId, south.address), reason: "ExpiredOrRevoked" })
    expect(refusal.message).toContain(`${consentKey.address} is not a current consent key of ${DidIdentity.didOf(chainId, south.address)}`)
    // The start check of a login key: the published one passes, one the DID never named is refused the same way.
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const southDid = DidIdentity.didOf(chain.chainId, south.address)
    await Effect.runPromise(DelegateKeys.check(resolver, southDid, south.address, { loginKey }))
    const stranger = freshWallet()
    expect(await Effect.runPromise(Effect.flip(DelegateKeys.check(resolver, southDid, south.address, { loginKey: stranger }))))
      .toMatchObject({ _tag: "DelegateKeyNotInDid", role: "login", key: stranger.address, did: southDid, reason: "NeverPublished" })

    // And a participant that signs with it all the same (the check skipped) has its consent refused, nothing recorded.
    const account = await cluster.walletOf("south")
    const agent = await Agent.start({ coordinatorUrl: cluster.coordinatorUrl, wallet: account, consentKey, loginKey, datasets: [], compute: "inline", policy: () => ({ decision: "reject", reason: "revoked key test" }) })
    try {
      const errors: Array<WireError> = []
      agent.on((event) => void (event.type === "wire-error" && errors.push(event.error)))
      await agent.connected
      const task = await cluster.submit({ kind: "statistics.horizontal", parties: [south, cluster.party("north")].map((p) => ({ participant: p.address, dataset: "pima" })) as never, params })
      const refused = await F.eventually(() => errors.find((e) => e.ref === "task.consent"), "the consent refused", 30_000)
      expect(refused).toMatchObject({ code: "KeyNotAuthorized", message: expect.stringContaining(`ExpiredOrRevoked: ${consentKey.address} is not a consent key of`) })
      expect((await cluster.task(task)).consents.some((c) => c.participant === south.address)).toBe(false)
      await cluster.client.cancel(task)
    } finally {
      await agent.close()
    }
  }, 180_000)
})
