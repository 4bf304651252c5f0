import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import * as Prg from "../../crypto/Prg.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { ParticipantFailure, ProtocolError } from "../Protocol.ts"
import { secureAggregationHandlers, settle } from "./client.ts"
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

  it("names each missing participant with why: offline (it left) or no reply in time (it stayed silent)", async () => {
    const inputs = randomInputs(5, 4, 64)
    const host = setup(inputs, {
      1: [{ kind: "dropout", fromStage: Spec.maskedInput.name }],
      3: [{ kind: "hang", fromStage: Spec.maskedInput.name }]
    })
    const error = await Effect.runPromise(
      Effect.flip(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64, dropoutTolerance: 0, timeoutMs: 300 })))
    )
    expect(error).toMatchObject({ _tag: "ProtocolError", reason: "TooManyDropouts" })
    const detail = (error as ProtocolError).detail
    expect(detail).toContain(`${host.participants[1]} offline`)
    expect(detail).toContain(`${host.participants[3]} no reply in time`)
    expect(detail).toContain("needed 5, available 3")
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
        new Map(session.participants.map((p) => [p, { parameters: { version: Spec.VERSION, aggregationId: "low", cohort: session.participants, threshold: 2, vectorLength: 2, bits: 64 } }])),
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

  // A coordinator that replaces participant 0's mask key by one it knows, in three ways; every peer must refuse.
  const substitutions = {
    // A signing key of its own, certified by its own wallet in the victim's name.
    "a signing key certified by another wallet": "foreign-certificate",
    // The victim's genuine certificate, with a signing key the coordinator holds (the key does not match it).
    "the victim's certificate over a signing key it did not certify": "borrowed-certificate",
    // The victim's genuine certificate and signing key, and a signature that is not by that key.
    "an advertisement not signed by the certified key": "bad-signature"
  } as const
  for (const [title, how] of Object.entries(substitutions)) {
    it(`peers reject keys substituted by a coordinator: ${title}`, async () => {
      const inputs = randomInputs(3, 4, 64)
      const host = setup(inputs)
      const forger = InMemoryHost.randomWallet()
      const malicious = (session: CoordinatorSession) =>
        Effect.gen(function*() {
          const parameters: Spec.Parameters = { version: Spec.VERSION, aggregationId: "evil", cohort: session.participants, threshold: 2, vectorLength: 4, bits: 64 }
          const ads = yield* session.round(Spec.advertiseKeys, new Map(session.participants.map((p) => [p, { parameters }])), { minReplies: 3 })
          const victim = session.participants[0]!
          const genuine = ads.get(victim)!
          const { ed25519, x25519 } = yield* Effect.promise(() => import("@noble/curves/ed25519.js"))
          const maskPublicKey = x25519.getPublicKey(crypto.getRandomValues(new Uint8Array(32)))
          const signer = crypto.getRandomValues(new Uint8Array(32))
          const ownSigningKey = ed25519.getPublicKey(signer)
          const message = Spec.advertisementMessage(session, parameters, victim, genuine.channelPublicKey, maskPublicKey)
          const forged = how === "foreign-certificate"
            ? {
              signingKey: ownSigningKey,
              certificate: yield* Effect.promise(() => forger.signMessage(Spec.certificateMessage(session, victim, ownSigningKey))),
              signature: ed25519.sign(message, signer)
            }
            : how === "borrowed-certificate"
            ? { signingKey: ownSigningKey, certificate: genuine.certificate, signature: ed25519.sign(message, signer) }
            : { signingKey: genuine.signingKey, certificate: genuine.certificate, signature: ed25519.sign(message, signer) }
          const advertisements = session.participants.map((participant) =>
            participant === victim
              ? { participant, channelPublicKey: genuine.channelPublicKey, maskPublicKey, ...forged }
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
  }

  it("a peer's advertisement from one aggregation is refused in another (the signature covers the parameters)", async () => {
    const inputs = randomInputs(3, 4, 64)
    const host = setup(inputs)
    const replay = (session: CoordinatorSession) =>
      Effect.gen(function*() {
        const parametersOf = (aggregationId: string): Spec.Parameters => ({ version: Spec.VERSION, aggregationId, cohort: session.participants, threshold: 2, vectorLength: 4, bits: 64 })
        const first = yield* session.round(Spec.advertiseKeys, new Map(session.participants.map((p) => [p, { parameters: parametersOf("a") }])), { minReplies: 3 })
        const second = yield* session.round(Spec.advertiseKeys, new Map(session.participants.map((p) => [p, { parameters: parametersOf("b") }])), { minReplies: 3 })
        const victim = session.participants[0]!
        // Same certificate (one signing key per attempt), but keys and signature of aggregation "a" offered in "b".
        expect(first.get(victim)!.certificate).toBe(second.get(victim)!.certificate)
        const advertisements = session.participants.map((participant) => ({ participant, ...(participant === victim ? first : second).get(participant)! }))
        return yield* session.round(Spec.shareKeys, new Map(session.participants.map((p) => [p, { aggregationId: "b", advertisements }])), { minReplies: 2 })
      })
    const error = await Effect.runPromise(Effect.flip(host.run(replay)))
    expect((error as ParticipantFailure).code).toBe("ForgedAdvertisement")
  })

  it("sums exactly under either PRG, AES-128-CTR by default, with a dropout whose pair masks are removed; the parameters name the PRG", async () => {
    for (const prg of [undefined, "chacha20", "aes128-ctr"] as const) {
      const inputs = randomInputs(4, 9, 32)
      const host = setup(inputs, { 2: [{ kind: "dropout", fromStage: Spec.maskedInput.name }] })
      const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 9, bits: 32, dropoutTolerance: 1, ...(prg ? { prg } : {}) })))
      expect(result.sum).toEqual(sumOf([inputs[0]!, inputs[1]!, inputs[3]!], 32, 9))
      const advertised = host.transcript.find((e) => e.stage === Spec.advertiseKeys.name && e.direction === "request")!
      expect((JSON.parse(advertised.json) as { parameters: Spec.Parameters }).parameters.prg).toBe(prg ?? "aes128-ctr")
    }
  })

  it("refuses a PRG it does not know: the coordinator, and every participant with UnsupportedPrg naming it", async () => {
    const host = setup(randomInputs(3, 2, 64))
    const error = await Effect.runPromise(Effect.flip(host.run((session) =>
      runSecureAggregation(session, { vectorLength: 2, bits: 64, prg: "rc4" as Prg.Name })
    )))
    expect(error).toMatchObject({ _tag: "ProtocolError", reason: "InvalidParameters" })
    const refused = await Effect.runPromise(Effect.flip(host.run((session) =>
      session.round(
        Spec.advertiseKeys,
        new Map(session.participants.map((p) => [p, { parameters: { version: Spec.VERSION, aggregationId: "rc4", cohort: session.participants, threshold: 2, vectorLength: 2, bits: 64, prg: "rc4" } }])),
        { minReplies: 2 }
      )
    )))
    expect(refused).toMatchObject({ _tag: "ParticipantFailure", code: "UnsupportedPrg" })
    expect((refused as ParticipantFailure).detail).toContain("rc4")
  })

  it("a participant whose PRG kernel fails fails the masked input with PrgFailed naming the PRG, not a defect", async () => {
    const broken: PrgKernel.PrgKernel = {
      ...PrgKernel.noble,
      keystreamAsync: { ciphers: ["aes128-ctr"], run: () => Promise.reject(new Error("worker terminated")) }
    }
    const host = InMemoryHost.make(randomInputs(3, 4, 64).map((input) => ({
      wallet: InMemoryHost.randomWallet(),
      handlers: secureAggregationHandlers(() => Effect.succeed(input)),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provideService(effect, PrgKernel.PrgKernel, broken) as Effect.Effect<A, ParticipantFailure>
    })))
    const exit = await Effect.runPromiseExit(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 64, prg: "aes128-ctr" })))
    const error = await Effect.runPromise(Effect.flip(Effect.suspend(() => exit)))
    expect(error).toMatchObject({ _tag: "ParticipantFailure", stage: Spec.maskedInput.name, code: "PrgFailed" })
    expect((error as ParticipantFailure).detail).toContain("aes128-ctr")
    expect((error as ParticipantFailure).detail).toContain("worker terminated")
  })

  it("a coordinator that hands members different PRGs is caught: the signed parameters cover the PRG", async () => {
    const host = setup(randomInputs(3, 4, 64))
    const split = (session: CoordinatorSession) =>
      Effect.gen(function*() {
        const parametersOf = (prg: Prg.Name): Spec.Parameters => ({ version: Spec.VERSION, aggregationId: "split", cohort: session.participants, threshold: 2, vectorLength: 4, bits: 64, prg })
        const victim = session.participants[0]!
        const ads = yield* session.round(
          Spec.advertiseKeys,
          new Map(session.participants.map((p) => [p, { parameters: parametersOf(p === victim ? "chacha20" : "aes128-ctr") }])),
          { minReplies: 3 }
        )
        const advertisements = session.participants.map((participant) => ({ participant, ...ads.get(participant)! }))
        return yield* session.round(Spec.shareKeys, new Map(session.participants.map((p) => [p, { aggregationId: "split", advertisements }])), { minReplies: 2 })
      })
    const error = await Effect.runPromise(Effect.flip(host.run(split)))
    expect((error as ParticipantFailure).code).toBe("ForgedAdvertisement")
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

  it("drops its masked input once it answers unmask, and refuses to send it again after that", async () => {
    const inputs = randomInputs(3, 4, 32)
    const host = setup(inputs)
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 4, bits: 32 })))
    expect(result.sum).toEqual(sumOf(inputs, 32, 4))
    for (const p of host.participants) {
      const state = host.memory(p).get("secagg/secagg") as { maskedInputReply?: unknown; maskedInputReleased?: boolean }
      expect(state.maskedInputReply).toBeUndefined()
      expect(state.maskedInputReleased).toBe(true)
    }
    const [a, b, c] = host.participants as [string, string, string]
    const replay = await Effect.runPromise(Effect.flip(host.run((session) =>
      session.round(Spec.maskedInput, new Map([[a, { aggregationId: "secagg", keyHolders: [a, b, c], encryptedShares: [] }]]), { minReplies: 1 })
    )))
    expect(replay).toMatchObject({ _tag: "ParticipantFailure", code: "AlreadyUnmasked" })
  })

  it("a settled aggregation is dropped, a masked input never asked to unmask included, and its requests refused", async () => {
    const inputs = randomInputs(4, 6, 32)
    // Participant 0 computes its masked input, then the reply is lost: it never gets an unmask request.
    const host = InMemoryHost.make(inputs.map((input, i) => ({
      handlers: (secureAggregationHandlers(() => Effect.succeed(input)) as ReadonlyArray<InMemoryHost.AnyStageHandler>).map((h): InMemoryHost.AnyStageHandler =>
        i !== 0 || h.stage.name !== Spec.maskedInput.name ? h : {
          ...h,
          handle: (request, session) =>
            Effect.flatMap(h.handle(request, session), () => Effect.fail(new ParticipantFailure({ participant: session.self, stage: h.stage.name, code: "Disconnected", detail: "lost after masking" })))
        })
    })))
    const result = await Effect.runPromise(host.run((session) => runSecureAggregation(session, { vectorLength: 6, bits: 32, dropoutTolerance: 1 })))
    expect(result.contributors).toEqual(host.participants.slice(1))
    expect(result.sum).toEqual(sumOf(inputs.slice(1), 32, 6))
    const [dropped, a, b, c] = host.participants as [string, string, string, string]
    // Without settling, the dropped participant would hold its masked input for the rest of the attempt.
    expect((host.memory(dropped).get("secagg/secagg") as { maskedInputReply?: unknown }).maskedInputReply).toBeDefined()
    for (const p of host.participants) {
      settle({ memory: host.memory(p) }, "secagg")
      expect(typeof host.memory(p).get("secagg/secagg")).toBe("string")
    }
    // Nothing of it is answered again, nor started afresh with new randomness.
    const ask = <Req>(stage: Parameters<CoordinatorSession["round"]>[0], participant: string, request: Req) =>
      Effect.runPromise(Effect.flip(host.run((session) => session.round(stage, new Map([[participant, request as never]]), { minReplies: 1 }))))
    expect(await ask(Spec.unmask, a, { aggregationId: "secagg", contributors: [a, b, c] })).toMatchObject({ _tag: "ParticipantFailure", code: "Settled" })
    expect(await ask(Spec.maskedInput, dropped, { aggregationId: "secagg", keyHolders: [dropped, a, b, c], encryptedShares: [] })).toMatchObject({ _tag: "ParticipantFailure", code: "Settled" })
    const parameters: Spec.Parameters = { version: Spec.VERSION, aggregationId: "secagg", cohort: host.participants, threshold: 3, vectorLength: 6, bits: 32, prg: Prg.DEFAULT_NAME }
    expect(await ask(Spec.advertiseKeys, b, { parameters })).toMatchObject({ _tag: "ParticipantFailure", code: "Settled" })
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

  describe("key reuse across aggregations (server.ts, Key reuse)", () => {
    type Handler = InMemoryHost.AnyStageHandler
    /** Participant i's handlers, with `wrap` applied to the stage it names. */
    const hostWith = (inputs: ReadonlyArray<ReadonlyArray<bigint>>, wrap: Record<number, (h: Handler) => Handler> = {}) =>
      InMemoryHost.make(inputs.map((input, i) => ({
        handlers: secureAggregationHandlers(() => Effect.succeed(input)).map((h) => wrap[i]?.(h) ?? h) as ReadonlyArray<Handler>
      })))
    const maskOf = (host: InMemoryHost.InMemoryHost) =>
      host.transcript.filter((e) => e.stage === Spec.advertiseKeys.name && e.direction === "reply").map((e) => ({ participant: e.participant, key: (JSON.parse(e.json) as { maskPublicKey: string }).maskPublicKey }))

    it("a contributor keeps its key pairs for the next aggregation, and its masks still differ per aggregation", async () => {
      const inputs = randomInputs(3, 6, 64)
      const host = hostWith(inputs)
      const [a, b] = await Effect.runPromise(host.run((session) =>
        Effect.all([
          runSecureAggregation(session, { vectorLength: 6, bits: 64, aggregationId: "a" }),
          runSecureAggregation(session, { vectorLength: 6, bits: 64, aggregationId: "b" })
        ], { concurrency: 1 })))
      expect(a!.sum).toEqual(sumOf(inputs, 64, 6))
      expect(b!.sum).toEqual(sumOf(inputs, 64, 6))
      const keys = maskOf(host)
      expect(keys).toHaveLength(6)
      for (const p of host.participants) {
        const [first, second] = keys.filter((k) => k.participant === p)
        expect(second!.key).toBe(first!.key)
      }
      // Same input, same keys, different aggregation: different masked vectors (fresh pairwise seeds and b_u).
      const seen = maskedInputsSeen(host)
      for (const p of host.participants) {
        const [first, second] = seen.filter((s) => s.participant === p)
        expect(second!.json.maskedInput).not.toBe(first!.json.maskedInput)
      }
    })

    it("a participant whose masked input never arrived rekeys before it contributes again, and both sums are exact", async () => {
      const inputs = randomInputs(4, 5, 64)
      const failInA = (h: Handler): Handler =>
        h.stage.name !== Spec.maskedInput.name ? h : {
          ...h,
          handle: (request: { aggregationId: string }, session) =>
            request.aggregationId === "a"
              ? Effect.fail(new ParticipantFailure({ participant: session.self, stage: h.stage.name, code: "Crashed", detail: "lost before sending" }))
              : h.handle(request, session)
        }
      const host = hostWith(inputs, { 0: failInA })
      const [a, b] = await Effect.runPromise(host.run((session) =>
        Effect.all([
          runSecureAggregation(session, { vectorLength: 5, bits: 64, aggregationId: "a" }),
          runSecureAggregation(session, { vectorLength: 5, bits: 64, aggregationId: "b" })
        ], { concurrency: 1 })))
      // In a, participant 0 dropped after sharing its keys: its mask key was reconstructed to remove its masks.
      expect(a!.contributors).toEqual(host.participants.slice(1))
      expect(a!.sum).toEqual(sumOf(inputs.slice(1), 64, 5))
      expect(b!.contributors).toEqual(host.participants)
      expect(b!.sum).toEqual(sumOf(inputs, 64, 5))
      const keys = maskOf(host)
      const [dropped, ...others] = host.participants
      const of = (p: string) => keys.filter((k) => k.participant === p).map((k) => k.key)
      expect(of(dropped!)[1]).not.toBe(of(dropped!)[0])
      for (const p of others) expect(of(p)[1]).toBe(of(p)[0])
    })

    it("peers refuse a mask key whose secret they helped reveal, even when its owner advertises it again", async () => {
      const inputs = randomInputs(4, 5, 64)
      // Participant 0 drops in a, then (as if told by a lying coordinator that it had contributed) keeps its keys.
      const wrap = (h: Handler): Handler => {
        if (h.stage.name === Spec.maskedInput.name) {
          return {
            ...h,
            handle: (request: { aggregationId: string }, session) =>
              request.aggregationId === "a"
                ? Effect.fail(new ParticipantFailure({ participant: session.self, stage: h.stage.name, code: "Crashed", detail: "lost" }))
                : h.handle(request, session)
          }
        }
        if (h.stage.name === Spec.advertiseKeys.name) {
          return {
            ...h,
            handle: (request: unknown, session) =>
              Effect.suspend(() => {
                const keys = session.memory.get("secagg/keys") as { unconfirmed: Set<string> } | undefined
                keys?.unconfirmed.clear()
                return h.handle(request, session)
              })
          }
        }
        return h
      }
      const host = hostWith(inputs, { 0: wrap })
      const error = await Effect.runPromise(Effect.flip(host.run((session) =>
        Effect.gen(function*() {
          yield* runSecureAggregation(session, { vectorLength: 5, bits: 64, aggregationId: "a" })
          // Every peer answered a's unmask (t = 3 of the 3 contributors), so all of them burnt participant 0's key.
          return yield* runSecureAggregation(session, { vectorLength: 5, bits: 64, aggregationId: "b" })
        }))))
      expect(error).toBeInstanceOf(ParticipantFailure)
      expect((error as ParticipantFailure).code).toBe("ForgedAdvertisement")
      expect((error as ParticipantFailure).detail).toContain("revealed")
    })
  })
})
