import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import * as Prg from "../../crypto/Prg.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { ParticipantFailure, ProtocolError } from "../Protocol.ts"
import { secureAggregationHandlers } from "./client.ts"
import * as RingVector from "./RingVector.ts"
import { runSecureAggregation } from "./server.ts"
import * as Spec from "./spec.ts"

const randomInputs = (count: number, length: number, bits: number) =>
  Array.from({ length: count }, () => Prg.expand(crypto.getRandomValues(new Uint8Array(32)), "input", length, bits))

const sumOf = (inputs: ReadonlyArray<ReadonlyArray<bigint>>, bits: number, length: number) =>
  Array.from({ length }, (_, i) => inputs.reduce((acc, x) => (acc + x[i]!) % (1n << BigInt(bits)), 0n))

/** A host whose i-th participant contributes inputs[i]. */
const setup = (inputs: ReadonlyArray<ReadonlyArray<bigint>>, faults: Record<number, ReadonlyArray<InMemoryHost.Fault>> = {}) => {
  const wallets = inputs.map(() => InMemoryHost.randomWallet())
  const host = InMemoryHost.make(
    inputs.map((input, i) => ({
      wallet: wallets[i]!,
      handlers: secureAggregationHandlers(() => Effect.succeed(input)),
      ...(faults[i] ? { faults: faults[i] } : {})
    }))
  )
  return host
}

const maskedInputsSeen = (host: InMemoryHost.InMemoryHost) =>
  host.transcript
    .filter((entry) => entry.stage === Spec.maskedInput.name && entry.direction === "reply")
    .map((entry) => ({ participant: entry.participant, json: JSON.parse(entry.json) as { maskedInput: string } }))

describe("secure aggregation", () => {
  for (const [count, bits, length] of [[3, 64, 20], [4, 128, 7], [5, 32, 33]] as const) {
    it(`${count} participants, ${length} elements mod 2^${bits}: the sum is exact and no masked vector equals its input`, async () => {
      const inputs = randomInputs(count, length, bits)
      const host = setup(inputs)
      const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: length, bits })))
      expect(result.sum).toEqual(sumOf(inputs, bits, length))
      expect(result.contributors).toEqual(host.participants)

      const seen = maskedInputsSeen(host)
      expect(seen).toHaveLength(count)
      for (const { participant, json } of seen) {
        const masked = RingVector.toBigInts(RingVector.fromBytes(Uint8Array.from(atob(json.maskedInput), (c) => c.charCodeAt(0)), length, bits))
        const own = inputs[host.participants.indexOf(participant)]!
        expect(masked).not.toEqual(own)
        // Not even element-wise: a mask element of 0 has probability 2^-bits.
        expect(masked.some((m, i) => m === own[i])).toBe(false)
      }
      // Nothing the coordinator saw contains an input element in the clear (decimal, as the wire writes bigints).
      const wire = host.transcript.map((e) => e.json).join("\n")
      for (const input of inputs) expect(input.some((x) => x > 1000n && wire.includes(x.toString()))).toBe(false)
      expect(host.commitments.map((c) => c.phase)).toEqual(["secagg/secagg"])
    })
  }

  it("sums signed fixed-point values mod 2^128 (negative values wrap and come back)", async () => {
    const bits = 128
    const codec = FixedPoint.make({ scaleBits: 16, modulus: 1n << 128n })
    const reals = [[1.5, -2.25, 1000], [-3.5, 0.75, -999.5], [2, -0.5, 0.25]]
    const host = setup(reals.map((row) => row.map((v) => FixedPoint.encode(codec, v))))
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 3, bits })))
    expect(result.sum.map((m) => FixedPoint.decode(codec, m))).toEqual([0, -2, 0.75])
  })

  it("stays exact when d participants drop out after sending their masked input", async () => {
    const inputs = randomInputs(5, 16, 64)
    // n = 5, d = 2 (default ⌊(5−1)/2⌋): participants 1 and 3 vanish before unmasking.
    const host = setup(inputs, {
      1: [{ kind: "dropout", fromStage: Spec.unmask.name }],
      3: [{ kind: "dropout", fromStage: Spec.unmask.name }]
    })
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 16, bits: 64 })))
    // Their masked inputs arrived, so their inputs are in the sum.
    expect(result.contributors).toEqual(host.participants)
    expect(result.sum).toEqual(sumOf(inputs, 64, 16))
  })

  it("stays exact when a participant drops out before sending its masked input (its pairwise masks are removed)", async () => {
    const inputs = randomInputs(4, 10, 64)
    const host = setup(inputs, { 2: [{ kind: "dropout", fromStage: Spec.maskedInput.name }] })
    const result = await Effect.runPromise(
      host.run((session) => runSecureAggregation(session, { vectorLength: 10, bits: 64, dropoutTolerance: 1 }))
    )
    expect(result.contributors).toEqual(host.participants.filter((_, i) => i !== 2))
    expect(result.sum).toEqual(sumOf(inputs.filter((_, i) => i !== 2), 64, 10))
  })

  it("stays exact with one dropout before and one after the masked input, and with a silent (timed-out) participant", async () => {
    const inputs = randomInputs(5, 8, 32)
    const host = setup(inputs, {
      0: [{ kind: "hang", fromStage: Spec.maskedInput.name }],
      4: [{ kind: "dropout", fromStage: Spec.unmask.name }]
    })
    const result = await Effect.runPromise(
      host.run((session) => runSecureAggregation(session, { vectorLength: 8, bits: 32, timeoutMs: 200 }))
    )
    expect(result.contributors).toEqual(host.participants.slice(1))
    expect(result.sum).toEqual(sumOf(inputs.slice(1), 32, 8))
  })

  it("stays exact when a participant drops out before sharing keys", async () => {
    const inputs = randomInputs(3, 5, 64)
    const host = setup(inputs, { 0: [{ kind: "dropout", fromStage: Spec.shareKeys.name }] })
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 5, bits: 64 })))
    expect(result.sum).toEqual(sumOf(inputs.slice(1), 64, 5))
  })

  it("fails with TooManyDropouts beyond the tolerance (after masked input)", async () => {
    const inputs = randomInputs(5, 4, 64)
    const host = setup(inputs, {
      0: [{ kind: "dropout", fromStage: Spec.unmask.name }],
      1: [{ kind: "dropout", fromStage: Spec.unmask.name }],
      2: [{ kind: "dropout", fromStage: Spec.unmask.name }]
    })
    const error = await Effect.runPromise(Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64 }))))
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).reason).toBe("TooManyDropouts")
    expect((error as ProtocolError).detail).toContain("needed 3, available 2")
  })

  it("fails with TooManyDropouts beyond an explicit tolerance (before masked input)", async () => {
    const inputs = randomInputs(5, 4, 64)
    const host = setup(inputs, { 3: [{ kind: "dropout", fromStage: Spec.maskedInput.name }] })
    const error = await Effect.runPromise(
      Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64, dropoutTolerance: 0 })))
    )
    expect(error).toMatchObject({ _tag: "ProtocolError", reason: "TooManyDropouts" })
    expect((error as ProtocolError).detail).toContain("needed 5, available 4")
  })

  it("rejects a threshold that is not a strict majority, on the coordinator and on the participants", async () => {
    const host = setup(randomInputs(4, 2, 64))
    const error = await Effect.runPromise(
      Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: 2, bits: 64, dropoutTolerance: 2 })))
    )
    expect(error).toMatchObject({ _tag: "ProtocolError", reason: "InvalidParameters" })
    // A coordinator that skips its own check still meets the participants' refusal.
    const lowered = await Effect.runPromise(Effect.flip(host.run((session) =>
      session.round(
        Spec.advertiseKeys,
        new Map(session.participants.map((p) => [p, { parameters: { version: 1 as const, aggregationId: "low", cohort: session.participants, threshold: 2, vectorLength: 2, bits: 64 } }])),
        { minReplies: 3 }
      )
    )))
    expect(lowered).toMatchObject({ _tag: "ParticipantFailure", code: "InvalidParameters" })
  })

  it("peers reject a key advertisement signed by another wallet", async () => {
    const inputs = randomInputs(3, 4, 64)
    const impostor = InMemoryHost.randomWallet()
    const host = InMemoryHost.make(inputs.map((input, i) => ({
      handlers: secureAggregationHandlers(() => Effect.succeed(input)),
      ...(i === 1 ? { signer: impostor } : {})
    })))
    // The honest coordinator already discards the bad advertisement (then 2 of 3 remain, still ≥ t = 2) …
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64 })))
    expect(result.contributors).toEqual([host.participants[0], host.participants[2]])
    expect(result.sum).toEqual(sumOf([inputs[0]!, inputs[2]!], 64, 4))
  })

  it("peers reject keys substituted by a coordinator (re-signed with a wallet that is not the participant's)", async () => {
    const inputs = randomInputs(3, 4, 64)
    const host = setup(inputs)
    const forger = InMemoryHost.randomWallet()
    const malicious = (session: CoordinatorSession) =>
      Effect.gen(function*() {
        const parameters = { version: 1 as const, aggregationId: "evil", cohort: session.participants, threshold: 2, vectorLength: 4, bits: 64 }
        const ads = yield* session.round(Spec.advertiseKeys, new Map(session.participants.map((p) => [p, { parameters }])), { minReplies: 3 })
        // Replace participant 0's mask key by one the coordinator knows, signed by the coordinator's own wallet.
        const victim = session.participants[0]!
        const own = crypto.getRandomValues(new Uint8Array(32))
        const { x25519 } = yield* Effect.promise(() => import("@noble/curves/ed25519.js"))
        const maskPublicKey = x25519.getPublicKey(own)
        const channelPublicKey = ads.get(victim)!.channelPublicKey
        const signature = yield* Effect.promise(() =>
          forger.signMessage(Spec.advertisementMessage(session, parameters, victim, channelPublicKey, maskPublicKey)))
        const advertisements = session.participants.map((participant) =>
          participant === victim
            ? { participant, channelPublicKey, maskPublicKey, signature }
            : { participant, ...ads.get(participant)! })
        return yield* session.round(
          Spec.shareKeys,
          new Map(session.participants.map((p) => [p, { aggregationId: "evil", advertisements }])),
          { minReplies: 2 }
        )
      })
    const error = await Effect.runPromise(Effect.flip(host.run(malicious)))
    expect(error).toBeInstanceOf(ParticipantFailure)
    expect((error as ParticipantFailure).code).toBe("ForgedAdvertisement")
    // No participant revealed anything: every share-keys answer was a refusal.
    expect(host.transcript.filter((e) => e.stage === Spec.shareKeys.name && e.direction === "reply")).toHaveLength(0)
  })

  it("an honest participant never reveals both secrets of one peer, and refuses to unmask fewer than t", async () => {
    const inputs = randomInputs(3, 4, 64)
    const host = setup(inputs)
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64 })))
    expect(result.sum).toEqual(sumOf(inputs, 64, 4))
    const [a, b] = host.participants as [string, string, string]
    const ask = (contributors: ReadonlyArray<string>) =>
      Effect.runPromise(Effect.flip(host.run((session) =>
        session.round(Spec.unmask, new Map([[a, { aggregationId: "secagg", contributors }]]), { minReplies: 1 })
      )))
    // Having revealed b-shares of b and c, participant a refuses to treat c as dropped (which would reveal s_c).
    expect(await ask([a, b])).toMatchObject({ _tag: "ParticipantFailure", code: "ConflictingUnmaskRequest" })
    expect(await ask([a])).toMatchObject({ _tag: "ParticipantFailure", code: "TooManyDropouts" })
  })

  it("keeps separate aggregations apart within one task (one per training round)", async () => {
    const bits = 32
    const first = randomInputs(3, 6, bits)
    const second = randomInputs(3, 6, bits)
    const wallets = first.map(() => InMemoryHost.randomWallet())
    const host = InMemoryHost.make(wallets.map((wallet, i) => ({
      wallet,
      handlers: secureAggregationHandlers((_session, context) =>
        Effect.succeed(context.aggregationId === "round-1" ? first[i]! : second[i]!))
    })))
    const [r1, r2] = await Effect.runPromise(host.run((session) =>
      Effect.all([
        runSecureAggregation(session, { vectorLength: 6, bits, aggregationId: "round-1" }),
        runSecureAggregation(session, { vectorLength: 6, bits, aggregationId: "round-2" })
      ])
    ))
    expect(r1!.sum).toEqual(sumOf(first, bits, 6))
    expect(r2!.sum).toEqual(sumOf(second, bits, 6))
  })

  it("aggregates 100k-element vectors mod 2^64 with a dropout", async () => {
    const length = 100_000
    const inputs = randomInputs(4, length, 64)
    const host = setup(inputs, { 3: [{ kind: "dropout", fromStage: Spec.maskedInput.name }] })
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: length, bits: 64, dropoutTolerance: 1 })))
    expect(result.sum).toEqual(sumOf(inputs.slice(0, 3), 64, length))
  }, 60_000)
})
