import { Context, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Signatures from "../crypto/Signatures.ts"
import { handler, ParticipantFailure, RoundError, stage } from "../protocols/Protocol.ts"
import * as InMemoryHost from "./InMemoryHost.ts"

const echo = stage(
  "test.echo",
  Schema.Struct({ value: Schema.BigIntFromString, data: Schema.Uint8ArrayFromBase64 }),
  Schema.Struct({ doubled: Schema.BigIntFromString, signature: Schema.String, calls: Schema.Number })
)
const echoHandler = handler(echo, ({ value, data }, session) =>
  Effect.gen(function*() {
    const calls = ((session.memory.get("calls") as number | undefined) ?? 0) + 1
    session.memory.set("calls", calls)
    return { doubled: 2n * value, signature: yield* session.sign(data), calls }
  }))

const request = { value: 21n, data: new Uint8Array([1, 2, 3]) }
const all = (participants: ReadonlyArray<string>) => new Map(participants.map((p) => [p, request]))

describe("InMemoryHost", () => {
  it("round-trips requests and replies through the Schemas and JSON, with real wallet signatures", async () => {
    const host = InMemoryHost.make([{ handlers: [echoHandler] }, { handlers: [echoHandler] }])
    const replies = await Effect.runPromise(host.run((s) => s.round(echo, all(s.participants), { minReplies: 2 })))
    for (const [participant, reply] of replies) {
      expect(reply.doubled).toBe(42n)
      expect(Signatures.verify(participant, request.data, reply.signature)).toBe(true)
    }
    expect(host.transcript.find((e) => e.direction === "request")!.json).toBe('{"value":"21","data":"AQID"}')
  })

  it("keeps memory per participant and attempt", async () => {
    const host = InMemoryHost.make([{ handlers: [echoHandler] }])
    const calls = (attempt: number) =>
      Effect.runPromise(host.run((s) => s.round(echo, all(s.participants), { minReplies: 1 }), attempt))
        .then((r) => [...r.values()][0]!.calls)
    expect(await calls(1)).toBe(1)
    expect(await calls(1)).toBe(2)
    expect(await calls(2)).toBe(1)
  })

  it("releases the task's state when it ends: memory of every attempt, handler tables and what the values hold", async () => {
    const released: Array<string> = []
    // A value holding something outside the JS heap (as SEAL objects do): the participant releases it on the task's end.
    const holding = handler(echo, ({ value, data }, session) =>
      Effect.gen(function*() {
        session.memory.set("held", { release: (reason: string) => void released.push(`${session.self}:${reason}`) })
        return { doubled: 2n * value, signature: yield* session.sign(data), calls: 1 }
      }))
    const host = InMemoryHost.make([{ handlers: [holding] }, { handlers: [holding] }])
    const round = (attempt: number) => Effect.runPromise(host.run((s) => s.round(echo, all(s.participants), { minReplies: 2 }), attempt))
    await round(1)
    // Two participants, each with one attempt's memory and the task's handler table.
    expect(host.held()).toBe(4)
    await round(2)
    // The second attempt started clean: the first one's values were released ("attempt"), the count is unchanged.
    expect(released.map((r) => r.split(":")[1])).toEqual(["attempt", "attempt"])
    expect(host.held()).toBe(4)
    await Effect.runPromise(host.end())
    expect(host.held()).toBe(0)
    expect(released.filter((r) => r.endsWith(":ended")).sort()).toEqual(host.participants.map((p) => `${p}:ended`).sort())
    // What the test reads of the run stays.
    expect(host.transcript.filter((e) => e.direction === "reply")).toHaveLength(4)
  })

  it("reports a reply that does not fit its Schema as a MalformedReply failure (a wire bug)", async () => {
    const sloppy = handler(echo, () => Effect.succeed({ doubled: 1 as unknown as bigint, signature: "x", calls: 0 }))
    const host = InMemoryHost.make([{ handlers: [sloppy] }])
    const error = await Effect.runPromise(Effect.flip(host.run((s) => s.round(echo, all(s.participants), { minReplies: 1 }))))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", code: "MalformedReply" })
  })

  it("scripts dropouts, errors and hangs with the round contract's outcomes", async () => {
    const host = InMemoryHost.make([
      { handlers: [echoHandler] },
      { handlers: [echoHandler], faults: [{ kind: "dropout", fromStage: "test.echo" }] },
      { handlers: [echoHandler], faults: [{ kind: "error", stage: "test.echo", code: "Nope" }] },
      { handlers: [echoHandler], faults: [{ kind: "hang", fromStage: "test.echo" }] }
    ])
    const round = (minReplies: number) => host.run((s) => s.round(echo, all(s.participants), { minReplies, timeoutMs: 50 }))
    // Enough replies: the failing and silent participants simply count as missing.
    expect([...(await Effect.runPromise(round(1))).keys()]).toEqual([host.participants[0]])
    // Not enough: a participant's error is reported.
    const failure = await Effect.runPromise(Effect.flip(round(2)))
    expect(failure).toBeInstanceOf(ParticipantFailure)
    expect((failure as ParticipantFailure).code).toBe("Nope")
    // Without erroring participants, too few replies is a RoundError naming the missing ones.
    const quiet = InMemoryHost.make([
      { handlers: [echoHandler] },
      { handlers: [echoHandler], faults: [{ kind: "hang", fromStage: "test.echo" }] }
    ])
    const error = await Effect.runPromise(Effect.flip(quiet.run((s) => s.round(echo, all(s.participants), { minReplies: 2, timeoutMs: 50 }))))
    expect(error).toBeInstanceOf(RoundError)
    expect((error as RoundError).missing).toEqual([quiet.participants[1]])
  })

  it("reports a stage without a handler", async () => {
    const host = InMemoryHost.make([{ handlers: [] }])
    const error = await Effect.runPromise(Effect.flip(host.run((s) => s.round(echo, all(s.participants), { minReplies: 1 }))))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", code: "UnknownStage" })
  })
})

describe("InMemoryHost services", () => {
  it("provides each participant its own services", async () => {
    class Secret extends Context.Service<Secret, { readonly value: bigint }>()("test/Secret") {}
    const needsSecret = handler(echo, (_request, session) =>
      Effect.gen(function*() {
        const { value } = yield* Secret
        return { doubled: value, signature: yield* session.sign(new Uint8Array([0])), calls: 0 }
      }))
    const host = InMemoryHost.make([5n, 7n].map((value) => ({
      handlers: [needsSecret],
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) =>
        Effect.provideService(effect, Secret, { value }) as Effect.Effect<A, ParticipantFailure>
    })))
    const replies = await Effect.runPromise(host.run((s) => s.round(echo, all(s.participants), { minReplies: 2 })))
    expect([...replies.values()].map((r) => r.doubled)).toEqual([5n, 7n])
  })
})

describe("InMemoryHost refusals (the round engine's, as over a socket)", () => {
  it("refuses a replayed reply and a reply under another participant's request id, and the round still counts the genuine ones", async () => {
    const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
    const host = InMemoryHost.make([
      { wallet: wallets[0], handlers: [echoHandler], faults: [{ kind: "replay", stage: "test.echo" }] },
      { wallet: wallets[1], handlers: [echoHandler], faults: [{ kind: "steal", stage: "test.echo", victim: wallets[2]!.address }] },
      { wallet: wallets[2], handlers: [echoHandler], faults: [{ kind: "delay", stage: "test.echo", ms: 20 }] }
    ])
    const replies = await Effect.runPromise(host.run((s) => s.round(echo, all(s.participants), { minReplies: 3, timeoutMs: 2_000 })))
    expect([...replies.values()].map((r) => r.doubled)).toEqual([42n, 42n, 42n])
    expect(host.refusals).toEqual(expect.arrayContaining([
      { participant: wallets[0]!.address, stage: "test.echo", code: "Replayed" },
      { participant: wallets[1]!.address, stage: "test.echo", code: "NotAuthorized" }
    ]))
  })

  it("a reply its Schema refuses is that participant's MalformedReply and is refused as Malformed", async () => {
    const host = InMemoryHost.make([{ handlers: [echoHandler], faults: [{ kind: "malformed", stage: "test.echo" }] }])
    const error = await Effect.runPromise(Effect.flip(host.run((s) => s.round(echo, all(s.participants), { minReplies: 1 }))))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", code: "MalformedReply" })
    expect(host.refusals.map((r) => r.code)).toEqual(["Malformed"])
  })

  it("a stage outside the protocol's stage table is a coordinator bug (a defect), not a participant's failure", async () => {
    const host = InMemoryHost.make([{ handlers: [echoHandler] }], { stages: ["test.other"] })
    const exit = await Effect.runPromiseExit(host.run((s) => s.round(echo, all(s.participants), { minReplies: 1 })))
    expect(exit._tag === "Failure" && exit.cause.reasons[0]?._tag).toBe("Die")
    expect(host.transcript).toEqual([])
  })
})
