/**
 * Participant side of secure aggregation (the protocol and its security argument: `server.ts`).
 *
 * Secrets stay in `session.memory` (one attempt): the self-mask seed b_u and the shares received under
 * `secagg/<aggregationId>`, the X25519 pairs under `secagg/keys` (reused across aggregations only under
 * server.ts "Key reuse"), the Ed25519 signing key under `secagg/signing-key`. Each stage is idempotent, so a
 * retried request gets the same answer rather than fresh randomness that could let the coordinator difference
 * two masked inputs — except that the masked input is not kept past this participant's unmask reply (a megabyte
 * vector per aggregation for the rest of the attempt otherwise): a masked-input request after it is refused
 * ("AlreadyUnmasked"), never answered with a recomputed vector. A caller that knows an aggregation is over (the
 * coordinator has moved on: federated learning's next round) `settle`s it: its state is dropped — a participant
 * reported dropped after masking never gets an unmask request, so its masked input would otherwise stay for the
 * whole attempt, one per aggregation — and any later request of it is refused ("Settled").
 */
import { bytesToHex, concatBytes, randomBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Ecies from "../../crypto/Ecies.ts"
import * as Ed25519 from "../../crypto/Ed25519.ts"
import * as KeyAgreement from "../../crypto/KeyAgreement.ts"
import * as Prg from "../../crypto/Prg.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"
import * as Shamir from "../../crypto/Shamir.ts"
import type { ParticipantSession, StageHandler } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import * as Advertisements from "./Advertisements.ts"
import * as Neighbourhood from "./Neighbourhood.ts"
import * as RingVector from "./RingVector.ts"
import * as Spec from "./spec.ts"

/** What the input callback learns about the aggregation it contributes to. */
export interface InputContext {
  readonly aggregationId: string
  readonly vectorLength: number
  readonly bits: number
}

/**
 * This participant's vector: residues mod 2^bits (wrap signed values with `FixedPoint.wrap`), or a `RingVector`
 * of the aggregation's length and bits (no bigint per element; it is copied, never masked in place).
 */
export type Input<R> = (
  session: ParticipantSession,
  context: InputContext
) => Effect.Effect<ReadonlyArray<bigint> | RingVector.RingVector, ParticipantFailure, R>

interface Peer {
  readonly channelPublicKey: Uint8Array
  readonly maskPublicKey: Uint8Array
}

/**
 * The X25519 pairs of this participant, reused by its next aggregation in the attempt only while the reuse rule
 * of `server.ts` ("Key reuse") holds: every aggregation that advertised them named this participant a
 * contributor in its unmask request, so no honest peer has revealed a share of the mask secret key.
 */
interface KeyEpoch {
  readonly channel: KeyAgreement.KeyPair
  readonly mask: KeyAgreement.KeyPair
  /** Aggregations that advertised these pairs and have not (yet) named this participant a contributor. */
  readonly unconfirmed: Set<string>
}

const KEYS = "secagg/keys"
/** Mask public keys (hex) of peers whose mask-key share this participant revealed: never accepted again. */
const REVEALED_MASK_KEYS = "secagg/revealed-mask-keys"

const revealedMaskKeys = (session: ParticipantSession): Set<string> => {
  let set = session.memory.get(REVEALED_MASK_KEYS) as Set<string> | undefined
  if (set === undefined) session.memory.set(REVEALED_MASK_KEYS, (set = new Set()))
  return set
}

interface State {
  readonly parameters: Spec.Parameters
  readonly keys: KeyEpoch
  readonly channel: KeyAgreement.KeyPair
  readonly mask: KeyAgreement.KeyPair
  readonly advertisement: Spec.AdvertiseKeysReply
  /** This participant's neighbours on the aggregation's graph (every other member on the complete graph). */
  readonly adjacent: ReadonlySet<string>
  /** U1: every cohort member advertised in ShareKeys. */
  advertised?: ReadonlySet<string>
  /** The members of U1 whose keys this participant uses — itself and its neighbours — with verified keys. */
  peers?: ReadonlyMap<string, Peer>
  /** Channel key with each peer, derived in ShareKeys and used again to open its shares in MaskedInput. */
  channelKeys?: Map<string, Uint8Array>
  shareKeysReply?: Spec.ShareKeysReply
  selfMaskSeed?: Uint8Array
  /** owner → [b-share, s-share] held by this participant (its own included). */
  sharesHeld?: Map<string, readonly [Uint8Array, Uint8Array]>
  keyHolders?: ReadonlyArray<string>
  /** The masked input sent, kept for a retried request until this participant answers an unmask request. */
  maskedInputReply?: Spec.MaskedInputReply
  /**
   * Set by the first unmask reply, which drops `maskedInputReply`: the vector (megabytes for a model update) is not
   * held for the rest of the attempt, one per aggregation, and a masked-input request after unmasking began is
   * refused rather than answered again.
   */
  maskedInputReleased?: true
  /** Which secret of each peer this participant has helped reveal: never both. */
  readonly revealed: Map<string, "selfMask" | "maskKey">
}

const memoryKey = (aggregationId: string) => `secagg/${aggregationId}`

/**
 * What a settled aggregation's state is replaced with: a marker, not nothing, so a late advertise request of it
 * is refused instead of starting it again with fresh keys and fresh randomness (a second masked input of the
 * same update).
 */
const SETTLED = "settled"

/**
 * The caller knows aggregation `aggregationId` is over — the coordinator will ask nothing more of it — and this
 * participant drops what it holds of it: keys, shares and the masked input kept for a retry (a vector of the
 * aggregation's length, which nothing else releases when this participant was reported dropped after masking).
 * Later requests of it are refused ("Settled"). The attempt's key pairs and their reuse rule are untouched.
 */
export const settle = (session: Pick<ParticipantSession, "memory">, aggregationId: string): void => {
  if (session.memory.has(memoryKey(aggregationId))) session.memory.set(memoryKey(aggregationId), SETTLED)
}

const fail = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  Effect.fail(new ParticipantFailure({ participant: session.self, stage, code, detail }))

const settled = (session: ParticipantSession, stage: string, aggregationId: string) =>
  fail(session, stage, "Settled", `aggregation ${aggregationId} is over in attempt ${session.attempt}`)

const loadState = (session: ParticipantSession, stage: string, aggregationId: string) => {
  const state = session.memory.get(memoryKey(aggregationId)) as State | typeof SETTLED | undefined
  return state === undefined
    ? fail(session, stage, "MissingState", `no key material for aggregation ${aggregationId} in attempt ${session.attempt}`)
    : state === SETTLED
    ? settled(session, stage, aggregationId)
    : Effect.succeed(state)
}

const sameParameters = (a: Spec.Parameters, b: Spec.Parameters) =>
  a.aggregationId === b.aggregationId && a.threshold === b.threshold && a.vectorLength === b.vectorLength &&
  a.bits === b.bits && a.neighbours === b.neighbours && a.shareThreshold === b.shareThreshold && a.prg === b.prg && a.cohort.length === b.cohort.length && a.cohort.every((p, i) => p === b.cohort[i])

const advertise = handler(Spec.advertiseKeys, ({ parameters }, session) =>
  Effect.gen(function*() {
    const stage = Spec.advertiseKeys.name
    const existing = session.memory.get(memoryKey(parameters.aggregationId)) as State | typeof SETTLED | undefined
    if (existing === SETTLED) return yield* settled(session, stage, parameters.aggregationId)
    if (existing !== undefined) {
      if (sameParameters(existing.parameters, parameters)) return existing.advertisement
      return yield* fail(session, stage, "ConflictingParameters", `aggregation ${parameters.aggregationId} already started with other parameters`)
    }
    const cohort = parameters.cohort
    if (!cohort.includes(session.self)) return yield* fail(session, stage, "NotInCohort", `${session.self} is not in the cohort`)
    if (new Set(cohort).size !== cohort.length) return yield* fail(session, stage, "InvalidParameters", "cohort has duplicates")
    const outsider = cohort.find((p) => !session.participants.includes(p))
    if (outsider !== undefined) return yield* fail(session, stage, "InvalidParameters", `${outsider} is not a participant of this task`)
    const problem = Spec.thresholdProblem(parameters.threshold, cohort.length)
    if (problem !== undefined) return yield* fail(session, stage, "InvalidParameters", problem)
    if (cohort.length > Shamir.MAX_SHARES) return yield* fail(session, stage, "InvalidParameters", `at most ${Shamir.MAX_SHARES} participants`)
    if (parameters.bits < 1 || parameters.bits > Prg.MAX_BITS) {
      return yield* fail(session, stage, "InvalidParameters", `bits must be in [1, ${Prg.MAX_BITS}], got ${parameters.bits}`)
    }
    if (Spec.prgOf(parameters) === undefined) {
      return yield* fail(session, stage, "UnsupportedPrg", `PRG ${JSON.stringify(parameters.prg)} is not one of ${Prg.NAMES.join(", ")}`)
    }
    const sparse = Spec.sparseOf(parameters)
    const sparseProblem = sparse && Neighbourhood.problem(sparse, cohort.length)
    if (sparseProblem) return yield* fail(session, stage, "InvalidParameters", sparseProblem)
    const adjacent = Neighbourhood.graph(session, parameters.aggregationId, cohort, sparse).get(session.self)!

    const own = yield* Advertisements.identity(session)
    const keyAgreement = yield* KeyAgreement.KeyAgreement
    // server.ts "Key reuse": the previous pairs only if every aggregation that used them confirmed this
    // participant as a contributor; otherwise (a dropout, an abort, one still running) fresh ones.
    let keys = session.memory.get(KEYS) as KeyEpoch | undefined
    if (keys === undefined || keys.unconfirmed.size > 0) {
      keys = { channel: keyAgreement.generateKeyPair(), mask: keyAgreement.generateKeyPair(), unconfirmed: new Set() }
      session.memory.set(KEYS, keys)
    }
    keys.unconfirmed.add(parameters.aggregationId)
    const { channel, mask } = keys
    const advertisement = Advertisements.sign(yield* Ed25519.Ed25519, session, own, parameters, channel.publicKey, mask.publicKey)
    const state: State = { parameters, keys, channel, mask, advertisement, adjacent, revealed: new Map() }
    session.memory.set(memoryKey(parameters.aggregationId), state)
    return advertisement
  })
)

const share = handler(Spec.shareKeys, ({ aggregationId, advertisements }, session) =>
  Effect.gen(function*() {
    const stage = Spec.shareKeys.name
    const state = yield* loadState(session, stage, aggregationId)
    if (state.shareKeysReply !== undefined) return state.shareKeysReply
    const { parameters } = state
    const advertised = new Set<string>()
    const peers = new Map<string, Peer>()
    const seenKeys = new Set<string>()
    const verified = Advertisements.participantCache(session)
    const revealedKeys = revealedMaskKeys(session)
    const ed25519 = yield* Ed25519.Ed25519
    const keyAgreement = yield* KeyAgreement.KeyAgreement
    for (const ad of advertisements) {
      if (!parameters.cohort.includes(ad.participant)) {
        return yield* fail(session, stage, "ForgedAdvertisement", `${ad.participant} is not in the cohort`)
      }
      if (advertised.has(ad.participant)) return yield* fail(session, stage, "ForgedAdvertisement", `two advertisements for ${ad.participant}`)
      advertised.add(ad.participant)
      // SecAgg+ (Neighbourhood.ts; Bell et al. give a client only its neighbours' keys): the keys of a member
      // that is not a neighbour are never used here — no share goes to it, no mask is shared with it, no share of
      // its secrets is held — so they are not checked (n − 1 − k signature checks saved per aggregation); its name
      // still counts towards U1. On the complete graph every peer is a neighbour and every advertisement is checked.
      if (ad.participant !== session.self && !state.adjacent.has(ad.participant)) {
        // Its certificate is still checked (once per attempt, cached): each aggregation draws another graph, so a
        // member that is no neighbour now likely is one in a later round, which then needs no secp256k1 recovery.
        // The attempt pays for each certificate once, as before; the outcome here changes nothing.
        Advertisements.certified(session, ad, verified)
        continue
      }
      // Its own advertisement needs no signature check: its keys are compared byte for byte with the ones it
      // generated, below.
      if (ad.participant !== session.self && !Advertisements.verify(ed25519, session, parameters, ad, verified)) {
        return yield* fail(session, stage, "ForgedAdvertisement", `the keys advertised for ${ad.participant} are not signed by it`)
      }
      // server.ts "Key reuse": a mask key whose secret this participant helped reconstruct stays burnt.
      if (ad.participant !== session.self && revealedKeys.has(bytesToHex(ad.maskPublicKey))) {
        return yield* fail(session, stage, "ForgedAdvertisement", `${ad.participant} advertises a mask key whose secret was revealed`)
      }
      // Bonawitz et al. §4: all advertised keys distinct, so no one can reuse (or mirror) another's key.
      for (const key of [ad.channelPublicKey, ad.maskPublicKey]) {
        const hex = bytesToHex(key)
        if (seenKeys.has(hex)) return yield* fail(session, stage, "ForgedAdvertisement", `a public key of ${ad.participant} is reused`)
        seenKeys.add(hex)
      }
      peers.set(ad.participant, { channelPublicKey: ad.channelPublicKey, maskPublicKey: ad.maskPublicKey })
    }
    const own = peers.get(session.self)
    if (own === undefined || !bytesEqual(own.channelPublicKey, state.channel.publicKey) || !bytesEqual(own.maskPublicKey, state.mask.publicKey)) {
      return yield* fail(session, stage, "ForgedAdvertisement", "this participant's own keys are missing or replaced")
    }
    if (advertised.size < parameters.threshold) {
      return yield* fail(session, stage, "TooManyDropouts", `needed ${parameters.threshold} key holders, available ${advertised.size}`)
    }
    // Shares go to the neighbours that advertised keys, and this participant keeps one (Neighbourhood.ts).
    const holders = parameters.cohort.filter((p) => peers.has(p) && (p === session.self || state.adjacent.has(p)))
    const threshold = Spec.shamirThreshold(parameters)
    if (holders.length < threshold) {
      return yield* fail(session, stage, "TooManyDropouts", `needed ${threshold} share holders among the neighbours, available ${holders.length}`)
    }
    const selfMaskSeed = randomBytes(Spec.SEED_BYTES)
    const toFailure = (error: Shamir.ShamirError) =>
      new ParticipantFailure({ participant: session.self, stage, code: "SharingFailed", detail: error.message })
    const selfMaskShares = yield* Effect.mapError(Shamir.split(selfMaskSeed, holders, threshold), toFailure)
    const maskKeyShares = yield* Effect.mapError(Shamir.split(state.mask.secretKey, holders, threshold), toFailure)

    const sharesHeld = new Map<string, readonly [Uint8Array, Uint8Array]>()
    const encryptedShares: Array<{ recipient: string; ciphertext: Uint8Array }> = []
    const channelKeys = new Map<string, Uint8Array>()
    for (let i = 0; i < holders.length; i++) {
      const recipient = holders[i]!
      const pair = [selfMaskShares[i]!.bytes, maskKeyShares[i]!.bytes] as const
      if (recipient === session.self) {
        sharesHeld.set(session.self, pair)
        continue
      }
      const ciphertext = yield* Effect.try({
        try: () => {
          const key = keyAgreement.agree(state.channel.secretKey, peers.get(recipient)!.channelPublicKey, Spec.channelContext(session, aggregationId))
          channelKeys.set(recipient, key)
          const associatedData = Spec.shareAssociatedData(session, aggregationId, session.self, recipient)
          return Ecies.seal(key, concatBytes(pair[0], pair[1]), associatedData)
        },
        catch: (error) =>
          new ParticipantFailure({ participant: session.self, stage, code: "KeyAgreementFailed", detail: `${recipient}: ${String(error)}` })
      })
      encryptedShares.push({ recipient, ciphertext })
    }
    const reply = {
      selfMaskCommitment: Spec.selfMaskCommitment(session, aggregationId, session.self, selfMaskSeed),
      encryptedShares
    }
    state.advertised = advertised
    state.peers = peers
    state.channelKeys = channelKeys
    state.selfMaskSeed = selfMaskSeed
    state.sharesHeld = sharesHeld
    state.shareKeysReply = reply
    return reply
  })
)

const masked = <R>(input: Input<R>) =>
  handler(Spec.maskedInput, ({ aggregationId, keyHolders, encryptedShares }, session) =>
    Effect.gen(function*() {
      const stage = Spec.maskedInput.name
      const state = yield* loadState(session, stage, aggregationId)
      if (state.maskedInputReply !== undefined) return state.maskedInputReply
      if (state.maskedInputReleased) {
        return yield* fail(session, stage, "AlreadyUnmasked", `the masked input of ${aggregationId} was sent and unmasking has begun`)
      }
      const { parameters, advertised, peers, sharesHeld, selfMaskSeed } = state
      if (advertised === undefined || peers === undefined || sharesHeld === undefined || selfMaskSeed === undefined) {
        return yield* fail(session, stage, "MissingState", "keys were never shared in this attempt")
      }
      const holders = new Set(keyHolders)
      if (holders.size !== keyHolders.length || !holders.has(session.self)) {
        return yield* fail(session, stage, "InvalidRequest", "key holders must be distinct and include this participant")
      }
      const stranger = keyHolders.find((p) => !advertised.has(p))
      if (stranger !== undefined) return yield* fail(session, stage, "InvalidRequest", `${stranger} never advertised keys`)
      if (holders.size < parameters.threshold) {
        return yield* fail(session, stage, "TooManyDropouts", `needed ${parameters.threshold} key holders, available ${holders.size}`)
      }
      // The key holders this participant shares masks with: its neighbours among them (everyone, complete graph),
      // whose keys ShareKeys checked.
      const linked = keyHolders.filter((p) => p !== session.self && state.adjacent.has(p))
      const senders = new Set(encryptedShares.map((s) => s.sender))
      if (senders.size !== encryptedShares.length || senders.size !== linked.length || linked.some((p) => !senders.has(p))) {
        return yield* fail(session, stage, "InvalidRequest", "expected exactly one share pair from every neighbouring key holder")
      }
      const keyAgreement = yield* KeyAgreement.KeyAgreement
      for (const { sender, ciphertext } of encryptedShares) {
        const plaintext = yield* Effect.try({
          try: () => {
            const key = state.channelKeys?.get(sender) ??
              keyAgreement.agree(state.channel.secretKey, peers.get(sender)!.channelPublicKey, Spec.channelContext(session, aggregationId))
            return Ecies.open(key, ciphertext, Spec.shareAssociatedData(session, aggregationId, sender, session.self))
          },
          catch: (error) =>
            new ParticipantFailure({ participant: session.self, stage, code: "UndecryptableShares", detail: `from ${sender}: ${String(error)}` })
        })
        if (plaintext.length !== 2 * Spec.SHARE_BYTES) {
          return yield* fail(session, stage, "UndecryptableShares", `from ${sender}: ${plaintext.length} bytes`)
        }
        sharesHeld.set(sender, [plaintext.slice(0, Spec.SHARE_BYTES), plaintext.slice(Spec.SHARE_BYTES)])
      }

      const values = yield* input(session, { aggregationId, vectorLength: parameters.vectorLength, bits: parameters.bits })
      if (values.length !== parameters.vectorLength) {
        return yield* fail(session, stage, "InvalidInput", `expected ${parameters.vectorLength} values, got ${values.length}`)
      }
      if (!Array.isArray(values) && (values as RingVector.RingVector).bits !== parameters.bits) {
        return yield* fail(session, stage, "InvalidInput", `expected a vector mod 2^${parameters.bits}, got mod 2^${(values as RingVector.RingVector).bits}`)
      }
      const vector = yield* Effect.try({
        try: () => Array.isArray(values)
          ? RingVector.fromBigInts(values as ReadonlyArray<bigint>, parameters.bits)
          // Re-validated as on the wire so a caller's non-canonical limbs cannot slip into y_u; copied, never masked in place.
          : RingVector.checkedCopy(values as RingVector.RingVector, parameters.vectorLength, parameters.bits),
        catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidInput", detail: String(error) })
      })
      // y_u = x_u + PRG(b_u) + Σ_{v ∈ U2 ∩ N(u)} ±PRG(s_uv)  (mod 2^bits), N(u) its neighbours
      const masks: Array<RingVector.Mask> = [{ seed: selfMaskSeed, label: Spec.SELF_MASK_LABEL, sign: 1 }]
      for (const peer of linked) {
        const seed = yield* Effect.try({
          try: () => keyAgreement.agree(state.mask.secretKey, peers.get(peer)!.maskPublicKey, Spec.maskContext(session, aggregationId)),
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "KeyAgreementFailed", detail: `${peer}: ${String(error)}` })
        })
        masks.push({ seed, label: Spec.PAIR_MASK_LABEL, sign: Spec.pairSign(parameters.cohort, session.self, peer) })
      }
      // prgOf is defined here: advertise refused parameters naming an unknown PRG, and these are the advertised ones.
      yield* RingVector.addMasksEffect(vector, masks, yield* PrgKernel.PrgKernel, Spec.prgOf(parameters)!).pipe(
        Effect.mapError((error) => new ParticipantFailure({ participant: session.self, stage, code: "PrgFailed", detail: error.message }))
      )
      // `vector` is this stage's own copy and never changes again: sent without one more copy.
      const reply = { maskedInput: RingVector.ownBytes(vector) }
      state.keyHolders = keyHolders
      state.maskedInputReply = reply
      return reply
    })
  )

const reveal = handler(Spec.unmask, ({ aggregationId, contributors }, session) =>
  Effect.gen(function*() {
    const stage = Spec.unmask.name
    const state = yield* loadState(session, stage, aggregationId)
    const { parameters, keyHolders, sharesHeld } = state
    if (keyHolders === undefined || sharesHeld === undefined || (state.maskedInputReply === undefined && !state.maskedInputReleased)) {
      return yield* fail(session, stage, "MissingState", "no masked input was sent in this attempt")
    }
    const survivors = new Set(contributors)
    if (survivors.size !== contributors.length || !survivors.has(session.self)) {
      return yield* fail(session, stage, "InvalidRequest", "contributors must be distinct and include this participant")
    }
    const outsider = contributors.find((p) => !keyHolders.includes(p))
    if (outsider !== undefined) return yield* fail(session, stage, "InvalidRequest", `${outsider} held no keys`)
    // An honest participant refuses to help unmask fewer than t contributors (Bonawitz et al. round 4).
    if (survivors.size < parameters.threshold) {
      return yield* fail(session, stage, "TooManyDropouts", `needed ${parameters.threshold} contributors, available ${survivors.size}`)
    }
    // Shares are held only of itself and its neighbours (all key holders on the complete graph).
    const wanted = keyHolders.filter((p) => p === session.self || state.adjacent.has(p)).map((p) => [p, survivors.has(p) ? "selfMask" : "maskKey"] as const)
    // Revealing both b_v and s_v for one v would unmask v's input: refuse any request that contradicts an earlier one.
    const conflict = wanted.find(([p, kind]) => (state.revealed.get(p) ?? kind) !== kind)
    if (conflict !== undefined) {
      return yield* fail(session, stage, "ConflictingUnmaskRequest", `${conflict[0]} was already reported as ${state.revealed.get(conflict[0]) === "selfMask" ? "contributing" : "dropped"}`)
    }
    const selfMaskShares: Array<{ owner: string; share: Uint8Array }> = []
    const maskKeyShares: Array<{ owner: string; share: Uint8Array }> = []
    const revealedKeys = revealedMaskKeys(session)
    for (const [owner, kind] of wanted) {
      const pair = sharesHeld.get(owner)
      if (pair === undefined) return yield* fail(session, stage, "MissingState", `no shares of ${owner}`)
      state.revealed.set(owner, kind)
      if (kind === "maskKey" && owner !== session.self) revealedKeys.add(bytesToHex(state.peers!.get(owner)!.maskPublicKey))
      if (kind === "selfMask") selfMaskShares.push({ owner, share: pair[0] })
      else maskKeyShares.push({ owner, share: pair[1] })
    }
    // Named a contributor: its mask secret key is not reconstructed in this aggregation (server.ts "Key reuse").
    state.keys.unconfirmed.delete(aggregationId)
    // The coordinator has every masked input it will use: this one need not outlive the stage (State doc).
    state.maskedInputReply = undefined
    state.maskedInputReleased = true
    return { selfMaskShares, maskKeyShares }
  })
)

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i])

/**
 * The participant's handlers for the four secure-aggregation stages. `input` is called once per aggregation,
 * in the masked-input stage, after every key check passed.
 */
export const secureAggregationHandlers = <R = never>(input: Input<R>): readonly [
  StageHandler<typeof Spec.AdvertiseKeysRequest.Type, Spec.AdvertiseKeysReply, never>,
  StageHandler<typeof Spec.ShareKeysRequest.Type, Spec.ShareKeysReply, never>,
  StageHandler<typeof Spec.MaskedInputRequest.Type, Spec.MaskedInputReply, R>,
  StageHandler<typeof Spec.UnmaskRequest.Type, Spec.UnmaskReply, never>
] => [advertise, share, masked(input), reveal]
