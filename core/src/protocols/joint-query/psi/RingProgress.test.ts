/**
 * The ECDH ring on disk resumes (RingProgress.ts) over InMemoryHost: a first attempt of a task is cut short when a
 * party stops answering at a chunk of the ring, as if its process died there; a second attempt on fresh
 * participants that keep their spill directories and sealing stores (as a restarted host does) starts after the
 * units every party recorded and outputs exactly the plaintext computation. A progress line cut short is skipped
 * (its unit done again); the value holder of an intersection-sum streams its column from the source (its table is
 * never materialised) and resumes with its sealed Paillier key.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as MemorySource from "../../../data/MemorySource.ts"
import { LocalData, type TabularData } from "../../../data/Tabular.ts"
import * as InMemoryHost from "../../../testing/InMemoryHost.ts"
import { type CoordinatorSession, handler, ParticipantFailure, type ParticipantSession, type StageHandler } from "../../Protocol.ts"
import * as PartialModels from "../../vertical/PartialModels.ts"
import * as Spill from "../Spill.ts"
import { idSet, intersect, outputs, party, table } from "../TestData.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import * as RingProgress from "./RingProgress.ts"
import * as Spec from "./spec.ts"

type Output = { ids?: Array<string>; rows?: Array<number>; cardinality?: number; sum?: number }

const randomId = () => `id-${crypto.getRandomValues(new Uint32Array(2)).join("-")}`
const ids = (n: number) => Array.from({ length: n }, randomId)
/** Two id columns sharing 180 ids, in random order: ≈ 480 ids, 13 chunks of 37, 32 partitions of 16. */
const planted = () => {
  const shared = ids(180)
  return [[...shared, ...ids(300)], [...ids(280), ...shared]].map((column, i) => {
    const order = Array.from(crypto.getRandomValues(new Uint32Array(column.length)).entries()).sort((x, y) => x[1] - y[1]).map(([k]) => k)
    return table(`planted-${i}`, { id: order.map((k) => column[k]!) })
  })
}

/** What each party keeps across attempts, as a restarted host would: its spill directories and its sealing store. */
const hosts = () => [0, 1].map(() => ({ wallet: InMemoryHost.randomWallet(), spill: Spill.inMemory(), sealed: PartialModels.testMemory() }))
type Hosts = ReturnType<typeof hosts>

const taskId = () => `0x${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`

/**
 * One attempt of task `id` on fresh participants over `kept`. `leaveAt`: party 0 refuses every hop of that chunk
 * index and later ones (it left). `streamOnly`: party 0's host gives its data as a source and refuses to
 * materialise the table, as a host over more rows than it may hold does.
 */
const attempt = async (
  id: string,
  n: number,
  mode: Spec.Mode,
  datasets: ReadonlyArray<TabularData>,
  kept: Hosts,
  extra: Partial<Spec.Params>,
  options: { readonly leaveAt?: number; readonly streamOnly?: boolean; readonly claim?: (units: number) => number } = {}
) => {
  const params = Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: [kept[0]!.wallet.address], maxIds: 10_000, protocol: "ecdh", bucketIds: 16, chunkSize: 37, checkpointUnits: 1, ...extra })
  const labels = datasets.map((d, i) => `${d.name}#${i}#${Math.random()}`)
  const blindRequests: Array<number> = []
  const watch = (i: number, handlers: ReadonlyArray<StageHandler<any, any, any>>) =>
    handlers.map((h) => h.stage.name !== Spec.blind.name ? h : handler(Spec.blind, (request, session: ParticipantSession) => {
      if (i === 0) blindRequests.push(request.index)
      return i === 0 && options.leaveAt !== undefined && request.index >= options.leaveAt
        ? Effect.fail(new ParticipantFailure({ participant: session.self, stage: Spec.blind.name, code: "Left", detail: "gone" }))
        : (h.handle(request, session) as Effect.Effect<typeof Spec.blind.reply.Type, ParticipantFailure>)
    }))
  const host = InMemoryHost.make(datasets.map((data, i) => {
    const config = party(labels[i]!, data, watch(i, Participant.taskHandlers("ids", mode, params)), { wallet: kept[i]!.wallet })
    const sourceOnly = (effect: Effect.Effect<any, any, any>) =>
      !(options.streamOnly && i === 0) ? effect : Effect.provideService(effect, LocalData, {
        dataset: () => Effect.fail(new ParticipantFailure({ participant: labels[i]!, stage: "dataset", code: "TooLarge", detail: "this host does not materialise the table" })),
        source: () => Effect.succeed(MemorySource.make(data))
      })
    return { ...config, provide: (effect) => config.provide!(Effect.provide(Effect.provideService(sourceOnly(effect), Spill.Spill, kept[i]!.spill), kept[i]!.sealed)) }
  }), { taskId: id, attempt: n })
  // A coordinator whose checkpoints claim `claim(units)` units done instead (one skipping a chunk would claim more).
  const claiming = (session: CoordinatorSession, claim: (units: number) => number): CoordinatorSession => ({
    ...session,
    round: (stage, requests, rule) =>
      stage.name === Spec.checkpoint.name
        ? session.round(stage, new Map([...requests.keys()].map((p) => [p, { units: claim((requests.values().next().value as { units: number }).units) }] as const)) as never, rule)
        : session.round(stage, requests, rule)
  })
  const result = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(options.claim ? claiming(session, options.claim) : session, mode, params, { timeoutMs: 60_000 }))))
  const blinds = host.progress.filter((e) => e.stage === Spec.blind.name)
  return { result, output: [...outputs.get(labels[0]!)!.values()][0] as Output | undefined, resumed: blinds.find((e) => e.detail?.startsWith("resumed")), blindRequests }
}

/** Party `i`'s progress file of task `id`, as the crashed attempt left it. */
const progressOf = (kept: Hosts, i: number, id: string) => Effect.runPromise(Effect.map(kept[i]!.spill.resumable(`psi-ecdh-${id}`), ({ dir }) => dir))

/** `output` lists exactly the plaintext intersection of `a` and `b`, each id with its row of `a`. */
const expectIntersection = (output: Output, a: TabularData, b: TabularData) => {
  const expected = intersect(idSet(a, "id"), idSet(b, "id"))
  expect(new Set(output.ids)).toEqual(expected)
  expect(output.ids).toHaveLength(expected.size)
  expect(output.rows!.map((row) => a.strings("id")[row])).toEqual(output.ids)
}

/** The units of every line of party `i`'s progress file of task `id` (read as the next attempt does). */
const unitsRecorded = async (kept: Hosts, i: number, id: string) => {
  const bytes = await Effect.runPromise((await progressOf(kept, i, id)).read(RingProgress.PROGRESS))
  return new TextDecoder().decode(bytes).split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line.slice(line.indexOf(" ") + 1)) as { units: number }).units)
}

describe("the ECDH ring on disk resumes after a crash (RingProgress.ts)", () => {
  it("a second attempt blinds only the chunks after those every party recorded, and outputs the plaintext intersection", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    const first = await attempt(id, 1, "intersection", [a!, b!], kept, {}, { leaveAt: 6 })
    expect(first.result._tag).toBe("Failure")
    const second = await attempt(id, 2, "intersection", [a!, b!], kept, {})
    expect(second.result._tag).toBe("Success")
    expectIntersection(second.output!, a!, b!)
    // Both recorded units 0–5 before party 0 left at chunk 6: the second attempt resumed there and never blinded
    // a chunk below 6 again.
    expect(second.resumed).toMatchObject({ done: 6, total: 13 })
    expect(Math.min(...second.blindRequests)).toBe(6)
  }, 60_000)

  it("a progress line cut short by the crash is skipped: that unit is done again, the output is still exact", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    expect((await attempt(id, 1, "intersection", [a!, b!], kept, {}, { leaveAt: 6 })).result._tag).toBe("Failure")
    // Party 0's last line (unit 6) loses its tail, as a write cut short would leave it.
    const dir = await progressOf(kept, 0, id)
    const bytes = await Effect.runPromise(dir.read(RingProgress.PROGRESS))
    await Effect.runPromise(dir.write(RingProgress.PROGRESS, bytes.subarray(0, bytes.length - 40)))
    const second = await attempt(id, 2, "intersection", [a!, b!], kept, {})
    expect(second.result._tag).toBe("Success")
    expect(new Set(second.output!.ids)).toEqual(intersect(idSet(a!, "id"), idSet(b!, "id")))
    expect(second.resumed).toMatchObject({ done: 5 })
    expect(Math.min(...second.blindRequests)).toBe(5)
  }, 60_000)

  it("a checkpoint claiming a unit not done is refused naming that unit (UnitNotDone), and nothing is recorded for it", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    // Unit 1 is recorded; the record of unit 2 claims unit 3, which the parties have not blinded yet.
    const { result } = await attempt(id, 1, "intersection", [a!, b!], kept, {}, { claim: (units) => (units === 2 ? 3 : units) })
    expect(result._tag).toBe("Failure")
    const failure = (result as { failure: unknown }).failure as ParticipantFailure
    expect(failure.code).toBe("UnitNotDone")
    expect(failure.detail).toMatch(/^unit 3 is not done here/)
    for (const i of [0, 1]) expect(await unitsRecorded(kept, i, id)).toEqual([1])
  }, 60_000)

  it("sparse checkpoints: a record skipping units each done here is taken; a crash between two records resumes after the last and outputs the plaintext intersection", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    // Every 4 units of 13: records at 4 and 8 (the second skipping 5–7); party 0 leaves at chunk 10, after unit 9.
    const first = await attempt(id, 1, "intersection", [a!, b!], kept, { checkpointUnits: 4 }, { leaveAt: 10 })
    expect(first.result._tag).toBe("Failure")
    for (const i of [0, 1]) expect(await unitsRecorded(kept, i, id)).toEqual([4, 8])
    const claimed: Array<number> = []
    const second = await attempt(id, 2, "intersection", [a!, b!], kept, { checkpointUnits: 4 }, { claim: (units) => (claimed.push(units), units) })
    expect(second.result._tag).toBe("Success")
    expectIntersection(second.output!, a!, b!)
    // Resumed after unit 8: units 9 and 10 (chunks 8 and 9) are redone, nothing below.
    expect(second.resumed).toMatchObject({ done: 8, total: 13 })
    expect(Math.min(...second.blindRequests)).toBe(8)
    // The second attempt records every 4 units from there, and the last unit.
    expect([...new Set(claimed)]).toEqual([12, 13])
  }, 60_000)

  it("checkpointUnits 0: the ring is not recorded, so a second attempt blinds every chunk again; the output is still exact", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    expect((await attempt(id, 1, "intersection", [a!, b!], kept, { checkpointUnits: 0 }, { leaveAt: 6 })).result._tag).toBe("Failure")
    expect(await unitsRecorded(kept, 0, id)).toEqual([])
    const second = await attempt(id, 2, "intersection", [a!, b!], kept, { checkpointUnits: 0 })
    expect(second.result._tag).toBe("Success")
    expect(new Set(second.output!.ids)).toEqual(intersect(idSet(a!, "id"), idSet(b!, "id")))
    expect(second.resumed).toBeUndefined()
    expect(Math.min(...second.blindRequests)).toBe(0)
  }, 60_000)

  it("intersection-sum: the holder streams its value column (its table never materialised) and resumes with its sealed key; the sum is the plaintext's", async () => {
    const [a, b] = planted()
    const column = a!.strings("id")
    const values = column.map((_, row) => String(((row * 7) % 101) - 20))
    const valued = table("valued", { id: [...column], value: values })
    const y = idSet(b!, "id")
    let expected = 0
    column.forEach((id, row) => {
      if (y.has(id)) expected += Number(values[row])
    })
    const kept = hosts()
    const id = taskId()
    expect((await attempt(id, 1, "sum", [valued, b!], kept, { valueColumn: "value" }, { leaveAt: 4, streamOnly: true })).result._tag).toBe("Failure")
    const second = await attempt(id, 2, "sum", [valued, b!], kept, { valueColumn: "value" }, { streamOnly: true })
    expect(second.result._tag, String((second.result as { failure?: unknown }).failure)).toBe("Success")
    expect(second.output!.cardinality).toBe(180)
    expect(second.output!.sum).toBeCloseTo(expected, 6)
    expect(second.resumed).toMatchObject({ done: 4 })
  }, 120_000)
})

describe("when the ring records a unit (spec.ts checkpointDue)", () => {
  const params = (extra: Partial<Spec.Params> = {}) => Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: ["0x0000000000000000000000000000000000000001"], maxIds: 10, ...extra })
  it("every k units or once T seconds passed, whichever first, and always the last unit; never with k = 0", () => {
    const k4 = params({ checkpointUnits: 4, checkpointSeconds: 10 })
    expect([1, 2, 3, 4, 5].map((u) => Spec.checkpointDue(k4, u, 20, 0, 0))).toEqual([false, false, false, true, true])
    expect(Spec.checkpointDue(k4, 6, 20, 4, 9_999)).toBe(false)
    expect(Spec.checkpointDue(k4, 6, 20, 4, 10_000)).toBe(true)
    expect(Spec.checkpointDue(k4, 20, 20, 18, 0)).toBe(true)
    const defaults = params()
    expect(Spec.checkpointDue(defaults, Spec.CHECKPOINT_UNITS - 1, 1000, 0, 0)).toBe(false)
    expect(Spec.checkpointDue(defaults, Spec.CHECKPOINT_UNITS, 1000, 0, 0)).toBe(true)
    expect(Spec.checkpointDue(defaults, 1, 1000, 0, Spec.CHECKPOINT_SECONDS * 1000)).toBe(true)
    const off = params({ checkpointUnits: 0 })
    expect([1, 5, 20].map((u) => Spec.checkpointDue(off, u, 20, 0, 1e9))).toEqual([false, false, false])
  })
})
