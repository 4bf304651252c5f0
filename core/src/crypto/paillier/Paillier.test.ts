import { Effect } from "effect"
import * as PaillierBigint from "paillier-bigint"
import { beforeAll, describe, expect, it } from "vitest"
import * as OpenSslKernels from "@jointly/backends/internal/node/OpenSslKernels"
import { randomBelow, randomBits } from "../../compute/Primes.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { FixedPointError } from "../FixedPoint.ts"
import { toFixed } from "./Bytes.ts"
import * as FixedBase from "./FixedBase.ts"
import * as Keys from "./Keys.ts"
import * as Paillier from "./Paillier.ts"
import * as Randomness from "./Randomness.ts"
import * as Serialization from "./Serialization.ts"
import { expectPaillierError } from "./TestSupport.ts"

const TEST = { unsafeAllowTestKeySizes: true } as const

// Known answer computed independently (Python pow) for fixed p, q, x, r, m: see the test below.
const KAT = {
  p: 0xe1876a947153483032effa75a2e4eb9bn,
  q: 0xcbf86eb670c243bfefaf5d55f330340fn,
  n: 0xb3b13e3bdf12c415bf7745a4bd658b263d846463c702ae3c5e2bf20259554a15n,
  hs: 0x5b6798d5ab5cb9225842e8499b0facfd874ed21ba7e8d92df39f93898f0a1bbb183a074fca77c51d0a4a60d8b9d901cc55c100bc89ab0846ebb1c6124f1bed7cn,
  r: 0xfedcba9876543210fedcba9876543210n,
  m: 123456789012345678901234567890n,
  c: 0x568f00b04aa93fda0d5c6f2c5eba5ed5f5e698b53bc519d2d7457435579b633b520a8fc1acdcb5fd6a167744dd9c7185245cd5ae40034a700246cc024d098cf0n,
  rClassic: 0x0badc0ffee0ddf00dn,
  cClassic: 0x64aea6199dcefb9eced7f2560e83ee77efcb8ff4b24f02a53008749f53f5e09db24fc3888f42c1fb70e907b887c7c7c4a8a521864968d714bafaca43cd024490n
}

/** The Node backends' OpenSSL kernel, on the Paillier values the TS kernel is checked on. */
const nodeKernels = OpenSslKernels.make()

describe("Paillier", () => {
  let keys: Keys.KeyPair
  let other: Keys.KeyPair
  beforeAll(async () => {
    ;[keys, other] = await Promise.all([Keys.generateKeyPair({ bits: 512, ...TEST }), Keys.generateKeyPair({ bits: 512, ...TEST })])
  })

  it("known answer: DJN and classic randomness (h_s from x, fixed r)", () => {
    const { publicKey: pk, privateKey: sk } = Keys.fromPrimes(KAT.p, KAT.q, { ...TEST, hs: KAT.hs })
    expect(pk.n).toBe(KAT.n)
    const c = Paillier.encrypt(pk, KAT.m, () => tsKernels.modPow(pk.hs, KAT.r, pk.n2))
    expect(c.value).toBe(KAT.c)
    expect(Paillier.encrypt(pk, KAT.m, () => tsKernels.modPow(KAT.rClassic, pk.n, pk.n2)).value).toBe(KAT.cClassic)
    expect(Paillier.decrypt(sk, Paillier.ciphertext(pk, KAT.c))).toBe(KAT.m)
    expect(Paillier.decrypt(sk, Paillier.ciphertext(pk, KAT.cClassic))).toBe(KAT.m)
  })

  it("key generation: exact size, N = p·q, refuses small or odd sizes without the test override", async () => {
    expect(keys.publicKey.bits).toBe(512)
    expect(keys.privateKey.p * keys.privateKey.q).toBe(keys.publicKey.n)
    await expect(Keys.generateKeyPair({ bits: 1024 })).rejects.toMatchObject({ _tag: "PaillierError", reason: "KeySize" })
    // As an Effect: a refused size or a failing prime generator is the typed KeyGenerationFailed, not a defect.
    const failed = (options: Keys.GenerateOptions) => Effect.runPromise(Effect.flip(Keys.generate(options)))
    expect(await failed({ bits: 1024 })).toMatchObject({ _tag: "PaillierKeyGenerationFailed", bits: 1024, detail: expect.stringContaining("KeySize") })
    expect(await failed({ bits: 512, ...TEST, primes: () => Promise.reject(new Error("prime worker exited")) }))
      .toMatchObject({ _tag: "PaillierKeyGenerationFailed", bits: 512, detail: "prime worker exited" })
    expectPaillierError(() => Keys.checkBits(1000, TEST), "KeySize")
    expectPaillierError(() => Keys.publicKey(keys.publicKey.n), "KeySize")
    expectPaillierError(() => Keys.publicKey(keys.publicKey.n + 1n, undefined, TEST), "KeyFormat")
    expectPaillierError(() => Keys.publicKey(keys.publicKey.n, 1n, TEST), "KeyFormat")
    expectPaillierError(() => Keys.fromPrimes(KAT.p, KAT.p, TEST), "KeyFormat")
  })

  it("decrypt(encrypt(m)) = m for every randomness source and both kernels", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const pool = new Randomness.RandomnessPool(pk, Randomness.direct(pk))
    pool.fill(3)
    const sources = [
      Randomness.direct(pk),
      Randomness.classic(pk),
      Randomness.fixedBase(pk),
      Randomness.automatic(pk),
      pool.asSource(),
      Randomness.fixedBase(pk, nodeKernels), // the kernel's own table (native memory under Node)
      Randomness.automatic(pk, nodeKernels)
    ]
    for (const source of sources) {
      for (const m of [0n, 1n, pk.n - 1n, randomBelow(pk.n)]) {
        const c = Paillier.encrypt(pk, m, source)
        expect(Paillier.decrypt(sk, c)).toBe(m)
        expect(Paillier.decrypt(sk, c, nodeKernels)).toBe(m)
      }
    }
    expect(pool.size).toBe(0)
  })

  it("randomized: CRT decryption equals textbook decryption; batch equals single", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const ms = Array.from({ length: 12 }, () => randomBelow(pk.n))
    const cs = Paillier.encryptBatch(pk, ms)
    for (const c of cs) expect(Paillier.decrypt(sk, c)).toBe(Paillier.decryptWithoutCrt(sk, c))
    expect(Paillier.decryptBatch(sk, cs)).toEqual(ms)
    expect(Paillier.decryptBatch(sk, cs, nodeKernels)).toEqual(ms)
    // Arbitrary elements of Z*_{N²} (not produced by encrypt) decrypt identically both ways too.
    for (let i = 0; i < 5; i++) {
      const c = Paillier.ciphertext(pk, randomBelow(pk.n2 - 2n) + 2n)
      expect(Paillier.decrypt(sk, c)).toBe(Paillier.decryptWithoutCrt(sk, c))
    }
  })

  it("randomized homomorphic identities (signed): add, subtract, plaintext add, scalar multiply, negate", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const bound = 1n << 200n
    const signed = () => randomBelow(2n * bound) - bound
    for (let i = 0; i < 20; i++) {
      const [a, b, k] = [signed(), signed(), signed() >> 150n]
      const ca = Paillier.encryptSigned(pk, a)
      const cb = Paillier.encryptSigned(pk, b)
      const dec = (c: Paillier.Ciphertext) => Paillier.decryptSigned(sk, c)
      expect(dec(Paillier.add(ca, cb))).toBe(a + b)
      expect(dec(Paillier.subtract(ca, cb))).toBe(a - b)
      expect(dec(Paillier.addPlain(ca, b))).toBe(a + b)
      expect(dec(Paillier.multiplyScalar(ca, k))).toBe(a * k)
      expect(dec(Paillier.multiplyScalar(ca, k, nodeKernels))).toBe(a * k)
      expect(dec(Paillier.negate(ca))).toBe(-a)
      expect(dec(Paillier.linearCombination([[ca, 3n], [cb, -5n]]))).toBe(3n * a - 5n * b)
      expect(dec(Paillier.sum([ca, cb, ca]))).toBe(2n * a + b)
    }
    const c0 = Paillier.encrypt(pk, 7n)
    expect(Paillier.decrypt(sk, Paillier.multiplyScalar(c0, 0n))).toBe(0n)
    // Reduction mod N: multiplying by N − 1 is multiplying by −1.
    expect(Paillier.decryptSigned(sk, Paillier.multiplyScalar(c0, pk.n - 1n))).toBe(-7n)
  })

  it("re-randomisation changes the ciphertext, not the plaintext", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const c = Paillier.encrypt(pk, 42n)
    const d = Paillier.rerandomize(c)
    expect(d.value).not.toBe(c.value)
    expect(Paillier.decrypt(sk, d)).toBe(42n)
  })

  it("the kernel's fixed-base table gives the portable table's h_s^r for the same r, byte for byte", () => {
    const { publicKey: pk } = keys
    expect(nodeKernels.fixedBase).toBeDefined()
    const native = nodeKernels.fixedBase!(pk.hs, pk.n2, pk.randomnessBits)
    const portable = Randomness.tableFor(pk)
    for (const r of [0n, 1n, (1n << BigInt(pk.randomnessBits)) - 1n, randomBits(pk.randomnessBits), randomBits(pk.randomnessBits)]) {
      expect(native.pow(r)).toBe(FixedBase.pow(portable, r))
    }
    // A fresh draw is an N-th residue of Z*_{N²} (h_s is one): decrypting it gives 0.
    const { privateKey: sk } = keys
    expect(Paillier.decrypt(sk, Paillier.ciphertext(pk, native.powRandom()))).toBe(0n)
  })

  it("fixed-base table: pow equals modPow, including the top of the range", () => {
    const { publicKey: pk } = keys
    for (const w of [1, 5, 8]) {
      const table = FixedBase.build(pk.hs, pk.n2, 64, w)
      for (const e of [0n, 1n, (1n << BigInt(table.windows * w)) - 1n, randomBits(64)]) {
        expect(FixedBase.pow(table, e)).toBe(tsKernels.modPow(pk.hs, e, pk.n2))
      }
      expect(() => FixedBase.pow(table, 1n << BigInt(table.windows * w))).toThrow(RangeError)
    }
  })

  it("fixed point: real round trip, products at scale S², overflow is a FixedPointError", () => {
    const { publicKey: pk, privateKey: sk } = keys
    const codec = Paillier.fixedPointCodec(pk, 16)
    const c = Paillier.encryptReal(pk, codec, -3.25)
    expect(Paillier.decryptReal(sk, codec, c)).toBe(-3.25)
    const product = Paillier.multiplyScalar(c, 2n ** 16n * 3n) // × 3.0 encoded
    expect(Paillier.decryptReal(sk, codec, product, 2)).toBe(-9.75)
    expect(() => Paillier.encryptReal(pk, codec, Number.NaN)).toThrow(FixedPointError)
    expect(() => Paillier.encryptReal(pk, Paillier.fixedPointCodec(pk, 128), 2 ** 60)).toThrow(FixedPointError)
    const tiny = { ...codec, modulus: 1n << 40n, bound: 1n << 39n }
    expectPaillierError(() => Paillier.encryptReal(pk, tiny, 1), "KeyMismatch")
  })

  it("bad input: out-of-range, zero and non-invertible ciphertexts; plaintext range; mixed keys", () => {
    const { publicKey: pk, privateKey: sk } = keys
    expectPaillierError(() => Paillier.ciphertext(pk, pk.n2), "CiphertextOutOfRange")
    expectPaillierError(() => Paillier.ciphertext(pk, pk.n2 + 5n), "CiphertextOutOfRange")
    expectPaillierError(() => Paillier.ciphertext(pk, -1n), "CiphertextOutOfRange")
    expectPaillierError(() => Paillier.ciphertext(pk, 0n), "CiphertextZero")
    expectPaillierError(() => Paillier.ciphertext(pk, pk.n), "CiphertextNotInvertible")
    expectPaillierError(() => Paillier.ciphertext(pk, sk.p * 12345n), "CiphertextNotInvertible")
    // Lists: one gcd for the product, each fault still refused — alone, among units, and where two non-units'
    // product is 0 mod N (one a multiple of p, one of q).
    const units = [Paillier.encrypt(pk, 3n).value, Paillier.encrypt(pk, 4n).value]
    expect(Paillier.ciphertexts(pk, units).map((c) => c.value)).toEqual(units)
    expect(Paillier.ciphertexts(pk, [])).toEqual([])
    expectPaillierError(() => Paillier.ciphertexts(pk, [units[0]!, sk.p * 7n, units[1]!]), "CiphertextNotInvertible")
    expectPaillierError(() => Paillier.ciphertexts(pk, [sk.q * 3n, units[0]!, sk.p * 5n]), "CiphertextNotInvertible")
    expectPaillierError(() => Paillier.ciphertexts(pk, [units[0]!, 0n]), "CiphertextZero")
    expectPaillierError(() => Paillier.ciphertexts(pk, [pk.n2, units[0]!]), "CiphertextOutOfRange")
    const listBytes = Serialization.encodeCiphertexts(pk, units.map((v) => Paillier.ciphertext(pk, v)))
    const forgedList = listBytes.slice()
    const width = pk.bits / 4 // bytes of a value below N²
    forgedList.set(toFixed(sk.q * 11n, width), listBytes.length - width) // the last ciphertext replaced by a multiple of q
    expectPaillierError(() => Serialization.decodeCiphertexts(pk, forgedList), "CiphertextNotInvertible")
    expectPaillierError(() => Paillier.encrypt(pk, pk.n), "PlaintextOutOfRange")
    expectPaillierError(() => Paillier.encrypt(pk, -1n), "PlaintextOutOfRange")
    expectPaillierError(() => Paillier.encryptSigned(pk, pk.halfN), "PlaintextOutOfRange")
    expectPaillierError(() => Paillier.encryptSigned(pk, -pk.halfN), "PlaintextOutOfRange")
    const mine = Paillier.encrypt(pk, 1n)
    const theirs = Paillier.encrypt(other.publicKey, 1n)
    expectPaillierError(() => Paillier.add(mine, theirs), "KeyMismatch")
    expectPaillierError(() => Paillier.subtract(mine, theirs), "KeyMismatch")
    expectPaillierError(() => Paillier.decrypt(sk, theirs), "KeyMismatch")
    expectPaillierError(() => Paillier.decryptBatch(sk, [mine, theirs]), "KeyMismatch")
  })

  it("proof of correct decryption: honest openings verify (0, N−1, random, a homomorphic sum), forgeries are refused", () => {
    const pk = keys.publicKey
    const sk = keys.privateKey
    const messages = [0n, pk.n - 1n, randomBelow(pk.n), randomBelow(pk.n), 1n]
    for (const m of messages) {
      for (const kernels of [tsKernels, nodeKernels]) {
        const c = Paillier.encrypt(pk, m)
        const opened = Paillier.decryptWithProof(sk, c, kernels)
        expect(opened.m).toBe(m)
        Paillier.verifyDecryption(c, opened, kernels)
      }
    }
    // Classic randomness: the recovered r is the one encrypted with.
    const r = randomBelow(pk.n - 2n) + 2n
    const classic = Paillier.encrypt(pk, 42n, () => tsKernels.modPow(r, pk.n, pk.n2))
    expect(Paillier.decryptWithProof(sk, classic).r).toBe(r)
    const total = Paillier.sum([Paillier.encryptSigned(pk, -5n), Paillier.encryptSigned(pk, 12n)])
    const opened = Paillier.decryptWithProof(sk, total)
    expect(Paillier.toSigned(pk, opened.m)).toBe(7n)
    Paillier.verifyDecryption(total, opened)
    // Forgeries: another plaintext, another r, r = 0, r ≥ N, r sharing a factor with N, m out of range.
    const forged: Array<Paillier.OpenedCiphertext> = [
      { m: opened.m + 1n, r: opened.r },
      { m: opened.m, r: (opened.r * 2n) % pk.n },
      { m: opened.m, r: 0n },
      { m: opened.m, r: opened.r + pk.n },
      { m: opened.m, r: pk.n },
      { m: opened.m, r: sk.p },
      { m: opened.m, r: sk.q * 3n },
      { m: opened.m + pk.n, r: opened.r },
      { m: -1n, r: opened.r }
    ]
    for (const f of forged) expectPaillierError(() => Paillier.verifyDecryption(total, f), "InvalidDecryptionProof")
    // A proof for one ciphertext does not open another of the same plaintext.
    expectPaillierError(() => Paillier.verifyDecryption(Paillier.rerandomize(total), opened), "InvalidDecryptionProof")
  })

  it("cross-check with paillier-bigint both ways", async () => {
    // Ours → theirs: same N, g = N+1, λ = φ, μ = φ^(−1) mod N.
    const { publicKey: pk, privateKey: sk } = keys
    const theirPk = new PaillierBigint.PublicKey(pk.n, pk.n + 1n)
    const theirSk = new PaillierBigint.PrivateKey(sk.lambda, sk.mu, theirPk, sk.p, sk.q)
    for (let i = 0; i < 5; i++) {
      const m = randomBelow(pk.n)
      expect(theirSk.decrypt(Paillier.encrypt(pk, m).value)).toBe(m)
      expect(Paillier.decrypt(sk, Paillier.ciphertext(pk, theirPk.encrypt(m)))).toBe(m)
      // Same r gives the same ciphertext: the formulas agree bit for bit.
      const r = randomBelow(pk.n - 2n) + 2n
      expect(Paillier.encrypt(pk, m, () => tsKernels.modPow(r, pk.n, pk.n2)).value).toBe(theirPk.encrypt(m, r))
    }
    // Theirs → ours: a paillier-bigint key (simple variant) maps through its factors.
    const generated = await PaillierBigint.generateRandomKeys(512, true)
    const internals = generated.privateKey as unknown as { _p: bigint; _q: bigint }
    const mapped = Keys.fromPrimes(internals._p, internals._q, TEST)
    expect(mapped.publicKey.n).toBe(generated.publicKey.n)
    const m = randomBelow(mapped.publicKey.n)
    expect(Paillier.decrypt(mapped.privateKey, Paillier.ciphertext(mapped.publicKey, generated.publicKey.encrypt(m)))).toBe(m)
    expect(generated.privateKey.decrypt(Paillier.encrypt(mapped.publicKey, m).value)).toBe(m)
    const homomorphic = generated.publicKey.addition(Paillier.encrypt(mapped.publicKey, 5n).value, generated.publicKey.encrypt(7n))
    expect(Paillier.decrypt(mapped.privateKey, Paillier.ciphertext(mapped.publicKey, homomorphic))).toBe(12n)
  })

  it("a 2048-bit key end to end (default size)", async () => {
    const { publicKey: pk, privateKey: sk } = await Keys.generateKeyPair()
    expect(pk.bits).toBe(2048)
    expect(pk.randomnessBits).toBe(1024)
    const a = Paillier.encryptSigned(pk, -123456789n, Randomness.direct(pk, nodeKernels))
    const b = Paillier.encryptSigned(pk, 1000n, Randomness.direct(pk, nodeKernels))
    expect(Paillier.decryptSigned(sk, Paillier.add(a, b), nodeKernels)).toBe(-123455789n)
    expect(Paillier.decrypt(sk, a, nodeKernels)).toBe(Paillier.decryptWithoutCrt(sk, a, nodeKernels))
  })
})
