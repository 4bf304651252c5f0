/**
 * A signer that rejects (a browser wallet the user closed, a key store that failed) fails the stage that asked for
 * the signature with its own code, SignFailed, as a typed failure outcome — not "Internal" from a defect.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { handler, stage } from "../protocols/Protocol.ts"
import * as ParticipantRuntime from "./ParticipantRuntime.ts"

const signs = stage("test.signs", Schema.Struct({}), Schema.Struct({ signature: Schema.String }))

const outcomeWith = (sign: (message: Uint8Array) => Promise<string>) => {
  const runtime = ParticipantRuntime.make({ self: "0xself", sign: ParticipantRuntime.signWith(sign) })
  const task: ParticipantRuntime.Accepted<never> = {
    taskId: `0x${"ab".repeat(32)}`,
    handlers: new Map([[signs.name, handler(signs, (_, session) => Effect.map(session.sign(new Uint8Array([1])), (signature) => ({ signature })))]])
  }
  return Effect.runPromise(runtime.handle(task, { requestId: "r1", taskId: task.taskId, attempt: 1, stage: signs.name, participants: ["0xself"], payload: {} }))
}

describe("ParticipantRuntime signing", () => {
  it("a signature is the stage's reply", async () => {
    expect(await outcomeWith(async () => "0xsigned")).toEqual({ ok: true, payload: { signature: "0xsigned" } })
  })

  it("a signer that rejects fails the stage with SignFailed, naming why", async () => {
    expect(await outcomeWith(() => Promise.reject(new Error("the wallet was closed")))).toEqual({ ok: false, code: "SignFailed", detail: "the wallet was closed" })
  })
})
