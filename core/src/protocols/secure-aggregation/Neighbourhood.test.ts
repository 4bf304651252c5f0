import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Prg from "../../crypto/Prg.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import { ProtocolError } from "../Protocol.ts"
import { secureAggregationHandlers } from "./client.ts"
import * as Neighbourhood from "./Neighbourhood.ts"
import { runSecureAggregation } from "./server.ts"
import * as Spec from "./spec.ts"

const context = { taskId: "task-secagg-plus", attempt: 1 }
const ids = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`)

const randomInputs = (count: number, length: number, bits: number) =>
  Array.from({ length: count }, () => Prg.expand(crypto.getRandomValues(new Uint8Array(32)), "input", length, bits))

const sumOf = (inputs: ReadonlyArray<ReadonlyArray<bigint>>, bits: number, length: number) =>
  Array.from({ length }, (_, i) => inputs.reduce((acc, x) => (acc + x[i]!) % (1n << BigInt(bits)), 0n))

const setup = (inputs: ReadonlyArray<ReadonlyArray<bigint>>, faults: Record<number, ReadonlyArray<InMemoryHost.Fault>> = {}) =>
  InMemoryHost.make(
    inputs.map((input, i) => ({ handlers: secureAggregationHandlers(() => Effect.succeed(input)), ...(faults[i] ? { faults: faults[i] } : {}) })),
    { taskId: context.taskId, attempt: context.attempt }
  )

describe("SecAgg+ graph", () => {
  it("is k-regular, symmetric, loop-free and the same for both roles; another aggregation gets another order", () => {
    fc.assert(fc.property(fc.integer({ min: 4, max: 60 }), fc.integer({ min: 1, max: 29 }), (n, half) => {
      const k = Math.min(2 * half, n - 2 - ((n - 2) % 2))
      fc.pre(k >= 2)
      const cohort = ids(n)
      const sparse = { neighbours: k, shareThreshold: Neighbourhood.shareThresholdFor(k) }
      const g = Neighbourhood.graph(context, "round-1", cohort, sparse)
      for (const u of cohort) {
        const adjacent = g.get(u)!
        expect(adjacent.size).toBe(k)
        expect(adjacent.has(u)).toBe(false)
        for (const v of adjacent) expect(g.get(v)!.has(u)).toBe(true)
      }
      expect(Neighbourhood.graph(context, "round-1", cohort, sparse)).toEqual(g)
    }), { numRuns: 200 })
    const cohort = ids(40)
    const sparse = { neighbours: 4, shareThreshold: 3 }
    const a = Neighbourhood.graph(context, "round-1", cohort, sparse)
    const b = Neighbourhood.graph(context, "round-2", cohort, sparse)
    expect(cohort.some((u) => [...a.get(u)!].sort().join() !== [...b.get(u)!].sort().join())).toBe(true)
  })

  it("default k and t_k: the smallest meeting the stated bounds (reference values computed independently)", () => {
    // n = 100 with 30 dropouts: 64 neighbours instead of 99; n = 1000 with 300: 72 instead of 999.
    expect(Neighbourhood.plusParameters(100, 30)).toEqual({ neighbours: 64, shareThreshold: 24 })
    expect(Neighbourhood.plusParameters(1000, 300)).toEqual({ neighbours: 72, shareThreshold: 26 })
    // Small cohorts, or the default tolerance of ⌊(n−1)/2⌋, keep the complete graph (Bonawitz unchanged).
    expect(Neighbourhood.plusParameters(10, 3)).toBeUndefined()
    expect(Neighbourhood.plusParameters(100, 49)).toBeUndefined()
    expect(Neighbourhood.problem({ neighbours: 3, shareThreshold: 2 }, 10)).toMatch(/even/)
    expect(Neighbourhood.problem({ neighbours: 4, shareThreshold: 6 }, 10)).toMatch(/share threshold/)
    expect(Neighbourhood.problem({ neighbours: 10, shareThreshold: 6 }, 10)).toMatch(/complete graph/)
  })
})

describe("secure aggregation on a sparse graph (SecAgg+)", () => {
  const n = 12
  const k = 4
  const length = 24
  const bits = 32

  it("equals the survivors' sum with dropouts before and after the masked input, and shares go to neighbours only", async () => {
    const inputs = randomInputs(n, length, bits)
    // The graph follows the participants' (random) addresses, so the three that leave are chosen where the sum can be
    // recovered at all: every secret needs t_k = 3 of the shares held by its owner and its 4 neighbours, and a party
    // that left holds none — so one that left may lose at most 1 neighbour, one that stays at most 2.
    const probe = setup(inputs)
    const graph = Neighbourhood.graph(context, "secagg", probe.participants, { neighbours: k, shareThreshold: 3 })
    const index = (p: string) => probe.participants.indexOf(p)
    const spread = (gone: ReadonlyArray<number>) =>
      probe.participants.every((p) => [...graph.get(p)!].filter((q) => gone.includes(index(q))).length <= (gone.includes(index(p)) ? 1 : 2))
    const triples = Array.from({ length: n ** 3 }, (_, t) => [Math.floor(t / (n * n)), Math.floor(t / n) % n, t % n])
    const [a, b, c] = triples.find(([x, y, z]) => x! < y! && new Set([x, y, z]).size === 3 && spread([x!, y!, z!]))!
    // a and b lose their masked input (their pairwise masks with their neighbours must be removed), c vanishes after it.
    const faults: Record<number, ReadonlyArray<InMemoryHost.Fault>> = {
      [a!]: [{ kind: "dropout", fromStage: Spec.maskedInput.name }],
      [b!]: [{ kind: "dropout", fromStage: Spec.maskedInput.name }],
      [c!]: [{ kind: "dropout", fromStage: Spec.unmask.name }]
    }
    const host = InMemoryHost.make(
      inputs.map((input, i) => ({
        wallet: probe.wallets.get(probe.participants[i]!)!,
        handlers: secureAggregationHandlers(() => Effect.succeed(input)),
        ...(faults[i] ? { faults: faults[i] } : {})
      })),
      context
    )
    expect(host.participants).toEqual(probe.participants)
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: length, bits, neighbours: k, dropoutTolerance: 3 })))
    const contributors = host.participants.filter((_, i) => i !== a && i !== b)
    expect(result.contributors).toEqual(contributors)
    expect(result.sum).toEqual(sumOf(inputs.filter((_, i) => i !== a && i !== b), bits, length))
    // Every share-keys reply addresses exactly the sender's k neighbours.
    const replies = host.transcript.filter((e) => e.stage === Spec.shareKeys.name && e.direction === "reply")
    expect(replies).toHaveLength(n)
    for (const entry of replies) {
      const recipients = (JSON.parse(entry.json) as { encryptedShares: Array<{ recipient: string }> }).encryptedShares.map((s) => s.recipient)
      expect(new Set(recipients)).toEqual(graph.get(entry.participant))
    }
  })

  it("fails with TooManyDropouts, not a wrong sum, when a contributor keeps fewer than t_k share holders", async () => {
    const inputs = randomInputs(n, length, bits)
    // The victim's 4 neighbours hold its self-mask shares with t_k = 3: three of them vanish after their masked
    // input (within the global tolerance of 5), leaving the victim and one neighbour: 2 shares.
    const probe = setup(inputs)
    const graph = Neighbourhood.graph(context, "secagg", probe.participants, { neighbours: k, shareThreshold: 3 })
    const victim = probe.participants[0]!
    const gone = [...graph.get(victim)!].slice(0, 3).map((p) => probe.participants.indexOf(p))
    const host = InMemoryHost.make(
      inputs.map((input, i) => ({
        wallet: probe.wallets.get(probe.participants[i]!)!,
        handlers: secureAggregationHandlers(() => Effect.succeed(input)),
        ...(gone.includes(i) ? { faults: [{ kind: "dropout" as const, fromStage: Spec.unmask.name }] } : {})
      })),
      context
    )
    const error = await Effect.runPromise(Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: length, bits, neighbours: k }))))
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).reason).toBe("TooManyDropouts")
    expect((error as ProtocolError).detail).toContain(victim)
  })

  it("a participant checks its neighbours' advertisements: a forged one is refused by exactly the victim's neighbours", async () => {
    const count = 8
    const host = setup(randomInputs(count, 2, bits))
    const sparse = { neighbours: 2, shareThreshold: 2 }
    let neighbours: ReadonlySet<string> = new Set()
    let victim = ""
    const replies = await Effect.runPromise(host.run((session) =>
      Effect.gen(function*() {
        const parameters: Spec.Parameters = { version: Spec.VERSION, aggregationId: "forged", cohort: session.participants, threshold: 5, vectorLength: 2, bits, ...sparse }
        const ads = yield* session.round(Spec.advertiseKeys, new Map(session.participants.map((p) => [p, { parameters }])), { minReplies: count })
        victim = session.participants[0]!
        neighbours = Neighbourhood.graph(session, "forged", session.participants, sparse).get(victim)!
        // The victim's genuine certificate and signing key over keys the coordinator chose: the signature fails.
        const signature = ads.get(victim)!.signature.slice()
        signature[0] = signature[0]! ^ 1
        const advertisements = session.participants.map((participant) => ({ participant, ...ads.get(participant)!, ...(participant === victim ? { signature } : {}) }))
        return yield* session.round(Spec.shareKeys, new Map(session.participants.map((p) => [p, { aggregationId: "forged", advertisements }])), { minReplies: 1 })
      })
    ))
    // Members that never use the victim's keys go on (the victim too: its own keys are intact); its neighbours refuse.
    expect([...replies.keys()].sort()).toEqual(host.participants.filter((p) => !neighbours.has(p)).sort())
    const refusals = host.transcript.filter((e) => e.stage === Spec.shareKeys.name && e.direction === "failure")
    expect(refusals.map((e) => e.participant).sort()).toEqual([...neighbours].sort())
    for (const refusal of refusals) expect(JSON.parse(refusal.json)).toMatchObject({ code: "ForgedAdvertisement" })
  })

  it("refuses malformed sparse parameters with InvalidParameters", async () => {
    const host = setup(randomInputs(n, 2, bits))
    for (const options of [{ neighbours: 3 }, { neighbours: 4, shareThreshold: 6 }, { shareThreshold: 3 }]) {
      const error = await Effect.runPromise(Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: 2, bits, aggregationId: `bad-${JSON.stringify(options)}`, ...options }))))
      expect((error as ProtocolError).reason).toBe("InvalidParameters")
    }
    // A coordinator that skips its own check still meets the participants' refusal (odd k; t_k above k + 1; t_k alone).
    for (const [i, sparse] of [{ neighbours: 3, shareThreshold: 2 }, { neighbours: 4, shareThreshold: 6 }, { shareThreshold: 3 }].entries()) {
      const refused = await Effect.runPromise(Effect.flip(host.run((session) =>
        session.round(
          Spec.advertiseKeys,
          new Map(session.participants.map((p) => [p, { parameters: { version: Spec.VERSION, aggregationId: `sparse-${i}`, cohort: session.participants, threshold: 7, vectorLength: 2, bits, ...sparse } }])),
          { minReplies: n }
        )
      )))
      expect(refused).toMatchObject({ _tag: "ParticipantFailure", code: "InvalidParameters" })
    }
  })
})
