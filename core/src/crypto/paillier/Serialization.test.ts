import { beforeAll, describe, expect, it } from "vitest"
import { tsKernels } from "../../compute/TsKernels.ts"
import { frames, toFixed, u32, unframe } from "./Bytes.ts"
import * as Jobs from "./Jobs.ts"
import * as Keys from "./Keys.ts"
import * as Paillier from "./Paillier.ts"
import { expectPaillierError } from "./TestSupport.ts"
import * as Randomness from "./Randomness.ts"
import * as Serialization from "./Serialization.ts"

const TEST = { unsafeAllowTestKeySizes: true } as const

describe("Serialization and jobs", () => {
  let keys: Keys.KeyPair
  let other: Keys.KeyPair
  beforeAll(async () => {
    ;[keys, other] = await Promise.all([Keys.generateKeyPair({ bits: 512, ...TEST }), Keys.generateKeyPair({ bits: 512, ...TEST })])
  })

  it("keys and ciphertexts round-trip with fixed lengths", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const pkBytes = Serialization.encodePublicKey(pk)
    expect(pkBytes.length).toBe(6 + 2 + 64 + 128)
    const pk2 = Serialization.decodePublicKey(pkBytes, TEST)
    expect([pk2.n, pk2.hs, pk2.fingerprint]).toEqual([pk.n, pk.hs, pk.fingerprint])
    const sk2 = Serialization.decodePrivateKey(Serialization.encodePrivateKey(sk), TEST)
    expect([sk2.p, sk2.q, sk2.publicKey.hs]).toEqual([sk.p, sk.q, pk.hs])
    const c = Paillier.encrypt(pk, 99n)
    const cBytes = Serialization.encodeCiphertext(c)
    expect(cBytes.length).toBe(6 + 32 + 128)
    expect(Paillier.decrypt(sk2, Serialization.decodeCiphertext(pk2, cBytes))).toBe(99n)
    const cs = [c, Paillier.encrypt(pk, 5n)]
    expect(Serialization.decodeCiphertexts(pk, Serialization.encodeCiphertexts(pk, cs)).map((x) => x.value)).toEqual(cs.map((x) => x.value))
    expect(Serialization.decodeComputedCiphertexts(pk, Serialization.encodeCiphertexts(pk, cs)).map((x) => x.value)).toEqual(cs.map((x) => x.value))
    // A computed list is still checked for its framing, key and range (only the gcd is left out): N² and 0 refused.
    const listOf = (value: bigint) => new Uint8Array([...Serialization.encodeCiphertexts(pk, [c]).subarray(0, -128), ...toFixed(value, 128)])
    expect(Serialization.decodeComputedCiphertexts(pk, listOf(c.value))[0]!.value).toBe(c.value)
    expectPaillierError(() => Serialization.decodeComputedCiphertexts(pk, listOf(pk.n2)), "CiphertextOutOfRange")
    expectPaillierError(() => Serialization.decodeComputedCiphertexts(pk, listOf(0n)), "CiphertextZero")
    expectPaillierError(() => Serialization.decodeComputedCiphertexts(Keys.publicKey(pk.n + 2n, undefined, TEST), listOf(c.value)), "KeyMismatch")
    expect(Serialization.decodePlaintexts(pk, Serialization.encodePlaintexts(pk, [0n, pk.n - 1n]))).toEqual([0n, pk.n - 1n])
  })

  it("rejects wrong magic, version, kind, length, size and key", () => {
    const { publicKey: pk } = keys
    const pkBytes = Serialization.encodePublicKey(pk)
    const cBytes = Serialization.encodeCiphertext(Paillier.encrypt(pk, 1n))
    const patched = (b: Uint8Array, at: number, v: number) => {
      const x = b.slice()
      x[at] = v
      return x
    }
    expectPaillierError(() => Serialization.decodePublicKey(patched(pkBytes, 0, 0), TEST), "Encoding")
    expectPaillierError(() => Serialization.decodePublicKey(patched(pkBytes, 4, 9), TEST), "Encoding")
    expectPaillierError(() => Serialization.decodePublicKey(cBytes, TEST), "Encoding")
    expectPaillierError(() => Serialization.decodePublicKey(pkBytes.subarray(0, pkBytes.length - 1), TEST), "Encoding")
    expectPaillierError(() => Serialization.decodePublicKey(new Uint8Array([...pkBytes, 0]), TEST), "Encoding")
    expectPaillierError(() => Serialization.decodePublicKey(new Uint8Array(3), TEST), "Encoding")
    // A 512-bit key without the test override, and a declared size that does not match N.
    expectPaillierError(() => Serialization.decodePublicKey(pkBytes), "KeySize")
    expectPaillierError(() => Serialization.decodePublicKey(patched(pkBytes, 7, 0x10), TEST), "Encoding")
    expectPaillierError(() => Serialization.decodeCiphertext(other.publicKey, cBytes), "KeyMismatch")
    expectPaillierError(() => Serialization.decodeCiphertext(pk, cBytes.subarray(1)), "Encoding")
    // A ciphertext field holding N² (out of range) and 0.
    const head = cBytes.subarray(0, 38)
    expectPaillierError(() => Serialization.decodeCiphertext(pk, new Uint8Array([...head, ...toFixed(pk.n2 - 1n + 1n, 128).subarray(0, 128)])), "CiphertextOutOfRange")
    expectPaillierError(() => Serialization.decodeCiphertext(pk, new Uint8Array([...head, ...new Uint8Array(128)])), "CiphertextZero")
  })

  it("job functions agree with the direct API", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const jobs = Jobs.makePaillierJobs(tsKernels, TEST)
    const ms = [1n, 2n, pk.n - 1n]
    const cs = Serialization.decodeCiphertexts(pk, jobs[Jobs.JobNames.encryptBatch]!(Jobs.encryptBatchInput(pk, ms)))
    expect(Paillier.decryptBatch(sk, cs)).toEqual(ms)
    const decrypted = jobs[Jobs.JobNames.decryptBatch]!(Jobs.decryptBatchInput(sk, cs))
    expect(Serialization.decodePlaintexts(pk, decrypted)).toEqual(ms)
    // The key holder's batch: ciphertexts under its public key that decrypt to the plaintexts, fresh ones each call.
    const owned = Serialization.decodeCiphertexts(pk, jobs[Jobs.JobNames.encryptBatchAsOwner]!(Jobs.encryptBatchAsOwnerInput(sk, ms)))
    expect(Paillier.decryptBatch(sk, owned)).toEqual(ms)
    expect(owned.map((c) => c.value)).not.toEqual(cs.map((c) => c.value))
    const randomness = Serialization.decodeRandomness(pk, jobs[Jobs.JobNames.randomnessBatch]!(Jobs.randomnessBatchInput(pk, 3)))
    const pool = new Randomness.RandomnessPool(pk)
    pool.add(randomness)
    expect(Paillier.decrypt(sk, Paillier.encrypt(pk, 77n, pool.asSource()))).toBe(77n)
    const pow = unframe(jobs[Jobs.JobNames.modPowBatch]!(Jobs.modPowBatchInput([3n, 5n], 7n, 1009n)), "test")
    expect(pow.map((b) => Number(b[0]! * 256 + b[1]!))).toEqual([Number(3n ** 7n % 1009n), Number(5n ** 7n % 1009n)])
    // Σ k_i·m_i with signed k_i of every size, a zero among them, decrypts to the plaintext sum.
    const ks = [-3n, 0n, (1n << 300n) + 5n]
    const combined = Serialization.decodeCiphertexts(pk, jobs[Jobs.JobNames.linearCombination]!(Jobs.linearCombinationInput(pk, cs.map((c, i) => [c, ks[i]!] as const))))
    expect(combined).toHaveLength(1)
    expect(Paillier.decrypt(sk, combined[0]!)).toBe((((ms[0]! * ks[0]! + ms[2]! * ks[2]!) % pk.n) + pk.n) % pk.n)
    expectPaillierError(() => jobs[Jobs.JobNames.linearCombination]!(frames([Serialization.encodePublicKey(pk), Serialization.encodeCiphertexts(pk, cs)])), "Encoding")
    // Production job tables refuse test-size keys; malformed envelopes are Encoding errors.
    expectPaillierError(() => Jobs.paillierJobs[Jobs.JobNames.encryptBatch]!(Jobs.encryptBatchInput(pk, ms)), "KeySize")
    expectPaillierError(() => jobs[Jobs.JobNames.encryptBatch]!(frames([u32(1)])), "Encoding")
  })
})
