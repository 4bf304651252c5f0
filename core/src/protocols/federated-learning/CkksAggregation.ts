/**
 * Federated-learning aggregation under CKKS (`aggregation: "ckks"`, issue 5 item 2): the participants share
 * one CKKS key; each round every contributor encrypts its update, the coordinator adds the ciphertexts, and
 * the contributors decrypt the sum and apply it.
 *
 * Who holds the secret key: the participants, and only they. The key holder (`keyHolder`, default the first
 * party) generates it once per attempt and sends it to every other party `Ecies`-sealed under a pairwise
 * `KeyAgreement` key from the signed advertisements of `joint-query/Channel.ts`; the coordinator relays the
 * boxes and sees their sizes. It gets the public CKKS parameters, enough to add ciphertexts and nothing more.
 *
 * What the coordinator learns: of single updates, nothing but their sizes (ciphertext bytes, a fixed number
 * per model). It does learn each round's aggregated model: FedAvg needs a global model to send the next
 * cohort and to store at the end, and the coordinator cannot decrypt it, so the contributors report the
 * model they decrypted (`fl.ckks-decrypt`). Every contributor decrypts the same sum with the same key, and
 * CKKS decryption and decoding are deterministic, so the reports must agree bit for bit; a participant that
 * reports another model is caught (`InconsistentReports`). That is the same aggregate the "secure" mode
 * reveals (PROTOCOLS.md §5.4 Mode A: the model is shared).
 *
 * What a participant could learn: the aggregate, like the coordinator. It holds the key that decrypts any
 * single update, so it would learn another's update if it ever saw its ciphertext; updates travel only to the
 * coordinator, which must not forward them. An active coordinator could ask for a "sum" of one party's
 * ciphertext; a participant therefore decrypts at most one sum per aggregation and refuses a sum of fewer
 * than `minUpdatesPerRound` contributions (the count is its own slot). It cannot tell whether those
 * contributions are distinct parties: against a coordinator that forges sums, use the "secure" mode.
 *
 * Dropouts: a participant that sends no ciphertext in time is left out of the sum. The sample counts travel
 * in their own slot, so the decrypted Σ n_i·(w_i − w_g) / Σ n_i is FedAvg over exactly those who contributed.
 *
 * Slots of one contribution (CKKS is approximate: ~1e-9 absolute at scale 2^40, far below float32 weights):
 *   [n_i·(w_i − w_g) (P slots), n_i, validation lossSum, correct, samples, 1]
 * The coordinator-side addition uses the `Ckks` service (core never imports SEAL), which the coordinator's
 * host provides (required in the type of `Coordinator.run`, whatever the aggregation: the choice is a param).
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { Effect, type Result, Schema } from "effect"
import { bytesToFloat32, float32ToBytes } from "../../models/ModelArtifact.ts"
import { Ckks, type CkksApi, type CkksError, defaultParameters, type RequesterKeys } from "../encrypted-linear/Ckks.ts"
import * as Channel from "../joint-query/Channel.ts"
import type { CoordinatorSession, ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure, ProtocolError, stage } from "../Protocol.ts"
import { kind, runAndRound, ValidationMetrics } from "./spec.ts"
import { updateProblem } from "./Updates.ts"

const Bytes = Schema.Uint8ArrayFromBase64

const { participant: _participant, ...advertisementFields } = Channel.Advertisement.fields

/** Every party's signed channel key (once per attempt, before round 1). */
export const advertise = stage("fl.ckks-advertise", Schema.Struct({ keyHolder: Schema.String }), Schema.Struct(advertisementFields))

/** The key holder makes the CKKS keys and seals the secret key to each other party. */
export const keys = stage(
  "fl.ckks-keys",
  Schema.Struct({ keyHolder: Schema.String, advertisements: Schema.Array(Channel.Advertisement) }),
  Schema.Struct({ parameters: Bytes, boxes: Schema.Array(Schema.Struct({ to: Schema.String, box: Bytes })) })
)

/** Every other party opens its box. */
export const install = stage(
  "fl.ckks-install",
  Schema.Struct({ keyHolder: Schema.String, advertisements: Schema.Array(Channel.Advertisement), box: Bytes }),
  Schema.Struct({ ready: Schema.Literal(true) })
)

/** A contributor decrypts the summed ciphertexts and reports the aggregated model (empty for `parameters` 0). */
export const decrypt = stage(
  "fl.ckks-decrypt",
  Schema.Struct({ aggregationId: Schema.String, parameters: Schema.Int, sum: Schema.Array(Bytes) }),
  Schema.Struct({ weights: Bytes, trainSamples: Schema.Int, validation: ValidationMetrics, contributors: Schema.Int })
)

/** Slots per ciphertext of the keys the key holder makes (`generateKeys()` with the default parameters). */
const slotsPerCiphertext = defaultParameters.polyModulusDegree / 2
export const ciphertextsFor = (parameters: number) => Math.ceil((parameters + 5) / slotsPerCiphertext)

export const slots = (update: ArrayLike<number>, trainSamples: number, validation: ValidationMetrics): Float64Array => {
  const out = new Float64Array(update.length + 5)
  out.set(Array.from(update))
  out.set([trainSamples, validation.lossSum, validation.correct, validation.samples, 1], update.length)
  return out
}

const KEYS = "fl/ckks/keys"
const CHANNEL = "fl/ckks/channel"
/**
 * The global model a contribution was made against and the decrypted report are kept for the latest round of each
 * federated run only (a contribution task runs every coalition as its own run, concurrently, in one session): a
 * round's decryption is asked for again only while the coordinator still waits for that round, and one model per
 * round kept for the attempt grew the party's memory every round. The digest of every decrypted sum stays (a hash
 * per round): it is what refuses a second decryption of the same aggregation.
 */
const GLOBAL = "fl/ckks/global/"
const DECRYPTED = "fl/ckks/decrypted/"
const digestKey = (aggregationId: string) => `fl/ckks/digest/${aggregationId}`

interface Latest<A> {
  readonly round: number
  readonly aggregationId: string
  readonly value: A
}

/** Keeps `value` as its run's latest, unless a later round's is kept already (a straggler finishing late). */
const keepLatest = <A>(session: ParticipantSession, prefix: string, aggregationId: string, value: A) => {
  const { round, run } = runAndRound(aggregationId)
  const kept = session.memory.get(prefix + run) as Latest<A> | undefined
  if (kept === undefined || kept.round <= round) session.memory.set(prefix + run, { round, aggregationId, value } satisfies Latest<A>)
}

/** What `keepLatest` kept for `aggregationId`, if it is still its run's latest. */
const latest = <A>(session: ParticipantSession, prefix: string, aggregationId: string) => {
  const kept = session.memory.get(prefix + runAndRound(aggregationId).run) as Latest<A> | undefined
  return kept?.aggregationId === aggregationId ? kept.value : undefined
}

const SharedKeys = Schema.Struct({ parameters: Bytes, secretKey: Bytes })
const encodeKeys = (k: RequesterKeys) => new TextEncoder().encode(JSON.stringify(Schema.encodeSync(SharedKeys)(k)))
const decodeKeys = (bytes: Uint8Array) => Schema.decodeUnknownSync(SharedKeys)(JSON.parse(new TextDecoder().decode(bytes)))

// ---------- participant ----------

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

const ckksFailure = (session: ParticipantSession, stage: string) => (e: CkksError) => fail(session, stage, `Ckks${e.reason}`, e.detail)

const sharedKeys = (session: ParticipantSession, stage: string) => {
  const k = session.memory.get(KEYS) as RequesterKeys | undefined
  return k === undefined ? Effect.fail(fail(session, stage, "MissingKeys", `no CKKS keys in attempt ${session.attempt}`)) : Effect.succeed(k)
}

/** Encrypted slots of this participant's contribution; `global` is kept to apply the decrypted sum to. */
export const encryptContribution = (
  session: ParticipantSession,
  stage: string,
  aggregationId: string,
  global: Float32Array | undefined,
  values: Float64Array
) =>
  Effect.gen(function*() {
    const ckks = yield* Ckks
    const k = yield* sharedKeys(session, stage)
    const encrypted = yield* Effect.mapError(ckks.encryptVector(k, values), ckksFailure(session, stage))
    if (global) keepLatest(session, GLOBAL, aggregationId, global)
    return encrypted
  })

const peers = (session: ParticipantSession, stage: string, keyHolder: string, expected: string, advertisements: ReadonlyArray<Channel.Advertisement>) =>
  Effect.gen(function*() {
    if (keyHolder !== expected) return yield* fail(session, stage, "WrongKeyHolder", `the task names ${expected} as key holder, the coordinator ${keyHolder}`)
    const channel = session.memory.get(CHANNEL) as Channel.Keys["channel"] | undefined
    if (!channel) return yield* fail(session, stage, "MissingState", "no channel key: fl.ckks-advertise did not run in this attempt")
    return { channel, ads: yield* Channel.verify(session, stage, session.participants, advertisements, channel.publicKey) }
  })

/** Key distribution and decryption handlers; `expectedKeyHolder` and `minUpdates` come from the task's params. */
export const handlers = (expectedKeyHolder: (session: ParticipantSession) => string, minUpdates: number) => [
  handler(advertise, (_request, session) =>
    Effect.gen(function*() {
      const existing = session.memory.get(`${CHANNEL}/ad`) as typeof advertise.reply.Type | undefined
      if (existing) return existing
      const { channel, advertisement } = yield* Channel.advertise(session, 0)
      session.memory.set(CHANNEL, channel)
      session.memory.set(`${CHANNEL}/ad`, advertisement)
      return advertisement
    })),

  handler(keys, ({ keyHolder, advertisements }, session) =>
    Effect.gen(function*() {
      const name = keys.name
      if (keyHolder !== session.self) return yield* fail(session, name, "NotKeyHolder", `${keyHolder} holds the keys`)
      const { channel, ads } = yield* peers(session, name, keyHolder, expectedKeyHolder(session), advertisements)
      const ckks = yield* Ckks
      const k = (session.memory.get(KEYS) as RequesterKeys | undefined) ?? (yield* Effect.mapError(ckks.generateKeys(), ckksFailure(session, name)))
      session.memory.set(KEYS, k)
      const payload = encodeKeys(k)
      const boxes: Array<{ to: string; box: Uint8Array }> = []
      for (const to of session.participants) {
        if (to === session.self) continue
        boxes.push({ to, box: yield* Channel.seal(session, name, channel.secretKey, to, ads.get(to)!.channelPublicKey, name, payload) })
      }
      return { parameters: k.parameters, boxes }
    })),

  handler(install, ({ keyHolder, advertisements, box }, session) =>
    Effect.gen(function*() {
      const name = install.name
      const { channel, ads } = yield* peers(session, name, keyHolder, expectedKeyHolder(session), advertisements)
      const payload = yield* Channel.open(session, name, channel.secretKey, keyHolder, ads.get(keyHolder)!.channelPublicKey, keys.name, box)
      const k = yield* Effect.try({ try: () => decodeKeys(payload), catch: (e) => fail(session, name, "MalformedKeys", String(e)) })
      session.memory.set(KEYS, k)
      return { ready: true as const }
    })),

  handler(decrypt, ({ aggregationId, parameters, sum }, session) =>
    Effect.gen(function*() {
      const name = decrypt.name
      const digest = bytesToHex(sha256(Uint8Array.from(sum.flatMap((c) => [...sha256(c)]))))
      const done = session.memory.get(digestKey(aggregationId)) as string | undefined
      if (done !== undefined) {
        // A retry of the same sum gets the same report; a second, different sum could isolate one update. A round
        // the run has moved on from is over: its report is no longer kept, and it is not decrypted again.
        const reply = done === digest ? latest<typeof decrypt.reply.Type>(session, DECRYPTED, aggregationId) : undefined
        if (reply) return reply
        return yield* fail(session, name, "SecondSum", `${aggregationId} was already decrypted once`)
      }
      const ckks = yield* Ckks
      const k = yield* sharedKeys(session, name)
      const values = yield* Effect.mapError(ckks.decryptVector(k, sum, parameters + 5), ckksFailure(session, name))
      const [n, lossSum, correct, samples, count] = Array.from(values.subarray(parameters))
      const contributors = Math.round(count!)
      if (contributors < minUpdates) return yield* fail(session, name, "TooFewContributors", `the sum holds ${contributors} contributions, ${minUpdates} needed`)
      const trainSamples = Math.round(n!)
      let weights = new Float32Array(0)
      if (parameters > 0) {
        const global = latest<Float32Array>(session, GLOBAL, aggregationId)
        if (!global || global.length !== parameters) return yield* fail(session, name, "MissingState", `no global model of ${aggregationId} in memory`)
        if (trainSamples <= 0) return yield* fail(session, name, "NoSamples", `${aggregationId}: the contributors report no training rows`)
        weights = Float32Array.from(global, (w, i) => w + values[i]! / n!)
        const problem = updateProblem(weights, parameters)
        if (problem) return yield* fail(session, name, "Diverged", `${aggregationId}: aggregated model ${problem}`)
      }
      const reply = {
        weights: float32ToBytes(weights),
        trainSamples,
        validation: { lossSum: lossSum!, correct: Math.round(correct!), samples: Math.round(samples!) },
        contributors
      }
      session.memory.set(digestKey(aggregationId), digest)
      keepLatest(session, DECRYPTED, aggregationId, reply)
      return reply
    }))
]

// ---------- coordinator ----------

const protocolError = (reason: string, detail: string) => new ProtocolError({ protocol: kind, reason, detail })

export interface Setup {
  readonly ckks: CkksApi
  /** Public CKKS parameters: enough to add ciphertexts, not to decrypt them. */
  readonly parameters: Uint8Array
}

/** Distributes the key (all parties take part, as in `fl.prepare`). */
export const setup = (session: CoordinatorSession, keyHolder: string, timeoutMs: number | undefined) =>
  Effect.gen(function*() {
    const ckks = yield* Ckks
    const parties = session.participants
    if (!parties.includes(keyHolder)) return yield* protocolError("UnknownKeyHolder", `${keyHolder} is not a party of the task`)
    const all = parties.length
    const ads = yield* session.round(advertise, new Map(parties.map((p) => [p, { keyHolder }] as const)), { minReplies: all, timeoutMs })
    const advertisements = parties.map((participant) => ({ participant, ...ads.get(participant)! }))
    const made = (yield* session.round(keys, new Map([[keyHolder, { keyHolder, advertisements }]]), { minReplies: 1, timeoutMs })).get(keyHolder)!
    const others = parties.filter((p) => p !== keyHolder)
    const boxes = new Map(made.boxes.map((b) => [b.to, b.box] as const))
    const missing = others.find((p) => !boxes.has(p))
    if (missing !== undefined) return yield* protocolError("MissingKeyBox", `the key holder sealed no key for ${missing}`)
    yield* session.round(install, new Map(others.map((p) => [p, { keyHolder, advertisements, box: boxes.get(p)! }] as const)), { minReplies: others.length, timeoutMs })
    return { ckks, parameters: made.parameters } satisfies Setup
  })

/**
 * Adds the contributors' ciphertexts and has them decrypt the sum; a contribution SEAL cannot add (wrong
 * parameters, malformed) is left out like a dropout.
 */
export const aggregate = (
  session: CoordinatorSession,
  ckks: Setup,
  aggregationId: string,
  parameters: number,
  encrypted: ReadonlyMap<string, ReadonlyArray<Uint8Array> | undefined>,
  minUpdates: number,
  timeoutMs: number | undefined
) =>
  Effect.gen(function*() {
    const rejected: Array<{ participant: string; reason: string }> = []
    const usable: Array<[string, ReadonlyArray<Uint8Array>]> = []
    for (const [participant, cts] of encrypted) {
      if (cts === undefined || cts.length !== ciphertextsFor(parameters)) {
        rejected.push({ participant, reason: `WrongShape: ${cts?.length ?? 0} ciphertexts, ${ciphertextsFor(parameters)} expected` })
      } else usable.push([participant, cts])
    }
    let contributors = usable.map(([p]) => p)
    const whole = yield* Effect.result(ckks.ckks.addCiphertexts(ckks.parameters, usable.map(([, c]) => c)))
    let sum: ReadonlyArray<Uint8Array> | undefined = whole._tag === "Success" ? whole.success : undefined
    if (sum === undefined) {
      // Find the offenders one by one; the rest still make a sum.
      contributors = []
      for (const [participant, cts] of usable) {
        const next: Result.Result<Array<Uint8Array>, CkksError> = yield* Effect.result(ckks.ckks.addCiphertexts(ckks.parameters, sum ? [sum, cts] : [cts]))
        if (next._tag === "Failure") rejected.push({ participant, reason: `Malformed: ${next.failure.message}` })
        else {
          sum = next.success
          contributors.push(participant)
        }
      }
    }
    if (contributors.length < minUpdates || sum === undefined) {
      return yield* protocolError("TooFewUpdates", `${aggregationId}: ${contributors.length} usable updates, ${minUpdates} needed (${rejected.map((r) => `${r.participant}: ${r.reason}`).join("; ")})`)
    }
    const request = { aggregationId, parameters, sum }
    const reports = yield* session.round(decrypt, new Map(contributors.map((p) => [p, request] as const)), { minReplies: 1, timeoutMs })
    const [first, ...rest] = [...reports.values()]
    const canonical = (r: typeof decrypt.reply.Type) => JSON.stringify([bytesToHex(r.weights), r.trainSamples, r.validation, r.contributors])
    if (rest.some((r) => canonical(r) !== canonical(first!))) {
      return yield* protocolError("InconsistentReports", `${aggregationId}: contributors decrypted the same sum to different models`)
    }
    if (first!.contributors !== contributors.length) {
      return yield* protocolError("InconsistentReports", `${aggregationId}: the sum counts ${first!.contributors} contributions, ${contributors.length} were added`)
    }
    return {
      model: bytesToFloat32(first!.weights),
      trainSamples: first!.trainSamples,
      validation: first!.validation,
      contributors,
      rejected
    }
  })
