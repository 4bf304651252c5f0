/**
 * Which keys a participant accepts, through the protocols' own declarations (ProtocolDefinition.keyMaterial)
 * as the agent checks every offer: production minimums whatever the params ask, a policy that raises them, a
 * policy that tries to lower them refused at load, and the test harness the only way below.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { ckksSecurity } from "@jointly/core/internal/crypto/KeyMaterial"
import { lookup } from "@jointly/core/internal/protocols/Protocols"
import * as ConsentPolicy from "./ConsentPolicy.ts"
import * as KeyPolicy from "./KeyPolicy.ts"

const materialOf = (kind: string, params: unknown) => lookup(kind)!.keyMaterial?.(params as never) ?? {}
const production = KeyPolicy.minimums(undefined)

describe("key material declared by the protocols", () => {
  it("names the Paillier size of vertical training and SecureSVM mode B, none for mode A and statistics", () => {
    expect(materialOf("modeling.vertical-svm", { keyBits: 1024 })).toEqual({ paillierBits: 1024 })
    expect(materialOf("modeling.vertical-logistic", {})).toEqual({ paillierBits: 2048 })
    expect(materialOf("modeling.secure-svm", { mode: "B", keyBits: 3072 })).toEqual({ paillierBits: 3072 })
    expect(materialOf("modeling.secure-svm", { mode: "A" })).toEqual({})
    expect(materialOf("query.intersection-sum", {})).toEqual({ paillierBits: 2048 })
    expect(materialOf("modeling.secureboost", {})).toEqual({ paillierBits: 2048 })
    expect(materialOf("modeling.secureboost", { keyBits: 3072 })).toEqual({ paillierBits: 3072 })
    expect(materialOf("statistics.horizontal", {})).toEqual({})
  })

  it("rates CKKS parameters by the HE standard's bounds", () => {
    expect(ckksSecurity({ polyModulusDegree: 8192, coeffModulusBits: [60, 40, 40, 60] })).toBe(128)
    expect(ckksSecurity({ polyModulusDegree: 16384, coeffModulusBits: [60, 40, 40, 60] })).toBe(256)
    expect(ckksSecurity({ polyModulusDegree: 8192, coeffModulusBits: [60, 60, 60, 60] })).toBe(0)
    expect(materialOf("prediction.encrypted-linear", {})).toEqual({ ckksSecurity: 128 })
    expect(materialOf("prediction.encrypted-linear", { ckks: { polyModulusDegree: 8192, coeffModulusBits: [60, 50, 50, 60], scaleBits: 50 } })).toEqual({ ckksSecurity: 0 })
    expect(materialOf("modeling.horizontal-fl", { aggregation: "ckks" })).toEqual({ ckksSecurity: 128 })
  })
})

describe("KeyPolicy", () => {
  it("refuses below 2048-bit Paillier and 128-bit CKKS by default, naming the size", () => {
    expect(KeyPolicy.refusal(materialOf("modeling.vertical-svm", { keyBits: 1024 }), production))
      .toBe("the task asks for 1024-bit Paillier keys; this participant accepts 2048 bits or more")
    expect(KeyPolicy.refusal(materialOf("modeling.vertical-svm", { keyBits: 2048 }), production)).toBeUndefined()
    expect(KeyPolicy.refusal({ ckksSecurity: 0 }, production)).toBe("the task's CKKS parameters give below 128-bit security; this participant accepts 128-bit or more")
  })

  it("lets a policy raise the minimums but never lower them outside the test harness", async () => {
    const raised = KeyPolicy.minimums({ minPaillierBits: 3072, minCkksSecurity: 192 })
    expect(KeyPolicy.refusal({ paillierBits: 2048 }, raised)).toContain("accepts 3072 bits or more")
    expect(KeyPolicy.refusal(materialOf("modeling.secureboost", {}), raised)).toContain("accepts 3072 bits or more")
    expect(KeyPolicy.refusal({ ckksSecurity: 128 }, raised)).toContain("accepts 192-bit or more")
    const base = { mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: {} }
    const lowered = await Effect.runPromise(Effect.flip(ConsentPolicy.decode({ ...base, keys: { minPaillierBits: 1024 } })))
    expect(lowered.field).toBe("keys.minPaillierBits")
    expect((await Effect.runPromise(ConsentPolicy.decode({ ...base, keys: { minPaillierBits: 3072 } }))).keys).toEqual({ minPaillierBits: 3072 })
  })

  it("goes below production sizes only under the test harness", () => {
    const harness = KeyPolicy.minimums(undefined, { unsafeTestKeySizes: true })
    expect(KeyPolicy.refusal({ paillierBits: 512 }, harness)).toBeUndefined()
    expect(KeyPolicy.refusal({ paillierBits: 512 }, KeyPolicy.minimums({ minPaillierBits: 2048 }, { unsafeTestKeySizes: true }))).toContain("512-bit")
  })
})
