/**
 * The scoped resources of the public surface fail typed when their start rejects: `Coordinator.scoped` with
 * CoordinatorStartFailed, `Agent.scoped` with AgentStartFailed — each naming why, not a defect. Both refusals come
 * before anything is opened (a coordinator asked for client certificates without TLS; an agent given a plain-http
 * coordinator on another host).
 */
import { Effect } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import { typedFailure } from "@jointly/core/internal/testing/TypedFailure"
import * as Agent from "@jointly/participant/internal/Agent"
import * as Coordinator from "./Coordinator.ts"

describe("scoped starts", () => {
  it("Coordinator.scoped: a start that rejects is CoordinatorStartFailed", async () => {
    const config = { store: "unused", ledger: {}, clientCertificates: true } as unknown as Coordinator.Config
    const exit = await Effect.runPromiseExit(Effect.scoped(Coordinator.scoped(config)))
    expect(typedFailure(exit)).toMatchObject({ _tag: "CoordinatorStartFailed", detail: expect.stringContaining("without TLS") })
  })

  it("Agent.scoped: a start that rejects is AgentStartFailed", async () => {
    const config = { coordinatorUrl: "http://coordinator.example", wallet: Wallet.createRandom(), datasets: [] } as unknown as Agent.AgentConfig
    const exit = await Effect.runPromiseExit(Effect.scoped(Agent.scoped(config)))
    expect(typedFailure(exit)).toMatchObject({ _tag: "AgentStartFailed", detail: expect.stringContaining("plain http to coordinator.example") })
  })
})
