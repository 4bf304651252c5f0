/**
 * A human's decision relayed to the participant (HumanConsents.decide): each way it can fail is its own tagged error
 * in the error channel — nothing waits, the participant did not answer, the participant refused — and only an
 * accepted decision takes the consent off the list.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { HumanAck, HumanDecision } from "@jointly/core/internal/wire/Messages"
import * as HumanConsents from "./HumanConsents.ts"
import { makeBus } from "./Live.ts"

const taskId = `0x${"ab".repeat(32)}`
const participant = "0x00000000000000000000000000000000000000aa"
const decision: HumanDecision = { taskId, approve: true, reason: "looks right", mac: "0x1234" }

describe("HumanConsents.decide", () => {
  it("fails with NotPending, ParticipantUnreachable or DecisionRefused, keeping the wait; an accepted decision ends it", async () => {
    const answers: Array<HumanAck | Error | undefined> = [undefined, new Error("socket closed"), { ok: false, detail: "the MAC does not match" }, { ok: true }]
    const relayed: Array<[string, HumanDecision]> = []
    const humans = HumanConsents.make({
      bus: makeBus(),
      relay: async (account, d) => {
        relayed.push([account, d])
        const answer = answers.shift()
        if (answer instanceof Error) throw answer
        return answer
      }
    })
    const failure = () => Effect.runPromise(Effect.flip(humans.decide(participant, decision)))

    expect(await failure()).toMatchObject({ _tag: "NotPending" })
    expect(relayed).toEqual([])
    humans.awaiting(participant, { taskId, summary: "two parties, statistics" })
    expect(await failure()).toMatchObject({ _tag: "ParticipantUnreachable" })
    // A relay that rejects is the participant not answering, typed, not a defect.
    expect(await failure()).toMatchObject({ _tag: "ParticipantUnreachable", message: expect.stringContaining("socket closed") })
    expect(await failure()).toMatchObject({ _tag: "DecisionRefused", message: "the MAC does not match" })
    expect(humans.list().map((p) => p.taskId)).toEqual([taskId])
    await Effect.runPromise(humans.decide(participant.toUpperCase().replace("0X", "0x"), decision))
    expect(relayed).toEqual([[participant, decision], [participant, decision], [participant, decision], [participant, decision]])
    expect(humans.list()).toEqual([])
    expect(await failure()).toMatchObject({ _tag: "NotPending" })
  })
})
