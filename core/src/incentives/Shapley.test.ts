import { describe, expect, it } from "vitest"
import * as Shapley from "./Shapley.ts"

// PROTOCOLS.md §9.4: H1, H2, T0, miners M1, M2 (PoW 30 and 10); F1({H1}) = .8, F1({H2}) = .6, F1({H1,H2}) = .9.
const f1 = (s: number) => [0, 0.8, 0.6, 0.9][s]!

describe("Shapley (PROTOCOLS.md §9)", () => {
  it("reproduces the owners-only split of §9.4 (0.6111 / 0.3889)", () => {
    const { shares } = Shapley.ownerShares(2, f1)
    expect(shares[0]).toBeCloseTo(0.6111, 4)
    expect(shares[1]).toBeCloseTo(0.3889, 4)
  })

  it("reproduces the full simple model of §9.4 and matches a brute force over all 5! orderings", () => {
    const m = Shapley.simpleModel(2, 2, f1)
    const v = 1000
    expect(m.owners[0]! * v).toBeCloseTo(203.7, 2)
    expect(m.owners[1]! * v).toBeCloseTo(111.11, 2)
    expect(m.perMiner).toBeCloseTo(0.10185, 5)
    expect(2 * m.perMiner * v).toBeCloseTo(203.7, 2)
    const p = Shapley.powShares([30, 10])
    expect(p).toEqual([0.75, 0.25])
    expect(p[0]! * 2 * m.perMiner * v).toBeCloseTo(152.78, 2)
    expect(p[1]! * 2 * m.perMiner * v).toBeCloseTo(50.93, 2)
    expect(m.thirdParty * v).toBeCloseTo(481.48, 2)
    expect(m.owners[0]! + m.owners[1]! + 2 * m.perMiner + m.thirdParty).toBeCloseTo(1, 12)

    // Players 0,1 = H1,H2; 2 = T0; 3,4 = miners. v(S) = v(N)·F1(owners)/F1(H) when S holds T0, a miner and an owner.
    const worth = (s: number) => {
      const owners = s & 3
      return s & 4 && s & 24 && owners ? (v * f1(owners)) / 0.9 : 0
    }
    const brute = Shapley.bruteForce(5, worth)
    expect(brute[0]).toBeCloseTo(m.owners[0]! * v, 9)
    expect(brute[1]).toBeCloseTo(m.owners[1]! * v, 9)
    expect(brute[2]).toBeCloseTo(m.thirdParty * v, 9)
    expect(brute[3]).toBeCloseTo(m.perMiner * v, 9)
    expect(Shapley.exact(5, worth).map((x) => x.toFixed(9))).toEqual(brute.map((x) => x.toFixed(9)))
  })

  it("settles the §9.4 example in integer points that sum exactly to the revenue", () => {
    const m = Shapley.simpleModel(2, 2, f1)
    const p = Shapley.powShares([30, 10])
    const shares = [m.owners[0]!, m.owners[1]!, p[0]! * 2 * m.perMiner, p[1]! * 2 * m.perMiner, m.thirdParty]
    const lr = Shapley.payouts(1000n, shares)
    expect(lr.amounts).toEqual([204n, 111n, 153n, 51n, 481n])
    expect(lr.amounts.reduce((a, b) => a + b, 0n)).toBe(1000n)
    const ft = Shapley.payouts(1000n, shares, "floor-treasury")
    expect(ft.amounts).toEqual([203n, 111n, 152n, 50n, 481n])
    expect(ft.amounts.reduce((a, b) => a + b, 0n) + ft.toTreasury).toBe(1000n)
  })

  it("reproduces the PBFT example of §9.3 (0.2917 ×3, 0.125)", () => {
    const shares = Shapley.pbftShares(4, [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1]])
    expect(shares.slice(0, 3).every((s) => Math.abs(s - 0.2917) < 1e-4)).toBe(true)
    expect(shares[3]).toBeCloseTo(0.125, 12)
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
  })

  it("clamps negative contributions, renormalises and says so", () => {
    const messages: Array<string> = []
    // Owner 2 makes every coalition worse.
    const worth = (s: number) => (s & 1 ? 0.8 : 0) + (s & 2 ? 0.1 : 0) - (s & 4 ? 0.2 : 0)
    const r = Shapley.ownerShares(3, worth, { log: (m) => messages.push(m) })
    expect(r.raw[2]).toBeLessThan(0)
    expect(r.clamped).toEqual([2])
    expect(r.shares[2]).toBe(0)
    expect(r.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    expect(messages[0]).toMatch(/clamped/)
  })

  it("estimates by Monte Carlo beyond 10 owners, within a few standard errors of the exact values", () => {
    const n = 12
    const size = Array.from({ length: n }, (_, i) => i + 1)
    // A non-additive worth: saturating in the total size.
    const worth = (s: number) => {
      let t = 0
      for (let i = 0; i < n; i++) if (s & (1 << i)) t += size[i]!
      return Math.sqrt(t)
    }
    const r = Shapley.ownerShares(n, worth, { permutations: 2000 })
    expect(r.method).toBe("monte-carlo")
    const exact = Shapley.exact(n, worth)
    const full = worth((1 << n) - 1)
    expect(r.raw.reduce((a, b) => a + b, 0)).toBeCloseTo(full, 9)
    for (let i = 0; i < n; i++) expect(Math.abs(r.raw[i]! - exact[i]!)).toBeLessThanOrEqual(5 * r.standardError![i]! + 1e-9)
  })
})
