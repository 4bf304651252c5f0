import { describe, expect, it } from "vitest"
import { hexlify, Wallet } from "ethers"
import * as Eip712 from "./Eip712.ts"

const ledger = Wallet.createRandom().address
const coordinator = Wallet.createRandom().address
const domain = Eip712.domain(31337n, ledger)
const nonce = () => hexlify(crypto.getRandomValues(new Uint8Array(32)))

describe("Login (socket handshake, checked off chain)", () => {
  const participant = Wallet.createRandom()
  const now = 1_700_000_000n
  const check = (n: string) => ({ nonce: n, coordinator, now, maxAgeSeconds: 300n })

  it("accepts the account's own fresh signature over our nonce", async () => {
    const n = nonce()
    const login = { account: participant.address, nonce: n, coordinator, issuedAt: now - 5n }
    const signature = await Eip712.signLogin(participant, domain, login)
    expect(Eip712.verifyLogin(domain, login, signature, check(n))).toEqual({ ok: true, account: participant.address })
  })

  it("rejects a login signed by someone else, replayed, aimed elsewhere or stale", async () => {
    const n = nonce()
    const login = { account: participant.address, nonce: n, coordinator, issuedAt: now }
    const impostor = await Eip712.signLogin(Wallet.createRandom(), domain, login)
    expect(Eip712.verifyLogin(domain, login, impostor, check(n))).toMatchObject({ ok: false, reason: "BadSignature" })

    const signature = await Eip712.signLogin(participant, domain, login)
    expect(Eip712.verifyLogin(domain, login, signature, check(nonce()))).toMatchObject({ reason: "WrongNonce" })
    const elsewhere = { ...login, coordinator: Wallet.createRandom().address }
    const signedElsewhere = await Eip712.signLogin(participant, domain, elsewhere)
    expect(Eip712.verifyLogin(domain, elsewhere, signedElsewhere, check(n))).toMatchObject({ reason: "WrongCoordinator" })
    const stale = { ...login, issuedAt: now - 3600n }
    expect(Eip712.verifyLogin(domain, stale, await Eip712.signLogin(participant, domain, stale), check(n))).toMatchObject({ reason: "Expired" })
    // The same message under another deployment's domain does not verify here.
    const otherDomain = Eip712.domain(31337n, Wallet.createRandom().address)
    const foreign = await Eip712.signLogin(participant, otherDomain, login)
    expect(Eip712.verifyLogin(domain, login, foreign, check(n))).toMatchObject({ reason: "BadSignature" })
    expect(Eip712.verifyLogin(domain, login, "0xdeadbeef", check(n))).toMatchObject({ reason: "BadSignature" })
  })
})

describe("Consent", () => {
  it("verifies the participant's signature and nothing else", async () => {
    const p = Wallet.createRandom()
    const consent = { taskId: nonce(), specHash: nonce(), approve: true, reasonHash: `0x${"00".repeat(32)}` }
    const sig = await Eip712.signConsent(p, domain, consent)
    expect(Eip712.verifyConsent(domain, consent, sig, p.address)).toBe(true)
    expect(Eip712.verifyConsent(domain, { ...consent, approve: false }, sig, p.address)).toBe(false)
    expect(Eip712.verifyConsent(domain, consent, sig, Wallet.createRandom().address)).toBe(false)
  })
})
