/**
 * The typed client's failures name their cause: a coordinator that cannot be reached is `Unreachable` with the URL
 * and what the socket said, not the HTTP client's bare "Transport error". Over a real socket: a loopback port that
 * was just listening and is closed now refuses the connection.
 */
import { Wallet } from "ethers"
import { closedPort } from "@jointly/core/internal/testing/ClosedPort"
import { describe, expect, it } from "vitest"
import * as Client from "./Client.ts"

describe("Client failures", () => {
  it("names the coordinator's URL and the refused connection when nothing listens there", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const failure = await Client.make({ url }).health().then(() => undefined, (error: unknown) => error)
    expect(failure).toBeInstanceOf(Client.RequestFailed)
    const refused = failure as Client.RequestFailed
    expect(refused.code).toBe("Unreachable")
    expect(refused.status).toBe(0)
    expect(refused.message).toMatch(new RegExp(`^coordinator unreachable at ${url.replace(/\./g, "\\.")}/\\S*: ECONNREFUSED$`))
    // What the transport said is still there, whole.
    expect((refused.detail as { _tag?: string })._tag).toBe("HttpClientError")
  })
  it("reports a signed call's sign-in failures as before: the network as Unreachable, a signer's rejection by its message", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const unreachable = await Client.make({ url, initiator: Wallet.createRandom() }).me().then(() => undefined, (error: unknown) => error)
    expect((unreachable as Client.RequestFailed).code).toBe("Unreachable")
    const signer: Client.Initiator = { getAddress: () => Promise.reject(new Error("User rejected the request.")), signMessage: () => Promise.reject(new Error("unused")) }
    const declined = await Client.make({ url, initiator: signer }).me().then(() => undefined, (error: unknown) => error)
    expect(declined).toBeInstanceOf(Client.RequestFailed)
    expect([(declined as Client.RequestFailed).code, (declined as Client.RequestFailed).message]).toEqual(["Failed", "User rejected the request."])
  })
})
