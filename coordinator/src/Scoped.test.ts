/**
 * The scoped resources of the public surface fail typed when their start rejects: `Coordinator.scoped` with
 * CoordinatorStartFailed, `Agent.scoped` with AgentStartFailed — each naming why, not a defect. Both refusals come
 * before anything is opened (a coordinator asked for client certificates without TLS; an agent given a plain-http
 * coordinator on another host).
 */
import { Cause, Effect, Exit } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import * as Agent from "@jointly/participant/internal/Agent"
import * as Coordinator from "./Coordinator.ts"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected the start to fail")
  const found = exit.cause.reasons.find(Cause.isFailReason)
  if (found === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return found.error
}

describe("scoped starts", () => {
  it("Coordinator.scoped: a start that rejects is CoordinatorStartFailed", async () => {
    const config = { store: "unused", ledger: {}, clientCertificates: true } as unknown as Coordinator.Config
    const exit = await Effect.runPromiseExit(Effect.scoped(Coordinator.scoped(config)))
    expect(failureOf(exit)).toMatchObject({ _tag: "CoordinatorStartFailed", detail: expect.stringContaining("without TLS") })
  })

  it("Agent.scoped: a start that rejects is AgentStartFailed", async () => {
    const config = { coordinatorUrl: "http://coordinator.example", wallet: Wallet.createRandom(), datasets: [] } as unknown as Agent.AgentConfig
    const exit = await Effect.runPromiseExit(Effect.scoped(Agent.scoped(config)))
    expect(failureOf(exit)).toMatchObject({ _tag: "AgentStartFailed", detail: expect.stringContaining("plain http to coordinator.example") })
  })
})
