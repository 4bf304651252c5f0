/**
 * The exact model behind settlements (PROTOCOLS.md §9): §9.4's worked example and the PBFT example to the
 * fraction, agreement with the floating-point reference of Shapley.ts on random score tables, efficiency
 * (Eq. 7.4) to the unit, clamping of negative contributions, and integer payouts whose remainder is the treasury's.
 */
import { describe, expect, it } from "vitest"
import { Wallet } from "ethers"
import * as Shapley from "./Shapley.ts"
import * as Valuation from "./Valuation.ts"

/** a/b as a float, for comparing exact shares with Shapley.ts. */
const ratio = (a: bigint, b: bigint) => Number((a * 10n ** 18n) / b) / 1e18
const same = (a: bigint, b: bigint, c: bigint, d: bigint) => a * d === c * b

describe("exact incentive model", () => {
  it("reproduces §9.4's worked example exactly", () => {
    // F1({H1}) = 0.80, F1({H2}) = 0.60, F1({H1, H2}) = 0.90, two miners, one third party.
    const s = Valuation.simpleModel(2, 2, [0n, 800n, 600n, 900n])
    expect(s.clamped).toBe(false)
    expect(same(s.owners[0]!, s.denominator, 11n, 54n)).toBe(true) // 0.2037
    expect(same(s.owners[1]!, s.denominator, 1n, 9n)).toBe(true) // 0.1111
    expect(same(s.miner, s.denominator, 11n, 108n)).toBe(true) // 0.10185 each
    expect(same(s.thirdParty, s.denominator, 13n, 27n)).toBe(true) // 0.48148
    expect(s.owners[0]! + s.owners[1]! + 2n * s.miner + s.thirdParty).toBe(s.denominator)
    // Owners alone (Eq. 7.8): 0.6111 and 0.3889.
    const alone = Valuation.simpleModel(2, 0, [0n, 800n, 600n, 900n])
    expect(same(alone.owners[0]!, alone.denominator, 11n, 18n)).toBe(true)
    expect(same(alone.owners[1]!, alone.denominator, 7n, 18n)).toBe(true)
  })

  it("reproduces the PBFT example exactly: 7/24 for the healthy nodes, 1/8 for the one faulty in rounds 3 and 4", () => {
    const accounts = Array.from({ length: 4 }, () => Wallet.createRandom().address)
    const health = Valuation.healthWords(4, [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1]])
    const p = Valuation.miningShares({ rule: "PBFT", accounts, weights: [], rounds: 4, health })
    expect(p.numerators.map((x) => same(x, p.denominator, 7n, 24n))).toEqual([true, true, true, false])
    expect(same(p.numerators[3]!, p.denominator, 1n, 8n)).toBe(true)
    expect(p.numerators.reduce((a, b) => a + b, 0n)).toBe(p.denominator)
    // Over more than 256 rounds the evidence spans several words per validator.
    const long = Valuation.miningShares({ rule: "PBFT", accounts: accounts.slice(0, 2), weights: [], rounds: 300, health: Valuation.healthWords(300, [Array.from({ length: 300 }, (_, i) => i), [299]]) })
    expect(ratio(long.numerators[1]!, long.denominator)).toBeCloseTo(0.5 / 300, 12)
  })

  it("agrees with the floating-point reference on random score tables, and every split adds up to the unit", () => {
    for (let trial = 0; trial < 25; trial++) {
      const owners = 1 + (trial % 5)
      const miners = trial % 4
      const f1 = Array.from({ length: 1 << owners }, (_, m) => (m === 0 ? 0 : 0.5 + ((m * 7919 + trial * 104729) % 1000) / 2000))
      // Monotone in coalition size, so nothing is clamped and the floats are the reference.
      const monotone = (m: number) => (m === 0 ? 0 : f1[m]! + popcount(m))
      const scores = Valuation.fixedPointScores(owners, monotone, 1_000_000)
      const exact = Valuation.simpleModel(owners, miners, scores)
      expect(exact.owners.reduce((a, b) => a + b, 0n) + BigInt(miners) * exact.miner + exact.thirdParty).toBe(exact.denominator)
      const worth = (m: number) => Number(scores[m]!) / 1e6
      if (miners === 0) {
        const reference = Shapley.ownerShares(owners, worth)
        reference.shares.forEach((x, i) => expect(ratio(exact.owners[i]!, exact.denominator)).toBeCloseTo(x, 10))
      } else {
        const reference = Shapley.simpleModel(owners, miners, worth)
        reference.owners.forEach((x, i) => expect(ratio(exact.owners[i]!, exact.denominator)).toBeCloseTo(x, 10))
        expect(ratio(exact.miner, exact.denominator)).toBeCloseTo(reference.perMiner, 10)
        expect(ratio(exact.thirdParty, exact.denominator)).toBeCloseTo(reference.thirdParty, 10)
      }
    }
  })

  it("clamps a negative contribution to zero and renormalises the owners, keeping the split exact", () => {
    // Owner 1 makes every coalition worse: F1({1}) = 0.1, F1({0,1}) = 0.5 < F1({0}) = 0.9.
    const s = Valuation.simpleModel(2, 1, [0n, 900n, 100n, 500n])
    expect(s.clamped).toBe(true)
    expect(s.owners[1]).toBe(0n)
    expect(s.owners[0]! + s.miner + s.thirdParty).toBe(s.denominator)
    const unclamped = Shapley.simpleModel(2, 1, (m) => [0, 0.9, 0.1, 0.5][m]!)
    // The owners' group keeps its total; the miner and the third party keep theirs.
    expect(ratio(s.owners[0]!, s.denominator)).toBeCloseTo(unclamped.owners[0]! + unclamped.owners[1]!, 12)
    expect(ratio(s.miner, s.denominator)).toBeCloseTo(unclamped.perMiner, 12)
  })

  it("refuses score tables it cannot value", () => {
    expect(() => Valuation.simpleModel(2, 0, [0n, 1n, 1n])).toThrow(/needs 4 entries/)
    expect(() => Valuation.simpleModel(2, 0, [0n, 1n, 1n, 0n])).toThrow(/score is 0/)
    expect(() => Valuation.simpleModel(11, 0, [])).toThrow(/at most 10/)
    expect(() => Valuation.simpleModel(1, 0, [0n, 1n << 32n])).toThrow(/outside/)
  })

  it("pays whole points: each share floors, the miners' group splits by P_k, the remainder is the treasury's", () => {
    const [h1, h2, t0, m1, m2] = Array.from({ length: 5 }, () => Wallet.createRandom().address)
    const stream = Valuation.stream({ price: 1_000n, uses: 100n, thirdParty: t0!, owners: [h1!, h2!], miners: 2, scores: [0n, 800n, 600n, 900n], salt: `0x${"01".repeat(32)}` })
    const v: Valuation.Valuation = {
      settlementId: `0x${"02".repeat(32)}`,
      period: 1n,
      streams: [stream],
      miners: { rule: "PoW", accounts: [m1!, m2!], weights: [30n, 10n], rounds: 0, health: [] },
      testSetHash: `0x${"03".repeat(32)}`,
      modelHashes: []
    }
    const { entries, toTreasury, revenue } = Valuation.payouts(v)
    // §9.4 in hundredths of a token: 203.70, 111.11, 152.77, 50.92, 481.48.
    expect(entries.map((e) => e.amount)).toEqual([20_370n, 11_111n, 15_277n, 5_092n, 48_148n])
    expect(revenue).toBe(100_000n)
    expect(toTreasury).toBe(2n)
  })
})

const popcount = (x: number) => {
  let c = 0
  for (; x; x &= x - 1) c++
  return c
}
