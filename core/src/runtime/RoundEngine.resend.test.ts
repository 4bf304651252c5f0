/**
 * The round engine's resending, over a channel scripted here (a test helper: the real channels are the socket.io
 * hub, tested across two coordinator processes in coordinator/src/Cluster.kill.test.ts, and InMemoryChannel): a
 * request whose every sending is lost is sent again only while its round is open — never after its deadline — and
 * a request acknowledged but never answered is reminded of, never sent in full again.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { stage } from "../protocols/Protocol.ts"
import type { StageReminder, StageRequest } from "../wire/Messages.ts"
import { Channel, type Inbound } from "./Channel.ts"
import * as RoundEngine from "./RoundEngine.ts"

const ping = stage("test.ping", Schema.Struct({ n: Schema.Number }), Schema.Struct({ n: Schema.Number }))
const participant = "0x00000000000000000000000000000000000000aa"
const taskId = `0x${"11".repeat(32)}`

/** A participant that never answers, whose every sending is acknowledged (`acknowledge`) or lost. */
const silent = (acknowledge: boolean) => {
  let inbound: Inbound | undefined
  const sent: Array<StageRequest> = []
  const reminded: Array<StageReminder> = []
  const channel = Channel.of({
    send: (to, request) =>
      Effect.gen(function*() {
        sent.push(request)
        yield* inbound!.receipt(to, request.requestId, acknowledge)
        return true
      }),
    remind: (_to, reminder) => Effect.sync(() => void reminded.push(reminder)).pipe(Effect.as(true)),
    listen: (handlers) => Effect.sync(() => void (inbound = handlers))
  })
  return { channel, sent, reminded }
}

const roundOf = (channel: Channel["Service"], timeoutMs: number) =>
  Effect.gen(function*() {
    const engine = yield* RoundEngine.make
    yield* engine.taskStarted(taskId)
    const session = engine.session({
      taskId,
      attempt: 0,
      participants: [participant],
      progress: () => Effect.void,
      commit: () => Effect.void,
      checkpoint: { save: () => Effect.void, load: () => Effect.succeed(undefined) }
    })
    return yield* Effect.flip(session.round(ping, new Map([[participant, { n: 1 }]]), { minReplies: 1, timeoutMs }))
  }).pipe(Effect.provideService(Channel, channel))

describe("the round engine's resending", () => {
  it("sends a request whose sendings are lost again while its round is open, and stops at the round's deadline", async () => {
    const script = silent(false)
    const failure = await Effect.runPromise(roundOf(script.channel, 2_000))
    expect(failure).toMatchObject({ _tag: "RoundError", reason: "TooFewReplies", missing: [participant] })
    // Sent at the start and again at the first look (1 s), under one id; the next look (3 s) is past the deadline (2 s).
    expect(script.sent.length).toBe(2)
    expect(new Set(script.sent.map((r) => r.requestId)).size).toBe(1)
    await new Promise((r) => setTimeout(r, 2_500))
    expect(script.sent.length).toBe(2)
    expect(script.reminded).toEqual([])
  })

  it("reminds of an acknowledged request that gets no answer, without sending it in full again", async () => {
    const script = silent(true)
    await Effect.runPromise(roundOf(script.channel, 2_000))
    expect(script.sent.length).toBe(1)
    expect(script.reminded).toEqual([{ requestId: script.sent[0]!.requestId, taskId }])
  })
})
