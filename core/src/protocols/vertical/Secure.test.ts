import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { generateKeyPair } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import { TEST_KEYS } from "../../crypto/paillier/TestSupport.ts"
import type { ThresholdPublicKey } from "../../crypto/threshold-paillier/ThresholdPaillier.ts"
import * as Secure from "./Secure.ts"

const shape: Secure.Shape = { parties: 3, kappa: 40, scaleBits: 12, featureBound: 16, batchSize: 60, model: "svm" }

describe("the judge's per-slot blinding (Secure.blindPacked)", () => {
  it("keeps every row's sign and shares no factor between the rows of a ciphertext", async () => {
    const { publicKey: pk, privateKey: sk } = await generateKeyPair({ bits: 1024, ...TEST_KEYS })
    // Blinding reads the engine's Paillier key, kernels and job runner; a plain key stands in for the threshold one.
    const engine = await Effect.runPromise(Secure.engine({ publicKey: pk } as ThresholdPublicKey, TEST_KEYS))
    const layout = Secure.judgeLayout(pk, shape)
    expect(layout.slots).toBeGreaterThan(4)
    // Equal rows and rows of both signs; under a factor shared by a ciphertext's rows, equal rows would decrypt
    // within η/ρ < 1/|v| of each other.
    const values = [...Array.from({ length: 2 * layout.slots }, () => 1000n), -7n, 5n, -123_456n]
    // Each row encrypted in its slot, as the score stage sends it.
    const rows = values.map((v, j) => Paillier.encryptSigned(pk, Secure.judgeRow(layout, j, v)))
    const contributions = await Effect.runPromise(Effect.all([0, 1, 2].map(() => Secure.blindPacked(engine, layout, shape.kappa, rows))))
    const summed = Secure.sumLists(contributions)
    expect(summed).toHaveLength(Math.ceil(values.length / layout.slots))
    const slots = summed.flatMap((c) => Packing.decryptPacked(sk, layout, c)).slice(0, values.length)
    const low = 3n << BigInt(shape.kappa)
    const high = 3n << BigInt(shape.kappa + 1)
    values.forEach((v, j) => {
      const s = slots[j]!
      expect(s > 0n, `row ${j}`).toBe(v > 0n)
      const magnitude = s < 0n ? -s : s
      const abs = v < 0n ? -v : v
      // A slot is (Σ ρ)·v + Σ η with ρ ∈ [2^κ, 2^(κ+1)) and η ∈ [0, ρ) per party: in magnitude at least
      // 3·2^κ·(|v| − 1) (v < 0: η pulls towards zero) and below 3·2^(κ+1)·(|v| + 1) (v > 0: η pushes away).
      expect(magnitude >= low * (abs - 1n) && magnitude < high * (abs + 1n), `row ${j}`).toBe(true)
    })
    const equal = slots.slice(0, 2 * layout.slots).map(Number)
    expect(Math.max(...equal) / Math.min(...equal)).toBeGreaterThan(1.05)
  })
})
