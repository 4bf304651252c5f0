/**
 * SecureSVM, coordinator side (PROTOCOLS.md §5.4 "Our protocol"): gradient-descent training of a linear SVM
 * over rows held by ≥ 2 providers with the same columns, with the corrected equations of §5.2 (Model.ts).
 *
 * Who plays C. In Mode A the coordinator runs C's loop itself: C holds no key there, publishes w_t, b_t and
 * learns only the per-round totals across providers. In Mode B, C must own SK_C and receive (w*, b*) (§5), so
 * it is a designated party, `params.analyst` (the initiator's org, contributing no rows); the coordinator only
 * relays ciphertexts, masked vectors and sign bits between the analyst and the providers.
 *
 * Scaling: features are standardized with the mean and population std of all providers' training rows,
 * computed jointly by secure aggregation ([n, Σx, Σx²], as joint statistics do), or fixed by the spec.
 *
 * Mode A, per round t (one secure aggregation `svm/round-t`):
 *   1. svm.round-model   w_t, b_t (and the batch index) to every live provider;
 *   2. secure aggregation of [H, Σ I·y·x, Σ I·y, violators, rows] in fixed point (optionally with distributed
 *      Gaussian noise on H and the gradients), so C learns only totals; up to `dropoutTolerance` providers
 *      may drop out, later rounds continue with the rest;
 *   3. C updates w, b (Model.step); stops when cost ≤ ε or after epochs × batchesPerEpoch rounds.
 * Mode B, per round t:
 *   1. svm.b-compare     [[w_t]], [[b_t]] under PK_C to each provider, which returns packed sign-hidden blinded
 *                        margins (Blind.ts) of its batch;
 *   2. svm.b-decide      the analyst decrypts one ciphertext per `slots` margins and returns β = [z < 0];
 *   3. svm.b-indicators  each provider unblinds I = β XOR [s = −1] (C never learns I), computes its plaintext
 *                        totals, draws one-time pads R and returns [[R − H·e_0]] (H: its hinge sum, from its
 *                        encrypted margins);
 *   4. secure aggregation of totals + R (so the coordinator sees only padded sums), then
 *   5. svm.b-update      the analyst gets the padded sums and Σ[[R − H·e_0]] (multiplied here), decrypts one
 *                        ciphertext, removes the pads, updates and returns [[w_{t+1}]].
 *   C thus learns the totals (never a single provider's sum) and log|u| per margin (§5.4 leakage note); the
 *   providers learn their own indicators only; the coordinator learns β bits (independent of I) and sizes.
 *   Every packed ciphertext carries a fresh h_s^r (r of N/2 bits) and every blinding r1 ∈ [2^κ, 2^(κ+1)), κ ≥ 40.
 *   So does every other ciphertext: the analyst's model and copies compute h_s^r mod p² and mod q² and join them
 *   (Randomness.factorPower), the providers' pads as a product of r's 64-bit digits over h_s^(2^(64i))
 *   (Blind.powersPower); both give h_s^r mod N² itself for a uniform N/2-bit r, so nothing anyone sees changes.
 *   [[w_t]] travels with the analyst's copies times 2^(W·m·g) (Blind.ts slot groups): more encryptions under PK_C,
 *   which change nobody's view; an analyst that put other weights in them could equally have sent other [[w_t]]
 *   (C is honest but curious, §5), and the providers' hinge sums use [[w_t]] itself.
 * Evaluation: the same machinery on each provider's local test split (θ = 0: predicted positive ⇔ w·x + b ≥ 0)
 * gives aggregated confusion counts, hence precision and recall.
 */
import { Effect } from "effect"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import type { CoordinatorSession } from "../Protocol.ts"
import { ProtocolError } from "../Protocol.ts"
import { runSecureAggregation } from "../secure-aggregation/server.ts"
import { defaultDropoutTolerance } from "../secure-aggregation/spec.ts"
import * as Model from "./Model.ts"
import { RING_BITS } from "./participant.ts"
import type { Params, Result } from "./spec.ts"
import * as Spec from "./spec.ts"

export interface Options {
  readonly timeoutMs?: number
  /** Tests only: accept the analyst's small test key. */
  readonly unsafeAllowTestKeySizes?: boolean
}

const ring = FixedPoint.make({ scaleBits: 0, modulus: 1n << BigInt(RING_BITS) })

export const run = (session: CoordinatorSession, params: Params, options: Options = {}) =>
  Effect.gen(function*() {
    const mode = params.mode ?? "A"
    const hyper = Spec.hyperOf(params)
    const d = params.features.length
    const providers = Spec.providersOf(params, session.participants)
    const analyst = session.participants.find((p) => p === params.analyst)
    const tolerance = mode === "A" ? (params.dropoutTolerance ?? Spec.maxDropoutTolerance(providers.length)) : 0
    const timeoutMs = options.timeoutMs
    let alive: ReadonlyArray<string> = providers
    const toAll = <Req>(members: ReadonlyArray<string>, request: Req) => new Map(members.map((p) => [p, request] as const))
    const unwrapAll = (sum: ReadonlyArray<bigint>) => sum.map((x) => FixedPoint.unwrap(ring, x))

    /** Secure aggregation over the live providers, keeping within the task's dropout budget. */
    const aggregate = (aggregationId: string, vectorLength: number) =>
      Effect.gen(function*() {
        const slack = tolerance - (providers.length - alive.length)
        const result = yield* runSecureAggregation(session, {
          participants: alive,
          dropoutTolerance: Math.max(0, Math.min(slack, defaultDropoutTolerance(alive.length))),
          vectorLength,
          bits: RING_BITS,
          aggregationId,
          timeoutMs
        })
        return { sum: result.sum, contributors: result.contributors }
      })

    /** A provider stage that tolerates the remaining dropout budget; the live set shrinks to who answered. */
    const providerRound = <Req, Rep>(stage: Parameters<CoordinatorSession["round"]>[0] & { request: any; reply: any }, request: (p: string) => Req, all = false) =>
      Effect.gen(function*() {
        const minReplies = all ? alive.length : Math.max(2, providers.length - tolerance)
        const replies = (yield* session.round(stage, new Map(alive.map((p) => [p, request(p)] as const)), { minReplies, timeoutMs })) as ReadonlyMap<string, Rep>
        alive = alive.filter((p) => replies.has(p))
        return replies
      })

    // Bad data is a failure, not a dropout: every provider must be ready before anything starts.
    yield* providerRound(Spec.prepare, () => ({}), true)

    // Scaling (joint by default): mean and population std of the training rows.
    let scaling: Model.Scaling | undefined
    let trainRows: number | undefined
    const scalingParam = params.scaling ?? { kind: "joint" as const }
    if (scalingParam.kind === "fixed") scaling = { mean: scalingParam.mean, std: scalingParam.std }
    if (scalingParam.kind === "joint") {
      const id = "svm/scaling"
      yield* providerRound(Spec.roundModel, () => ({ aggregationId: id, purpose: "scaling" as const, epoch: 0, batch: 0 }))
      const { sum } = yield* aggregate(id, 1 + 2 * d)
      const [n, ...rest] = unwrapAll(sum)
      const s = Model.scaleOf(hyper.scaleBits)
      trainRows = Number(n)
      const mean = rest.slice(0, d).map((x) => FixedPoint.toNumber(x, hyper.scaleBits) / trainRows!)
      const std = rest.slice(d).map((q, k) => {
        // n·Q − S² exact in integers, as in joint statistics.
        const spread = n! * q - rest[k]! * rest[k]!
        const variance = FixedPoint.toNumber(spread, 2 * hyper.scaleBits) / (trainRows! * trainRows!)
        return variance > 0 ? Math.sqrt(variance) : 1
      })
      void s
      scaling = { mean, std }
    }

    const totalRounds = hyper.epochs * hyper.batchesPerEpoch
    const costs: Array<number> = []
    let model = Model.initialModel(d)
    let rounds = 0
    let test: Model.Confusion

    if (mode === "A") {
      for (let round = 0; round < totalRounds; round++) {
        const epoch = Math.floor(round / hyper.batchesPerEpoch)
        const batch = round % hyper.batchesPerEpoch
        const id = `svm/round-${round}`
        const published = { weights: [...model.weights], bias: model.bias }
        yield* providerRound(Spec.roundModel, () => ({ aggregationId: id, purpose: "train" as const, epoch, batch, scaling, model: published }))
        const { sum, contributors } = yield* aggregate(id, Model.totalsLength(d))
        alive = alive.filter((p) => contributors.includes(p))
        const next = Model.step(model, Model.fromVector(unwrapAll(sum), d), hyper, round)
        costs.push(next.cost)
        rounds = round + 1
        yield* session.progress({ stage: "svm.round", done: rounds, total: totalRounds, detail: `cost ${next.cost.toFixed(6)}` })
        if (next.cost <= hyper.epsilon) break
        model = next.model
      }
      const final = { weights: [...model.weights], bias: model.bias }
      yield* providerRound(Spec.roundModel, () => ({ aggregationId: "svm/test", purpose: "test" as const, epoch: 0, batch: 0, scaling, model: final }))
      const [tp, fp, fn, tn] = unwrapAll((yield* aggregate("svm/test", 4)).sum)
      test = { tp: tp!, fp: fp!, fn: fn!, tn: tn! }
      return result(params, "A", model, scaling, rounds, costs, test, trainRows, providers, alive, undefined)
    }

    // ---------- Mode B ----------
    if (analyst === undefined) return yield* new ProtocolError({ protocol: Spec.PROTOCOL, reason: "InvalidParameters", detail: "mode B needs an analyst party" })
    const ask = <Req, Rep>(stage: { readonly name: string; request: any; reply: any }, request: Req) =>
      Effect.map(session.round(stage as any, new Map([[analyst, request]]), { minReplies: 1, timeoutMs }), (r) => r.get(analyst) as Rep)
    const setupReply = yield* ask<typeof Spec.setup.request.Type, typeof Spec.setup.reply.Type>(Spec.setup, {})
    const publicKey = setupReply.publicKey
    const pk = yield* Effect.try({
      try: () => Serialization.decodePublicKey(publicKey, { unsafeAllowTestKeySizes: options.unsafeAllowTestKeySizes === true }),
      catch: (e) => new ProtocolError({ protocol: Spec.PROTOCOL, reason: "BadKey", detail: String(e) })
    })
    let encrypted = setupReply.model

    /** compare → decide → indicators for one aggregation; returns the providers' indicator replies. */
    const blindRound = (aggregationId: string, purpose: "train" | "test", epoch: number, batch: number) =>
      Effect.gen(function*() {
        const compared = yield* providerRound<typeof Spec.compare.request.Type, typeof Spec.compare.reply.Type>(Spec.compare, () => ({
          aggregationId, purpose, epoch, batch, scaling, publicKey, model: encrypted
        }))
        const decided = yield* ask<typeof Spec.decide.request.Type, typeof Spec.decide.reply.Type>(Spec.decide, {
          aggregationId,
          purpose,
          slotBits: encrypted.slotBits,
          batches: alive.map((p) => ({ provider: p, packed: compared.get(p)!.packed, count: compared.get(p)!.count }))
        })
        const beta = new Map(decided.bits.map((b) => [b.provider, b.beta] as const))
        return yield* providerRound<typeof Spec.indicators.request.Type, typeof Spec.indicators.reply.Type>(Spec.indicators, (p) => ({
          aggregationId,
          beta: beta.get(p) ?? new Uint8Array()
        }))
      })

    for (let round = 0; round < totalRounds; round++) {
      const epoch = Math.floor(round / hyper.batchesPerEpoch)
      const batch = round % hyper.batchesPerEpoch
      const id = `svm/round-${round}`
      const replies = yield* blindRound(id, "train", epoch, batch)
      const { sum, contributors } = yield* aggregate(id, Model.totalsLength(d))
      const pads = yield* Effect.try({
        try: () => {
          const each = contributors.map((p) => Serialization.decodeCiphertexts(pk, replies.get(p)!.encryptedPad!))
          return each[0]!.map((_, j) => Paillier.sum(each.map((cts) => cts[j]!)))
        },
        catch: (e) => new ProtocolError({ protocol: Spec.PROTOCOL, reason: "BadCiphertext", detail: String(e) })
      })
      const updated = yield* ask<typeof Spec.update.request.Type, typeof Spec.update.reply.Type>(Spec.update, {
        aggregationId: id,
        round,
        maskedTotals: sum,
        encryptedPads: Serialization.encodeCiphertexts(pk, pads)
      })
      costs.push(updated.cost)
      encrypted = updated.model
      rounds = round + 1
      yield* session.progress({ stage: "svm.round", done: rounds, total: totalRounds, detail: `cost ${updated.cost.toFixed(6)}` })
      if (updated.done) break
    }
    yield* blindRound("svm/test", "test", 0, 0)
    const [tp, fp, fn, tn] = unwrapAll((yield* aggregate("svm/test", 4)).sum)
    test = { tp: tp!, fp: fp!, fn: fn!, tn: tn! }
    const finished = yield* ask<typeof Spec.finish.request.Type, typeof Spec.finish.reply.Type>(Spec.finish, { rounds })
    const reports = yield* providerRound<typeof Spec.report.request.Type, typeof Spec.report.reply.Type>(Spec.report, () => ({}))
    const work = [...reports.values()].reduce(
      (s, r) => ({
        encryptions: s.encryptions + r.encryptions,
        exponentiations: s.exponentiations + r.exponentiations,
        comparisons: s.comparisons + r.comparisons,
        packedCiphertexts: s.packedCiphertexts + r.packedCiphertexts
      }),
      { encryptions: 0, exponentiations: 0, comparisons: 0, packedCiphertexts: 0 }
    )
    const paillier = {
      keyBits: pk.bits,
      encryptions: work.encryptions + finished.encryptions,
      decryptions: finished.decryptions,
      exponentiations: work.exponentiations,
      comparisons: work.comparisons,
      packedCiphertexts: work.packedCiphertexts
    }
    return result(params, "B", finished.model, scaling, rounds, costs, test, trainRows, providers, alive, paillier)
  })

const result = (
  params: Params,
  mode: "A" | "B",
  model: Model.LinearModel,
  scaling: Model.Scaling | undefined,
  rounds: number,
  costs: ReadonlyArray<number>,
  test: Model.Confusion,
  trainRows: number | undefined,
  providers: ReadonlyArray<string>,
  alive: ReadonlyArray<string>,
  paillier: Result["paillier"]
): Result => ({
  kind: Spec.kind,
  mode,
  model: {
    format: "linear",
    weights: [...model.weights],
    bias: model.bias,
    link: "sign",
    featureColumns: [...params.features],
    ...(scaling ? { scaling: { mean: [...scaling.mean], std: [...scaling.std] } } : {})
  },
  rounds,
  costs: [...costs],
  test: Model.metrics(test),
  ...(trainRows !== undefined ? { trainRows } : {}),
  providers: [...providers],
  dropped: providers.filter((p) => !alive.includes(p)),
  ...(paillier ? { paillier } : {})
})
