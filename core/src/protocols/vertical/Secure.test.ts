import { Effect } from "effect"
import { modInverse } from "../../compute/TsKernels.ts"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { generateKeyPair } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import { expectPaillierError, TEST_KEYS } from "../../crypto/paillier/TestSupport.ts"
import * as Dealer from "../../crypto/threshold-paillier/Dealer.ts"
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

describe("packed slots through the threshold round trip", () => {
  it("pack → every party encrypts → homomorphic sum → proved partial decryptions → combine → unpack is the plain slot-wise sum (negative values and the slot bound included)", async () => {
    const parties = ["a", "b", "c"]
    // Shares travel unsealed here (a copy: the dealer wipes its buffer): the test is about the arithmetic.
    const ceremony = await Dealer.runDealerCeremony({ bits: 256, ...TEST_KEYS, threshold: parties.length, parties, encryptTo: (_, bytes) => bytes.slice() })
    const tpk = ceremony.publicKey
    const shares = ceremony.encryptedShares.map((s) => Dealer.acceptShare(tpk, s.ciphertext, s.index))
    const engine = await Effect.runPromise(Secure.engine(tpk, TEST_KEYS))
    const run = <A>(effect: Effect.Effect<A, Secure.ComputeFailure>) => Effect.runPromise(effect)
    // One party's vector for a layout of `valueBits` (headroom for the three parties' sum): values drawn up to the
    // bound, the bound itself, its negative, and zero.
    const vectors = fc.integer({ min: 2, max: 60 }).chain((valueBits) => {
      const edge = (1n << BigInt(valueBits)) - 1n
      const value = fc.oneof(fc.bigInt({ min: -edge, max: edge }), fc.constantFrom(edge, -edge, 0n))
      const slots = Packing.layout(tpk.publicKey, { valueBits, maxAddends: parties.length }).slots
      return fc.record({
        valueBits: fc.constant(valueBits),
        count: fc.integer({ min: 1, max: slots }),
        values: fc.array(fc.array(value, { minLength: slots, maxLength: slots }), { minLength: parties.length, maxLength: parties.length })
      })
    })
    await fc.assert(
      fc.asyncProperty(vectors, async ({ valueBits, count, values }) => {
        const layout = Packing.layout(tpk.publicKey, { valueBits, maxAddends: parties.length })
        const own = values.map((v) => v.slice(0, count))
        const encrypted = await Promise.all(own.map((v) => run(Secure.encryptSigned(engine, [Packing.pack(layout, v)]))))
        const total = Secure.sumLists(encrypted)
        const batches = await Promise.all(shares.map((share) => run(Secure.partialDecrypt(engine, share, total))))
        expect(await run(Secure.verify(engine, total, batches))).toEqual(batches.map(() => true))
        const [plain] = Secure.combineAll(engine, total, batches)
        const expected = own[0]!.map((_, i) => own.reduce((sum, v) => sum + v[i]!, 0n))
        expect(Packing.unpack(layout, plain!, count)).toEqual(expected)
      }),
      { numRuns: 12 }
    )
    // One past the bound is refused by name at encode time, before anything is encrypted.
    const layout = Packing.layout(tpk.publicKey, { valueBits: 20, maxAddends: parties.length })
    expectPaillierError(() => Packing.pack(layout, [0n, 1n << 20n]), "PackingOverflow")
    expectPaillierError(() => Packing.pack(layout, [-(1n << 20n)]), "PackingOverflow")
  }, 60_000)
})

describe("encryption randomness made ahead (Secure.Stock)", () => {
  it("fills in idle-time jobs, encrypts from it while it lasts and takes each value once", async () => {
    const { publicKey: pk, privateKey: sk } = await generateKeyPair({ bits: 1024, ...TEST_KEYS })
    const inline = await Effect.runPromise(Secure.engine({ publicKey: pk } as ThresholdPublicKey, TEST_KEYS))
    // The inline runner has no time to spare: nothing is made ahead, encryptions draw their own randomness.
    const none = Secure.stock(pk, 8)
    await Effect.runPromise(Secure.refill(inline, none))
    expect(none.pool.size).toBe(0)
    // A runner with idle time: its idle jobs are the inline table's, counted.
    let idleJobs = 0
    const runIdle = (job: string, input: Uint8Array) => Effect.map(inline.runner.runAll(job, [input]), ([out]) => (idleJobs++, out!))
    const engine: Secure.Engine = { ...inline, runner: { ...inline.runner, runIdle } }
    const filled = Secure.stock(pk, 10)
    await Effect.runPromise(Secure.refill(engine, filled))
    // The refill runs in the background: wait for it to end (not for a fixed time, which a loaded machine outlasts).
    while (filled.filling) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(filled.pool.size).toBe(16)
    expect(idleJobs).toBe(2)
    expect(filled.filling).toBe(false)
    // Encryptions take the stock's values first, one each, then draw their own.
    const stock = Secure.stock(pk, 4)
    const source = Randomness.direct(pk, inline.kernels)
    const ahead = [source(), source(), source()]
    stock.pool.add(ahead)
    const values = [5n, -40_000n, 0n, 123_456_789n, -1n]
    const cs = await Effect.runPromise(Secure.encryptSigned(engine, values, undefined, stock))
    expect(cs.map((c) => Paillier.toSigned(pk, Paillier.decrypt(sk, c)))).toEqual(values)
    expect(stock.pool.size).toBe(0)
    expect(stock.draws).toEqual({ taken: 3, missed: 2 })
    // c = (1 + mN)·ρ mod N²: the ρ of each ciphertext.
    const rhos = cs.map((c, i) => (c.value * modInverse(1n + Paillier.toResidue(pk, values[i]!) * pk.n, pk.n2)) % pk.n2)
    expect(new Set(rhos.slice(0, 3))).toEqual(new Set(ahead))
    expect(rhos.slice(3).some((r) => ahead.includes(r))).toBe(false)
  })
})
