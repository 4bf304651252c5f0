/**
 * Keys from paillier-bigint, both of its variants: g = N+1 (simple) crosses as it is; a random g (its default)
 * is refused without the private key and converted with it, so ciphertexts cross both ways and still add up.
 */
import * as PaillierBigint from "paillier-bigint"
import { beforeAll, describe, expect, it } from "vitest"
import { randomBelow } from "../../compute/Primes.ts"
import { importKey } from "./ForeignKeys.ts"
import * as Keys from "./Keys.ts"
import * as Paillier from "./Paillier.ts"
import { TEST_KEYS, expectPaillierError } from "./TestSupport.ts"

type Generated = Awaited<ReturnType<typeof PaillierBigint.generateRandomKeys>>
const factors = (k: Generated) => k.privateKey as unknown as { _p: bigint; _q: bigint }

describe("foreign Paillier keys (paillier-bigint)", () => {
  let randomG: Generated
  let simple: Generated
  beforeAll(async () => {
    ;[randomG, simple] = await Promise.all([PaillierBigint.generateRandomKeys(512), PaillierBigint.generateRandomKeys(512, true)])
  })

  it("a random g is not N+1, and taking the key as if it were decrypts wrongly: the silent failure being guarded", () => {
    const n = randomG.publicKey.n
    expect(randomG.publicKey.g).not.toBe(n + 1n)
    const naive = Keys.fromPrimes(factors(randomG)._p, factors(randomG)._q, TEST_KEYS)
    const m = randomBelow(n)
    expect(Paillier.decrypt(naive.privateKey, Paillier.ciphertext(naive.publicKey, randomG.publicKey.encrypt(m)))).not.toBe(m)
  })

  it("refuses a random g without the private key, typed", () => {
    expectPaillierError(() => importKey({ n: randomG.publicKey.n, g: randomG.publicKey.g }, undefined, TEST_KEYS), "KeyFormat")
  })

  it("converts a random g with the private key (λ alone, N factored from it): ciphertexts cross both ways and add up", () => {
    const theirs = randomG
    const imported = importKey({ n: theirs.publicKey.n, g: theirs.publicKey.g }, { lambda: theirs.privateKey.lambda }, TEST_KEYS)
    expect(imported.standard).toBe(false)
    expect(imported.publicKey.n).toBe(theirs.publicKey.n)
    const sk = imported.privateKey!
    for (let i = 0; i < 4; i++) {
      const m = randomBelow(theirs.publicKey.n)
      expect(Paillier.decrypt(sk, imported.fromForeign(theirs.publicKey.encrypt(m)))).toBe(m)
      expect(theirs.privateKey.decrypt(imported.toForeign(Paillier.encrypt(imported.publicKey, m)))).toBe(m)
    }
    // A sum mixing their ciphertext and ours, taken on either side, is the sum of the plaintexts.
    const ours = Paillier.encrypt(imported.publicKey, 5n)
    const mixed = Paillier.add(ours, imported.fromForeign(theirs.publicKey.encrypt(7n)))
    expect(Paillier.decrypt(sk, mixed)).toBe(12n)
    expect(theirs.privateKey.decrypt(theirs.publicKey.addition(imported.toForeign(ours), theirs.publicKey.encrypt(30n)))).toBe(35n)
  })

  it("takes g = N+1 as it is, with or without the private key", () => {
    const imported = importKey({ n: simple.publicKey.n, g: simple.publicKey.g }, undefined, TEST_KEYS)
    expect(imported.standard).toBe(true)
    const m = randomBelow(simple.publicKey.n)
    expect(simple.privateKey.decrypt(imported.toForeign(Paillier.encrypt(imported.publicKey, m)))).toBe(m)
    const full = importKey({ n: simple.publicKey.n, g: simple.publicKey.g }, { lambda: simple.privateKey.lambda, p: factors(simple)._p, q: factors(simple)._q }, TEST_KEYS)
    expect(Paillier.decrypt(full.privateKey!, full.fromForeign(simple.publicKey.encrypt(m)))).toBe(m)
  })

  it("refuses a g outside Z*_{N²}, a private key of another N, a ciphertext under another key, and a 512-bit N outside tests", () => {
    const { n, g } = randomG.publicKey
    expectPaillierError(() => importKey({ n, g: n }, undefined, TEST_KEYS), "KeyFormat")
    expectPaillierError(() => importKey({ n, g: 1n }, undefined, TEST_KEYS), "KeyFormat")
    expectPaillierError(() => importKey({ n, g }, { lambda: simple.privateKey.lambda }, TEST_KEYS), "KeyFormat")
    const imported = importKey({ n: simple.publicKey.n, g: simple.publicKey.g }, undefined, TEST_KEYS)
    const other = importKey({ n, g }, { lambda: randomG.privateKey.lambda }, TEST_KEYS)
    expectPaillierError(() => other.toForeign(Paillier.encrypt(imported.publicKey, 1n)), "KeyMismatch")
    expectPaillierError(() => importKey({ n: simple.publicKey.n, g: simple.publicKey.g }), "KeySize")
  })
})
