/**
 * A signed call's sign-in fails in the call's typed error channel, not as a defect: a coordinator that cannot be
 * reached is the HTTP client's transport error, a signer that refuses is ClientSignInError `SignerRefused`. Over a
 * real socket: a loopback port that was just listening and is closed now refuses the connection.
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import * as Client from "./Client.ts"
import { ClientSignInError } from "./ClientSession.ts"
import { closedPort } from "../testing/ClosedPort.ts"
import { typedFailure } from "../testing/TypedFailure.ts"

describe("ClientSession sign-in failures", () => {
  it("fails a signed call with the transport error when the coordinator is unreachable", async () => {
    const client = Client.make({ url: `http://127.0.0.1:${await closedPort()}`, signer: Wallet.createRandom() })
    const failure = typedFailure(await Effect.runPromiseExit(client.call((api) => api.auth.me())))
    expect((failure as { _tag?: string })._tag).toBe("HttpClientError")
  })

  it("fails a signed call with SignerRefused, the wallet's own error kept, when the signer rejects", async () => {
    const declined = new Error("User rejected the request.")
    const signer = { getAddress: () => Promise.reject(declined), signMessage: () => Promise.reject(declined) }
    const client = Client.make({ url: `http://127.0.0.1:${await closedPort()}`, signer })
    const failure = typedFailure(await Effect.runPromiseExit(client.call((api) => api.auth.me())))
    expect(failure).toBeInstanceOf(ClientSignInError)
    expect((failure as ClientSignInError).code).toBe("SignerRefused")
    expect((failure as ClientSignInError).cause).toBe(declined)
  })
})
