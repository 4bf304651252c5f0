import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Shamir from "./Shamir.ts"

const holders = ["a", "b", "c", "d", "e"]
const secret = crypto.getRandomValues(new Uint8Array(32))

const subsets = <T>(items: ReadonlyArray<T>, size: number): Array<Array<T>> =>
  size === 0 ? [[]] : items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]))

describe("Shamir", () => {
  it("reconstructs from every subset of t shares, and from all n", async () => {
    const shares = await Effect.runPromise(Shamir.split(secret, holders, 3))
    expect(shares.map((s) => s.holder)).toEqual(holders)
    for (const subset of subsets(shares, 3)) {
      expect(await Effect.runPromise(Shamir.combine(subset))).toEqual(secret)
    }
    expect(await Effect.runPromise(Shamir.combine(shares))).toEqual(secret)
  })

  it("refuses t − 1 shares (the library alone would return a wrong secret)", async () => {
    const shares = await Effect.runPromise(Shamir.split(secret, holders, 3))
    const error = await Effect.runPromise(Effect.flip(Shamir.combine(shares.slice(0, 2))))
    expect(error.reason).toBe("TooFewShares")
    expect(error.detail).toContain("needed 3")
  })

  it("refuses inconsistent shares: mixed thresholds, duplicates, lengths", async () => {
    const three = await Effect.runPromise(Shamir.split(secret, holders, 3))
    const two = await Effect.runPromise(Shamir.split(secret, holders, 2))
    const reason = async (shares: ReadonlyArray<Shamir.Share>, threshold?: number) =>
      (await Effect.runPromise(Effect.flip(Shamir.combine(shares, threshold)))).reason
    expect(await reason([three[0]!, three[1]!, two[2]!])).toBe("InconsistentShares")
    expect(await reason([three[0]!, three[0]!, three[1]!])).toBe("InconsistentShares")
    expect(await reason([three[0]!, three[1]!, { ...three[2]!, bytes: three[2]!.bytes.slice(1) }])).toBe("InconsistentShares")
    expect(await reason(three, 4)).toBe("InconsistentShares")
  })

  it("rejects bad parameters", async () => {
    const reason = async (effect: ReturnType<typeof Shamir.split>) => (await Effect.runPromise(Effect.flip(effect))).reason
    expect(await reason(Shamir.split(secret, holders, 1))).toBe("InvalidParameters")
    expect(await reason(Shamir.split(secret, holders, 6))).toBe("InvalidParameters")
    expect(await reason(Shamir.split(secret, ["a", "a", "b"], 2))).toBe("InvalidParameters")
    expect(await reason(Shamir.split(new Uint8Array(0), holders, 2))).toBe("InvalidParameters")
  })
})
