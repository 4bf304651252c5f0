/**
 * Bearer tokens: a signed sign-in yields a token bound to the signer; a token verifies until it expires, also once
 * it has been verified before (the guard keeps verified tokens to skip the MAC); anything altered or signed under
 * another secret does not.
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import * as LossySpent from "../testing/LossySpent.ts"
import * as Auth from "../auth/Auth.ts"
import * as Sessions from "./Sessions.ts"

const expected = () => ({ domain: "coordinator.example:8443", uri: "https://coordinator.example:8443", chainId: 31337 })

const signedIn = async (sessions: Sessions.Sessions, wallet: Pick<Wallet, "address" | "signMessage">) => {
  const { message } = sessions.challenge(wallet.address)
  return Effect.runPromise(sessions.signIn(message, await wallet.signMessage(message)))
}

describe("Sessions", () => {
  it("verifies a token until it expires, the second time from memory as the first", async () => {
    let clock = 1_000_000
    const sessions = Sessions.make({ expected, tokenTtlMs: 60_000, now: () => clock })
    const wallet = Wallet.createRandom()
    const { token, claims } = await signedIn(sessions, wallet)
    expect(claims.address).toBe(wallet.address)
    expect(sessions.verify(token)?.address).toBe(wallet.address)
    clock += 59_999
    expect(sessions.verify(token)?.address).toBe(wallet.address)
    clock += 1
    expect(sessions.verify(token)).toBeUndefined()
    // Still refused after the memory dropped it.
    expect(sessions.verify(token)).toBeUndefined()
  })

  it("refuses an altered token, a token of another secret and garbage, even once the genuine one is known", async () => {
    const secret = new Uint8Array(32).fill(7)
    const sessions = Sessions.make({ expected, secret })
    const other = Sessions.make({ expected, secret: new Uint8Array(32).fill(8) })
    const wallet = Wallet.createRandom()
    const { token } = await signedIn(sessions, wallet)
    expect(sessions.verify(token)).toBeDefined()
    const [version, body, tag] = token.split(".") as [string, string, string]
    // Claims naming another address under the genuine MAC.
    const forgedBody = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), a: Wallet.createRandom().address })).toString("base64url")
    expect(sessions.verify(`${version}.${forgedBody}.${tag}`)).toBeUndefined()
    expect(sessions.verify(`${version}.${body}.${tag.slice(0, -2)}AA`)).toBeUndefined()
    expect(sessions.verify(`v2.${body}.${tag}`)).toBeUndefined()
    expect(sessions.verify("not-a-token")).toBeUndefined()
    const foreign = await signedIn(other, wallet)
    expect(sessions.verify(foreign.token)).toBeUndefined()
  })

  it("refuses a sign-in signed by another key than the message names", async () => {
    const sessions = Sessions.make({ expected })
    const wallet = Wallet.createRandom()
    const { message } = sessions.challenge(wallet.address)
    const refused = await Effect.runPromise(Effect.flip(sessions.signIn(message, await Wallet.createRandom().signMessage(message))))
    expect(refused).toMatchObject({ _tag: "SignInRefused", reason: "BadSignature" })
  })

  it("takes a sign-in for an account signed by a login key its DID names now, the token the account's; any other key refused", async () => {
    const account = Wallet.createRandom()
    const loginKey = Wallet.createRandom()
    const named = new Set([account.address, loginKey.address])
    const sessions = Sessions.make({ expected, loginSigners: Auth.didKeysOf(async (who) => (who === account.address ? named : new Set([who]))) })
    const sign = async (signer: Pick<Wallet, "signMessage">) => {
      const { message } = sessions.challenge(account.address)
      return Effect.runPromise(sessions.signIn(message, await signer.signMessage(message)))
    }
    const { token, claims } = await sign(loginKey)
    expect(claims.address).toBe(account.address)
    expect(sessions.verify(token)?.address).toBe(account.address)
    const stranger = Wallet.createRandom()
    await expect(sign(stranger)).rejects.toMatchObject({ reason: "BadSignature", message: expect.stringContaining(`signed by ${stranger.address}, not by ${account.address} nor by a login key`) })
    // Revoked on chain: the next sign-in reads the DID again.
    named.delete(loginKey.address)
    await expect(sign(loginKey)).rejects.toMatchObject({ reason: "BadSignature" })
    // Another account's login key signs in for that account only.
    const { message } = sessions.challenge(stranger.address)
    await expect(Effect.runPromise(sessions.signIn(message, await loginKey.signMessage(message)))).rejects.toMatchObject({ reason: "BadSignature" })
  })

  it("a DID read that fails answers Unavailable and spends nothing; of two sign-ins racing with one nonce exactly one gets a token", async () => {
    const account = Wallet.createRandom()
    const loginKey = Wallet.createRandom()
    let registry: "down" | "up" | "barrier" = "down"
    // The racing reads wait for each other, so both sign-ins have looked at the nonce before either spends it.
    const waiting: Array<() => void> = []
    const sessions = Sessions.make({
      expected,
      loginSigners: Auth.didKeysOf(async () => {
        if (registry === "down") throw new Error("could not reach the DID registry")
        if (registry === "barrier") {
          await new Promise<void>((resolve) => {
            waiting.push(resolve)
            if (waiting.length === 2) for (const release of waiting) release()
            // Not reached twice (the nonce spent before the read): give up waiting rather than hang the test.
            setTimeout(resolve, 2_000)
          })
        }
        return new Set([account.address, loginKey.address])
      })
    })
    const { message } = sessions.challenge(account.address)
    const signature = await loginKey.signMessage(message)
    const unavailable = await Effect.runPromise(Effect.flip(sessions.signIn(message, signature)))
    expect(unavailable).toMatchObject({ _tag: "Unavailable", message: expect.stringContaining(`the DID of ${account.address} could not be resolved (could not reach the DID registry)`) })
    registry = "barrier"
    const [a, b] = await Promise.all([0, 1].map(() => Effect.runPromise(Effect.result(sessions.signIn(message, signature)))))
    const outcomes = [a!, b!].map((r) => (r._tag === "Success" ? r.success.claims.address : r.failure._tag === "SignInRefused" ? r.failure.reason : r.failure._tag))
    expect(outcomes.sort()).toEqual([account.address, "UnknownNonce"].sort())
  })

  it("a spend the nonce store records and then fails answers NonceUnsettled (ask for a new challenge), not Unavailable with a retry the nonce no longer allows", async () => {
    // The store's first spend commits and then fails (the answer lost): the nonce is spent, the caller cannot know.
    const store = LossySpent.make()
    store.failNextSpend()
    const sessions = Sessions.make({ expected, spent: store.spent })
    const wallet = Wallet.createRandom()
    const { message } = sessions.challenge(wallet.address)
    const signature = await wallet.signMessage(message)
    const unsettled = await Effect.runPromise(Effect.flip(sessions.signIn(message, signature)))
    expect(unsettled).toMatchObject({ _tag: "NonceUnsettled", message: expect.stringContaining("ask for a new challenge") })
    // As the answer said: the same message is not good again, a new challenge is.
    expect(await Effect.runPromise(Effect.flip(sessions.signIn(message, signature)))).toMatchObject({ _tag: "SignInRefused", reason: "UnknownNonce" })
    expect((await signedIn(sessions, wallet)).claims.address).toBe(wallet.address)
  })
})
