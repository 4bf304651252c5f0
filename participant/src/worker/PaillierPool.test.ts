/**
 * The crypto engine's batch APIs fanned out over the real worker pool: chunks encrypted and decrypted in
 * separate threads (2048-bit key, the production size) must decrypt to the plaintexts on the main thread.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateKeyPair } from "@jointly/core/internal/crypto/paillier/Keys"
import type { KeyPair } from "@jointly/core/internal/crypto/paillier/Keys"
import { decryptBatchInput, encryptBatchInput, JobNames } from "@jointly/core/internal/crypto/paillier/Jobs"
import * as Paillier from "@jointly/core/internal/crypto/paillier/Paillier"
import * as Serialization from "@jointly/core/internal/crypto/paillier/Serialization"
import * as OpenSslPrimes from "@jointly/backends/internal/node/OpenSslPrimes"
import * as WorkerPool from "./WorkerPool.ts"

describe("Paillier batches over the worker pool", () => {
  let pool: WorkerPool.WorkerPoolHandle
  let keys: KeyPair
  beforeAll(async () => {
    ;[pool, keys] = await Promise.all([WorkerPool.open({ size: 2 }), generateKeyPair({ bits: 2048, primes: OpenSslPrimes.generator })])
  })
  afterAll(() => pool?.close())

  it("encrypts chunks in parallel threads and decrypts them back, both ways", async () => {
    const pk = keys.publicKey
    const chunks = [0, 1, 2, 3].map((c) => Array.from({ length: 6 }, (_, i) => BigInt(c * 1000 + i) * 7919n - 20_000n).map((m) => (m < 0n ? pk.n + m : m)))
    const encrypted = await pool.runAll(JobNames.encryptBatch, chunks.map((ms) => encryptBatchInput(pk, ms)))
    const ciphertexts = encrypted.map((bytes) => Serialization.decodeCiphertexts(pk, bytes))
    // Decrypted on the main thread with the private key: the pool did real encryptions under this key.
    expect(ciphertexts.map((cs) => cs.map((c) => Paillier.decrypt(keys.privateKey, c)))).toEqual(chunks)
    // And the other direction: decryption fanned out, checked against the plaintexts.
    const decrypted = await pool.runAll(JobNames.decryptBatch, ciphertexts.map((cs) => decryptBatchInput(keys.privateKey, cs)))
    expect(decrypted.map((bytes) => Serialization.decodePlaintexts(pk, bytes))).toEqual(chunks)
  })

  it("fails a batch under a test-size key with a typed error naming the key size", async () => {
    const small = await generateKeyPair({ bits: 512, unsafeAllowTestKeySizes: true })
    await expect(pool.run(JobNames.encryptBatch, encryptBatchInput(small.publicKey, [1n]))).rejects.toMatchObject({
      _tag: "WorkerError",
      reason: "JobFailed",
      detail: expect.stringMatching(/KeySize/)
    })
  })
})
