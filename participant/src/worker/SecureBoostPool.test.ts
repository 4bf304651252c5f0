/**
 * SecureBoost's feature-holder jobs as the participant runs them: registered in jobs.ts, fanned out over the
 * real worker pool (2 threads, OpenSSL kernels, 2048-bit key). The packed cumulative histograms the pool returns
 * must decrypt to the plaintext sums, and a test-size key must be refused by the pool's jobs.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateKeyPair, type KeyPair } from "@jointly/core/internal/crypto/paillier/Keys"
import * as Binning from "@jointly/core/internal/protocols/secureboost/Binning"
import * as Compute from "@jointly/core/internal/protocols/secureboost/Compute"
import * as Fixtures from "@jointly/core/internal/testing/SecureBoostFixtures"
import * as GhPacking from "@jointly/core/internal/protocols/secureboost/GhPacking"
import * as Jobs from "@jointly/core/internal/protocols/secureboost/Jobs"
import * as Split from "@jointly/core/internal/protocols/secureboost/Split"
import * as PoolRunner from "./PoolRunner.ts"

describe("SecureBoost histograms over the worker pool", () => {
  const pool = PoolRunner.make({ size: 2 })
  let keys: KeyPair
  beforeAll(async () => {
    keys = await generateKeyPair({ bits: 2048 })
  }, 60_000)
  afterAll(() => pool.close())

  it("decrypt to the plaintext cumulative sums", async () => {
    const random = Fixtures.prng(3)
    const rows = 600
    const binCounts = [4, 9, 2]
    const codes = binCounts.map((b) => Uint8Array.from({ length: rows }, () => Math.floor(random() * b)))
    const gq = Float64Array.from({ length: rows }, () => Math.round((random() * 2 - 1) * 2 ** 24))
    const hq = Float64Array.from({ length: rows }, () => Math.round(random() * 2 ** 22))
    const all = Uint32Array.from({ length: rows }, (_, i) => i)
    const layout = GhPacking.layoutFor(keys.publicKey, GhPacking.valueBitsOf(gq, hq, all), rows)
    const engine = await Effect.runPromise(Effect.provide(Compute.engine(keys.publicKey, {}, 1), pool.layer))
    expect(engine.runner.size).toBe(2)
    const encrypted = await Effect.runPromise(Compute.encrypt(engine, Array.from(all, (r) => GhPacking.rowPlaintext(layout, gq[r]!, hq[r]!))))
    const packed = await Effect.runPromise(Compute.histograms(engine, {
      ciphertexts: encrypted,
      nodeOf: new Uint16Array(rows),
      codes: Uint8Array.from({ length: rows * 3 }, (_, k) => codes[k % 3]![Math.floor(k / 3)]!),
      nodes: 1,
      binCounts,
      modes: codes.map((c, f) => Binning.modeBin(c, all, binCounts[f]!)),
      slotBits: layout.slotBits,
      cellsPerCiphertext: layout.cellsPerCiphertext
    }))
    const plaintexts = await Effect.runPromise(Compute.decrypt(engine, keys.privateKey, packed))
    const cells = binCounts.reduce((a, b) => a + b - 1, 0)
    const flat = plaintexts.flatMap((x, c) => GhPacking.unpackCells(layout, x, Math.min(layout.cellsPerCiphertext, cells - c * layout.cellsPerCiphertext)))
    const expected = codes.flatMap((c, f) => {
      const cum = Split.cumulative(c, binCounts[f]!, all, gq, hq)
      return Array.from(cum.g).flatMap((g, b) => [g, cum.h[b]!])
    })
    expect(flat).toEqual(expected)
  }, 120_000)

  it("refuses a test-size key in the pool's jobs", async () => {
    const small = await generateKeyPair({ bits: 1024, unsafeAllowTestKeySizes: true })
    const { encodePublicKey } = await import("@jointly/core/internal/crypto/paillier/Serialization")
    const input = Jobs.histogramInput({ publicKey: encodePublicKey(small.publicKey), nodes: 1, binCounts: [2], modes: [0], ciphertexts: new Uint8Array(0), nodeOf: new Uint8Array(0), codes: new Uint8Array(0) })
    const error = await Effect.runPromise(Effect.flip(pool.runner.runAll(Jobs.JobNames.histogram, [input])))
    expect(error.detail).toMatch(/KeySize/)
  }, 60_000)
})
