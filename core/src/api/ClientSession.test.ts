/**
 * A signed call's sign-in fails in the call's typed error channel, not as a defect: a coordinator that cannot be
 * reached is the HTTP client's transport error, a signer that refuses is ClientSignInError `SignerRefused`. Over a
 * real socket: a loopback port that was just listening and is closed now refuses the connection.
 */
import { Cause, Effect, Exit, Option } from "effect"
import { Wallet } from "ethers"
import { createServer } from "node:net"
import { describe, expect, it } from "vitest"
import * as Client from "./Client.ts"
import { ClientSignInError } from "./ClientSession.ts"

/** A loopback port nothing listens on any more (taken from the system, then released). */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** The typed failure of a call, or undefined when it succeeded or died (a defect is what must not happen). */
const typedFailure = async <A, E>(effect: Effect.Effect<A, E>) => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return undefined
  expect(Cause.hasDies(exit.cause)).toBe(false)
  return Option.getOrUndefined(Cause.findErrorOption(exit.cause))
}

describe("ClientSession sign-in failures", () => {
  it("fails a signed call with the transport error when the coordinator is unreachable", async () => {
    const client = Client.make({ url: `http://127.0.0.1:${await closedPort()}`, signer: Wallet.createRandom() })
    const failure = await typedFailure(client.call((api) => api.auth.me()))
    expect((failure as { _tag?: string } | undefined)?._tag).toBe("HttpClientError")
  })

  it("fails a signed call with SignerRefused, the wallet's own error kept, when the signer rejects", async () => {
    const declined = new Error("User rejected the request.")
    const signer = { getAddress: () => Promise.reject(declined), signMessage: () => Promise.reject(declined) }
    const client = Client.make({ url: `http://127.0.0.1:${await closedPort()}`, signer })
    const failure = await typedFailure(client.call((api) => api.auth.me()))
    expect(failure).toBeInstanceOf(ClientSignInError)
    expect((failure as ClientSignInError).code).toBe("SignerRefused")
    expect((failure as ClientSignInError).cause).toBe(declined)
  })
})
