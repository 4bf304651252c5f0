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
  options: { readonly leaveAt?: number; readonly streamOnly?: boolean; readonly skipCheckpoint?: boolean } = {}
) => {
  const params = Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: [kept[0]!.wallet.address], maxIds: 10_000, protocol: "ecdh", bucketIds: 16, chunkSize: 37, ...extra })
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
  // A coordinator that claims unit 3 done when the parties are at unit 2 (as one skipping a chunk would).
  const lying = (session: CoordinatorSession): CoordinatorSession => ({
    ...session,
    round: (stage, requests, rule) =>
      stage.name === Spec.checkpoint.name && (requests.values().next().value as { units: number }).units === 2
        ? session.round(stage, new Map([...requests.keys()].map((p) => [p, { units: 3 }] as const)) as never, rule)
        : session.round(stage, requests, rule)
  })
  const result = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(options.skipCheckpoint ? lying(session) : session, mode, params, { timeoutMs: 60_000 }))))
  const blinds = host.progress.filter((e) => e.stage === Spec.blind.name)
  return { result, output: [...outputs.get(labels[0]!)!.values()][0] as Output | undefined, resumed: blinds.find((e) => e.detail?.startsWith("resumed")), blindRequests }
}

/** Party `i`'s progress file of task `id`, as the crashed attempt left it. */
const progressOf = (kept: Hosts, i: number, id: string) => Effect.runPromise(Effect.map(kept[i]!.spill.resumable(`psi-ecdh-${id}`), ({ dir }) => dir))

describe("the ECDH ring on disk resumes after a crash (RingProgress.ts)", () => {
  it("a second attempt blinds only the chunks after those every party recorded, and outputs the plaintext intersection", async () => {
    const [a, b] = planted()
    const kept = hosts()
    const id = taskId()
    const first = await attempt(id, 1, "intersection", [a!, b!], kept, {}, { leaveAt: 6 })
    expect(first.result._tag).toBe("Failure")
    const second = await attempt(id, 2, "intersection", [a!, b!], kept, {})
    expect(second.result._tag).toBe("Success")
    const expected = intersect(idSet(a!, "id"), idSet(b!, "id"))
    expect(new Set(second.output!.ids)).toEqual(expected)
    expect(second.output!.ids).toHaveLength(expected.size)
    expect(second.output!.rows!.map((row) => a!.strings("id")[row])).toEqual(second.output!.ids)
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

  it("a checkpoint naming a unit the parties have not done is refused (OutOfOrder): a record never claims more", async () => {
    const [a, b] = planted()
    const { result } = await attempt(taskId(), 1, "intersection", [a!, b!], hosts(), {}, { skipCheckpoint: true })
    expect(result._tag).toBe("Failure")
    expect(((result as { failure: unknown }).failure as ParticipantFailure).code).toBe("OutOfOrder")
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

