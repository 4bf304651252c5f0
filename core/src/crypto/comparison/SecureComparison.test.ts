import { beforeAll, describe, expect, it } from "vitest"
import { generator as nodePrimeGenerator } from "@jointly/backends/internal/node/OpenSslPrimes"
import { randomBelow } from "../../compute/Primes.ts"
import * as Keys from "../paillier/Keys.ts"
import * as Paillier from "../paillier/Paillier.ts"
import { expectTypedError, TEST_KEYS } from "../paillier/TestSupport.ts"
import * as Dealer from "../threshold-paillier/Dealer.ts"
import * as Threshold from "../threshold-paillier/ThresholdPaillier.ts"
import * as Comparison from "./SecureComparison.ts"

const S2 = 1n << 32n // S = 2^16
const MAX_A = 1n << 60n

// Margins around the threshold a = S² (real 1), where the source's comparisons were wrong.
const cases = (): Array<bigint> => [S2, S2 - 1n, S2 + 1n, 0n, -1n, -S2, 2n * S2, -MAX_A, MAX_A, randomBelow(2n * MAX_A) - MAX_A]

describe("Secure comparison", () => {
  let keys: Keys.KeyPair
  beforeAll(async () => {
    keys = await Keys.generateKeyPair({ bits: 512, ...TEST_KEYS })
  })

  it("Mode B: I = [a < S²] exactly, including a = S² ± 1, for both hidden signs", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const flips = new Set<boolean>()
    for (let round = 0; round < 3; round++) {
      for (const a of cases()) {
        const blinding = Comparison.signHiddenBlind(Paillier.encryptSigned(pk, a), { maxAbsA: MAX_A, scaleSquared: S2 })
        flips.add(blinding.flipped)
        const beta = Comparison.signOf(sk, blinding.blinded)
        expect(Comparison.unblind(blinding, beta)).toBe(a < S2)
        // What C decrypts is |z| ≥ r1 ≥ 2^κ: never 0, never revealing the sign of u on its own.
        expect(Paillier.decryptSigned(sk, blinding.blinded) !== 0n).toBe(true)
      }
    }
    expect(flips.size).toBe(2)
  })

  it("§6.3: sequential blinding by 3 parties keeps the sign; threshold decryption gives I", async () => {
    const [p, q] = await Promise.all([nodePrimeGenerator(256, { safe: true }), nodePrimeGenerator(256, { safe: true })])
    const { publicKey: tpk, shares } = Dealer.dealFromSafePrimes(p, q, 3, 3, TEST_KEYS)
    const pk = tpk.publicKey
    Comparison.checkHeadroom(pk, Comparison.maxAbsU(MAX_A, S2), 3)
    for (const a of cases()) {
      // a is the sum of the parties' partial margins (Eq. 5.5).
      const parts = [a - 7n, 3n, 4n].map((x) => Paillier.encryptSigned(pk, x))
      let c = Comparison.judgeInput(Paillier.sum(parts), S2)
      for (let party = 0; party < 3; party++) c = Comparison.blindStep(c)
      const v = Threshold.combine(tpk, c, shares.map((s) => Threshold.partialDecrypt(s, c)))
      expect(Comparison.isNegative(pk, v)).toBe(a < S2)
    }
  })

  it("headroom: refuses bounds whose blinding could wrap past N/2", () => {
    const pk = keys.publicKey
    expectTypedError(() => Comparison.checkHeadroom(pk, 1n << 400n, 3), "ComparisonError", "HeadroomExceeded")
    expectTypedError(
      () => Comparison.signHiddenBlind(Paillier.encrypt(pk, 1n), { maxAbsA: 1n << 470n, scaleSquared: S2 }),
      "ComparisonError",
      "HeadroomExceeded"
    )
    expectTypedError(() => Comparison.checkHeadroom(pk, 5n, 0), "ComparisonError", "InvalidParameters")
    expectTypedError(() => Comparison.blindStep(Paillier.encrypt(pk, 1n), { kappa: 0 }), "ComparisonError", "InvalidParameters")
  })
})
