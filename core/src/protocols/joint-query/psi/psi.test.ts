/**
 * The ECDH-PSI family end to end over InMemoryHost (every message through its Schema and JSON), on the bcw and
 * wdbc id files of examples/query/ (413 bcw ids shared by all three parties), each output checked against the
 * plaintext set computation; then bad input: duplicates, empty sets, numeric ids, forged points, wrong counts,
 * a chunk sent twice. The OT engine behind the same kinds (`protocol: "ot"`): the same outputs as the ECDH ring and
 * the plaintext, the default by set size, a tampered relay refused.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Primes } from "../../../compute/Primes.ts"
import * as MemorySource from "../../../data/MemorySource.ts"
import type { TabularData } from "../../../data/Tabular.ts"
import * as InMemoryHost from "../../../testing/InMemoryHost.ts"
import { sha256Digest } from "../../../wire/Canonical.ts"
import type { ParticipantSession, StageHandler } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as Group from "../Group.ts"
import * as IdSpill from "../IdSpill.ts"
import * as Spill from "../Spill.ts"
import { csvTable, exampleFile, idSet, intersect, outputs, party, table } from "../TestData.ts"
import * as Coordinator from "./coordinator.ts"
import * as External from "./External.ts"
import * as Participant from "./participant.ts"
import * as Spec from "./spec.ts"

const bcw = ["a", "b", "c"].map((p) => csvTable(`bcw-${p}`, exampleFile(`bcw_vertical_party_${p}_psi.csv`)))
const wdbc = ["a", "b", "c"].map((p) => csvTable(`wdbc-${p}`, exampleFile(`wdbc_vertical_party_${p}_psi.csv`)))

type Output = { ids?: Array<string>; rows?: Array<number>; cardinality?: number; alignment?: string; sum?: number; duplicates?: number; emptyIds?: number }

const run = async (
  mode: Spec.Mode,
  datasets: ReadonlyArray<TabularData>,
  receiverIndices: ReadonlyArray<number>,
  extra: Partial<Spec.Params> = {},
  tamper: (index: number, handlers: ReadonlyArray<StageHandler<any, any, any>>) => ReadonlyArray<StageHandler<any, any, any>> = (_, h) => h,
  /** Parties (by index) whose host has a spill directory (here in memory): their sets go to buckets, not a Set. */
  spilling: ReadonlyArray<number> = [],
  /** The participant's stages: a PSI task's own, or (`Participant.handlers`) a join as other protocols run it. */
  handlersOf: (datasetName: string, mode: Spec.Mode, params: Spec.Params) => ReadonlyArray<StageHandler<any, any, any>> = Participant.taskHandlers
) => {
  const wallets = datasets.map(() => InMemoryHost.randomWallet())
  // As a task's params arrive: decoded by the declaration's Schema (addresses checksummed, fields checked).
  const params = Schema.decodeUnknownSync(Spec.Params)({
    idColumn: "id",
    receivers: receiverIndices.map((i) => wallets[i]!.address),
    maxIds: 100_000,
    chunkSize: 97,
    ...extra
  })
  const labels = datasets.map((d, i) => `${d.name}#${i}#${Math.random()}`)
  // Each party's spill directories, counted as they are opened and removed.
  const spilled = { opened: 0, removed: 0 }
  const counted = (dir: Spill.SpillDir): Spill.SpillDir => {
    spilled.opened++
    return { ...dir, remove: Effect.andThen(dir.remove, Effect.sync(() => void spilled.removed++)) }
  }
  const spills = datasets.map((): Spill.Spill["Service"] => {
    const inner = Spill.inMemory()
    return {
      open: (label) => Effect.map(inner.open(label), counted),
      resumable: (key) => Effect.map(inner.resumable(key), ({ dir, found }) => ({ dir: counted(dir), found }))
    }
  })
  const withSpill = (i: number, config: InMemoryHost.ParticipantConfig): InMemoryHost.ParticipantConfig =>
    !spilling.includes(i) ? config : { ...config, provide: (effect) => config.provide!(Effect.provideService(effect, Spill.Spill, spills[i]!)) }
  const host = InMemoryHost.make(datasets.map((data, i) => withSpill(i, party(labels[i]!, data, tamper(i, handlersOf("ids", mode, params)), { wallet: wallets[i]! }))))
  const result = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(session, mode, params, { timeoutMs: 60_000 }))))
  const outputOf = (i: number) => [...outputs.get(labels[i]!)!.values()][0] as Output | undefined
  return { host, result, outputOf, params, spilled }
}

const success = <A>(result: { _tag: "Success"; success: A } | { _tag: "Failure"; failure: unknown }): A => {
  if (result._tag === "Failure") throw new Error(`protocol failed: ${String(result.failure)}`)
  return result.success
}

/** An output listing exactly `expected`, once each, its rows pointing at its ids, in row order. */
const expectRowOrdered = (output: Output | undefined, data: TabularData, expected: Set<string>) => {
  expect(new Set(output!.ids)).toEqual(expected)
  expect(output!.ids!.length).toBe(expected.size)
  expect(output!.rows!.map((row) => data.strings("id")[row])).toEqual(output!.ids)
  expect(output!.rows).toEqual([...output!.rows!].sort((x, y) => x - y))
}

/** Three receivers of psi-aligned: the plaintext intersection, in one common order, each row at its id, one digest. */
const expectAligned = (result: Parameters<typeof success>[0], outputOf: (i: number) => Output | undefined, data: ReadonlyArray<TabularData>) => {
  const stored = success(result) as Spec.Result
  const aligned = [0, 1, 2].map((i) => outputOf(i)!)
  expect(new Set(aligned[0]!.ids)).toEqual(intersect(...data.map((d) => idSet(d, "id"))))
  for (const [i, out] of aligned.entries()) {
    expect(out.ids).toEqual(aligned[0]!.ids)
    expect(out.rows!.map((row) => data[i]!.strings("id")[row])).toEqual(out.ids)
    expect(out.alignment).toBe(stored.alignment)
  }
  return stored
}

const failure = (result: { _tag: string; failure?: unknown }) => {
  expect(result._tag).toBe("Failure")
  return result.failure as ParticipantFailure
}

describe("ECDH-PSI family over InMemoryHost (bcw, wdbc)", () => {
  const sets = bcw.map((d) => idSet(d, "id"))
  const shared = intersect(...sets)

  it("3-party PSI: the receivers (a, c) get exactly the shared ids, b gets nothing, the coordinator no ids", async () => {
    expect(shared.size).toBe(413)
    const { result, outputOf, host } = await run("intersection", bcw, [0, 2])
    const stored = success(result) as Spec.Result
    expect(stored.cardinality).toBe(413)
    for (const i of [0, 2]) {
      const out = outputOf(i)!
      expect(new Set(out.ids)).toEqual(shared)
      expect(out.rows!.map((row) => bcw[i]!.strings("id")[row])).toEqual(out.ids)
    }
    expect(outputOf(1)).toBeUndefined()
    // Nothing the coordinator saw names an id.
    const seen = host.transcript.map((t) => t.json).join("\n") + JSON.stringify(stored)
    for (const id of [...shared].slice(0, 50)) expect(seen.includes(`"${id}"`)).toBe(false)
    expect(stored.outputs.map((o) => o.digest)).toHaveLength(2)
  }, 60_000)

  it("cardinality: the receiver learns |∩| = 413 and no ids", async () => {
    const { result, outputOf } = await run("cardinality", bcw, [1])
    expect((success(result) as Spec.Result).cardinality).toBe(413)
    expect(outputOf(1)!.cardinality).toBe(413)
    expect(outputOf(1)!.ids).toBeUndefined()
  }, 60_000)

  it("aligned (wdbc, 3 parties): one common order, every party's rows point at the same ids, equal digests", async () => {
    const { result, outputOf } = await run("aligned", wdbc, [0, 1, 2])
    const stored = expectAligned(result, outputOf, wdbc)
    expect(stored.cardinality).toBe(intersect(...wdbc.map((d) => idSet(d, "id"))).size)
  }, 60_000)

  it("difference a\\b and union a∪b for the receiver a", async () => {
    const [a, b] = [sets[0]!, sets[1]!]
    const diff = await run("difference", [bcw[0]!, bcw[1]!], [0])
    success(diff.result)
    expect(new Set(diff.outputOf(0)!.ids)).toEqual(new Set([...a].filter((id) => !b.has(id))))
    const union = await run("union", [bcw[0]!, bcw[1]!], [0])
    expect((success(union.result) as Spec.Result).cardinality).toBe(new Set([...a, ...b]).size)
    expect(new Set(union.outputOf(0)!.ids)).toEqual(new Set([...a, ...b]))
    expect(union.outputOf(1)).toBeUndefined()
  }, 60_000)

  it("intersection-sum (Paillier 2048): the value holder a gets Σ clump_thickness over a∩b and |a∩b|", async () => {
    const a = bcw[0]!
    const b = sets[1]!
    const ids = a.strings("id")
    const values = a.numeric("clump_thickness")
    const seen = new Set<string>()
    let expected = 0
    ids.forEach((id, row) => {
      if (!seen.has(id) && b.has(id)) expected += values[row]!
      seen.add(id)
    })
    const { result, outputOf } = await run("sum", [a, bcw[1]!], [0], { valueColumn: "clump_thickness" })
    const stored = success(result) as Spec.Result
    expect(stored.cardinality).toBe(intersect(sets[0]!, b).size)
    expect(outputOf(0)!.sum).toBeCloseTo(expected, 6)
    expect(JSON.stringify(stored)).not.toContain(String(expected))
  }, 120_000)

  it("duplicates are dropped before blinding and counted locally; numeric ids match their text form", async () => {
    const left = table("left", { id: ["1000025", "1000025", "", "42", "7"] })
    const right = table("right", { id: ["1000025", "7", "8"] })
    const numericRight = { ...right, isNumeric: () => true, numeric: () => Float64Array.from([1000025, 7, 8]) }
    const { result, outputOf } = await run("intersection", [left, numericRight], [0])
    success(result)
    expect(outputOf(0)!.ids).toEqual(["1000025", "7"])
    expect(outputOf(0)!.duplicates).toBe(1)
    expect(outputOf(0)!.emptyIds).toBe(1)
  }, 30_000)

  it("an empty set fails with EmptySet", async () => {
    const { result } = await run("intersection", [table("e", { id: ["", ""] }), bcw[1]!], [0])
    expect(failure(result).code).toBe("EmptySet")
  }, 30_000)

  /** A party that seals chosen bytes instead of its honest hop-0 chunk. */
  const forging = (bytes: (honest: Uint8Array) => Uint8Array) => (index: number, handlers: ReadonlyArray<StageHandler<any, any, any>>) =>
    index !== 0 ? handlers : handlers.map((h) => h.stage.name !== Spec.blind.name ? h : handler(Spec.blind, (request, session: ParticipantSession) =>
      Effect.gen(function*() {
        const honest = yield* (h.handle(request, session) as Effect.Effect<{ payload?: Uint8Array }, ParticipantFailure>)
        if (request.hop !== 0 || honest.payload === undefined) return honest
        const s = session.memory.get("query/psi") as { channel: { secretKey: Uint8Array }; peers: ReadonlyMap<string, Channel.Advertisement> }
        const next = session.participants[1]!
        const points = bytes(new Uint8Array(32 * Math.min(97, s.peers.get(session.self)!.count - request.index * 97)))
        const head = new Uint8Array(4)
        new DataView(head.buffer).setUint32(0, points.length)
        const payload = yield* Channel.seal(session, "x", s.channel.secretKey, next, s.peers.get(next)!.channelPublicKey, `blind|${request.source}|1|${request.index}`, new Uint8Array([...head, ...points]))
        return { payload }
      })))

  for (const group of Group.groupNames) {
    it(`${group}: 2-party PSI gives the plaintext intersection`, async () => {
      const { result, outputOf } = await run("intersection", [bcw[0]!, bcw[2]!], [0], { group })
      expect((success(result) as Spec.Result).cardinality).toBe(intersect(sets[0]!, sets[2]!).size)
      expect(new Set(outputOf(0)!.ids)).toEqual(intersect(sets[0]!, sets[2]!))
    }, 30_000)

    it(`${group}: an off-group (non-canonical) point and a small-order point fail with InvalidPoint`, async () => {
      await Group.ready()
      for (const forge of [(p: Uint8Array) => p.fill(0xff), (p: Uint8Array) => p.fill(0, 32, 64)]) {
        const { result } = await run("intersection", [bcw[0]!, bcw[1]!], [0], { group }, forging((p) => forge(p.fill(7))))
        expect(failure(result).code).toBe("InvalidPoint")
      }
    }, 30_000)
  }

  it("a chunk with fewer points than announced fails with CountMismatch", async () => {
    const { result } = await run("intersection", [bcw[0]!, bcw[1]!], [0], {}, forging((p) => p.subarray(32)))
    expect(failure(result).code).toBe("CountMismatch")
  }, 30_000)

  // As a worker that crashed mid-batch, or kernels that did not load: every hash of this party's ids throws.
  const broken: Compute.GroupKernelSet = {
    ...Compute.wasmKernels,
    x25519: { ...Compute.wasmKernels.x25519, hashBlind: () => { throw new Error("worker exited with code 1") } }
  }
  // The host composes them as its QueryCompute, or as the Groups the inline QueryCompute reads: the chunks hashed
  // ahead of their request (Party.prepare) use them too, not the defaults.
  const hosts = {
    QueryCompute: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provideService(effect, Compute.QueryCompute, Compute.inline(broken)),
    Groups: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provideService(effect, Compute.Groups, broken)
  }
  for (const [how, composed] of Object.entries(hosts)) {
    it(`a party whose group kernels (its host's ${how}) fail while hashing its ids fails the task with ComputeFailed, not a defect`, async () => {
      const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
      const params: Spec.Params = { idColumn: "id", receivers: [wallets[0]!.address], maxIds: 10_000, chunkSize: 97 }
      const configs = bcw.slice(0, 2).map((d, i) => party(`broken-${i}-${Math.random()}`, d, Participant.taskHandlers("ids", "intersection", params), { wallet: wallets[i]! }))
      const withBroken = { ...configs[1]!, provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => configs[1]!.provide!(composed(effect)) }
      const host = InMemoryHost.make([configs[0]!, withBroken])
      const outcome = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(session, "intersection", params, { timeoutMs: 60_000 }))))
      expect(failure(outcome)).toMatchObject({ participant: wallets[1]!.address, code: "ComputeFailed", detail: expect.stringContaining("worker exited with code 1") })
    }, 30_000)
  }

  it("a value holder whose prime generator fails fails the task with KeyGeneration naming the cause, not a defect", async () => {
    // As a prime worker that exited: the holder's Paillier key cannot be made.
    const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
    const params = Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: [wallets[0]!.address], maxIds: 10_000, chunkSize: 97, valueColumn: "clump_thickness" })
    const configs = bcw.slice(0, 2).map((d, i) => party(`primes-${i}-${Math.random()}`, d, Participant.taskHandlers("ids", "sum", params), { wallet: wallets[i]! }))
    const broken = { name: "broken", generate: () => Promise.reject(new Error("prime worker exited with code 1")) }
    const withBroken = { ...configs[0]!, provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => configs[0]!.provide!(Effect.provideService(effect, Primes, broken)) }
    const host = InMemoryHost.make([withBroken, configs[1]!])
    const outcome = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(session, "sum", params, { timeoutMs: 60_000 }))))
    expect(failure(outcome)).toMatchObject({ participant: wallets[0]!.address, code: "KeyGeneration", detail: expect.stringContaining("prime worker exited with code 1") })
  }, 30_000)

  it("a chunk delivered twice is refused (DuplicateChunk)", async () => {
    const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
    const params: Spec.Params = { idColumn: "id", receivers: [wallets[0]!.address], maxIds: 10_000, chunkSize: 1000 }
    const host = InMemoryHost.make(bcw.slice(0, 2).map((d, i) => party(`dup-${i}-${Math.random()}`, d, Participant.handlers("ids", "intersection", params), { wallet: wallets[i]! })))
    const outcome = await Effect.runPromise(Effect.result(host.run((session) => Effect.gen(function*() {
      const all = (f: (p: string) => unknown) => new Map(session.participants.map((p) => [p, f(p)] as const))
      const keys = yield* session.round(Spec.keys, all(() => ({})) as never, { minReplies: 2 })
      const advertisements = session.participants.map((participant) => ({ participant, ...keys.get(participant)! }))
      yield* session.round(Spec.peers, all(() => ({ advertisements })) as never, { minReplies: 2 })
      const first = session.participants[0]!
      const request = new Map([[first, { source: first, hop: 0, index: 0 }]])
      yield* session.round(Spec.blind, request, { minReplies: 1 })
      yield* session.round(Spec.blind, request, { minReplies: 1 })
    }))))
    expect(failure(outcome).code).toBe("DuplicateChunk")
  }, 30_000)

  it("takes the group from the task: x25519 by default, ristretto255 on request, nothing else", () => {
    const base = { idColumn: "id", receivers: ["0x" + "1".repeat(40)], maxIds: 10 }
    const decode = (u: unknown) => Schema.decodeUnknownExit(Spec.Params)(u)
    const plain = decode(base)
    expect(plain._tag === "Success" && Spec.groupOf(plain.value)).toBe("x25519")
    const strict = decode({ ...base, group: "ristretto255" })
    expect(strict._tag === "Success" && Spec.groupOf(strict.value)).toBe("ristretto255")
    expect(decode({ ...base, group: "p256" })._tag).toBe("Failure")
  })

  it("rejects a receiver outside the task and a 3-party difference", () => {
    const parties = ["0x" + "1".repeat(40), "0x" + "2".repeat(40), "0x" + "3".repeat(40)]
    const params = Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: ["0x" + "4".repeat(40)], maxIds: 10 })
    expect(Spec.validate("intersection", params, parties)?.field).toBe("receivers")
    expect(Spec.validate("difference", { ...params, receivers: [parties[0]!] }, parties)?.field).toBe("parties")
  })
})

describe("the OT engine behind the PSI kinds (protocol: \"ot\")", () => {
  const stagesOf = (host: InMemoryHost.InMemoryHost) => new Set(host.transcript.map((t) => t.stage))

  for (const [name, data] of [["bcw", bcw], ["wdbc", wdbc]] as const) {
    it(`${name}: OT and ECDH give the plaintext intersection, to one receiver and to both`, async () => {
      const pair = [data[0]!, data[2]!]
      const expected = intersect(idSet(pair[0]!, "id"), idSet(pair[1]!, "id"))
      const ecdh = await run("intersection", pair, [0], { protocol: "ecdh" })
      const ot = await run("intersection", pair, [0], { protocol: "ot" })
      expect(stagesOf(ot.host).has(Spec.ot.name)).toBe(true)
      expect(stagesOf(ot.host).has(Spec.blind.name)).toBe(false)
      expect((success(ot.result) as Spec.Result).cardinality).toBe(expected.size)
      expect(new Set(ot.outputOf(0)!.ids)).toEqual(expected)
      expect([...ot.outputOf(0)!.ids!].sort()).toEqual([...ecdh.outputOf(0)!.ids!].sort())
      expect(ot.outputOf(0)!.rows!.map((row) => pair[0]!.strings("id")[row])).toEqual(ot.outputOf(0)!.ids)
      expect(ot.outputOf(1)).toBeUndefined()
      // Both receivers: the OT receiver reveals the matches' positions, so the sender learns X∩Y as its own rows.
      const both = await run("intersection", pair, [1, 0], { protocol: "ot" })
      success(both.result)
      for (const i of [0, 1]) {
        expect(new Set(both.outputOf(i)!.ids)).toEqual(expected)
        expect(both.outputOf(i)!.rows!.map((row) => pair[i]!.strings("id")[row])).toEqual(both.outputOf(i)!.ids)
      }
      // Nothing the coordinator relayed names an id.
      const seen = both.host.transcript.map((t) => t.json).join("\n")
      for (const id of [...expected].slice(0, 50)) expect(seen.includes(`"${id}"`)).toBe(false)
    }, 60_000)
  }

  it("OT in buckets, spilled or in memory, equals the plaintext: intersection to both, difference", async () => {
    const [a, b] = [idSet(bcw[0]!, "id"), idSet(bcw[1]!, "id")]
    const expected = new Set([...a].filter((id) => b.has(id)))
    // 128 ids per bucket: ≈ 700 ids run as 8 buckets. The sender (party 1) spills and the receiver splits its set in
    // memory; then the receiver of a difference spills (it keeps the unmatched ids).
    const both = await run("intersection", [bcw[0]!, bcw[1]!], [0, 1], { protocol: "ot", bucketIds: 128 }, undefined, [1])
    expect((success(both.result) as Spec.Result).cardinality).toBe(expected.size)
    for (const i of [0, 1]) {
      expect(new Set(both.outputOf(i)!.ids)).toEqual(expected)
      expect(both.outputOf(i)!.ids!.length).toBe(expected.size)
      expect(both.outputOf(i)!.rows!.map((row) => bcw[i]!.strings("id")[row])).toEqual(both.outputOf(i)!.ids)
      // In row order whether the set was spilled (merged runs) or not, and the digest is that of the whole output.
      expect(both.outputOf(i)!.rows).toEqual([...both.outputOf(i)!.rows!].sort((x, y) => x - y))
      const { digest, ...rest } = both.outputOf(i) as Output & { digest: string }
      expect(digest).toBe(sha256Digest(rest))
    }
    expect(both.spilled).toEqual({ opened: 1, removed: 1 })
    const diff = await run("difference", [bcw[0]!, bcw[1]!], [0], { protocol: "ot", bucketIds: 128 }, undefined, [0])
    expect(diff.spilled).toEqual({ opened: 1, removed: 1 })
    success(diff.result)
    const difference = new Set([...a].filter((id) => !b.has(id)))
    expect(new Set(diff.outputOf(0)!.ids)).toEqual(difference)
    expect(diff.outputOf(0)!.rows!.map((row) => bcw[0]!.strings("id")[row])).toEqual(diff.outputOf(0)!.ids)
    expect(diff.outputOf(0)!.rows).toEqual([...diff.outputOf(0)!.rows!].sort((x, y) => x - y))
    expect((diff.outputOf(0) as { setSize?: number }).setSize).toBe(a.size)
  }, 120_000)

  it("set difference a\\b on the OT engine equals the plaintext", async () => {
    const [a, b] = [idSet(bcw[0]!, "id"), idSet(bcw[1]!, "id")]
    const diff = await run("difference", [bcw[0]!, bcw[1]!], [0], { protocol: "ot" })
    success(diff.result)
    expect(stagesOf(diff.host).has(Spec.ot.name)).toBe(true)
    expect(new Set(diff.outputOf(0)!.ids)).toEqual(new Set([...a].filter((id) => !b.has(id))))
  }, 60_000)

  it(`the default follows the set size: OT from ${Spec.OT_DEFAULT_FROM} ids between 2 parties, ECDH below and for 3`, async () => {
    const n = Spec.OT_DEFAULT_FROM
    const left = table("left", { id: Array.from({ length: n }, (_, i) => `id-${i}`) })
    const right = table("right", { id: Array.from({ length: 3000 }, (_, i) => `id-${i * 7}`) })
    const expected = new Set(Array.from({ length: 3000 }, (_, i) => i * 7).filter((i) => i < n).map((i) => `id-${i}`))
    const large = await run("intersection", [left, right], [1], { chunkSize: 8192 })
    expect(stagesOf(large.host).has(Spec.ot.name)).toBe(true)
    expect(new Set(large.outputOf(1)!.ids)).toEqual(expected)
    const small = await run("intersection", [bcw[0]!, bcw[1]!], [0])
    expect(stagesOf(small.host).has(Spec.ot.name)).toBe(false)
    expect(Spec.protocolOf("intersection", { idColumn: "id", receivers: ["0x" + "1".repeat(40)], maxIds: 1 << 20 }, 3, n)).toBe("ecdh")
    expect(Spec.protocolOf("cardinality", { idColumn: "id", receivers: ["0x" + "1".repeat(40)], maxIds: 1 << 20 }, 2, n)).toBe("ecdh")
  }, 120_000)

  it("refuses \"ot\" where it cannot run: 3 parties, a hiding kind, a named group", () => {
    const parties = ["0x" + "1".repeat(40), "0x" + "2".repeat(40), "0x" + "3".repeat(40)]
    const params = Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: [parties[0]], maxIds: 10, protocol: "ot" })
    expect(Spec.validate("intersection", params, parties)?.field).toBe("protocol")
    expect(Spec.validate("cardinality", params, parties.slice(0, 2))?.field).toBe("protocol")
    expect(Spec.validate("intersection", { ...params, group: "ristretto255" }, parties.slice(0, 2))?.field).toBe("group")
    expect(Spec.validate("intersection", params, parties.slice(0, 2))).toBeUndefined()
    expect(Schema.decodeUnknownExit(Spec.Params)({ idColumn: "id", receivers: [parties[0]], maxIds: 10, protocol: "rr22" })._tag).toBe("Failure")
  })

  describe("OT in buckets resumes from what both parties kept (spec.ts \"Resume\")", () => {
    const taskId = `0x${"5e".repeat(16)}`
    const B = 16
    const params = (receiver: string) =>
      Schema.decodeUnknownSync(Spec.Params)({ idColumn: "id", receivers: [receiver], maxIds: 100_000, chunkSize: 97, protocol: "ot", bucketIds: 64 })
    /**
     * One attempt of the same task on fresh participants (as after a restart) that keep their spill services: the
     * receiver's engine stops answering once it finished `leaveAfter` buckets, as if its process died there.
     */
    const attempt = async (n: number, datasets: ReadonlyArray<TabularData>, spills: ReadonlyArray<Spill.Spill["Service"]>, wallets: ReadonlyArray<ReturnType<typeof InMemoryHost.randomWallet>>, leaveAfter?: number) => {
      const p = params(wallets[0]!.address)
      const labels = datasets.map((d, i) => `${d.name}#${i}#${Math.random()}`)
      const leave = (handlers: ReadonlyArray<StageHandler<any, any, any>>) =>
        leaveAfter === undefined ? handlers : handlers.map((h) => h.stage.name !== Spec.ot.name ? h : handler(Spec.ot, (request, session: ParticipantSession) =>
          Effect.flatMap(h.handle(request, session) as Effect.Effect<typeof Spec.ot.reply.Type, ParticipantFailure>, (reply) =>
            (reply.progress?.done ?? 0) >= leaveAfter ? Effect.fail(new ParticipantFailure({ participant: session.self, stage: Spec.ot.name, code: "Left", detail: "gone" })) : Effect.succeed(reply))))
      const host = InMemoryHost.make(datasets.map((data, i) => {
        const config = party(labels[i]!, data, i === 0 ? leave(Participant.taskHandlers("ids", "intersection", p)) : Participant.taskHandlers("ids", "intersection", p), { wallet: wallets[i]! })
        return { ...config, provide: (effect) => config.provide!(Effect.provideService(effect, Spill.Spill, spills[i]!)) }
      }), { taskId, attempt: n })
      const result = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(session, "intersection", p, { timeoutMs: 60_000 }))))
      const ot = host.progress.filter((e) => e.stage === Spec.ot.name)
      return { result, output: [...outputs.get(labels[0]!)!.values()][0] as Output | undefined, resumed: ot.find((e) => e.detail?.startsWith("resumed")), ot }
    }
    const setup = () => ({ wallets: [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()], spills: [Spill.inMemory(), Spill.inMemory()] })

    it("a second attempt starts after the buckets both parties finished, and outputs exactly the plaintext intersection", async () => {
      const { wallets, spills } = setup()
      const [a, b] = [bcw[0]!, bcw[1]!]
      const first = await attempt(1, [a, b], spills, wallets, 6)
      expect(first.result._tag).toBe("Failure")
      const second = await attempt(2, [a, b], spills, wallets)
      success(second.result)
      expectRowOrdered(second.output, a, intersect(idSet(a, "id"), idSet(b, "id")))
      // Resumed where both had recorded their buckets (the receiver left at 6; the sender was at most one ahead)…
      expect(second.resumed).toMatchObject({ total: B })
      expect(second.resumed!.done).toBeGreaterThanOrEqual(5)
      expect(second.resumed!.done).toBeLessThanOrEqual(6)
      // …and ran only the buckets after it: no engine progress at or below the resume point.
      expect(Math.min(...second.ot.filter((e) => e !== second.resumed).map((e) => e.done))).toBe(second.resumed!.done + 1)
    }, 120_000)

    it("a bucket whose ids changed between attempts is run again (its digest differs), so the output follows the new data", async () => {
      const { wallets, spills } = setup()
      const [a, b] = [bcw[0]!, bcw[1]!]
      const first = await attempt(1, [a, b], spills, wallets, 8)
      expect(first.result._tag).toBe("Failure")
      // The receiver's data loses one id of the intersection that sat in bucket 2 (kept by the first attempt).
      const shared = intersect(idSet(a, "id"), idSet(b, "id"))
      const seed = IdSpill.seedOf(taskId)
      const gone = [...shared].find((id) => IdSpill.bucketOf(IdSpill.hashOf(id, seed), B) === 2)!
      const ids = a.strings("id")
      const changed = table(a.name, { id: ids.map((id) => (id === gone ? "" : id)) })
      const second = await attempt(2, [changed, b], spills, wallets)
      success(second.result)
      expect(second.resumed!.done).toBe(2)
      expectRowOrdered(second.output, changed, new Set([...shared].filter((id) => id !== gone)))
    }, 120_000)
  })

  it("a relayed engine message altered by the coordinator is refused (UndecryptablePayload)", async () => {
    const flip = (index: number, handlers: ReadonlyArray<StageHandler<any, any, any>>) =>
      index !== 0 ? handlers : handlers.map((h) => h.stage.name !== Spec.ot.name ? h : handler(Spec.ot, (request, session: ParticipantSession) =>
        Effect.gen(function*() {
          const reply = yield* (h.handle(request, session) as Effect.Effect<typeof Spec.ot.reply.Type, ParticipantFailure>)
          const [first, ...rest] = reply.outbound
          if (first === undefined) return reply
          // The box crosses the coordinator as bytes: flip a bit of a copy (the pump may still hold the original).
          const bad = first.slice()
          bad[bad.length - 1]! ^= 1
          return { ...reply, outbound: [bad, ...rest] }
        })))
    const { result } = await run("intersection", [bcw[0]!, bcw[1]!], [0], { protocol: "ot" }, flip)
    expect(failure(result).code).toBe("UndecryptablePayload")
  }, 60_000)
})

describe("the ECDH ring over sets on disk (External.ts, spec.ts \"External\")", () => {
  const randomId = () => `id-${crypto.getRandomValues(new Uint32Array(2)).join("-")}`
  const ids = (n: number) => Array.from({ length: n }, randomId)
  /** Three id columns with planted overlaps (all three, a∩b only, a∩c only), a few repeated ids and empty cells, in random order. */
  const planted = () => {
    const [all, ab, ac] = [ids(120), ids(60), ids(40)]
    const columns = [[...all, ...ab, ...ac, ...ids(300)], [...all, ...ab, ...ids(330)], [...all, ...ac, ...ids(280)]]
    return columns.map((column, i) => {
      const rows = [...column, ...column.slice(0, 9), "", ""]
      const order = Array.from(crypto.getRandomValues(new Uint32Array(rows.length)).entries()).sort((x, y) => x[1] - y[1]).map(([k]) => k)
      return table(`planted-${i}`, { id: order.map((k) => rows[k]!) })
    })
  }
  // 16 ids per partition and 37 per chunk: ≈ 550 ids are 64 partitions per set, 35 shuffle files, 15 chunks.
  const onDisk = { protocol: "ecdh", bucketIds: 16, chunkSize: 37 } as const
  const stages = (host: InMemoryHost.InMemoryHost) => host.transcript.map((t) => `${t.stage}|${t.direction}`)

  it("partitions: every one of the 256 used by either group's points, in the points' byte order", async () => {
    await Group.ready()
    const ids = Group.encodeIds(Array.from({ length: 8192 }, (_, i) => `id-${i}`))
    for (const group of Group.groupNames) {
      const ops = Group.groups[group]
      const points = ops.hashBlindEncoded(Group.domain("psi", "partitions"), ids, ops.randomScalar())
      const byPartition = new Map<number, Array<Uint8Array>>()
      for (let at = 0; at < points.length; at += Group.POINT_BYTES) {
        const p = External.partitionOf(points, at, 8, group)
        byPartition.set(p, [...(byPartition.get(p) ?? []), points.subarray(at, at + Group.POINT_BYTES)])
      }
      // 32 points a partition on average: an empty one is a partition no point can reach (ristretto's were the odd ones).
      expect([...byPartition.keys()].sort((a, b) => a - b), group).toEqual(Array.from({ length: 256 }, (_, i) => i))
      // Every point of a partition precedes, in byte order, every point of the next.
      const compare = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b)
      const ordered = Array.from({ length: 256 }, (_, p) => byPartition.get(p)!.sort(compare)).flat()
      expect(ordered.every((point, i) => i === 0 || compare(ordered[i - 1]!, point) <= 0), group).toBe(true)
    }
  })

  it("order and match: the ordered set is a permutation of the spilled one, the matches over 64 partitions those of the plaintext", async () => {
    const dir = await Effect.runPromise(Spill.inMemory().open("t"))
    const data = table("t", { id: [...ids(500), "dup", "dup", ""] })
    const spilled = await Effect.runPromise(IdSpill.spill(MemorySource.make(data), "id", 10_000, dir, 7))
    const own = await Effect.runPromise(External.order(spilled, dir, 37, 16))
    const chunks = await Effect.runPromise(Effect.forEach(Array.from({ length: own.offsets.length - 1 }, (_, i) => i), (i) => External.readChunk(own, i)))
    expect(chunks.slice(0, -1).every((c) => c.ids.length === 37)).toBe(true)
    const listed = chunks.flatMap((c) => c.ids)
    expect(listed).toHaveLength(501)
    expect(new Set(listed)).toEqual(idSet(data, "id"))
    expect(chunks.flatMap((c) => c.rows).map((row) => data.strings("id")[row])).toEqual(listed)
    // Random points: set 0 (300), set 1 (250) sharing 120 of them, in chunks of 37.
    const point = () => crypto.getRandomValues(new Uint8Array(32))
    const shared = Array.from({ length: 120 }, point)
    const sets = [[...shared, ...Array.from({ length: 180 }, point)], [...Array.from({ length: 130 }, point), ...shared]]
    const store = External.make(await Effect.runPromise(Spill.inMemory().open("m")), undefined, 300, 16, "x25519")
    expect(store.bits).toBe(5)
    for (const [source, set] of sets.entries()) {
      for (let first = 0; first < set.length; first += 37) {
        await Effect.runPromise(External.keep(store, source, first, new Uint8Array(set.slice(first, first + 37).flatMap((p) => [...p]))))
      }
    }
    const flags = await Effect.runPromise(External.match(store, 0, 300, [1]))
    expect(External.flagged(flags)).toEqual(Array.from({ length: 120 }, (_, i) => i))
  })

  it("3-party PSI to two receivers: on disk at every party, or at one, the plaintext intersection and the in-memory ring's output, same messages", async () => {
    const data = planted()
    const expected = intersect(...data.map((d) => idSet(d, "id")))
    expect(expected.size).toBe(120)
    const inMemory = await run("intersection", data, [0, 2], onDisk)
    for (const spilling of [[0, 1, 2], [1]]) {
      const external = await run("intersection", data, [0, 2], onDisk, undefined, spilling)
      expect((success(external.result) as Spec.Result).cardinality).toBe(120)
      for (const i of [0, 2]) {
        expectRowOrdered(external.outputOf(i), data[i]!, expected)
        expect(external.outputOf(i)!.ids).toEqual(inMemory.outputOf(i)!.ids)
        expect(external.outputOf(i)!.rows).toEqual(inMemory.outputOf(i)!.rows)
        expect(external.outputOf(i)!.duplicates).toBe(9)
      }
      expect(external.outputOf(1)).toBeUndefined()
      // The same rounds and messages as the ring in memory; every spill directory opened was removed.
      expect(stages(external.host)).toEqual(stages(inMemory.host))
      // Each spilling party opened its set's directory and the ring's; all are removed but the ring's directory of b,
      // which takes no output: the host releases it when the task ends (InMemoryHost does not).
      expect(external.spilled.opened).toBe(2 * spilling.length)
      expect(external.spilled.removed).toBe(external.spilled.opened - 1)
    }
  }, 120_000)

  it("difference and cardinality on disk equal the plaintext", async () => {
    const [a, b] = planted()
    const [x, y] = [idSet(a!, "id"), idSet(b!, "id")]
    const difference = await run("difference", [a!, b!], [0], onDisk, undefined, [0, 1])
    success(difference.result)
    expectRowOrdered(difference.outputOf(0), a!, new Set([...x].filter((id) => !y.has(id))))
    expect(difference.spilled).toEqual({ opened: 4, removed: 3 })
    const cardinality = await run("cardinality", [a!, b!], [1], onDisk, undefined, [0, 1])
    expect((success(cardinality.result) as Spec.Result).cardinality).toBe(180)
    expect(cardinality.outputOf(1)!.cardinality).toBe(180)
    expect(cardinality.outputOf(1)!.ids).toBeUndefined()
    expect(cardinality.spilled).toEqual({ opened: 4, removed: 3 })
  }, 120_000)

  it("aligned, 3 receivers, two on disk and one in memory: one common order and digest, the plaintext intersection", async () => {
    const data = planted()
    // Parties 0 and 2 on disk order (and hash) by the same fully-blinded values as party 1 in memory.
    const { result, outputOf, spilled } = await run("aligned", data, [0, 1, 2], onDisk, undefined, [0, 2])
    expect(expectAligned(result, outputOf, data).cardinality).toBe(120)
    expect(spilled).toEqual({ opened: 4, removed: 4 })
  }, 120_000)

  it("union on disk at both parties, or at one: the receiver lists its own ids in row order, then exactly the other's rest", async () => {
    const [a, b] = planted()
    const [x, y] = [idSet(a!, "id"), idSet(b!, "id")]
    const inMemory = await run("union", [a!, b!], [0], onDisk)
    for (const spilling of [[0, 1], [0], [1]]) {
      const union = await run("union", [a!, b!], [0], onDisk, undefined, spilling)
      expect((success(union.result) as Spec.Result).cardinality).toBe(new Set([...x, ...y]).size)
      const ids = union.outputOf(0)!.ids!
      expect(ids.slice(0, x.size)).toEqual(inMemory.outputOf(0)!.ids!.slice(0, x.size))
      expect(new Set(ids.slice(x.size))).toEqual(new Set([...y].filter((id) => !x.has(id))))
      expect(ids).toHaveLength(new Set([...x, ...y]).size)
      expect(union.outputOf(1)).toBeUndefined()
      expect(stages(union.host)).toEqual(stages(inMemory.host))
      // Each spilling party: its set's directory and the ring's (b's is released when the task ends).
      expect(union.spilled.opened).toBe(2 * spilling.length)
    }
    // a's 12 ids in memory (≤ bucketIds), b's on disk: a keeps b's parts on disk and checks them against its own.
    const small = table("small", { id: [...a!.strings("id").slice(0, 12)] })
    const mixed = await run("union", [small, b!], [0], onDisk, undefined, [0, 1])
    expect(mixed.spilled.opened).toBe(3)
    expect(new Set(mixed.outputOf(0)!.ids)).toEqual(new Set([...idSet(small, "id"), ...y]))
    expect(mixed.outputOf(0)!.ids).toHaveLength(new Set([...idSet(small, "id"), ...y]).size)
  }, 120_000)

  it("union on disk: a part naming an id of the intersection is refused (InconsistentPayload), the receiver's set on disk or not", async () => {
    const [a, b] = planted()
    // b seals a first part that names a shared id, as a party lying about its remainder would.
    const lying = (shared: string) => (index: number, handlers: ReadonlyArray<StageHandler<any, any, any>>) =>
      index !== 1 ? handlers : handlers.map((h) => h.stage.name !== Spec.transfer.name ? h : handler(Spec.transfer, (request, session: ParticipantSession) =>
        Effect.gen(function*() {
          const honest = yield* (h.handle(request, session) as Effect.Effect<{ payload: Uint8Array }, ParticipantFailure>)
          if (request.index !== 0) return honest
          const s = session.memory.get("query/psi") as { channel: { secretKey: Uint8Array }; peers: ReadonlyMap<string, Channel.Advertisement> }
          const receiver = session.participants[0]!
          const bytes = new TextEncoder().encode(JSON.stringify([shared]))
          return { payload: yield* Channel.seal(session, "x", s.channel.secretKey, receiver, s.peers.get(receiver)!.channelPublicKey, "transfer|0", bytes) }
        })))
    // a's set on disk; then a's set of 12 ids in memory (≤ bucketIds) with b's on disk, so a keeps b's parts on disk.
    const small = table("small", { id: [...a!.strings("id").slice(0, 12)] })
    for (const own of [a!, small]) {
      const lie = [...intersect(idSet(own, "id"), idSet(b!, "id"))][0]!
      const { result, spilled } = await run("union", [own, b!], [0], onDisk, lying(lie), [0, 1])
      expect(failure(result).code).toBe("InconsistentPayload")
      expect(spilled.opened).toBe(own === small ? 3 : 4)
    }
  }, 120_000)

  it("an aligned join inside another protocol (vertical, joint arithmetic) keeps its set in memory, where they read it", async () => {
    const data = planted()
    const { result, outputOf, spilled, host } = await run("aligned", data, [0, 1, 2], onDisk, undefined, [0, 1, 2], Participant.handlers)
    expect(expectAligned(result, outputOf, data).cardinality).toBe(120)
    expect(spilled.opened).toBe(0)
    expect(host.transcript.length).toBeGreaterThan(0)
  }, 120_000)

  it("intersection-sum on disk at both parties: the value holder gets the plaintext sum over the intersection", async () => {
    const [a, b] = planted()
    const ids = a!.strings("id")
    const values = ids.map((_, row) => String((row * 7) % 101))
    const withValues = table("valued", { id: [...ids], value: values })
    const y = idSet(b!, "id")
    const seen = new Set<string>()
    let expected = 0
    ids.forEach((id, row) => {
      if (id !== "" && !seen.has(id) && y.has(id)) expected += Number(values[row])
      seen.add(id)
    })
    const { result, outputOf, spilled } = await run("sum", [withValues, b!], [0], { ...onDisk, valueColumn: "value" }, undefined, [0, 1])
    expect((success(result) as Spec.Result).cardinality).toBe(180)
    expect(outputOf(0)!.sum).toBeCloseTo(expected, 6)
    expect(spilled.opened).toBe(4)
  }, 180_000)
})
