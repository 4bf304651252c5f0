/**
 * Mode B's packed sign-hidden comparison (Blind.ts) on crafted margins: the provider's I_i = β_i XOR [s_i = −1]
 * must equal [a_i < θ] at and around the threshold and far from it, over the portable kernels and the Node
 * backends' native ones (whose packing folds the re-randomisation into the chunk's multi-exponentiation), with and
 * without the analyst's shifted model copies (slot groups); and a packed ciphertext must carry fresh randomness even
 * when the model's ciphertexts carry none.
 */
import { Context } from "effect"
import { describe, expect, it } from "vitest"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as Kernels from "../../compute/Kernels.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as Blind from "./Blind.ts"

const backends = await Backends.build(NodeBackends.layer())
const native = Context.get(backends.context, Kernels.BigIntKernels)
const keys = await Keys.generateKeyPair({ bits: 1024, unsafeAllowTestKeySizes: true })
const pk = keys.publicKey

// w = (1, −2), b = 3 at "scale" θ = S² = 2^20: a = y·(x_1 − 2·x_2 + 3).
const weights = [1n, -2n]
const bias = 3n
const theta = 1n << 20n
const kappa = 40
const maxFeature = 1n << 30n

/** Row (y·x_1, y·x_2) and label y with margin exactly `a` (x_2 free). */
const rowFor = (a: bigint, y: 1 | -1, x2: bigint) => {
  const x1 = BigInt(y) * a - bias + 2n * x2
  return { entries: [BigInt(y) * x1, BigInt(y) * x2], y, a }
}

const targets = [theta - 1n, theta, theta + 1n, theta - 2n, theta + 2n, 0n, -theta, 2n * theta, theta - (1n << 29n), theta + (1n << 29n), -1n, 1n]
const rows = targets.flatMap((a, i) => [rowFor(a, 1, BigInt(i) - 5n), rowFor(a, -1, BigInt(7 - i))])

const encryptModel = (randomness?: () => bigint) => [...weights, bias].map((v) => Paillier.encryptSigned(pk, v, randomness))

const slotBits = Blind.slotBitsFor(pk, weights, bias, maxFeature, theta, kappa)
const powers = Blind.randomnessPowers(pk, native)

const compare = (kernels: BigIntKernels, model: ReadonlyArray<Paillier.Ciphertext>, shifted?: ReadonlyArray<ReadonlyArray<Paillier.Ciphertext>>) => {
  const out = Blind.blindCompare(pk, model, {
    rows: rows.flatMap((r) => r.entries),
    labels: rows.map((r) => r.y),
    theta,
    kappa,
    slotBits,
    ...(shifted === undefined ? {} : { shifted })
  }, kernels, undefined, kernels === native ? powers : undefined)
  const layout = Blind.layoutFor(pk, slotBits)
  const beta = Blind.signs(layout, out.packed.map((c) => Paillier.decrypt(keys.privateKey, c)), pk, rows.length)
  return { out, layout, indicators: Array.from(beta, (b, i) => (b ^ out.flips[i]!) === 1) }
}

describe("Mode B's packed sign-hidden comparison", () => {
  const withCopies = () => Blind.shiftedCopies(pk, [...weights, bias], slotBits, Randomness.direct(pk))
  for (const [name, kernels, copies] of [["portable", tsKernels, false], ["native", native, false], ["native, slot groups' shifted copies,", native, true]] as const) {
    it(`${name} kernels: I = [a < θ] on crafted margins at, around and far from θ, with either label and either hidden sign`, () => {
      const expected = rows.map((r) => r.a < theta)
      const model = encryptModel()
      const shifted = copies ? withCopies() : undefined
      if (copies) expect(shifted!.length).toBe(Blind.SLOT_GROUPS - 1)
      // The hidden signs are random: repeat until both signs have met every row (the result must not depend on them;
      // 40 runs leave a row one-signed with probability 2^-39).
      const seen = rows.map(() => new Set<number>())
      for (let run = 0; run < 40 && seen.some((s) => s.size < 2); run++) {
        const { out, indicators } = compare(kernels, model, shifted)
        expect(indicators).toEqual(expected)
        out.flips.forEach((f, i) => seen[i]!.add(f))
      }
      expect(seen.every((s) => s.size === 2)).toBe(true)
    })
  }

  it("h_s^r over the randomness powers equals h_s^r, for spans shorter and longer than a power step", () => {
    for (const span of [1, 42, 64, 65, 300, 616, pk.randomnessBits]) {
      const r = (1n << BigInt(pk.randomnessBits - 1)) + BigInt(span) * 0x9e3779b97f4a7c15n
      const { bases, exponents } = Blind.randomnessTerms(powers, r, span)
      expect(native.multiExp!(bases, exponents, pk.n2)).toBe(tsKernels.modPow(pk.hs, r, pk.n2))
      expect(exponents.every((e) => e < 1n << BigInt(Math.ceil(span / 64) * 64))).toBe(true)
    }
  })

  it("h_s^r by the powers' product (providers' pads) and by the factors' tables (analyst) equals h_s^r, at every r size", () => {
    const byPowers = Blind.powersPower(pk, native)!
    const byFactors = Randomness.factorPower(keys.privateKey, native)!
    const top = (1n << BigInt(pk.randomnessBits)) - 1n
    for (const r of [0n, 1n, 2n, (1n << 64n) - 1n, 1n << 64n, top >> 1n, top, 0xd1b54a32d192ed03n * 0x9e3779b97f4a7c15n + 12345n]) {
      const expected = tsKernels.modPow(pk.hs, r, pk.n2)
      expect(byPowers(r)).toBe(expected)
      expect(byFactors(r)).toBe(expected)
    }
    expect(() => byPowers(top + 1n)).toThrow(RangeError)
    // As sources: values of the key's randomness that decrypt to the message they carry.
    for (const source of [Blind.padRandomnessFor(pk, native), Blind.modelRandomnessFor(keys.privateKey, native)]) {
      const c = Paillier.encryptSigned(pk, -77n, source)
      expect(Paillier.toSigned(pk, Paillier.decrypt(keys.privateKey, c))).toBe(-77n)
      expect(c.value).not.toBe((1n + (pk.n - 77n) * pk.n) % pk.n2)
    }
  })

  it("one inversion for the model and its copies gives every ciphertext's inverse mod N² (portable kernels)", () => {
    const models = [encryptModel(), ...withCopies()]
    const all = Blind.modelTablesOf(pk, models, 24, tsKernels)
    expect(all.length).toBe(models.length)
    all.forEach((t, g) => {
      t.weights.forEach((w, k) => expect((w * t.inverses![k]!) % pk.n2).toBe(1n))
      expect(t.weights).toEqual(models[g]!.slice(0, weights.length).map((c) => c.value))
      expect((t.bias * t.biasInverse!) % pk.n2).toBe(1n)
    })
  })

  it("native margin tables (offset exponents, no inverses) give Π [[w_k]]^(e_k)·[[b]]^(±1) for signed exponents up to the bound", () => {
    const models = [encryptModel(), ...withCopies()]
    const bits = 24
    const all = Blind.modelTablesOf(pk, models, bits, native)
    const top = (1n << BigInt(bits)) - 1n
    const power = (c: bigint, e: bigint) => e >= 0n ? tsKernels.modPow(c, e, pk.n2) : tsKernels.modPow(tsKernels.modInverse(c, pk.n2), -e, pk.n2)
    all.forEach((t, g) => {
      expect(t.inverses).toBeUndefined()
      const cts = models[g]!.map((c) => c.value)
      for (const [exponents, biasExponent] of [[[top, -top], 1n], [[-top, 0n], -1n], [[5n, -3n], 1n], [[0n, 0n], -1n]] as const) {
        const expected = exponents.reduce((acc, e, k) => (acc * power(cts[k]!, e)) % pk.n2, power(cts[weights.length]!, biasExponent))
        expect(t.margin!(exponents, biasExponent)).toBe(expected)
      }
    })
  })

  it("native kernels: a packed ciphertext is re-randomised even when the model's ciphertexts carry no randomness", () => {
    // With ρ = 1 for every [[w_k]], [[b]] and their copies, the packed product alone would be exactly 1 + z·N mod N².
    const model = encryptModel(() => 1n)
    const { out } = compare(native, model, Blind.shiftedCopies(pk, [...weights, bias], slotBits, () => 1n))
    expect(out.packed.length).toBeGreaterThan(0)
    for (const c of out.packed) {
      const m = Paillier.decrypt(keys.privateKey, c)
      expect(c.value).not.toBe((1n + m * pk.n) % pk.n2)
    }
  })
})
