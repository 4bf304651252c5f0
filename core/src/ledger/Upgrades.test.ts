/**
 * Upgrades through governance, against real EVM nodes (anvil and Hardhat's EDR): a vote, then the consortium's
 * TimelockController, then the UUPS proxy. A passed vote upgrades the registry after the delay with its state
 * intact; an early execution, a failed vote and every caller but the timelock are refused; the new
 * implementation's storage layout extends the released one.
 */
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { keccak256, SigningKey, toUtf8Bytes, Wallet } from "ethers"
import { nodeNames, revertOf, startNode, type EvmNode } from "@jointly/coordinator/internal/testing/EvmNode"
import { makeEthersLedger } from "./EthersLedger.ts"
import * as Registry from "./generated/ConsortiumRegistry.ts"
import * as RegistryV2 from "./generated/ConsortiumRegistryV2.ts"
import * as Timelock from "./generated/TimelockController.ts"
import * as GovernanceLedger from "./GovernanceLedger.ts"
import type { LedgerClient } from "./Ledger.ts"
import { check, type SolcStorageLayout } from "./StorageLayout.ts"
import { deployImplementation, implementationOf } from "./Upgradeable.ts"

const delay = 3_600n
const layout = (path: string): SolcStorageLayout => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"))

describe.each(nodeNames)("upgrades on %s", (nodeName) => {
  let node: EvmNode
  let supervisor: LedgerClient
  const names = ["acme", "beta", "gamma"] as const
  const keys = Object.fromEntries(["supervisor", ...names].map((n) => [n, Wallet.createRandom().privateKey])) as Record<"supervisor" | (typeof names)[number], string>
  const gov = {} as Record<"supervisor" | (typeof names)[number], GovernanceLedger.GovernanceLedger>
  let suite: GovernanceLedger.SuiteAddresses
  let registry: string

  const later = (seconds: bigint) => node.later(seconds)
  const now = async () => BigInt((await node.rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false])).timestamp)

  beforeAll(async () => {
    node = await startNode(nodeName)
    await node.fund(Object.values(keys).map((k) => new Wallet(k).address))
    supervisor = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor })
    const deployment = await supervisor.deploy()
    registry = deployment.registry
    for (const name of names) {
      const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[name], addresses: deployment })
      const { companyId } = await own.register({
        name,
        registrationNumber: `${name}-1`,
        encPubKey: SigningKey.computePublicKey(new Wallet(keys[name]).signingKey.publicKey, true),
        dossierHash: keccak256(toUtf8Bytes(name))
      })
      await supervisor.setState(companyId, "Audited")
      await own.close()
    }
    suite = await GovernanceLedger.deploySuite(supervisor.chain, supervisor.chain.signer(keys.supervisor), deployment, supervisor.account, { timelockDelaySeconds: delay })
    for (const name of ["supervisor", ...names] as const) {
      gov[name] = await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[name], addresses: { ...suite, registry, ledger: deployment.ledger } })
    }
  })

  afterAll(async () => {
    await Promise.all(Object.values(gov).map((g) => g.close()))
    await supervisor?.close()
    await node?.stop()
  })

  it("hands the deployment to the timelock: the deployer keeps no admin role", async () => {
    for (const contract of ["registry", "ledger", "settlement"] as const) {
      expect(await gov.acme.hasRole(contract, "admin", suite.timelock)).toBe(true)
      expect(await gov.acme.hasRole(contract, "upgrader", suite.timelock)).toBe(true)
      expect(await gov.acme.hasRole(contract, "admin", supervisor.account)).toBe(false)
      expect(await gov.acme.hasRole(contract, "upgrader", supervisor.account)).toBe(false)
    }
    expect(await gov.acme.hasRole("timelock", "admin", supervisor.account)).toBe(false)
    expect(await gov.acme.hasRole("timelock", "proposer", suite.governance)).toBe(true)
    expect(await gov.acme.hasRole("registry", "governor", suite.governance)).toBe(true)
    // MEMBER_ROLE is derived from company states, never granted by hand.
    expect(await gov.acme.hasRole("registry", "member", gov.acme.account)).toBe(true)
    expect(await gov.acme.hasRole("registry", "member", supervisor.account)).toBe(false)
    expect(await gov.acme.timelockDelay()).toBe(delay)
  })

  it("upgrades the registry after a passed vote and the timelock's delay, with its state intact", async () => {
    const before = await Promise.all(names.map((n) => supervisor.companyOf(gov[n].account)))
    const v1 = await gov.acme.implementationOf("registry")
    // The new implementation's storage extends the released layout (the build checks the same for every release).
    const next = (layout("./generated/artifacts/ConsortiumRegistryV2.json") as unknown as { readonly storageLayout: SolcStorageLayout }).storageLayout
    expect(check(layout("./contracts/layouts/ConsortiumRegistry.json"), next)).toEqual([])
    const v2 = await deployImplementation(supervisor.chain, supervisor.chain.signer(keys.supervisor), RegistryV2.deployData({}), "test")
    const data = RegistryV2.contractInterface.encodeFunctionData("initializeV2", [42n])
    const proposal = await gov.beta.proposeUpgrade({ contract: "registry", implementation: v2, data, deadline: (await now()) + 100n })
    for (const n of names) await gov[n].vote(proposal.id, true)
    expect(await revertOf(gov.acme.execute(proposal.id))).toBe("VotingOpen")
    await later(120n)
    const executed = await gov.gamma.execute(proposal.id)
    expect(executed.passed).toBe(true)
    expect((await gov.acme.getProposal(proposal.id))!.state).toBe("Queued")
    expect(executed.readyAt).toBeGreaterThanOrEqual((await now()) + delay - 2n)
    // Before the delay: refused, and the proxy still runs the old implementation.
    expect(await revertOf(gov.acme.executeQueued(proposal.id))).toBe("TimelockNotReady")
    await later(delay / 2n)
    expect(await revertOf(gov.acme.executeQueued(proposal.id))).toBe("TimelockNotReady")
    expect(await gov.acme.implementationOf("registry")).toBe(v1)

    await later(delay / 2n + 10n)
    await gov.acme.executeQueued(proposal.id)
    expect(await gov.acme.implementationOf("registry")).toBe(v2)
    expect((await gov.acme.getProposal(proposal.id))!.state).toBe("Executed")
    expect(await revertOf(gov.acme.executeQueued(proposal.id))).toBe("NotQueued")
    const upgraded = RegistryV2.connect(registry, supervisor.chain.provider)
    expect(await upgraded.version()).toBe(2n)
    expect(await upgraded.auditFee()).toBe(42n)
    // Every company, binding, state and count survived.
    expect(await Promise.all(names.map((n) => supervisor.companyOf(gov[n].account)))).toEqual(before)
    expect(await upgraded.memberCount()).toBe(3n)
    expect((await supervisor.getCompany(before[0]!.companyId!))!.name).toBe("ACME")
    // The re-initializer ran once, with the upgrade.
    expect(await revertOf(supervisor.chain.send(supervisor.chain.signer(keys.supervisor), { to: registry, data }, "test"))).toBe("InvalidInitialization")
  })

  it("queues nothing when the vote fails", async () => {
    const current = await gov.acme.implementationOf("registry")
    const v3 = await deployImplementation(supervisor.chain, supervisor.chain.signer(keys.supervisor), Registry.deployData({}), "test")
    const proposal = await gov.acme.proposeUpgrade({ contract: "registry", implementation: v3, deadline: (await now()) + 100n })
    await gov.acme.vote(proposal.id, true)
    await gov.beta.vote(proposal.id, true)
    await gov.gamma.vote(proposal.id, false)
    await later(120n)
    // 2 of 3 is not more than 2/3.
    expect((await gov.acme.execute(proposal.id)).passed).toBe(false)
    expect((await gov.acme.getProposal(proposal.id))!.state).toBe("Failed")
    await later(delay + 10n)
    expect(await revertOf(gov.acme.executeQueued(proposal.id))).toBe("NotQueued")
    expect(await gov.acme.implementationOf("registry")).toBe(current)
  })

  it("refuses every upgrade path but the vote: the supervisor, a member at the timelock, the old admin", async () => {
    const sup = supervisor.chain.signer(keys.supervisor)
    const member = supervisor.chain.signer(keys.acme)
    const impl = await deployImplementation(supervisor.chain, sup, Registry.deployData({}), "test")
    const upgrade = Registry.contractInterface.encodeFunctionData("upgradeToAndCall", [impl, "0x"])
    expect(await revertOf(supervisor.chain.send(sup, { to: registry, data: upgrade }, "test"))).toBe("AccessControlUnauthorizedAccount")
    expect(await revertOf(supervisor.chain.send(member, { to: registry, data: upgrade }, "test"))).toBe("AccessControlUnauthorizedAccount")
    const schedule = Timelock.contractInterface.encodeFunctionData("schedule", [registry, 0n, upgrade, `0x${"00".repeat(32)}`, `0x${"11".repeat(32)}`, delay])
    expect(await revertOf(supervisor.chain.send(member, { to: suite.timelock, data: schedule }, "test"))).toBe("AccessControlUnauthorizedAccount")
    expect(await revertOf(supervisor.chain.send(sup, { to: suite.timelock, data: schedule }, "test"))).toBe("AccessControlUnauthorizedAccount")
    const execute = Timelock.contractInterface.encodeFunctionData("execute", [registry, 0n, upgrade, `0x${"00".repeat(32)}`, `0x${"11".repeat(32)}`])
    expect(await revertOf(supervisor.chain.send(member, { to: suite.timelock, data: execute }, "test"))).toBe("AccessControlUnauthorizedAccount")
    // The bootstrap admin handed over: it can no longer grant itself anything.
    const grant = Registry.contractInterface.encodeFunctionData("grantRole", [GovernanceLedger.roles.upgrader, sup.address])
    expect(await revertOf(supervisor.chain.send(sup, { to: registry, data: grant }, "test"))).toBe("AccessControlUnauthorizedAccount")
    // An implementation is never initialized itself (only through a proxy).
    const init = Registry.contractInterface.encodeFunctionData("initialize", [member.address, member.address])
    expect(await revertOf(supervisor.chain.send(member, { to: impl, data: init }, "test"))).toBe("InvalidInitialization")
    // Membership is derived: even the timelock could not grant it.
    expect(await revertOf(supervisor.chain.send(sup, { to: registry, data: Registry.contractInterface.encodeFunctionData("grantRole", [GovernanceLedger.roles.member, member.address]) }, "test"))).toBe("AccessControlUnauthorizedAccount")
  })

  it("lets the supervisor pause new activity while its own incident response goes on", async () => {
    expect(await revertOf(gov.acme.setPaused("registry", true))).toBe("AccessControlUnauthorizedAccount")
    await gov.supervisor.setPaused("registry", true)
    const newcomer = Wallet.createRandom()
    await node.fund([newcomer.address])
    const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: newcomer.privateKey, addresses: { registry, ledger: suite.catalog } })
    try {
      const register = own.register({ name: "Late Ltd", registrationNumber: "L-1", encPubKey: newcomer.signingKey.compressedPublicKey, dossierHash: keccak256(toUtf8Bytes("l")) })
      expect(await revertOf(register)).toBe("EnforcedPause")
      const acme = (await supervisor.companyOf(gov.acme.account)).companyId!
      await supervisor.setState(acme, "Suspended", keccak256(toUtf8Bytes("incident")))
      await supervisor.setState(acme, "Audited", keccak256(toUtf8Bytes("cleared")))
      await gov.supervisor.setPaused("registry", false)
      await own.register({ name: "Late Ltd", registrationNumber: "L-1", encPubKey: newcomer.signingKey.compressedPublicKey, dossierHash: keccak256(toUtf8Bytes("l")) })
    } finally {
      await own.close()
    }
  })
})
