/**
 * One round engine, two channels: the same random schedules of delays, dropouts, hangs, errors, malformed
 * replies, replays and replies under a stolen request id run over the in-memory channel and over the socket.io
 * channel (the coordinator's hub on a real port, real socket.io clients that log in with real EIP-712
 * signatures), and both must settle every round exactly as the engine's rules say (`expected` below, written
 * from the rules, not from either channel). Every replayed or stolen reply must be refused on both.
 */
import { Effect, Schema } from "effect"
import type { Wallet } from "ethers"
import fc from "fast-check"
import type { Socket } from "socket.io-client"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { CoordinatorSession } from "@jointly/core/internal/protocols/Protocol"
import { handler, stage } from "@jointly/core/internal/protocols/Protocol"
import * as ParticipantRuntime from "@jointly/core/internal/runtime/ParticipantRuntime"
import * as RoundEngine from "@jointly/core/internal/runtime/RoundEngine"
import * as InMemoryChannel from "@jointly/core/internal/testing/InMemoryChannel"
import { events, type StageReceipt, StageRequest, type StageReply } from "@jointly/core/internal/wire/Messages"
import * as LoopbackHub from "../testing/LoopbackHub.ts"
import type * as Hub from "./Hub.ts"
import * as SocketLimits from "./SocketLimits.ts"
import * as SocketChannel from "./SocketChannel.ts"

const Value = Schema.Struct({ value: Schema.Int })
const stages = [stage("prop.one", Value, Value), stage("prop.two", Value, Value)] as const
const handlers = stages.map((s) => handler(s, ({ value }) => Effect.succeed({ value: value * 2 })))
const timeoutMs = 1_500
const taskId = "0x" + "ab".repeat(32)

type Fault = InMemoryChannel.Fault
interface Schedule {
  readonly faults: ReadonlyArray<ReadonlyArray<Fault>>
  readonly minReplies: readonly [number, number]
}

const PARTIES = 4
const wallets = Array.from({ length: PARTIES }, () => InMemoryChannel.randomWallet())
const addresses = wallets.map((w) => w.address)

const faultOf = (party: number): fc.Arbitrary<Fault> => {
  const stageName = fc.constantFrom(...stages.map((s) => s.name))
  const others = addresses.filter((_, i) => i !== party)
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("delay" as const), stage: stageName, ms: fc.integer({ min: 0, max: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("dropout" as const), fromStage: stageName }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("hang" as const), fromStage: stageName }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("error" as const), stage: stageName, code: fc.constantFrom("Refused", "BadData") }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("malformed" as const), stage: stageName }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("replay" as const), stage: stageName }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("steal" as const), stage: stageName, victim: fc.constantFrom(...others) }) }
  )
}

const schedules: fc.Arbitrary<Schedule> = fc.record({
  faults: fc.tuple(...addresses.map((_, i) => fc.array(faultOf(i), { maxLength: 2 }))),
  minReplies: fc.tuple(fc.integer({ min: 0, max: PARTIES }), fc.integer({ min: 0, max: PARTIES }))
})

/** A round's outcome in comparable form. */
type Settled =
  | { readonly ok: true; readonly replies: ReadonlyArray<readonly [string, number]> }
  | { readonly ok: false; readonly tag: string; readonly who: ReadonlyArray<string>; readonly code?: string }

type Status = "Reply" | "Failed" | "Missing" | "Dropping"

/** Each participant's part of each round, from the fault scripts alone (before the rule that ends a round). */
const statuses = (schedule: Schedule): ReadonlyArray<ReadonlyArray<{ readonly status: Status; readonly code?: string }>> => {
  const gone = new Set<number>()
  const hung = new Set<number>()
  return stages.map((s) =>
    addresses.map((_, i) => {
      const plan = InMemoryChannel.planOf(schedule.faults[i]!, s.name)
      if (gone.has(i)) return { status: "Missing" as const }
      if (plan.dropout) {
        gone.add(i)
        return { status: "Dropping" as const }
      }
      if (plan.hang) hung.add(i)
      if (hung.has(i)) return { status: "Missing" as const }
      if (plan.error !== undefined) return { status: "Failed" as const, code: plan.error.code }
      if (plan.malformed) return { status: "Failed" as const, code: "MalformedReply" }
      return { status: "Reply" as const }
    })
  )
}

/** The engine's rules applied to a schedule by hand: what every round must come to, on any channel. */
const expected = (schedule: Schedule): ReadonlyArray<Settled> => {
  const out: Array<Settled> = []
  for (const [r, round] of statuses(schedule).entries()) {
    const replies = addresses.filter((_, i) => round[i]!.status === "Reply")
    if (replies.length >= schedule.minReplies[r]!) {
      out.push({ ok: true, replies: replies.map((a) => [a, 2 * (r + 1)] as const) })
      continue
    }
    const failed = round.findIndex((o) => o.status === "Failed")
    out.push(failed >= 0
      ? { ok: false, tag: "ParticipantFailure", who: [addresses[failed]!], code: round[failed]!.code }
      : { ok: false, tag: "RoundError", who: addresses.filter((_, i) => round[i]!.status !== "Reply") })
    break
  }
  return out
}

/**
 * Messages the engine must refuse in the rounds that ran: every replay by a participant that answered, every
 * reply under a stolen id when the victim was asked and the thief is still connected.
 */
const refusable = (schedule: Schedule, rounds: number) => {
  let count = 0
  const all = statuses(schedule)
  for (const [r, s] of stages.slice(0, rounds).entries()) {
    const round = all[r]!
    const connected = (i: number) => round[i]!.status !== "Dropping" && !(round[i]!.status === "Missing" && all.slice(0, r + 1).some((q) => q[i]!.status === "Dropping"))
    for (const [i, faults] of schedule.faults.entries()) {
      for (const f of faults) {
        if (f.kind === "replay" && f.stage === s.name && (round[i]!.status === "Reply" || round[i]!.status === "Failed")) count++
        const victim = f.kind === "steal" && f.stage === s.name ? addresses.indexOf(f.victim) : -1
        if (victim >= 0 && connected(i) && connected(victim)) count++
      }
    }
  }
  return count
}

/** Both rounds in order, the second only after the first succeeded. */
const runRounds = (session: CoordinatorSession, schedule: Schedule) =>
  Effect.gen(function*() {
    const out: Array<Settled> = []
    for (const [r, s] of stages.entries()) {
      const requests = new Map(addresses.map((a) => [a, { value: r + 1 }] as const))
      const exit = yield* Effect.exit(session.round(s, requests, { minReplies: schedule.minReplies[r]!, timeoutMs }))
      if (exit._tag === "Success") {
        out.push({ ok: true, replies: [...exit.value].map(([a, v]) => [a, v.value] as const) })
        continue
      }
      const error = exit.cause.reasons[0]
      const failure = error?._tag === "Fail" ? error.error : undefined
      if (failure?._tag === "ParticipantFailure") out.push({ ok: false, tag: failure._tag, who: [failure.participant], code: failure.code })
      else if (failure?._tag === "RoundError") out.push({ ok: false, tag: failure._tag, who: failure.missing })
      else out.push({ ok: false, tag: "Defect", who: [String(exit.cause)] })
      break
    }
    return out
  })

const hooks = (engine: RoundEngine.RoundEngine["Service"]) =>
  engine.session({
    taskId,
    attempt: 1,
    participants: addresses,
    progress: () => Effect.void,
    commit: () => Effect.void,
    checkpoint: { save: () => Effect.void, load: () => Effect.void }
  })

// ---- in memory ---------------------------------------------------------------------------------------

const inMemory = async (schedule: Schedule) => {
  const channel = InMemoryChannel.make(addresses.map((_, i) => ({ wallet: wallets[i]!, handlers, faults: schedule.faults[i]! })))
  const engine = Effect.runSync(Effect.provide(RoundEngine.make, channel.layer))
  Effect.runSync(engine.taskStarted(taskId))
  const outcome = await Effect.runPromise(runRounds(hooks(engine), schedule))
  return { outcome, refusals: channel.refusals.length }
}

// ---- over socket.io ----------------------------------------------------------------------------------

let loopback: LoopbackHub.LoopbackHub
let hub: Hub.HubShape

beforeAll(async () => {
  // Every run connects four sockets from loopback: the abuse limits (SocketLimits.test.ts) would refuse the
  // later runs' connections, which is not what this property is about.
  const unlimited = { limit: 1_000_000, windowMs: 60_000 }
  // One hub for every run; each run routes to its own engine's channel.
  loopback = await LoopbackHub.start({
    limits: { ...SocketLimits.defaults, connectionsPerAddress: unlimited, eventsPerAccount: unlimited, eventsPerAddress: unlimited }
  })
  hub = loopback.hub
})

afterAll(async () => {
  await loopback.close()
})

const connect = (wallet: Wallet): Promise<Socket> => loopback.connect(wallet)

/** A participant as a deployed agent answers: the participant runtime, faults applied like the in-memory channel's. */
const overSockets = async (schedule: Schedule) => {
  const sockets = await Promise.all(wallets.map(connect))
  // The hub knows a socket once its connection handler ran: wait until all four are online.
  while (addresses.some((a) => !hub.isOnline(a))) await new Promise((r) => setTimeout(r, 5))
  const channel = SocketChannel.make(hub)
  // Refusals are counted where the engine makes them: a participant that disconnects right after a replay (it
  // drops out of the next round) may never read the `wire.error` the hub sends it, though the reply was refused.
  let refusals = 0
  loopback.route({ ...channel, reply: (account, message) => channel.reply(account, message).pipe(Effect.tapError(() => Effect.sync(() => void refusals++))) })
  const engine = Effect.runSync(Effect.provide(RoundEngine.make, channel.layer))
  Effect.runSync(engine.taskStarted(taskId))
  const hung = new Set<number>()
  sockets.forEach((socket, i) => {
    const faults = schedule.faults[i]!
    const runtime = ParticipantRuntime.make({ self: addresses[i]!, sign: (m) => Effect.promise(() => wallets[i]!.signMessage(m)) })
    const task = ParticipantRuntime.accepted(taskId, handlers)
    socket.on(events.request, (raw: unknown, ack?: (receipt: StageReceipt) => void) => {
      const request = Schema.decodeUnknownSync(StageRequest)(raw)
      const plan = InMemoryChannel.planOf(faults, request.stage)
      if (plan.dropout) return void socket.disconnect()
      ack?.({ requestId: request.requestId, known: true })
      // Thieves still connected answer the victim's request first, under their own identity.
      for (const [t, thief] of sockets.entries()) {
        if (thief.connected && schedule.faults[t]!.some((f) => f.kind === "steal" && f.victim === addresses[i] && f.stage === request.stage)) {
          thief.emit(events.reply, { requestId: request.requestId, taskId, stage: request.stage, outcome: { ok: true, payload: InMemoryChannel.garbage } } satisfies StageReply)
        }
      }
      if (plan.hang) hung.add(i)
      if (hung.has(i)) return
      void Effect.runPromise(Effect.gen(function*() {
        if (plan.delayMs > 0) yield* Effect.sleep(plan.delayMs)
        const outcome = yield* InMemoryChannel.answerWith(plan, runtime.handle(task, request))
        const reply: StageReply = { requestId: request.requestId, taskId, stage: request.stage, outcome }
        socket.emit(events.reply, reply)
        if (plan.replay) socket.emit(events.reply, reply)
      }))
    })
  })
  try {
    const outcome = await Effect.runPromise(runRounds(hooks(engine), schedule))
    // A replay may reach the hub after its round settled: give the last ones a moment to arrive.
    const want = refusable(schedule, outcome.length)
    for (let waited = 0; refusals < want && waited < 1_000; waited += 10) await new Promise((r) => setTimeout(r, 10))
    return { outcome, refusals }
  } finally {
    for (const socket of sockets) socket.disconnect()
    while (addresses.some((a) => hub.isOnline(a))) await new Promise((r) => setTimeout(r, 5))
  }
}

describe("the round engine over both channels", () => {
  it("settles every schedule of delays, dropouts, hangs, errors, bad messages, replays and stolen ids by the same rules", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (schedule) => {
        const want = expected(schedule)
        const memory = await inMemory(schedule)
        const socket = await overSockets(schedule)
        expect(memory.outcome).toEqual(want)
        expect(socket.outcome).toEqual(want)
        // Every replayed and every stolen reply is refused, on both channels (malformed ones are refused too).
        const least = refusable(schedule, want.length)
        expect(memory.refusals).toBeGreaterThanOrEqual(least)
        expect(socket.refusals).toBeGreaterThanOrEqual(least)
      }),
      { numRuns: 30, seed: 20_261_205, endOnFailure: true }
    )
  }, 240_000)
})
