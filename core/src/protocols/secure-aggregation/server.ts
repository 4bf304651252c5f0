/**
 * Secure aggregation, coordinator side: the sum of participants' vectors mod 2^bits, without the coordinator
 * seeing any single vector. Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine
 * Learning" (CCS 2017), semi-honest variant with dropout recovery; the zero-sum pairwise masks and
 * Shamir-shared seeds of PROTOCOLS.md §5.4 Mode A (also the "adds zero-sum pairwise masks" option of §3 item 3).
 *
 * Stages (spec.ts; U0 ⊇ U1 ⊇ U2 ⊇ U3 are the participants still answering):
 *  0. advertise-keys  each u ∈ U0 draws two X25519 pairs — (c_u^PK, c_u^SK) for channels, (s_u^PK, s_u^SK) for
 *     masks — or reuses its previous ones under the rule below, and signs (task, attempt, parameters, c_u^PK,
 *     s_u^PK) with its signing key σ_u: an Ed25519 key drawn once per task attempt and certified once by u's
 *     chain account (EIP-191 over task, attempt, u, σ_u^PK; `Advertisements.ts`).
 *  1. share-keys      every u ∈ U1 gets U1's advertisements and verifies each against the advertiser's id (a
 *     checksummed address): the certificate recovers to that address (checked once per peer and attempt, then
 *     cached) and the advertisement verifies under the certified σ^PK, so the coordinator cannot substitute keys
 *     it knows — it would need u's account key or σ_u^SK, which never leaves u's memory. u draws the
 *     self-mask seed b_u, Shamir-shares b_u and s_u^SK t-of-|U1| over U1, and encrypts each pair of shares
 *     to its holder v with AES-256-GCM under HKDF(X25519(c_u^SK, c_v^PK)), associated data naming task,
 *     sender and recipient. It also sends H(b_u) so the coordinator can check reconstruction.
 *  2. masked-input    every v ∈ U2 gets U2 and the share pairs addressed to it, and returns
 *        y_v = x_v + PRG(b_v) + Σ_{w ∈ U2∖{v}} ±PRG(s_vw)   (mod 2^bits),  s_vw = HKDF(X25519(s_v^SK, s_w^PK)),
 *     with + when v precedes w in the cohort and − otherwise, so each pair's masks cancel in a sum.
 *  3. unmask          every v ∈ U3 (masked input received) gets U3 and returns its shares of b_w for w ∈ U3
 *     and of s_w^SK for w ∈ U2∖U3 (never both kinds for one w, across retries too), and refuses when |U3| < t.
 *     The coordinator reconstructs, checks b_w against H(b_w) and s_w^SK against s_w^PK, and outputs
 *        Σ_{v∈U3} y_v − Σ_{v∈U3} PRG(b_v) − Σ_{w∈U2∖U3} Σ_{v∈U3} ±PRG(s_vw)  =  Σ_{v∈U3} x_v.
 *
 * Key reuse (one task attempt runs one aggregation per training round): u may advertise the same X25519 pairs
 * again only if every earlier aggregation that used them named u a contributor (u ∈ U3) in its unmask request;
 * after any other ending — u's masked input lost, an abort, an aggregation still open — u draws fresh pairs
 * (client.ts, `KeyEpoch`). Why this is enough (semi-honest coordinator, as below): s_u^SK is reconstructed only
 * for u ∈ U2∖U3, i.e. only when u gets no such unmask request, so a reused s_u^SK has never been revealed.
 * Every aggregation still gets fresh masks: s_uv and channel keys are HKDF outputs whose info names the
 * aggregation (`Spec.maskContext`, `Spec.channelContext`), b_u is drawn per aggregation, and s_u^SK is
 * Shamir-shared afresh (new random polynomial) over each aggregation's U1 — t−1 shares of each of several
 * independent sharings reveal nothing. Defense in depth against a coordinator that tells u it contributed while
 * telling peers it dropped (outside the model, see below): a peer that revealed a share of s_u^SK remembers s_u^PK
 * for the attempt and refuses any later advertisement of it ("ForgedAdvertisement"). Only the curve work is
 * saved (X25519 outputs are cached per key pair and peer by the host's `KeyAgreement` service); the protocol messages are
 * unchanged.
 *
 * Threshold and dropouts: t = n − d for a dropout tolerance d (default ⌊(n−1)/2⌋), and t must be a strict
 * majority of the cohort (participants enforce this too). Each stage needs t replies, so the result stays
 * exact with up to d participants lost at any point (before or after sending their masked input); with
 * more, the run fails with ProtocolError("TooManyDropouts", needed vs available).
 *
 * Sparse graph (SecAgg+, `Neighbourhood.ts`): with `neighbours` k < n − 1 every "all peers" above reads "its k
 * neighbours on the aggregation's graph": u checks the advertisements (signatures, distinct keys, burnt mask keys)
 * of its neighbours only — it never uses another member's keys; in Bell et al. a client receives only its
 * neighbours' —, b_u and s_u^SK are shared t_k-of-(k+1) over u and its neighbours,
 * y_u carries pairwise masks with its neighbours in U2 only, and the coordinator removes a dropped w's masks
 * from its neighbours in U3 only. Stages still need t replies; a node whose neighbourhood kept fewer than t_k
 * share holders ends the run with TooManyDropouts.
 *
 * Security (semi-honest, the setting of Bonawitz et al. Thm 6.2/6.3): the coordinator sees public keys, AEAD
 * ciphertexts under keys it cannot derive (channel keys need a c^SK), masked vectors and, at the end, b_v of
 * contributors and s_w^SK of those that dropped before contributing. For a contributor v it learns b_v but
 * never s_v^SK, so y_v − PRG(b_v) is still hidden by pairwise masks with every other contributor, which
 * are pseudorandom (the AES-128-CTR or ChaCha20 keystream, `Prg.ts`, under a key HKDF derives from an X25519
 * seed) and cancel only in the sum; for a dropped w it learns s_w^SK but no y_w. Honest participants never
 * reveal both b_w and s_w^SK, so the view is simulatable from Σ_{v∈U3} x_v and the sets U1…U3: the coordinator
 * learns the sum of the contributors' inputs, who contributed, vector length and ring size — nothing about any
 * single input. A coalition of the coordinator with fewer than t participants learns nothing more than the sum of
 * the honest contributors' inputs. Participants learn nothing about each other's inputs (they see only keys and
 * their own shares).
 * Leakage to note: with exactly one honest contributor in U3 beyond a colluding set, the sum is that input;
 * t > n/2 bounds how small U3 can be. Not covered: an actively malicious coordinator that tells different
 * participants different U3 sets (Bonawitz's consistency-check round and t > 2n/3 address that); the
 * per-participant `revealed` guard still prevents revealing both secrets of one peer to it.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Ed25519 from "../../crypto/Ed25519.ts"
import * as KeyAgreement from "../../crypto/KeyAgreement.ts"
import * as Prg from "../../crypto/Prg.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"
import * as Shamir from "../../crypto/Shamir.ts"
import type { CoordinatorSession, RoundError, SessionStateFailed, Stage } from "../Protocol.ts"
import { ParticipantFailure, ProtocolError } from "../Protocol.ts"
import * as Advertisements from "./Advertisements.ts"
import * as Neighbourhood from "./Neighbourhood.ts"
import * as RingVector from "./RingVector.ts"
import * as Spec from "./spec.ts"

export interface SecureAggregationOptions {
  /** The cohort U0, a subset of the session's participants (default: all of them, in task order). */
  readonly participants?: ReadonlyArray<string>
  /** Participants that may drop out, at any stage, with the result still exact. Default ⌊(n−1)/2⌋. */
  readonly dropoutTolerance?: number
  /** Shares needed to unmask; default n − dropoutTolerance. Must be a strict majority and ≤ n − dropoutTolerance. */
  readonly threshold?: number
  readonly vectorLength: number
  /** Ring Z_(2^bits); 1 ≤ bits ≤ 1024 (e.g. 32 or 64 for model updates, 128 for statistics). */
  readonly bits: number
  /** Per-stage wait for stragglers; participants not answering in time count as dropped out. */
  readonly timeoutMs?: number
  /** Distinguishes aggregations within one task (e.g. `round-7`); default "secagg". */
  readonly aggregationId?: string
  /**
   * SecAgg+ (`Neighbourhood.ts`): k, the neighbours each participant masks with; ≥ n − 1 (or a default rule that
   * finds no smaller k) means the complete graph. Default `Neighbourhood.plusParameters`.
   */
  readonly neighbours?: number
  /** SecAgg+ only: t_k among a participant and its k neighbours; default a majority of them (k/2 + 1). */
  readonly shareThreshold?: number
  /** The masks' PRG, signed into the parameters; default `Prg.DEFAULT_NAME` (AES-128-CTR). */
  readonly prg?: Prg.Name
}

export interface SecureAggregationResult {
  /** Σ of the contributors' inputs, each element mod 2^bits (converted from `vector` on first read). */
  readonly sum: ReadonlyArray<bigint>
  /** The same sum as limbs: read it with `RingVector.toSignedNumbers` to skip a bigint per element. */
  readonly vector: RingVector.RingVector
  /** U3: whose inputs the sum contains, in cohort order. */
  readonly contributors: ReadonlyArray<string>
}

/** Certificates the coordinator checked, per session (one task attempt), for every aggregation it runs. */
const coordinatorCaches = new WeakMap<CoordinatorSession, Advertisements.Verified>()
const coordinatorCache = (session: CoordinatorSession) => {
  let cache = coordinatorCaches.get(session)
  if (cache === undefined) coordinatorCaches.set(session, (cache = new Set()))
  return cache
}

const protocolError = (reason: string, detail: string) => new ProtocolError({ protocol: Spec.PROTOCOL, reason, detail })

const tooManyDropouts = (what: string, needed: number, available: number) =>
  protocolError("TooManyDropouts", `${what}: needed ${needed}, available ${available}`)

/**
 * The participants a round missed, each named with why when it left (`offline`: it disconnected while asked, or
 * was not connected) rather than stayed silent until the deadline: the two point at different faults.
 */
const missingOf = (error: RoundError) =>
  error.missing.map((p) => (error.offline?.includes(p) ? `${p} offline` : `${p} no reply in time`)).join(", ") || "none"

/** Resolves threshold and tolerance for a cohort of n (the rule in the module doc). */
export const resolveThreshold = (
  n: number,
  options: Pick<SecureAggregationOptions, "dropoutTolerance" | "threshold">
): { readonly threshold: number; readonly dropoutTolerance: number } | ProtocolError => {
  const d = options.dropoutTolerance ?? (options.threshold !== undefined ? n - options.threshold : Spec.defaultDropoutTolerance(n))
  const t = options.threshold ?? n - d
  if (!Number.isInteger(d) || d < 0) return protocolError("InvalidParameters", `dropoutTolerance must be a non-negative integer, got ${d}`)
  if (t > n - d) return protocolError("InvalidParameters", `threshold ${t} cannot tolerate ${d} dropouts among ${n} participants`)
  const problem = Spec.thresholdProblem(t, n)
  if (problem !== undefined) {
    return protocolError("InvalidParameters", `${problem} (dropout tolerance ${d}; at most ${Spec.defaultDropoutTolerance(n)} for ${n} participants)`)
  }
  return { threshold: t, dropoutTolerance: d }
}

/** The sparse graph of an aggregation (`Neighbourhood.ts`), undefined for the complete one. */
const resolveSparse = (
  n: number,
  dropoutTolerance: number,
  options: Pick<SecureAggregationOptions, "neighbours" | "shareThreshold">
): Neighbourhood.Sparse | undefined | ProtocolError => {
  if (options.neighbours !== undefined && options.neighbours >= n - 1) {
    return options.shareThreshold === undefined ? undefined : protocolError("InvalidParameters", "shareThreshold applies to a sparse graph (neighbours < n − 1) only")
  }
  const rule = Neighbourhood.plusParameters(n, dropoutTolerance)
  if (options.neighbours === undefined) {
    if (options.shareThreshold !== undefined) return protocolError("InvalidParameters", "shareThreshold needs neighbours")
    return rule
  }
  const sparse = { neighbours: options.neighbours, shareThreshold: options.shareThreshold ?? Neighbourhood.shareThresholdFor(options.neighbours) }
  const problem = Neighbourhood.problem(sparse, n)
  return problem === undefined ? sparse : protocolError("InvalidParameters", problem)
}

/**
 * Runs the four stages and returns the unmasked sum.
 *
 * Errors: ProtocolError — "InvalidParameters", "TooManyDropouts" (fewer than t answered a stage, or shares
 * were missing), "InconsistentShares" (a reconstructed secret failed its check); RoundError("Cancelled");
 * ParticipantFailure when a participant rejects a stage (e.g. "ForgedAdvertisement") and the stage cannot
 * reach t replies without it, or a reply breaks the protocol; SessionStateFailed when the host did not keep the
 * aggregate's commitment.
 */
export const runSecureAggregation = (
  session: CoordinatorSession,
  options: SecureAggregationOptions
): Effect.Effect<SecureAggregationResult, ProtocolError | RoundError | ParticipantFailure | SessionStateFailed> =>
  Effect.gen(function*() {
    const cohort = [...(options.participants ?? session.participants)]
    const n = cohort.length
    const aggregationId = options.aggregationId ?? "secagg"
    const { bits, vectorLength, timeoutMs } = options
    if (new Set(cohort).size !== n) return yield* protocolError("InvalidParameters", "participants must be distinct")
    const outsider = cohort.find((p) => !session.participants.includes(p))
    if (outsider !== undefined) return yield* protocolError("InvalidParameters", `${outsider} is not a participant of this task`)
    if (n > Shamir.MAX_SHARES) return yield* protocolError("InvalidParameters", `at most ${Shamir.MAX_SHARES} participants, got ${n}`)
    if (!Number.isInteger(bits) || bits < 1 || bits > Prg.MAX_BITS) {
      return yield* protocolError("InvalidParameters", `bits must be an integer in [1, ${Prg.MAX_BITS}], got ${bits}`)
    }
    if (!Number.isSafeInteger(vectorLength) || vectorLength < 0) {
      return yield* protocolError("InvalidParameters", `vectorLength must be a non-negative integer, got ${vectorLength}`)
    }
    const resolved = resolveThreshold(n, options)
    if (resolved instanceof ProtocolError) return yield* resolved
    const t = resolved.threshold
    const sparse = resolveSparse(n, resolved.dropoutTolerance, options)
    if (sparse instanceof ProtocolError) return yield* sparse
    const prg = options.prg ?? Prg.DEFAULT_NAME
    if (Prg.parseName(prg) === undefined) return yield* protocolError("InvalidParameters", `unknown PRG ${JSON.stringify(prg)}; known: ${Prg.NAMES.join(", ")}`)
    const parameters: Spec.Parameters = { version: Spec.VERSION, aggregationId, cohort, threshold: t, vectorLength, bits, ...sparse, prg }
    const adjacent = Neighbourhood.graph(session, aggregationId, cohort, sparse)
    const tShares = Spec.shamirThreshold(parameters)
    const inCohortOrder = (members: Iterable<string>) => {
      const set = new Set(members)
      return cohort.filter((p) => set.has(p))
    }
    const round = <Req, Rep>(stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>) =>
      session.round(stage, requests, { minReplies: t, timeoutMs }).pipe(
        Effect.catchTag("RoundError", (error): Effect.Effect<never, ProtocolError | RoundError> =>
          error.reason === "TooFewReplies"
            ? Effect.fail(tooManyDropouts(`stage ${stage.name} (missing ${missingOf(error)})`, t, requests.size - error.missing.length))
            : Effect.fail(error)),
        Effect.flatMap((replies): Effect.Effect<ReadonlyMap<string, Rep>, ProtocolError> =>
          replies.size < t ? Effect.fail(tooManyDropouts(`stage ${stage.name}`, t, replies.size)) : Effect.succeed(replies)),
        Effect.tap((replies) => session.progress({ stage: stage.name, done: replies.size, total: requests.size }))
      )
    const violation = (participant: string, stage: string, code: string, detail: string) =>
      new ParticipantFailure({ participant, stage, code, detail })

    // Stage 0: keys. Advertisements that do not verify are dropped here rather than failing every peer later.
    const advertised = yield* round(Spec.advertiseKeys, new Map(cohort.map((p) => [p, { parameters }])))
    const advertisements = new Map<string, Spec.Advertisement>()
    const verified = coordinatorCache(session)
    const ed25519 = yield* Ed25519.Ed25519
    for (const participant of inCohortOrder(advertised.keys())) {
      const advertisement = { participant, ...advertised.get(participant)! }
      if (Advertisements.verify(ed25519, session, parameters, advertisement, verified)) advertisements.set(participant, advertisement)
    }
    if (advertisements.size < t) return yield* tooManyDropouts("valid key advertisements", t, advertisements.size)
    const u1 = [...advertisements.keys()]

    // Stage 1: share keys.
    const shareRequest = { aggregationId, advertisements: [...advertisements.values()] }
    const shared = yield* round(Spec.shareKeys, new Map(u1.map((p) => [p, shareRequest])))
    const u2 = inCohortOrder(shared.keys())
    const mailboxes = new Map(u2.map((p) => [p, [] as Array<{ sender: string; ciphertext: Uint8Array }>]))
    for (const sender of u2) {
      const reply = shared.get(sender)!
      const addressed = new Map(reply.encryptedShares.map((s) => [s.recipient, s.ciphertext]))
      const missing = u1.filter((p) => adjacent.get(sender)!.has(p) && !addressed.has(p))
      if (missing.length > 0 || addressed.size !== reply.encryptedShares.length) {
        return yield* violation(sender, Spec.shareKeys.name, "IncompleteShares", `no or duplicate shares for ${missing.join(", ") || "some recipients"}`)
      }
      for (const recipient of u2) {
        if (adjacent.get(sender)!.has(recipient)) mailboxes.get(recipient)!.push({ sender, ciphertext: addressed.get(recipient)! })
      }
    }

    // Stage 2: masked inputs.
    const maskedReplies = yield* round(
      Spec.maskedInput,
      new Map(u2.map((p) => [p, { aggregationId, keyHolders: u2, encryptedShares: mailboxes.get(p)! }]))
    )
    const u3 = inCohortOrder(maskedReplies.keys())
    const total = RingVector.zeros(vectorLength, bits)
    for (const participant of u3) {
      yield* Effect.try({
        try: () => RingVector.addBytes(total, maskedReplies.get(participant)!.maskedInput),
        catch: (error) => violation(participant, Spec.maskedInput.name, "MalformedMaskedInput", String(error))
      })
    }

    // Stage 3: unmask.
    const unmasked = yield* round(Spec.unmask, new Map(u3.map((p) => [p, { aggregationId, contributors: u3 }])))
    const collect = (owner: string, pick: (reply: Spec.UnmaskReply) => ReadonlyArray<{ owner: string; share: Uint8Array }>) => {
      const shares: Array<Shamir.Share> = []
      for (const [holder, reply] of unmasked) {
        const found = pick(reply).find((s) => s.owner === owner)
        if (found !== undefined) shares.push({ holder, threshold: tShares, bytes: found.share })
      }
      return shares
    }
    const reconstruct = (owner: string, what: string, shares: ReadonlyArray<Shamir.Share>) =>
      Shamir.combine(shares, tShares).pipe(
        Effect.mapError((error) =>
          error.reason === "TooFewShares"
            ? tooManyDropouts(`shares of ${owner}'s ${what}`, tShares, shares.length)
            : protocolError("InconsistentShares", `${owner}'s ${what}: ${error.detail}`))
      )

    // Every mask to take out, applied in one cache-friendly pass (RingVector.addMasks).
    const removals: Array<RingVector.Mask> = []
    for (const owner of u3) {
      const seed = yield* reconstruct(owner, "self-mask seed", collect(owner, (r) => r.selfMaskShares))
      const commitment = shared.get(owner)!.selfMaskCommitment
      if (!equalBytes(Spec.selfMaskCommitment(session, aggregationId, owner, seed), commitment)) {
        return yield* protocolError("InconsistentShares", `${owner}'s self-mask seed does not match its commitment`)
      }
      removals.push({ seed, label: Spec.SELF_MASK_LABEL, sign: -1 })
    }
    const context = Spec.maskContext(session, aggregationId)
    const keyAgreement = yield* KeyAgreement.KeyAgreement
    for (const dropped of u2.filter((p) => !maskedReplies.has(p))) {
      const secretKey = yield* reconstruct(dropped, "mask key", collect(dropped, (r) => r.maskKeyShares))
      const advertisedKey = advertisements.get(dropped)!.maskPublicKey
      const derived = yield* Effect.try({
        try: () => keyAgreement.publicKeyOf(secretKey),
        catch: (error) => protocolError("InconsistentShares", `${dropped}'s mask key: ${String(error)}`)
      })
      if (!equalBytes(derived, advertisedKey)) {
        return yield* protocolError("InconsistentShares", `${dropped}'s reconstructed mask key does not match its advertisement`)
      }
      for (const contributor of u3) {
        if (!adjacent.get(dropped)!.has(contributor)) continue
        const seed = yield* Effect.try({
          try: () => keyAgreement.agree(secretKey, advertisements.get(contributor)!.maskPublicKey, context),
          catch: (error) => protocolError("InconsistentShares", `mask seed ${dropped}–${contributor}: ${String(error)}`)
        })
        // y_contributor carries pairSign(contributor, dropped)·PRG(seed); take it back out.
        removals.push({ seed, label: Spec.PAIR_MASK_LABEL, sign: Spec.pairSign(cohort, contributor, dropped) === 1 ? -1 : 1 })
      }
    }
    RingVector.addMasks(total, removals, yield* PrgKernel.PrgKernel, prg)

    const digest = bytesToHex(sha256(concatBytes(utf8ToBytes(JSON.stringify(u3)), RingVector.toBytes(total))))
    yield* session.commit(`secagg/${aggregationId}`, digest)
    let sum: ReadonlyArray<bigint> | undefined
    return {
      get sum() {
        return (sum ??= RingVector.toBigInts(total))
      },
      vector: total,
      contributors: u3
    }
  })

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i])
