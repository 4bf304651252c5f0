/**
 * The feature holders' homomorphic histograms, checked against plaintext sums: random rows with random signed
 * g and positive h over several nodes and features, split over several row chunks and pack jobs (a runner of
 * size 3 that runs the job functions inline), decrypted with the private key and unpacked. Covers the derived
 * mode bin, the cumulative cells, cells straddling pack jobs, empty nodes and one-bin columns; then the
 * reduced-leakage bit selection, the headroom checks and the binning rule.
 */
import { Effect, Layer } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { JobRunner, inline } from "../../compute/JobRunner.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { generateKeyPair, type KeyPair } from "../../crypto/paillier/Keys.ts"
import * as PaillierJobs from "../../crypto/paillier/Jobs.ts"
import * as Binning from "./Binning.ts"
import * as Compute from "./Compute.ts"
import { SecureBoostError } from "./Errors.ts"
import * as Fixtures from "../../testing/SecureBoostFixtures.ts"
import * as GhPacking from "./GhPacking.ts"
import * as Jobs from "./Jobs.ts"
import * as Split from "./Split.ts"

const policy = { unsafeAllowTestKeySizes: true }
let keys: KeyPair
beforeAll(async () => {
  keys = await generateKeyPair({ bits: 1024, ...policy })
}, 60_000)

/** Job functions inline, announced as a pool of 3 so batches are split as on a real pool. */
const three = Layer.succeed(JobRunner, { ...inline({ ...PaillierJobs.makePaillierJobs(tsKernels, policy), ...Jobs.makeSecureBoostJobs(tsKernels, policy) }), size: 3 })
const run = <A>(effect: Effect.Effect<A, SecureBoostError, never>) => Effect.runPromise(effect)

describe("secureboost.histogram + secureboost.pack-cells", () => {
  it("decrypt to the plaintext cumulative sums of every (node, feature, bin)", async () => {
    const random = Fixtures.prng(11)
    const rows = 700
    const binCounts = [5, 1, 17, 2, 9]
    const F = binCounts.length
    const codes = binCounts.map((b) => Uint8Array.from({ length: rows }, () => Math.floor(random() * random() * b)))
    const gq = Float64Array.from({ length: rows }, () => Math.round((random() * 2 - 1) * 2 ** 24))
    const hq = Float64Array.from({ length: rows }, () => Math.round(random() * 2 ** 22))
    // Three nodes: two row sets and an empty one.
    const nodes = [Uint32Array.from({ length: 400 }, (_, i) => i), Uint32Array.from({ length: 300 }, (_, i) => 400 + i), new Uint32Array(0)]
    const all = Uint32Array.from({ length: rows }, (_, i) => i)
    const modes = codes.map((c, f) => Binning.modeBin(c, all, binCounts[f]!))
    const layout = GhPacking.layoutFor(keys.publicKey, GhPacking.valueBitsOf(gq, hq, all), rows)
    // Cells straddle ciphertexts and pack jobs: 3 nodes × 28 cells with this layout's cells per ciphertext.
    expect(layout.cellsPerCiphertext).toBeLessThan(28)

    const engine = await Effect.runPromise(Effect.provide(Compute.engine(keys.publicKey, policy, 1), three))
    const encrypted = await run(Compute.encrypt(engine, Array.from(all, (r) => GhPacking.rowPlaintext(layout, gq[r]!, hq[r]!))))
    const order = nodes.flatMap((n) => Array.from(n))
    const packed = await run(Compute.histograms(engine, {
      ciphertexts: Uint8Array.from(order.flatMap((r) => Array.from(encrypted.subarray(r * engine.width, (r + 1) * engine.width)))),
      nodeOf: Uint16Array.from(nodes.flatMap((n, k) => Array.from(n, () => k))),
      codes: Uint8Array.from(order.flatMap((r) => codes.map((c) => c[r]!))),
      nodes: nodes.length,
      binCounts,
      modes,
      slotBits: layout.slotBits,
      cellsPerCiphertext: layout.cellsPerCiphertext
    }))
    const cells = nodes.length * binCounts.reduce((a, b) => a + b - 1, 0)
    expect(packed.length / engine.width).toBe(GhPacking.ciphertextsFor(layout, cells))
    const plaintexts = await run(Compute.decrypt(engine, keys.privateKey, packed))
    const flat = plaintexts.flatMap((x, c) => GhPacking.unpackCells(layout, x, Math.min(layout.cellsPerCiphertext, cells - c * layout.cellsPerCiphertext)))
    const expected: Array<number> = []
    for (const node of nodes) {
      for (let f = 0; f < F; f++) {
        const cum = Split.cumulative(codes[f]!, binCounts[f]!, node, gq, hq)
        for (let b = 0; b < binCounts[f]! - 1; b++) expected.push(cum.g[b]!, cum.h[b]!)
      }
    }
    expect(flat).toEqual(expected)
  }, 120_000)

  it("returned sums carry fresh randomness: the same request twice gives different ciphertexts", async () => {
    const engine = await Effect.runPromise(Effect.provide(Compute.engine(keys.publicKey, policy, 1), three))
    const layout = GhPacking.layoutFor(keys.publicKey, 4, 2)
    const cts = await run(Compute.encrypt(engine, [GhPacking.rowPlaintext(layout, 3, 1), GhPacking.rowPlaintext(layout, -2, 5)]))
    const level = { ciphertexts: cts, nodeOf: Uint16Array.of(0, 0), codes: Uint8Array.of(0, 1), nodes: 1, binCounts: [2], modes: [1], slotBits: layout.slotBits, cellsPerCiphertext: layout.cellsPerCiphertext }
    const [a, b] = await Promise.all([run(Compute.histograms(engine, level)), run(Compute.histograms(engine, level))])
    expect(a).not.toEqual(b)
    const [x, y] = [await run(Compute.decrypt(engine, keys.privateKey, a)), await run(Compute.decrypt(engine, keys.privateKey, b))]
    expect(GhPacking.unpackCells(layout, x[0]!, 1)).toEqual([3, 1])
    expect(y).toEqual(x)
  }, 60_000)
})

describe("secureboost.select-bits", () => {
  it("reveals the decisions of the indicated rows only", async () => {
    const engine = await Effect.runPromise(Effect.provide(Compute.engine(keys.publicKey, policy, 1), three))
    const random = Fixtures.prng(5)
    // More rows than one ciphertext holds (bits(N) − 2 = 1022), so chunks and jobs split.
    const m = 2500
    const inNode = Uint8Array.from({ length: m }, () => (random() < 0.3 ? 1 : 0))
    const decisions = Uint8Array.from({ length: m }, () => (random() < 0.5 ? 1 : 0))
    const indicators = await run(Compute.encrypt(engine, Array.from(inNode, BigInt)))
    const packed = await run(Compute.selectBits(engine, indicators, decisions))
    expect(packed.length / engine.width).toBe(Math.ceil(m / 1022))
    const values = await run(Compute.decrypt(engine, keys.privateKey, packed))
    const bits = new Uint8Array(m)
    values.forEach((x, c) => {
      for (let j = 0; j < 1022 && c * 1022 + j < m; j++) bits[c * 1022 + j] = Number((x >> BigInt(j)) & 1n)
    })
    expect(Array.from(bits)).toEqual(Array.from(inNode, (x, i) => x & decisions[i]!))
  }, 120_000)
})

describe("headroom and bins", () => {
  it("refuses a layout whose sums would not be exact, or whose cell does not fit", () => {
    expect(() => GhPacking.layoutFor(keys.publicKey, 40, 2 ** 13)).toThrow(SecureBoostError)
    expect(() => GhPacking.layoutFor(keys.publicKey, 40, 2 ** 12)).not.toThrow()
    expect(() => GhPacking.layoutFromSlotBits(keys.publicKey, 600, 1)).toThrow(/does not fit/)
  })

  it("cuts: every distinct value its own bin up to maxBins, else exact quantiles; x ≤ cut[b] is bin ≤ b", () => {
    const rows = Uint32Array.from({ length: 10 }, (_, i) => i)
    expect(Array.from(Binning.cutsOf(Float64Array.of(3, 1, 2, 2, 1, 3, 3, 1, 2, 1), rows, 4).cuts)).toEqual([1, 2])
    const values = Float64Array.from({ length: 10 }, (_, i) => i * 1.5)
    const bins = Binning.cutsOf(values, rows, 4)
    // ⌈k·10/4⌉ − 1 = 2, 4, 7 → values 3, 6, 10.5
    expect(Array.from(bins.cuts)).toEqual([3, 6, 10.5])
    expect([0, 3, 3.1, 6, 10.5, 99].map((x) => Binning.binOf(bins, x))).toEqual([0, 0, 1, 1, 2, 3])
    expect(() => Binning.binColumn(bins, Float64Array.of(1, Number.NaN), "x", 2)).toThrow(/column x, aligned row 1/)
  })
})
