/**
 * Points, settlements and certificates on real EVM nodes (anvil and Hardhat's EDR): the contract computes the
 * model itself — §9.4's worked example paid to the point, the PBFT example's shares to the fraction, the full
 * cooperation model (Thm. 3) against the floating-point reference — and a settlement closes: signed post, dispute
 * window, the supervisor's arbitration either way, an on-chain refutation from revealed scores, payout with the
 * remainder to the treasury. Certificates are issued, disputed, resolved and revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { getBytes, hexlify, keccak256, SigningKey, toUtf8Bytes, Wallet } from "ethers"
import { nodeNames, revertOf, startNode, type EvmNode } from "@jointly/coordinator/internal/testing/EvmNode"
import * as Shapley from "../incentives/Shapley.ts"
import * as Valuation from "../incentives/Valuation.ts"
import { makeEthersLedger } from "./EthersLedger.ts"
import * as GovernanceLedger from "./GovernanceLedger.ts"
import type { LedgerClient } from "./Ledger.ts"

const window = 600n
const members = ["payer", "h1", "h2", "h3", "t1", "t2"] as const
type Member = (typeof members)[number]
const bytes32 = (label: string) => keccak256(toUtf8Bytes(label))
const salt = hexlify(crypto.getRandomValues(new Uint8Array(32)))

describe.each(nodeNames)("settlement on %s", (nodeName) => {
  let node: EvmNode
  let supervisor: LedgerClient
  const keys = Object.fromEntries(["supervisor", ...members].map((n) => [n, Wallet.createRandom().privateKey])) as Record<"supervisor" | Member, string>
  const miners = Array.from({ length: 4 }, () => Wallet.createRandom().address)
  const g = {} as Record<"supervisor" | Member, GovernanceLedger.GovernanceLedger>
  const addr = (m: Member) => g[m].account

  const later = (seconds: bigint) => node.later(seconds)
  const balances = (accounts: ReadonlyArray<string>) => Promise.all(accounts.map((a) => g.payer.points(a)))
  const delta = (after: ReadonlyArray<bigint>, before: ReadonlyArray<bigint>) => after.map((x, i) => x - before[i]!)

  /** A committed settlement id and the valuation of the §9.4 example over it (in hundredths of a token). */
  const example = async (label: string, scores: ReadonlyArray<bigint> = [0n, 800n, 600n, 900n]) => {
    const settlementId = bytes32(`${label}-${nodeName}`)
    const testSetHash = bytes32(`test set ${label}`)
    await g.payer.commitTestSet(settlementId, testSetHash, bytes32("recipe: logistic regression"))
    const v: Valuation.Valuation = {
      settlementId,
      period: 202_601n,
      streams: [Valuation.stream({ price: 1_000n, uses: 100n, thirdParty: addr("payer"), owners: [addr("h1"), addr("h2")], miners: 2, scores, salt })],
      miners: { rule: "PoW", accounts: miners.slice(0, 2), weights: [30n, 10n], rounds: 0, health: [] },
      testSetHash,
      modelHashes: [bytes32(`model ${label}`)]
    }
    return v
  }
  const post = async (v: Valuation.Valuation, by: Member = "payer") => g.t1.postValuation(v, await g[by].signValuation(v))

  beforeAll(async () => {
    node = await startNode(nodeName)
    await node.fund(Object.values(keys).map((k) => new Wallet(k).address))
    supervisor = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor })
    const deployment = await supervisor.deploy()
    for (const m of members) {
      const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[m], addresses: deployment })
      const { companyId } = await own.register({ name: m, registrationNumber: `${m}-1`, encPubKey: SigningKey.computePublicKey(new Wallet(keys[m]).signingKey.publicKey, true), dossierHash: bytes32(m) })
      await supervisor.setState(companyId, "Audited")
      await own.close()
    }
    const suite = await GovernanceLedger.deploySuite(supervisor.chain, supervisor.chain.signer(keys.supervisor), deployment, supervisor.account, { disputeWindowSeconds: window })
    for (const m of ["supervisor", ...members] as const) {
      g[m] = await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[m], addresses: { ...suite, registry: deployment.registry, ledger: deployment.ledger } })
    }
    await g.supervisor.mintPoints(addr("payer"), 10_000_000n)
  })

  afterAll(async () => {
    await Promise.all(Object.values(g).map((x) => x.close()))
    await supervisor?.close()
    await node?.stop()
  })

  it("computes §9.4's example on chain and pays it to the point after the dispute window", async () => {
    const onChain = await g.h3.simpleModel(2, 2, [0n, 800n, 600n, 900n])
    expect(onChain).toEqual(Valuation.simpleModel(2, 2, [0n, 800n, 600n, 900n]))
    expect(onChain.owners[0]! * 54n).toBe(11n * onChain.denominator)
    expect(onChain.thirdParty * 27n).toBe(13n * onChain.denominator)

    const v = await example("worked-example")
    const payees = [addr("h1"), addr("h2"), miners[0]!, miners[1]!, addr("payer")]
    const before = await balances(payees)
    const treasuryBefore = await g.h1.treasury()
    const posted = await post(v)
    expect(posted.revenue).toBe(100_000n)
    // Anyone rebuilds the posted valuation from the chain's log alone.
    expect(Valuation.toAbi((await g.h3.postedValuation(v.settlementId))!)).toEqual(Valuation.toAbi(v))
    expect(await g.h1.getSettlement(v.settlementId)).toMatchObject({ status: "Posted", revenue: 100_000n, payer: addr("payer") })
    // Nothing pays inside the window.
    expect(await revertOf(g.h3.finalizeSettlement(v))).toBe("WindowOpen")
    await later(window + 1n)
    await g.h3.finalizeSettlement(v)
    const paid = delta(await balances(payees), before)
    // The payer paid 100,000 and got its third-party share back.
    paid[4] = paid[4]! + 100_000n
    // §9.4 in hundredths: H1 203.70, H2 111.11, M1 152.77, M2 50.92, T0 481.48; 0.02 to the treasury.
    expect(paid).toEqual([20_370n, 11_111n, 15_277n, 5_092n, 48_148n])
    expect((await g.h1.treasury()) - treasuryBefore).toBe(2n)
    expect((await g.h1.getSettlement(v.settlementId))!.status).toBe("Finalized")
    expect(await revertOf(g.h3.finalizeSettlement(v))).toBe("WrongStatus")
  })

  it("computes the PBFT example's shares on chain exactly", async () => {
    const health = Valuation.healthWords(4, [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1]])
    const p = await g.h1.miningShares({ rule: "PBFT", accounts: miners, weights: [], rounds: 4, health })
    expect(p.numerators.map((x) => x * 24n === 7n * p.denominator)).toEqual([true, true, true, false])
    expect(p.numerators[3]! * 8n).toBe(p.denominator)
    expect(await revertOf(g.h1.miningShares({ rule: "PBFT", accounts: miners, weights: [], rounds: 4, health: health.slice(1) }))).toBe("BadMiningEvidence")
  })

  it("splits the miners' share by stake under PoS (Eq. 7.14) and pays it so after the window", async () => {
    // Coin age grows alike for every staker, so it cancels: P_k = w_k / sum w (PROTOCOLS §9.3).
    const stakes = [500n, 300n, 150n, 50n]
    const shares = await g.h1.miningShares({ rule: "PoS", accounts: miners, weights: stakes, rounds: 0, health: [] })
    expect(shares.numerators.map((x, k) => x * 1_000n === stakes[k]! * shares.denominator)).toEqual([true, true, true, true])
    expect(await revertOf(g.h1.miningShares({ rule: "PoS", accounts: miners, weights: [0n, 0n, 0n, 0n], rounds: 0, health: [] }))).toBe("BadMiningEvidence")

    const v: Valuation.Valuation = { ...(await example("pos-split")), miners: { rule: "PoS", accounts: miners.slice(0, 2), weights: [70n, 30n], rounds: 0, health: [] } }
    const expected = Valuation.payouts(v)
    const toMiner = (m: string) => expected.entries.filter((e) => e.to === m).reduce((a, e) => a + e.amount, 0n)
    const before = await balances(miners.slice(0, 2))
    await post(v)
    await later(window + 1n)
    await g.h3.finalizeSettlement(v)
    const paid = delta(await balances(miners.slice(0, 2)), before)
    expect(paid).toEqual([toMiner(miners[0]!), toMiner(miners[1]!)])
    // 70:30 of the miners' part, floored per entry: within one unit of the exact split.
    const total = paid[0]! + paid[1]!
    expect(paid[0]! * 100n - total * 70n).toBeGreaterThanOrEqual(-100n)
    expect(paid[0]! * 100n - total * 70n).toBeLessThanOrEqual(100n)
    expect(total).toBeGreaterThan(0n)
  })

  it("pays the full cooperation model (Thm. 3): services, third parties and owner sets, with PBFT validators", async () => {
    const settlementId = bytes32(`thm3-${nodeName}`)
    const testSetHash = bytes32("thm3 test set")
    await g.payer.commitTestSet(settlementId, testSetHash, bytes32("recipe"))
    // Service r1 (owners h1, h2) sold by t1; service r2 (owners h2, h3) sold by t1 and by t2.
    const f1 = { r1: [0, 0.71, 0.64, 0.83], r2: [0, 0.55, 0.77, 0.8] }
    const scores = (f: ReadonlyArray<number>) => Valuation.fixedPointScores(2, (m) => f[m]!, 1_000_000)
    const sold = [
      { owners: ["h1", "h2"] as const, t: "t1" as const, f: f1.r1, price: 12n, uses: 1_234n },
      { owners: ["h2", "h3"] as const, t: "t1" as const, f: f1.r2, price: 7n, uses: 2_001n },
      { owners: ["h2", "h3"] as const, t: "t2" as const, f: f1.r2, price: 7n, uses: 999n }
    ]
    const healthy = [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], [0, 2, 4], [1, 3, 5]]
    const v: Valuation.Valuation = {
      settlementId,
      period: 202_602n,
      streams: sold.map((s) => Valuation.stream({ price: s.price, uses: s.uses, thirdParty: addr(s.t), owners: s.owners.map(addr), miners: 4, scores: scores(s.f), salt })),
      miners: { rule: "PBFT", accounts: miners, weights: [], rounds: 6, health: Valuation.healthWords(6, healthy) },
      testSetHash,
      modelHashes: []
    }
    // The contract's payouts equal the TypeScript mirror's, entry by entry.
    const computed = await g.h1.settlementPayouts(v)
    const mirror = Valuation.payouts(v)
    expect(computed.entries).toEqual(mirror.entries)
    expect(computed.toTreasury).toBe(mirror.toTreasury)

    // And Thm. 3 in floating point from Shapley.ts: owner i gets sum over its services and sellers of phi_H^i SP.
    const p = Shapley.pbftShares(6, healthy)
    const expected = new Map<string, number>()
    const add = (a: string, x: number) => expected.set(a, (expected.get(a) ?? 0) + x)
    for (const s of sold) {
      const sp = Number(s.price * s.uses)
      const phi = Shapley.simpleModel(2, 4, (m) => Number(scores(s.f)[m]!) / 1e6)
      s.owners.forEach((o, i) => add(addr(o), phi.owners[i]! * sp))
      miners.forEach((m, k) => add(m, p[k]! * 4 * phi.perMiner * sp))
      add(addr(s.t), phi.thirdParty * sp)
    }
    const everyone = [...expected.keys()]
    const before = await balances(everyone)
    await post(v)
    await later(window + 1n)
    await g.h2.finalizeSettlement(v)
    const paid = delta(await balances(everyone), before)
    const revenue = sold.reduce((a, s) => a + s.price * s.uses, 0n)
    everyone.forEach((a, i) => {
      // Each entry floors once or twice (miners: the group, then the split), so at most one point per stream below.
      expect(Number(paid[i]!)).toBeLessThanOrEqual(expected.get(a)! + 1e-6)
      expect(Number(paid[i]!)).toBeGreaterThan(expected.get(a)! - 2 * sold.length)
    })
    expect(paid.reduce((x, y) => x + y, 0n) + mirror.toTreasury).toBe(revenue)
  })

  it("lets a member dispute within the window: upheld refunds the payer, a corrected valuation then pays", async () => {
    const v = await example("disputed")
    const before = await g.payer.points(addr("payer"))
    await post(v)
    expect(await g.payer.points(addr("payer"))).toBe(before - 100_000n)
    await g.h2.disputeSettlement(v.settlementId, "my share looks too small; scores attached off chain")
    expect(await revertOf(g.h2.disputeSettlement(v.settlementId, "again"))).toBe("WrongStatus")
    expect(await g.h1.getSettlement(v.settlementId)).toMatchObject({ status: "Disputed", challenger: addr("h2"), evidenceHash: bytes32("my share looks too small; scores attached off chain") })
    await later(window + 1n)
    // An open dispute blocks the payout; only the supervisor decides it.
    expect(await revertOf(g.h3.finalizeSettlement(v))).toBe("WrongStatus")
    expect(await revertOf(g.h1.arbitrate(v.settlementId, true, "no"))).toBe("NotSupervisor")
    await g.supervisor.arbitrate(v.settlementId, true, "recipe differs from the committed one")
    expect(await g.h1.getSettlement(v.settlementId)).toMatchObject({ status: "Overturned", revenue: 0n })
    expect(await g.payer.points(addr("payer"))).toBe(before)
    // The payer posts a corrected valuation under the same commitment; its window starts afresh.
    const corrected: Valuation.Valuation = { ...v, period: v.period + 1n }
    await post(corrected)
    expect(await revertOf(g.h3.finalizeSettlement(corrected))).toBe("WindowOpen")
    await later(window + 1n)
    expect(await revertOf(g.h3.finalizeSettlement(v))).toBe("ValuationMismatch")
    await g.h3.finalizeSettlement(corrected)
    expect((await g.h1.getSettlement(v.settlementId))!.status).toBe("Finalized")
  })

  it("pays after the window when the supervisor rejects the dispute; late and repeated disputes are refused", async () => {
    const v = await example("rejected")
    await post(v)
    await g.h1.disputeSettlement(v.settlementId, "doubt")
    await g.supervisor.arbitrate(v.settlementId, false, "scores checked: the valuation is right")
    expect(await revertOf(g.h1.disputeSettlement(v.settlementId, "doubt again"))).toBe("AlreadyDisputed")
    await later(window + 1n)
    expect(await revertOf(g.h2.disputeSettlement(v.settlementId, "too late"))).toBe("WindowClosed")
    const before = await g.h1.points(addr("h1"))
    await g.h3.finalizeSettlement(v)
    expect((await g.h1.points(addr("h1"))) - before).toBe(20_370n)
  })

  it("overturns on chain a valuation the revealed score table refutes, and refuses a refutation that does not hold", async () => {
    const v = await example("refuted")
    const honest = v.streams[0]!
    // The payer moves part of h2's share to h1: the shares still add up, so only the scores can tell.
    const cooked: Valuation.Valuation = {
      ...v,
      streams: [{ ...honest, ownerShares: [honest.ownerShares[0]! + 5n, honest.ownerShares[1]! - 5n] }]
    }
    await post(cooked)
    const scores = [0n, 800n, 600n, 900n]
    expect(await revertOf(g.h2.disputeWithScores(cooked, 0, bytes32("wrong salt"), scores))).toBe("ScoresMismatch")
    const before = await g.payer.points(addr("payer"))
    await g.h2.disputeWithScores(cooked, 0, salt, scores)
    expect((await g.h1.getSettlement(v.settlementId))!.status).toBe("Overturned")
    expect((await g.payer.points(addr("payer"))) - before).toBe(100_000n)
    // The honest valuation survives the same check.
    await post(v)
    expect(await revertOf(g.h2.disputeWithScores(v, 0, salt, scores))).toBe("ValuationMatchesScores")
  })

  it("refuses a valuation that is not the payer's, does not add up, or names another test set", async () => {
    const v = await example("refusals")
    expect(await revertOf(post(v, "h1"))).toBe("NotPayer")
    const s = v.streams[0]!
    expect(await revertOf(post({ ...v, streams: [{ ...s, thirdPartyShare: s.thirdPartyShare + 1n }] }))).toBe("SharesDoNotAddUp")
    expect(await revertOf(post({ ...v, testSetHash: bytes32("another test set") }))).toBe("TestSetMismatch")
    // A signature over one valuation does not post another.
    const signature = await g.payer.signValuation(v)
    expect(await revertOf(g.t1.postValuation({ ...v, period: 1n }, signature))).toBe("NotPayer")
    const poor = bytes32(`poor-${nodeName}`)
    await g.h3.commitTestSet(poor, v.testSetHash, bytes32("r"))
    const tooDear = { ...v, settlementId: poor }
    expect(await revertOf(g.t1.postValuation(tooDear, await g.h3.signValuation(tooDear)))).toBe("ERC20InsufficientBalance")
    expect(await revertOf(g.h1.mintPoints(addr("h1"), 1n))).toBe("NotSupervisor")
  })
})

describe.each(nodeNames)("certificates on %s", (nodeName) => {
  let node: EvmNode
  let supervisor: LedgerClient
  const keys = { supervisor: Wallet.createRandom().privateKey, alice: Wallet.createRandom().privateKey, bob: Wallet.createRandom().privateKey, carol: Wallet.createRandom().privateKey }
  const g = {} as Record<keyof typeof keys, GovernanceLedger.GovernanceLedger>

  const issue = async (label: string) => {
    const docHash = bytes32(label)
    const claimedAt = BigInt((await node.rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false])).timestamp)
    const signature = await GovernanceLedger.signCert(new Wallet(keys.alice), docHash, bytes32("meta"), claimedAt)
    return (await g.bob.certify({ docHash, metaHash: bytes32("meta"), claimedAt, signature })).certId
  }

  beforeAll(async () => {
    node = await startNode(nodeName)
    await node.fund(Object.values(keys).map((k) => new Wallet(k).address))
    supervisor = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor })
    const deployment = await supervisor.deploy()
    for (const m of ["alice", "bob", "carol"] as const) {
      const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[m], addresses: deployment })
      const { companyId } = await own.register({ name: m, registrationNumber: "1", encPubKey: SigningKey.computePublicKey(new Wallet(keys[m]).signingKey.publicKey, true), dossierHash: bytes32(m) })
      await supervisor.setState(companyId, "Audited")
      await own.close()
    }
    const suite = await GovernanceLedger.deploySuite(supervisor.chain, supervisor.chain.signer(keys.supervisor), deployment, supervisor.account)
    for (const m of Object.keys(keys) as Array<keyof typeof keys>) {
      g[m] = await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain: supervisor.chain, privateKey: keys[m], addresses: { ...suite, registry: deployment.registry } })
    }
  })

  afterAll(async () => {
    await Promise.all(Object.values(g).map((x) => x.close()))
    await supervisor?.close()
    await node?.stop()
  })

  it("issues, disputes, resolves either way and revokes, each on chain with its hashed reason", async () => {
    const certId = await issue(`contract ${nodeName}`)
    expect(await g.carol.getCert(certId)).toMatchObject({ submitter: g.alice.account, status: "Valid" })
    expect(await revertOf(g.alice.disputeCert(certId, "mine"))).toBe("OwnCertificate")
    await g.carol.disputeCert(certId, "the signed PDF differs from the one we received")
    expect(await g.bob.getCert(certId)).toMatchObject({ status: "Disputed", challenger: g.carol.account })
    expect(await revertOf(g.bob.endorse(certId))).toBe("NotValid")
    expect(await revertOf(g.carol.resolveCert(certId, true, "self-serving"))).toBe("NotSupervisor")
    await g.supervisor.resolveCert(certId, false, "the received copy was altered in transit")
    expect(await g.bob.getCert(certId)).toMatchObject({ status: "Valid", challenger: undefined })
    await g.bob.endorse(certId)
    await g.carol.disputeCert(certId, "new evidence")
    await g.supervisor.resolveCert(certId, true, "forged timestamp confirmed")
    expect(await g.bob.getCert(certId)).toMatchObject({ status: "Revoked", reasonHash: bytes32("forged timestamp confirmed"), endorsements: 1 })
    expect(await revertOf(g.carol.disputeCert(certId, "more"))).toBe("NotValid")

    const other = await issue(`order ${nodeName}`)
    expect(await revertOf(g.bob.revokeCert(other, "not mine"))).toBe("NotSubmitterOrSupervisor")
    await g.alice.revokeCert(other, "superseded by a corrected order")
    expect(await g.bob.getCert(other)).toMatchObject({ status: "Revoked" })
    // A malformed signature is refused before anything is stored.
    expect(await revertOf(g.bob.certify({ docHash: bytes32("x"), metaHash: bytes32("m"), claimedAt: 1n, signature: hexlify(getBytes(`0x${"11".repeat(65)}`)) }))).toBe("InvalidSignature")
  })
})
