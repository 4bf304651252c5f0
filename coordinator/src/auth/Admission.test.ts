/**
 * The socket handshake reads first and spends the login nonce last: over the coordinator's hub on a loopback port,
 * a participant logging in with a real EIP-712 signature while the chain does not answer is refused with the typed
 * code Unavailable, and the same Login — same nonce, same signature — is admitted once the chain answers again;
 * that admitted Login replayed is refused as UnknownNonce. A nonce store that records a spend and then fails
 * refuses the Login as NonceUnsettled (ask for a new nonce), since that Login may no longer be good.
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import type { Socket } from "socket.io-client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HandshakeAuth } from "@jointly/core/internal/wire/Messages"
import * as LoopbackHub from "../testing/LoopbackHub.ts"
import { OrgUnreadable } from "./Auth.ts"
import * as LossySpent from "../testing/LossySpent.ts"

let hub: LoopbackHub.LoopbackHub
let chainAnswers = false
/** The login nonce store, whose next spend a test may have recorded and then fail (the store's answer lost). */
const nonceStore = LossySpent.make()
const sockets: Array<Socket> = []

beforeAll(async () => {
  hub = await LoopbackHub.start({
    registry: {
      orgOf: (address) =>
        chainAnswers
          ? Effect.succeed({ state: "Audited", name: "an org" })
          : Effect.fail(new OrgUnreadable({ address, detail: "connect ECONNREFUSED (test: the chain is down)" }))
    },
    spent: nonceStore.spent
  })
})

afterAll(async () => {
  for (const socket of sockets) socket.disconnect()
  await hub?.close()
})

/** How a handshake with `login` ends: "admitted", or the refusal's code and message. */
const handshake = (wallet: Wallet, login: HandshakeAuth) =>
  hub.connect(wallet, undefined, login).then(
    (socket) => {
      sockets.push(socket)
      return "admitted" as const
    },
    (error: Error & { data?: { code?: string } }) => ({ code: error.data?.code, message: error.message })
  )

describe("the socket handshake while the chain does not answer", () => {
  it("is refused as Unavailable without spending the nonce, and the same Login is admitted once the chain answers", async () => {
    const wallet = new Wallet(Wallet.createRandom().privateKey)
    const login = await hub.login(wallet)
    chainAnswers = false
    const refused = await handshake(wallet, login)
    expect(refused).toMatchObject({ code: "Unavailable" })
    expect((refused as { message: string }).message).toContain("the chain could not be read")
    chainAnswers = true
    expect(await handshake(wallet, login)).toBe("admitted")
    // Spent by the admission: the same Login again is a replay.
    expect(await handshake(wallet, login)).toMatchObject({ code: "UnknownNonce" })
  })

  it("a spend the nonce store records and then fails is refused NonceUnsettled; a new nonce is admitted", async () => {
    const wallet = new Wallet(Wallet.createRandom().privateKey)
    const login = await hub.login(wallet)
    chainAnswers = true
    nonceStore.failNextSpend()
    expect(await handshake(wallet, login)).toMatchObject({ code: "NonceUnsettled", message: expect.stringContaining("ask for a new login nonce") })
    expect(await handshake(wallet, login)).toMatchObject({ code: "UnknownNonce" })
    expect(await handshake(wallet, await hub.login(wallet))).toBe("admitted")
  })
})
