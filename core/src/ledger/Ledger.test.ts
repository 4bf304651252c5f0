/**
 * The consortium registry and task ledger against real EVM nodes (no mocks), the whole suite once per node:
 * anvil and Hardhat's EDR node (coordinator/src/testing/EvmNode.ts; core has no process-spawning code of its own).
 * Accounts are funded by plain transfers, as on any network.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { JsonRpcProvider, keccak256, SigningKey, toUtf8Bytes, Wallet } from "ethers"
import { secp256k1 } from "@noble/curves/secp256k1.js"
import { nodeNames, revertOf, startNode, type EvmNode } from "@jointly/coordinator/internal/testing/EvmNode"
import * as DidIdentity from "../identity/DidIdentity.ts"
import * as Lifecycle from "../task/Lifecycle.ts"
import * as Eip712 from "./Eip712.ts"
import * as TaskLedger from "./generated/TaskLedger.ts"
import { layer, makeEthersLedger } from "./EthersLedger.ts"
import * as GovernanceLedger from "./GovernanceLedger.ts"
import {
  Ledger,
  ChainError,
  companyIdOf,
  newEventId,
  reasonHash,
  type Addresses,
  type LedgerClient
} from "./Ledger.ts"

describe.each(nodeNames)("on %s", (nodeName) => {
  let node: EvmNode
  let addresses: Addresses
  const keys = {
    supervisor: Wallet.createRandom().privateKey,
    coordinator: Wallet.createRandom().privateKey,
    acme: Wallet.createRandom().privateKey,
    acme2: Wallet.createRandom().privateKey,
    beta: Wallet.createRandom().privateKey,
    mallory: Wallet.createRandom().privateKey,
    newcomer: Wallet.createRandom().privateKey
  }
  type Name = keyof typeof keys
  const clients = {} as Record<Name, LedgerClient>

  const encKey = () => SigningKey.computePublicKey(Wallet.createRandom().signingKey.publicKey, true)

  /** A 33-byte 0x02||x whose x is not the abscissa of any secp256k1 point. */
  const offCurveKey = () => {
    for (let x = 1n; ; x++) {
      const hex = `0x02${x.toString(16).padStart(64, "0")}`
      try {
        secp256k1.Point.fromHex(hex.slice(2))
      } catch {
        return hex
      }
    }
  }

  /** The custom-error name a failed ledger call carried. */

  const bytes32 = (label: string) => keccak256(toUtf8Bytes(label))

  beforeAll(async () => {
    node = await startNode(nodeName)
    const wallets = Object.values(keys).map((k) => new Wallet(k).address)
    await node.fund(wallets)
    clients.supervisor = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor })
    const deployment = await clients.supervisor.deploy()
    addresses = deployment
    for (const name of Object.keys(keys) as Array<Name>) {
      if (name !== "supervisor" && name !== "newcomer") clients[name] = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys[name], addresses })
    }
    await clients.supervisor.setCoordinator(clients.coordinator.account)
  })

  afterAll(async () => {
    await Promise.all(Object.values(clients).filter((c) => c !== undefined).map((c) => c.close()))
    await node?.stop()
  })

  describe("ConsortiumRegistry", () => {
    it("refuses registration by the supervisor", async () => {
      expect(await revertOf(clients.supervisor.register({
        name: "Regulator Inc",
        registrationNumber: "R-1",
        encPubKey: encKey(),
        dossierHash: bytes32("d")
      }))).toBe("SupervisorCannotRegister")
    })

    it("takes a company through registration, audit, suspension and restoration", async () => {
      const key = encKey()
      const { companyId } = await clients.acme.register({
        name: "  Acme   GmbH ",
        registrationNumber: "HRB-1",
        encPubKey: key,
        dossierHash: bytes32("acme dossier")
      })
      expect(companyId).toBe(companyIdOf("ACME GMBH", "HRB-1"))
      const company = await clients.beta.getCompany(companyId)
      expect(company).toMatchObject({ name: "ACME GMBH", registrationNumber: "HRB-1", encPubKey: key, state: "ToAudit" })
      expect(company?.addresses).toEqual([clients.acme.account])
      expect(await clients.acme.isActive(clients.acme.account)).toBe(false)

      await clients.supervisor.setState(companyId, "Audited", reasonHash("dossier checked"))
      expect(await clients.beta.companyOf(clients.acme.account)).toMatchObject({ companyId, state: "Audited", active: true })
      await clients.supervisor.setState(companyId, "Suspended", reasonHash("late filing"))
      expect(await clients.acme.isActive(clients.acme.account)).toBe(false)
      await clients.supervisor.setState(companyId, "Audited", reasonHash("filed"))
      expect(await clients.acme.isActive(clients.acme.account)).toBe(true)
      // ToAudit -> Audited only once: Audited -> Audited is not a transition.
      expect(await revertOf(clients.supervisor.setState(companyId, "Audited"))).toBe("InvalidStateTransition")
    })

    it("lets only the supervisor change a company's state", async () => {
      const companyId = companyIdOf("Acme GmbH", "HRB-1")
      const failure = await clients.acme.setState(companyId, "Suspended").catch((e: unknown) => e)
      expect(failure).toBeInstanceOf(ChainError)
      const err = failure as ChainError
      expect(err.reason).toMatchObject({ _tag: "Reverted", errorName: "NotSupervisor", args: { caller: clients.acme.account } })
      expect(err.message).toContain("setState reverted with NotSupervisor")
    })

    it("binds a second address only when it asks, the company endorses and the supervisor approves (no name hijack)", async () => {
      const companyId = companyIdOf("Acme GmbH", "HRB-1")
      // The source's rule 4 would append mallory to the name; here the name is simply taken.
      expect(await revertOf(clients.mallory.register({
        name: "acme gmbh",
        registrationNumber: "HRB-1",
        encPubKey: encKey(),
        dossierHash: bytes32("x")
      }))).toBe("CompanyAlreadyRegistered")

      await clients.mallory.requestJoin(companyId)
      expect(await clients.beta.companyOf(clients.mallory.account)).toMatchObject({
        companyId: undefined,
        pendingJoin: companyId,
        joinEndorsedBy: undefined,
        active: false
      })
      // Neither the asking address nor a company address may bind it: only the supervisor, after the company's endorsement.
      expect(await revertOf(clients.mallory.endorseJoin(companyId, clients.mallory.account))).toBe("NotCompanyMember")
      expect(await revertOf(clients.acme.approveJoin(companyId, clients.mallory.account))).toBe("NotSupervisor")
      expect(await revertOf(clients.supervisor.approveJoin(companyId, clients.mallory.account))).toBe("JoinNotEndorsed")
      expect((await clients.beta.getCompany(companyId))?.addresses).not.toContain(clients.mallory.account)

      await clients.acme2.requestJoin(companyId)
      await clients.acme.endorseJoin(companyId, clients.acme2.account)
      expect(await clients.acme2.companyOf(clients.acme2.account)).toMatchObject({ pendingJoin: companyId, joinEndorsedBy: clients.acme.account, active: false })
      // Never while the company is suspended: the endorsed join waits for the company's restoration.
      await clients.supervisor.setState(companyId, "Suspended", reasonHash("audit finding"))
      expect(await revertOf(clients.supervisor.approveJoin(companyId, clients.acme2.account))).toBe("CompanyNotAudited")
      expect(await revertOf(clients.acme.endorseJoin(companyId, clients.acme2.account))).toBe("CompanyNotAudited")
      await clients.supervisor.setState(companyId, "Audited", reasonHash("resolved"))
      await clients.supervisor.approveJoin(companyId, clients.acme2.account)
      expect(await clients.acme2.companyOf(clients.acme2.account)).toMatchObject({ companyId, active: true, pendingJoin: undefined })
      expect(await clients.mallory.isActive(clients.mallory.account)).toBe(false)

      // One address, one company: a bound address can neither register nor join elsewhere.
      expect(await revertOf(clients.acme2.register({
        name: "Other",
        registrationNumber: "O-1",
        encPubKey: encKey(),
        dossierHash: bytes32("o")
      }))).toBe("AddressAlreadyBound")

      await clients.acme2.removeAddress(companyId, clients.acme2.account)
      expect(await clients.acme2.isActive(clients.acme2.account)).toBe(false)
      expect(await revertOf(clients.acme.removeAddress(companyId, clients.acme.account))).toBe("LastAddress")
      // acme2 is re-admitted for the task tests below.
      await clients.acme2.requestJoin(companyId)
      await clients.acme.endorseJoin(companyId, clients.acme2.account)
      await clients.supervisor.approveJoin(companyId, clients.acme2.account)
      expect(await clients.acme2.isActive(clients.acme2.account)).toBe(true)
    })

    it("takes no join into a company awaiting audit", async () => {
      const { companyId } = await clients.mallory.register({ name: "Pending Ltd", registrationNumber: "P-1", encPubKey: encKey(), dossierHash: bytes32("p") })
      const newcomer = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.newcomer, addresses })
      try {
        expect(await revertOf(newcomer.requestJoin(companyId))).toBe("CompanyNotAudited")
      } finally {
        await newcomer.close()
      }
    })

    it("accepts only encryption keys on secp256k1", async () => {
      expect(await revertOf(clients.acme.setEncryptionKey(offCurveKey()))).toBe("InvalidEncryptionKey")
      const key = encKey()
      await clients.acme.setEncryptionKey(key)
      expect((await clients.beta.getCompany(companyIdOf("Acme GmbH", "HRB-1")))?.encPubKey).toBe(key)
      expect(await revertOf(clients.acme.setEncryptionKey("0x1234"))).toBe("InvalidInput")
    })
  })

  describe("TaskLedger", () => {
    const specHash = bytes32("spec v1")
    let taskId: string

    beforeAll(async () => {
      const { companyId } = await clients.beta.register({
        name: "Beta Clinic",
        registrationNumber: "B-7",
        encPubKey: encKey(),
        dossierHash: bytes32("beta dossier")
      })
      await clients.supervisor.setState(companyId, "Audited")
    })

    const create = (id: string, participants = [clients.acme.account, clients.beta.account]) =>
      clients.coordinator.createTask({
        eventId: newEventId(),
        taskId: id,
        specHash,
        kind: "statistics.horizontal",
        initiator: clients.acme.account,
        participants
      })

    it("enforces exactly the lifecycle table of core/src/task/Lifecycle.ts", async () => {
      expect([...TaskLedger.Status]).toEqual([...Lifecycle.Status.literals])
      const provider = new JsonRpcProvider(node.rpcUrl)
      try {
        const contract = TaskLedger.connect(addresses.ledger, provider)
        const pairs = TaskLedger.Status.flatMap((from, i) => TaskLedger.Status.map((to, j) => ({ from, to, i, j })))
        const onChain = await Promise.all(pairs.map(({ i, j }) => contract.canTransition(i, j)))
        expect(pairs.map(({ from, to }, k) => [from, to, onChain[k]])).toEqual(
          pairs.map(({ from, to }) => [from, to, Lifecycle.canTransition(from, to)])
        )
      } finally {
        provider.destroy()
      }
    })

    it("accepts task writes from coordinators only, for active accounts only", async () => {
      expect(await revertOf(clients.acme.createTask({
        eventId: newEventId(),
        taskId: bytes32("t-rogue"),
        specHash,
        kind: "statistics.horizontal",
        initiator: clients.acme.account,
        participants: [clients.beta.account]
      }))).toBe("NotCoordinator")
      expect(await revertOf(create(bytes32("t-inactive"), [clients.beta.account, clients.mallory.account]))).toBe("InactiveAccount")
    })

    it("records a task's life exactly once per eventId and rebuilds it from logs", async () => {
      taskId = bytes32("task-1")
      const created = await create(taskId)
      expect(created.applied).toBe(true)

      const awaiting = { eventId: newEventId(), taskId, to: "AwaitingConsent" as const }
      const first = await clients.coordinator.transition(awaiting)
      const replay = await clients.coordinator.transition(awaiting)
      expect(first.applied).toBe(true)
      expect(replay.applied).toBe(false)
      expect(replay.txHash).not.toBe(first.txHash)
      expect(await clients.coordinator.isRecorded(awaiting.eventId)).toBe(true)
      expect(await clients.coordinator.isRecorded(newEventId())).toBe(false)
      // The same eventId carrying a different write is an outbox bug, and loud.
      expect(await revertOf(clients.coordinator.transition({ ...awaiting, to: "Cancelled" }))).toBe("EventIdReused")

      // Scheduling needs every consent.
      expect(await revertOf(clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Scheduled" }))).toBe("ConsentMissing")

      for (const who of ["acme", "beta"] as const) {
        const consent = { taskId, specHash, approve: true, reasonHash: reasonHash() }
        const signature = await clients[who].signConsent(consent)
        const relayed = await clients.coordinator.recordConsent({
          ...consent,
          eventId: newEventId(),
          participant: clients[who].account,
          signature
        })
        expect(relayed.applied).toBe(true)
      }
      expect(await revertOf(clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Succeeded" }))).toBe("IllegalTransition")
      await clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Scheduled" })
      await clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Running" })
      const phase = { eventId: newEventId(), taskId, phase: "secagg.masked-input", root: bytes32("root 1") }
      // Concurrent writes from one account: the client serializes them, so no nonce is used twice.
      const commits = await Promise.all(
        [phase, { ...phase, eventId: newEventId(), phase: "secagg.unmask" }, { ...phase, eventId: newEventId(), phase: "stats.totals" }]
          .map((p) => clients.coordinator.commitPhase(p))
      )
      expect(commits.map((c) => c.applied)).toEqual([true, true, true])
      expect((await clients.coordinator.commitPhase(phase)).applied).toBe(false)
      await clients.coordinator.recordResult({ eventId: newEventId(), taskId, resultDigest: bytes32("result") })
      await clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Succeeded", reasonHash: reasonHash("done") })
      expect(await revertOf(clients.coordinator.transition({ eventId: newEventId(), taskId, to: "Failed" }))).toBe("IllegalTransition")

      const history = await clients.mallory.taskHistory(taskId)
      expect(history.map((h) => (h._tag === "TaskTransitioned" ? `${h.from}->${h.to}` : h._tag))).toEqual([
        "TaskCreated",
        "Submitted->AwaitingConsent",
        "ConsentRecorded",
        "ConsentRecorded",
        "AwaitingConsent->Scheduled",
        "Scheduled->Running",
        "PhaseCommitted",
        "PhaseCommitted",
        "PhaseCommitted",
        "ResultRecorded",
        "Running->Succeeded"
      ])
      expect(history.filter((h) => h.eventId === awaiting.eventId)).toHaveLength(1)
      const [createdEntry] = history
      expect(createdEntry).toMatchObject({
        _tag: "TaskCreated",
        eventId: expect.any(String),
        specHash,
        initiator: clients.acme.account,
        coordinator: clients.coordinator.account,
        participants: [clients.acme.account, clients.beta.account],
        txHash: created.txHash,
        blockNumber: created.blockNumber
      })
      expect(history.find((h) => h._tag === "PhaseCommitted")).toMatchObject({ phase: "secagg.masked-input", root: phase.root })

      // A verifier re-checks each consent signature from the log alone.
      const domain = await clients.mallory.domain()
      for (const h of history) {
        if (h._tag !== "ConsentRecorded") continue
        expect(Eip712.verifyConsent(domain, { taskId, specHash, approve: h.approve, reasonHash: h.reasonHash }, h.signature, h.participant)).toBe(true)
      }
      expect(await clients.beta.getTask(taskId)).toMatchObject({ status: "Succeeded", approvals: 2, resultDigest: bytes32("result") })
    })

    it("rejects forged, misdirected and foreign consents", async () => {
      const id = bytes32("task-2")
      await create(id)
      const consent = { taskId: id, specHash, approve: true, reasonHash: reasonHash() }
      const relay = (participant: string, signature: string, c = consent) =>
        clients.coordinator.recordConsent({ ...c, eventId: newEventId(), participant, signature })

      // mallory signs in beta's name.
      expect(await revertOf(relay(clients.beta.account, await clients.mallory.signConsent(consent)))).toBe("InvalidSignature")
      // beta's signature over another spec does not approve this one.
      const otherSpec = await clients.beta.signConsent({ ...consent, specHash: bytes32("spec v2") })
      expect(await revertOf(relay(clients.beta.account, otherSpec))).toBe("InvalidSignature")
      // A signature for another chain id (same contract address) is worthless here.
      const foreign = await new Wallet(keys.beta).signTypedData(
        Eip712.domain(1n, addresses.ledger),
        Eip712.consentTypes,
        { ...consent }
      )
      expect(await revertOf(relay(clients.beta.account, foreign))).toBe("InvalidSignature")
      // A rejection flipped to an approval by the relay no longer matches the signature.
      const rejection = await clients.beta.signConsent({ ...consent, approve: false })
      expect(await revertOf(relay(clients.beta.account, rejection))).toBe("InvalidSignature")
      // Only named participants, once each.
      expect(await revertOf(relay(clients.acme2.account, await clients.acme2.signConsent(consent)))).toBe("NotParticipant")
      const good = await clients.beta.signConsent(consent)
      await relay(clients.beta.account, good)
      expect(await revertOf(relay(clients.beta.account, good))).toBe("ConsentAlreadyRecorded")
      expect((await clients.acme.getTask(id))?.approvals).toBe(1)
    })

    it("signs consents and logins in the very EIP-712 domain the contract verifies (OpenZeppelin's)", async () => {
      const provider = new JsonRpcProvider(node.rpcUrl)
      try {
        const contract = TaskLedger.connect(addresses.ledger, provider)
        const domain = await clients.acme.domain()
        const consent = { taskId: bytes32("t"), specHash, approve: false, reasonHash: reasonHash("no") }
        expect(await contract.consentDigest(consent.taskId, consent.specHash, consent.approve, consent.reasonHash)).toBe(Eip712.consentDigest(domain, consent))
        const login = { account: clients.acme.account, nonce: bytes32("nonce"), coordinator: clients.coordinator.account, issuedAt: 1_700_000_000n }
        expect(await contract.loginDigest(login.account, login.nonce, login.coordinator, login.issuedAt)).toBe(Eip712.loginDigest(domain, login))
        // ERC-5267: the contract announces the same domain.
        const announced = await provider.call({ to: addresses.ledger, data: "0x84b0196e" })
        expect(announced).toContain(addresses.ledger.slice(2).toLowerCase())
      } finally {
        provider.destroy()
      }
    })

    it("serves the same operations as an Effect service with typed failures", async () => {
      const program = Effect.gen(function*() {
        const ledger = yield* Ledger
        const active = yield* ledger.isActive(clients.beta.account)
        const failure = yield* Effect.flip(ledger.transition({ eventId: newEventId(), taskId: bytes32("nope"), to: "Running" }))
        return { active, failure }
      })
      const { active, failure } = await Effect.runPromise(
        program.pipe(Effect.provide(layer({ rpcUrl: node.rpcUrl, privateKey: keys.coordinator, addresses })))
      )
      expect(active).toBe(true)
      expect(failure._tag).toBe("ChainError")
      expect(failure.revertName).toBe("UnknownTask")

      const notDeployed = await Effect.runPromise(
        Effect.flip(Effect.gen(function*() {
          const ledger = yield* Ledger
          return yield* ledger.isActive(clients.beta.account)
        }).pipe(Effect.provide(layer({ rpcUrl: node.rpcUrl, privateKey: keys.coordinator }))))
      )
      expect(notDeployed.reason._tag).toBe("NotDeployed")
    })

    /** The governance suite, deployed once (deploying hands the registry's admin over to its timelock). */
    let suiteDeployed: ReturnType<typeof GovernanceLedger.deploySuite> | undefined
    const governanceSuite = () => (suiteDeployed ??= GovernanceLedger.deploySuite(clients.supervisor.chain, clients.supervisor.chain.signer(keys.supervisor), addresses, clients.supervisor.account))

    it("records a consent signed by a consent key the participant's DID names, and refuses one revoked, expired or named by another member's DID", async () => {
      // The suite's deployment points the ledger at its DID registry (GovernanceLedger.deploySuite).
      const suite = await governanceSuite()
      const id = bytes32("task-consent-keys")
      await create(id)
      const consent = { taskId: id, specHash, approve: true, reasonHash: reasonHash() }
      const domain = await clients.beta.domain()
      const signedBy = (key: Wallet) => Eip712.signConsent(key, domain, consent)
      const relay = (participant: string, signature: string) => clients.coordinator.recordConsent({ ...consent, eventId: newEventId(), participant, signature })
      const [current, revoked, expiring, foreign] = Array.from({ length: 4 }, () => new Wallet(Wallet.createRandom().privateKey))
      const beta = DidIdentity.makeController(clients.beta.chain, clients.beta.chain.signer(keys.beta), suite.didRegistry!)
      await beta.addConsentKey(revoked!.address, 3_600n)
      await beta.revokeConsentKey(revoked!.address)
      await beta.addConsentKey(expiring!.address, 60n)
      await node.later(120n)
      // A key acme's DID names does not sign for beta.
      await DidIdentity.makeController(clients.acme.chain, clients.acme.chain.signer(keys.acme), suite.didRegistry!).addConsentKey(foreign!.address, 3_600n)
      for (const key of [revoked!, expiring!, foreign!]) expect(await revertOf(relay(clients.beta.account, await signedBy(key)))).toBe("InvalidSignature")
      expect((await clients.acme.getTask(id))?.approvals).toBe(0)
      await beta.addConsentKey(current!.address, 3_600n)
      await relay(clients.beta.account, await signedBy(current!))
      expect((await clients.acme.getTask(id))?.approvals).toBe(1)
    })

    it("serves the governance suite as an Effect service over a shared chain client", async () => {
      const suite = await governanceSuite()
      const program = Effect.gen(function*() {
        const governance = yield* GovernanceLedger.GovernanceChain
        const published = yield* governance.publishDataset({
          domain: "health",
          name: "visits",
          attrs: "[]",
          size: 10,
          contentHash: bytes32("visits"),
          location: "acme://visits",
          policy: "Open"
        })
        const entry = yield* governance.getDataset(published.datasetId)
        const refused = yield* Effect.flip(governance.retireDataset(bytes32("no such dataset")))
        return { published, entry, refused }
      })
      const { published, entry, refused } = await Effect.runPromise(program.pipe(Effect.provide(GovernanceLedger.layer({
        rpcUrl: node.rpcUrl,
        chain: clients.acme.chain,
        privateKey: keys.acme,
        addresses: { ...suite, registry: addresses.registry }
      }))))
      expect(published.datasetId).toBe(GovernanceLedger.datasetIdOf(clients.acme.account, "visits"))
      expect(entry).toMatchObject({ owner: clients.acme.account, name: "visits", version: 1, state: "Active" })
      expect(refused).toBeInstanceOf(ChainError)
      expect(refused.revertName).toBe("UnknownDataset")
      // The layer's scope closed the view, not the chain client it was lent.
      expect(await clients.acme.isActive(clients.acme.account)).toBe(true)
    })

    it("lets only the owner's organisation approve or reject a model request, once and before its expiry; the owner answers only a request still open", async () => {
      const chain = clients.supervisor.chain
      const suite = await governanceSuite()
      const as = Object.fromEntries(await Promise.all((["acme", "acme2", "beta", "mallory"] as const).map(async (n) =>
        [n, await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain, privateKey: keys[n], addresses: { ...suite, registry: addresses.registry } })] as const))) as Record<"acme" | "acme2" | "beta" | "mallory", GovernanceLedger.GovernanceLedger>
      try {
        const { datasetId } = await as.acme.publishDataset({ domain: "health", name: "scans", attrs: "[]", size: 10, contentHash: bytes32("scans"), location: "acme://scans", policy: "Open" })
        const now = BigInt((await new JsonRpcProvider(node.rpcUrl).getBlock("latest"))!.timestamp)
        const request = async (nonce: string, ttl = 600n) =>
          (await as.beta.requestModel({ datasetId: datasetId as `0x${string}`, to: as.acme.account, payloadHash: bytes32(`payload ${nonce}`), payloadURI: `cid:${nonce}`, expiry: now + ttl, nonce: bytes32(nonce) })).reqId as `0x${string}`
        const approved = await request("approve me")
        // Neither the requester's organisation nor an account bound to no active company may decide.
        expect(await revertOf(as.beta.decideModel(approved, true))).toBe("NotOwnerOrganisation")
        expect(await revertOf(as.mallory.decideModel(approved, true))).toBe("NotOwnerOrganisation")
        expect(await revertOf(as.acme2.decideModel(bytes32("no such request"), true))).toBe("UnknownRequest")
        expect((await as.beta.getModelRequest(approved))?.state).toBe("Requested")
        // A steward's own account of the owner's company (not the addressee's key) decides, once.
        await as.acme2.decideModel(approved, true, "reviewed by the steward")
        expect((await as.beta.getModelRequest(approved))?.state).toBe("Approved")
        expect(await revertOf(as.acme2.decideModel(approved, false))).toBe("WrongState")
        // Only the addressee answers, and an approved request is answered once.
        expect(await revertOf(as.acme2.respondModel(approved, bytes32("result"), "cid:result"))).toBe("NotAddressee")
        await as.acme.respondModel(approved, bytes32("result"), "cid:result")
        expect((await as.beta.getModelRequest(approved))).toMatchObject({ state: "Answered", resultHash: bytes32("result") })

        const rejected = await request("reject me")
        await as.acme.decideModel(rejected, false, "not for this purpose")
        expect((await as.beta.getModelRequest(rejected))?.state).toBe("Refused")
        expect(await revertOf(as.acme.respondModel(rejected, bytes32("result"), "cid:result"))).toBe("WrongState")
        const logs = await as.beta.logs(0n, await as.beta.blockNumber())
        const decisions = logs.filter((l) => l.contract === "modelRequests" && l.name === "ModelDecided").map((l) => [String(l.args.reqId), String(l.args.by), l.args.approve, String(l.args.reasonHash)])
        expect(decisions).toEqual([[approved, as.acme2.account, true, reasonHash("reviewed by the steward")], [rejected, as.acme.account, false, reasonHash("not for this purpose")]])

        const late = await request("too late", 60n)
        await node.later(120)
        expect(await revertOf(as.acme2.decideModel(late, true))).toBe("RequestExpired")
      } finally {
        await Promise.all(Object.values(as).map((g) => g.close()))
      }
    })
  })
})
