/**
 * The training stages of a vertical model at one party (PROTOCOLS.md §6; the stages and their leakage: spec.ts):
 * prepare (aligned rows, blocks, split, first RPI commitment) → deal and keys (threshold key, shares sealed over
 * the PSI channel; the SVM label holder's judge key) → per iteration score → blind → judge (SVM) → gradient →
 * open (SVM, the label holder) → update → finish (partial model sealed at rest) → cleanup. Partial decryptions
 * and the evaluation of the test split are `Prediction.ts`'s.
 */
import { utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { Primes, randomBelow } from "../../compute/Primes.ts"
import { TestKeySizes } from "../../crypto/KeyMaterial.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import type { PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as PaillierSerialization from "../../crypto/paillier/Serialization.ts"
import * as Dealer from "../../crypto/threshold-paillier/Dealer.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import * as Local from "../../data/Local.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import * as Channel from "../joint-query/Channel.ts"
import { handler, type ParticipantSession } from "../Protocol.ts"
import * as Linear from "./Linear.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Party from "./Party.ts"
import * as Secure from "./Secure.ts"
import * as Spec from "./spec.ts"

/**
 * The label holder's judge key: its own at the label holder; at any other party opened once from the box the
 * label holder sealed to it (spec.ts `keys`) and kept for the attempt.
 */
const judgeKeyOf = (session: ParticipantSession, stage: string, t: Party.TrainState, labelHolder: string, box: Uint8Array | undefined) =>
  Effect.gen(function*() {
    if (t.judge !== undefined) return t.judge.pk
    if (box === undefined) return yield* Party.fail(session, stage, "MissingState", "no judge key")
    const encoded = yield* Party.open(session, stage, labelHolder, `judge-key|${session.self}`, box)
    const policy = { unsafeAllowTestKeySizes: t.key?.policy.unsafeAllowTestKeySizes === true }
    const pk = yield* Party.attempt(session, stage, "InvalidKey", () => PaillierSerialization.decodePublicKey(encoded, policy))
    if (pk.bits !== t.key?.tpk.publicKey.bits) return yield* Party.fail(session, stage, "InvalidKey", `a ${pk.bits}-bit judge key, the threshold key has ${t.key?.tpk.publicKey.bits}`)
    t.judge = { pk, encoded }
    return pk
  })

/** Full, a stock holds two iterations' worth, so idle time in one iteration covers a busier next. */
const iterationStock = (pk: PublicKey, t: Party.TrainState, rows: number, blinding: number): Party.IterationStock => {
  const iterations = Linear.iterationsOf(t.hyper)
  const perIteration = rows + blinding
  return { stock: Secure.stock(pk, 2 * perIteration), blinding, need: (i) => Math.max(0, iterations - i) * perIteration }
}

/** Under the threshold key: each party's batch of score rows, and (SVM) one blinding noise per judge ciphertext. */
const stocksOf = (t: Party.TrainState, pk: PublicKey, s: Secure.Shape, slotsPerComparison: number | undefined) => {
  const noise = t.hyper.model === "svm" ? Math.ceil(s.batchSize / Secure.judgeLayout(pk, s, slotsPerComparison).slots) : 0
  return { threshold: iterationStock(pk, t, s.batchSize, noise) }
}

/** Under the label holder's judge key, at the label holder: its factors (one per row) and its gradient masks. */
const judgeStockOf = (t: Party.TrainState, pk: PublicKey, s: Secure.Shape, features: ReadonlyArray<number>) =>
  iterationStock(pk, t, s.batchSize, Secure.gradientCiphertexts(features, Secure.gradientLayout(pk, s).slots))

export const handlers = (datasetName: string, model: Linear.ModelKind, trainParams: Spec.TrainParams, options: Party.Options = {}) => {
  const shape = (session: { readonly participants: ReadonlyArray<string> }) => Party.shapeOf(model, trainParams, session.participants.length)

  const prepare = handler(Spec.prepare, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.prepare.name
      // Before anything is read: a layout this build does not speak would fail later rounds without a name.
      const unsupported = Spec.checkProtocolVersion(trainParams)
      if (unsupported !== undefined) return yield* Party.fail(session, stage, unsupported._tag, unsupported.message)
      const existing = session.memory.get(Party.TRAIN) as Party.TrainState | undefined
      if (existing !== undefined) return yield* Party.fail(session, stage, "DuplicateStage", "already prepared")
      const aligned = (session.memory.get(Party.PSI_MEMORY) as Party.PsiView | undefined)?.aligned
      const psiSet = (session.memory.get(Party.PSI_MEMORY) as Party.PsiView | undefined)?.set
      if (aligned === undefined || psiSet === undefined) return yield* Party.fail(session, stage, "MissingAlignment", "the aligned PSI join has not finished")
      // A resumed attempt trains on the order of the first (this attempt's PSI keys give another one).
      const progress = request.resumeAt === undefined
        ? undefined
        : yield* Effect.mapError(PartialModels.loadProgress(session.self, session.taskId, request.resumeAt), (e) =>
          Party.failure(session, stage, e.reason === "Missing" ? "NoProgress" : `Progress${e.reason}`, e.message))
      let order = options.testSchedule === undefined ? aligned.positions : [...aligned.positions].sort((a, b) => (psiSet.ids[a]! < psiSet.ids[b]! ? -1 : psiSet.ids[a]! > psiSet.ids[b]! ? 1 : 0))
      if (progress !== undefined) {
        const positionOf = new Map(aligned.positions.map((i) => [psiSet.ids[i]!, i] as const))
        if (progress.taskId !== session.taskId || progress.iteration !== request.resumeAt) {
          return yield* Party.fail(session, stage, "ResumeMismatch", `the saved progress is of ${progress.taskId} at iteration ${progress.iteration}, not ${session.taskId} at ${request.resumeAt}`)
        }
        if (progress.ids.length !== positionOf.size || progress.ids.some((id) => !positionOf.has(id))) {
          return yield* Party.fail(session, stage, "ResumeMismatch", "this attempt's join differs from the one the saved progress was trained on")
        }
        order = progress.ids.map((id) => positionOf.get(id)!)
      }
      const rows = order.map((i) => psiSet.rows[i]!)
      const ids = order.map((i) => psiSet.ids[i]!)
      if (rows.length < 4) return yield* Party.fail(session, stage, "TooFewRows", `${rows.length} shared rows`)
      const split = Linear.split(rows.length, trainParams.testFraction ?? Spec.defaults.testFraction, trainParams.splitSeed ?? Spec.defaults.splitSeed)
      const mine = trainParams.features.find((f) => f.party === session.self)?.columns ?? []
      const isHolder = trainParams.labelHolder === session.self
      // Only this party's feature columns (and the label at its holder), read through the source's bounded
      // batches; row i is the source's row i, as the PSI numbered them.
      const data = yield* Effect.mapError(Local.columns(datasetName, isHolder ? [...mine, trainParams.label.column] : mine), (error) =>
        error._tag === "DatasetError" ? Party.failure(session, stage, error.reason, error.message) : error)
      const columns = []
      for (const c of mine) columns.push(yield* Party.numericColumn(session, stage, data, c))
      let positive: Array<boolean> | undefined
      if (isHolder) {
        const column = trainParams.label.column
        if (!data.columnNames.includes(column)) return yield* Party.fail(session, stage, "MissingColumn", `dataset ${data.name} has no label column ${column}`)
        const text = data.strings(column)
        const want = String(trainParams.label.positive)
        const numeric = typeof trainParams.label.positive === "number" && data.isNumeric(column) ? data.numeric(column) : undefined
        const empty = rows.filter((r) => text[r] === undefined || text[r]!.trim() === "").length
        if (empty > 0) return yield* Party.fail(session, stage, "InvalidLabel", `${empty} aligned row(s) have no label`)
        positive = rows.map((r) => (numeric ? numeric[r] === trainParams.label.positive : text[r]!.trim() === want))
      }
      const block = Linear.block(columns, rows, split.train, trainParams.featureBound ?? Spec.defaults.featureBound, isHolder)
      if (Linear.isProblem(block)) return yield* Party.fail(session, stage, "InvalidFeature", `column ${block.column}: ${block.detail}`)
      if (progress !== undefined && progress.weights.length !== block.columns.length) return yield* Party.fail(session, stage, "ResumeMismatch", "the saved weights do not fit this party's columns")
      const start = request.resumeAt ?? 0
      const next = progress === undefined ? Party.drawRpi(options, session, 0) : { rpi: BigInt(progress.rpi), salt: progress.salt }
      const w = progress === undefined ? new Float64Array(block.columns.length) : Float64Array.from(progress.weights)
      const state: Party.TrainState = { hyper: Spec.hyperOf(model, trainParams), ids, block, positive, split, w, next, from: start }
      session.memory.set(Party.TRAIN, state)
      return {
        alignment: aligned.digest,
        rows: rows.length,
        features: block.columns.length,
        constantColumns: block.constantColumns,
        clipped: block.clipped,
        commit: Party.rpiCommit(session.taskId, start, session.self, next),
        ...(progress === undefined ? {} : { resumed: PartialModels.resumeDigest(session.taskId, progress.iteration, ids) })
      }
    })
  )

  const deal = handler(Spec.deal, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.deal.name
      const s = yield* Party.psiState(session, stage)
      const kernels = yield* Secure.kernels
      const primes = (yield* Primes).generate
      const testKeys = yield* TestKeySizes
      const sealTo = (recipient: string, plaintext: Uint8Array) => {
        const peer = s.peers.get(recipient)
        if (peer === undefined) throw new Error(`no channel key for ${recipient}`)
        return Effect.runPromise(Channel.seal(session, stage, s.channel.secretKey, recipient, peer.channelPublicKey, `vertical|share|${recipient}`, plaintext))
      }
      const ceremony = yield* Effect.tryPromise({
        try: () =>
          Dealer.runDealerCeremony({
            bits: trainParams.keyBits ?? Spec.defaults.keyBits,
            threshold: trainParams.threshold ?? session.participants.length,
            parties: session.participants,
            encryptTo: sealTo,
            context: utf8ToBytes(session.taskId),
            // Below 2048 bits only for the test harness; a task param cannot ask for it.
            unsafeAllowTestKeySizes: testKeys,
            primes,
            kernels
          }),
        catch: (error) => Party.failure(session, stage, "CeremonyFailed", error instanceof Error ? error.message : String(error))
      })
      return {
        publicKey: ThresholdSerialization.encodePublicKey(ceremony.publicKey),
        shares: ceremony.encryptedShares.map((e) => ({ recipient: e.recipient, index: e.index, box: e.ciphertext })),
        transcriptDigest: ceremony.transcriptDigest
      }
    })
  )

  const keys = handler(Spec.keys, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const t = yield* Party.trainState(session, stage)
      if (t.key !== undefined) return yield* Party.fail(session, stage, "DuplicateStage", "key already accepted")
      const policy = { unsafeAllowTestKeySizes: yield* TestKeySizes }
      const tpk = yield* Party.attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodePublicKey(request.publicKey, policy))
      const index = Party.indexOf(session, session.self) + 1
      if (tpk.parties !== session.participants.length || tpk.threshold !== (trainParams.threshold ?? session.participants.length)) {
        return yield* Party.fail(session, stage, "InvalidKey", `key for ${tpk.threshold} of ${tpk.parties}, task needs ${trainParams.threshold ?? session.participants.length} of ${session.participants.length}`)
      }
      const bits = trainParams.keyBits ?? Spec.defaults.keyBits
      if (tpk.publicKey.bits !== bits) return yield* Party.fail(session, stage, "InvalidKey", `${tpk.publicKey.bits}-bit key, task asks ${bits}`)
      const own = request.shares.find((x) => x.recipient === session.self)
      if (own === undefined || own.index !== index) return yield* Party.fail(session, stage, "MissingShare", "the dealer sent no share for this party")
      const bytes = yield* Party.open(session, stage, request.dealer, `share|${session.self}`, own.box)
      const kernels = yield* Secure.kernels
      const share = yield* Party.attempt(session, stage, "ShareMismatch", () => Dealer.acceptShare(tpk, bytes, index, kernels))
      bytes.fill(0)
      const transcriptDigest = Dealer.transcriptDigestOf(tpk, session.participants, request.shares.map((x) => ({ recipient: x.recipient, index: x.index, ciphertext: x.box })), utf8ToBytes(session.taskId))
      if (request.features.length !== session.participants.length) return yield* Party.fail(session, stage, "InvalidRequest", "feature counts of every party expected")
      if (request.features[index - 1] !== t.block.columns.length) return yield* Party.fail(session, stage, "InvalidRequest", "own feature count misreported")
      t.key = { tpk, share, policy }
      t.features = request.features
      // Every attempt, a resumed one too, starts its stocks here, empty, under the key it was just dealt: randomness is
      // kept in memory only and never reused (Secure.Stock), so a restart restores none. Sized by the iterations left
      // to this attempt: one resumed near the end makes only what those take, one resumed at the end none.
      t.stocks = stocksOf(t, tpk.publicKey, shape(session), trainParams.slotsPerComparison)
      const thresholdEngine = yield* Party.engineOf(t.key)
      yield* Secure.refill(thresholdEngine, t.stocks.threshold.stock, { need: t.stocks.threshold.need(t.from) })
      // The key must support every layout before the first iteration (§6.3 item 5 headroom).
      yield* Party.attempt(session, stage, "HeadroomExceeded", () => {
        Secure.judgeLayout(tpk.publicKey, shape(session))
        Secure.gradientLayout(tpk.publicKey, shape(session))
      })
      // SVM (protocol 2): the label holder's own key for its factors and the masked gradients it alone opens; of the
      // threshold key's size, so the gradient layout checked above fits it too.
      if (t.hyper.model !== "svm" || t.positive === undefined) return { transcriptDigest, reveal: { rpi: t.next.rpi.toString(), salt: t.next.salt } }
      const primes = (yield* Primes).generate
      const judge = yield* Effect.mapError(Keys.generate({ bits, primes, kernels, unsafeAllowTestKeySizes: policy.unsafeAllowTestKeySizes }), (error) => Party.failure(session, stage, "KeyGenerationFailed", error.message))
      const encoded = PaillierSerialization.encodePublicKey(judge.publicKey)
      t.judge = { pk: judge.publicKey, sk: judge.privateKey, encoded }
      // The label holder's factors (a batch) and gradient masks under its judge key, made ahead like the threshold key's.
      const judgeStock = judgeStockOf(t, judge.publicKey, shape(session), request.features)
      t.stocks!.judge = judgeStock
      yield* Secure.refill({ ...thresholdEngine, pk: judge.publicKey }, judgeStock.stock, { owner: judge.privateKey, need: judgeStock.need(t.from) })
      const judgeKeys: Array<Spec.Sealed> = []
      for (const participant of session.participants) {
        if (participant !== session.self) judgeKeys.push({ participant, payload: yield* Party.seal(session, stage, participant, `judge-key|${participant}`, encoded) })
      }
      return { transcriptDigest, reveal: { rpi: t.next.rpi.toString(), salt: t.next.salt }, judgeKey: encoded, judgeKeys }
    })
  )

  const score = handler(Spec.score, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.score.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined) return yield* Party.fail(session, stage, "MissingState", "no key")
      // PROTOCOLS.md §6.4 (ours): every reveal must open the commitment made before anyone revealed.
      const rpis: Array<bigint> = []
      for (const party of session.participants) {
        const reveal = request.reveals[party]
        const commit = request.commits[party]
        if (reveal === undefined || commit === undefined) return yield* Party.fail(session, stage, "CommitMismatch", `no commitment or reveal of ${party}`)
        if (Party.rpiCommit(session.taskId, request.iteration, party, reveal) !== commit) return yield* Party.fail(session, stage, "CommitMismatch", `${party}'s reveal does not open its commitment`)
        rpis.push(BigInt(reveal.rpi))
      }
      const seed = Linear.batchSeed(session.taskId, request.iteration, rpis)
      const batch = Linear.batchOf(seed, t.split.train.length, t.hyper.batchSize).map((i) => t.split.train[i]!)
      t.batch = batch
      t.next = Party.drawRpi(options, session, request.iteration + 1)
      const s = shape(session)
      const engine = yield* Party.engineOf(t.key)
      const limit = 1n << BigInt(Secure.zBits(s) - 4)
      const S2 = 1n << BigInt(2 * t.hyper.scaleBits)
      const values: Array<bigint> = []
      const judge = t.hyper.model === "svm" ? Secure.judgeLayout(engine.pk, s, trainParams.slotsPerComparison) : undefined
      for (const j of batch) {
        const z = Linear.partialScore(t.w, t.block.rows[j]!, t.hyper.scaleBits)
        if (z >= limit || -z >= limit) return yield* Party.fail(session, stage, "ScoreOverflow", `a partial score exceeds 2^${Secure.zBits(s) - 4 - 2 * t.hyper.scaleBits}: lower eta or featureBound`)
        if (t.hyper.model === "svm") {
          // §6.3 with the label at its holder: v = 2z − 2y·S² + y, and u = y·v is the corrected odd judge value.
          const y = t.positive === undefined ? 0n : t.positive[j] ? 1n : -1n
          values.push(Secure.judgeRow(judge!, values.length, 2n * z - 2n * y * S2 + y))
        } else {
          values.push(t.positive === undefined ? z : z + 2n * S2 - (t.positive[j] ? 4n * S2 : 0n))
        }
      }
      // One row per ciphertext: the SVM's rows, each already in its judge slot, so that each party can blind every
      // row with a factor of its own (blindHandler, which packs them); the logistic model's as the gradient stage's inputs.
      const stock = t.stocks?.threshold
      const cs = yield* Party.compute(session, stage, Secure.encryptSigned(engine, values, undefined, stock?.stock))
      // This iteration's blinding noise and the later iterations' rows.
      if (stock !== undefined) yield* Secure.refill(engine, stock.stock, { need: stock.need(request.iteration + 1) + stock.blinding })
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, cs), commit: Party.rpiCommit(session.taskId, request.iteration + 1, session.self, t.next) }
    })
  )

  const blindHandler = handler(Spec.blind, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.blind.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined) return yield* Party.fail(session, stage, "MissingState", "no key")
      const engine = yield* Party.engineOf(t.key)
      const s = shape(session)
      const layout = Secure.judgeLayout(engine.pk, s, trainParams.slotsPerComparison)
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(engine.pk, request.ciphertexts))
      if (t.batch !== undefined && cs.length !== t.batch.length) return yield* Party.fail(session, stage, "InvalidCiphertext", `${cs.length} judge ciphertexts for a batch of ${t.batch.length}`)
      const stock = t.stocks?.threshold
      const out = yield* Party.compute(session, stage, Secure.blindPacked(engine, layout, s.kappa, cs, stock?.stock))
      if (stock !== undefined) yield* Secure.refill(engine, stock.stock, { need: stock.need(request.iteration + 1) })
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, out) }
    })
  )


  const judgeHandler = handler(Spec.judge, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.judge.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined || t.batch === undefined || t.positive === undefined) return yield* Party.fail(session, stage, "NotLabelHolder", "only the label holder judges")
      const key = t.key
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(key.tpk.publicKey, request.ciphertexts))
      const { engine, cheaters, valid } = yield* Party.collectPartials(session, stage, key, cs, request.partials, { label: `judge/${request.iteration}`, ciphertexts: request.ciphertexts, sealed: true })
      if (cheaters.length > 0 || valid.length < key.tpk.threshold) return { cheaters, factors: new Uint8Array(0) }
      const layout = Secure.judgeLayout(engine.pk, shape(session), trainParams.slotsPerComparison)
      const plain = yield* Party.attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, cs, valid))
      const v = plain.flatMap((x) => Packing.unpack(layout, x)).slice(0, t.batch.length)
      // I_j = [u_j < 0] with u_j = y_j·v_j (§6.3 "Correct condition"); the gradient factor is d_j = I_j·y_j.
      const factors = t.batch.map((j, i) => {
        const y = t.positive![j] ? 1n : -1n
        return y * v[i]! < 0n ? y : 0n
      })
      if (t.judge === undefined) return yield* Party.fail(session, stage, "MissingState", "no judge key")
      const judgeEngine = { ...engine, pk: t.judge.pk }
      const stock = t.stocks?.judge
      const encrypted = yield* Party.compute(session, stage, Secure.encryptSigned(judgeEngine, factors, t.judge.sk, stock?.stock))
      // This iteration's masks and the later iterations' factors and masks.
      if (stock !== undefined) yield* Secure.refill(judgeEngine, stock.stock, { owner: t.judge.sk, need: stock.need(request.iteration + 1) + stock.blinding })
      return { cheaters: [], factors: Secure.encodeCiphertexts(t.judge.pk, encrypted) }
    })
  )

  const gradientHandler = handler(Spec.gradient, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.gradient.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined || t.batch === undefined || t.features === undefined) return yield* Party.fail(session, stage, "MissingState", "no batch")
      const threshold = yield* Party.engineOf(t.key)
      const s = shape(session)
      // SVM: the factors and this party's products and masks are under the label holder's judge key.
      const judgeKey = t.hyper.model === "svm" ? yield* judgeKeyOf(session, stage, t, trainParams.labelHolder, request.judgeKey) : undefined
      const engine = judgeKey === undefined ? threshold : { ...threshold, pk: judgeKey }
      const lists = yield* Party.attempt(session, stage, "InvalidCiphertext", () => request.inputs.map((b) => Secure.decodeCiphertexts(engine.pk, b)))
      if (lists.length === 0 || lists.some((l) => l.length !== t.batch!.length)) return yield* Party.fail(session, stage, "InvalidRequest", `expected ${t.batch.length} factors per input`)
      // SVM: the judge's [[I_j·y_j]]; logistic: [[D_j]] = Π_p [[s_j^p]] = [[4S²(½ + z_j/4 − y_j)]].
      const factors = lists.length === 1 ? lists[0]! : Secure.sumLists(lists)
      const layout = Secure.gradientLayout(engine.pk, s)
      const me = Party.indexOf(session, session.self)
      // Per gradient ciphertext, the exponent of row j is Σ_k x_jk·2^(slot_k·w) over this party's columns in it:
      // Π_j [[d_j]]^(that) is every column's Σ_j d_j·x_jk moved to its slot, in one multi-exponentiation (in the pool).
      const byCiphertext = new Map<number, Array<{ slot: number; column: number }>>()
      for (let k = 0; k < t.block.columns.length; k++) {
        const { ciphertext, slot } = Secure.gradientSlot(t.features, me, k, layout.slots)
        if (!byCiphertext.has(ciphertext)) byCiphertext.set(ciphertext, [])
        byCiphertext.get(ciphertext)!.push({ slot, column: k })
      }
      const masks = new Map<number, Map<number, bigint>>()
      const maskBits = Secure.gradientBits(s) + s.kappa
      const indices = [...byCiphertext.keys()]
      const packedMasks: Array<bigint> = []
      for (const index of indices) {
        const slots = byCiphertext.get(index)!
        const m = new Map(slots.map(({ slot }) => [slot, Secure.mask(maskBits)] as const))
        masks.set(index, m)
        packedMasks.push(Packing.pack(layout, Array.from({ length: Math.max(...slots.map((x) => x.slot)) + 1 }, (_, i) => m.get(i) ?? 0n)))
      }
      const groups = indices.map((index) => {
        const columns = byCiphertext.get(index)!
        return t.batch!.map((j, row) =>
          [factors[row]!, columns.reduce((e, { slot, column }) => e + (Linear.quantize(t.block.rows[j]![column]!, t.hyper.scaleBits) << BigInt(slot * layout.slotBits)), 0n)] as const)
      })
      // The masks' encryptions beside the products: the label holder's as its judge key's owner, from its stock (made
      // ahead by CRT) or in the pool; another party's under that key drawn directly on this thread, one or two a round
      // being too few for a worker's table of the key to pay (Randomness.AUTOMATIC_TABLE_AFTER direct draws, then
      // ~170 ms to build, per worker).
      const sk = judgeKey === undefined ? undefined : t.judge?.sk
      const stock = sk === undefined ? undefined : t.stocks?.judge
      const maskEncryptions = judgeKey !== undefined && sk === undefined
        ? Effect.sync(() => packedMasks.map((m) => Paillier.encryptSigned(engine.pk, m, Randomness.direct(engine.pk, engine.kernels))))
        : Secure.encryptSigned(engine, packedMasks, sk, stock?.stock)
      const [products, maskCiphertexts] = yield* Party.compute(session, stage, Effect.all([Secure.linearCombinations(engine, groups), maskEncryptions], { concurrency: "unbounded" }))
      if (stock !== undefined) yield* Secure.refill(engine, stock.stock, { owner: sk, need: stock.need(request.iteration + 1) })
      t.masks = masks
      const out = indices.map((index, i) => ({ index, ciphertext: Secure.encodeCiphertexts(engine.pk, [Paillier.add(products[i]!, maskCiphertexts[i]!)]) }))
      return { ciphertexts: out }
    })
  )

  const updateHandler = handler(Spec.update, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.update.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined || t.batch === undefined || t.masks === undefined || t.features === undefined) return yield* Party.fail(session, stage, "MissingState", "no gradient pending")
      const key = t.key
      const mine = [...t.masks.keys()].sort((a, b) => a - b)
      let plain: Array<bigint>
      let layout: Packing.Layout
      if (t.hyper.model === "svm") {
        // Opened by the label holder under its judge key (spec.ts `open`), each value with the randomness of its
        // ciphertext: checked against `request.ciphertexts`, the sums the coordinator formed in the gradient round
        // from every party's contribution and sent the label holder to open. The label holder cannot pick that
        // ciphertext after the fact: its only part in it is its own contribution, sent in the gradient round before
        // the opening (and (m, r) ↦ (1+N)^m·r^N is one-to-one, so no second value opens it); nor can a relay of the
        // openings alter one. A coordinator substituting the sum itself is not covered (spec.ts leakage notes).
        const judge = t.judge
        const opened = request.opened
        if (judge === undefined || opened === undefined) return yield* Party.fail(session, stage, "MissingState", "no opened gradient")
        const all = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(judge.pk, request.ciphertexts))
        if (mine.some((i) => i >= all.length || i >= opened.length)) return yield* Party.fail(session, stage, "InvalidRequest", "a gradient value is missing")
        const kernels = yield* Secure.kernels
        plain = yield* Effect.try({
          try: () =>
            mine.map((i) => {
              const value = BigInt(opened[i]!.value)
              Paillier.verifyDecryption(all[i]!, { m: Paillier.toResidue(judge.pk, value), r: BigInt(opened[i]!.randomness) }, kernels)
              return value
            }),
          catch: (error) => Party.failure(session, stage, "InvalidOpening", `the label holder ${trainParams.labelHolder}'s opening: ${error instanceof Error ? error.message : String(error)}`)
        })
        layout = Secure.gradientLayout(judge.pk, shape(session))
      } else {
        const all = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(key.tpk.publicKey, request.ciphertexts))
        if (mine.some((i) => i >= all.length)) return yield* Party.fail(session, stage, "InvalidRequest", "a gradient ciphertext is missing")
        // Each party's batch proof covers every gradient ciphertext, so all are checked; only ours are combined.
        const { engine, cheaters, valid } = yield* Party.collectPartials(session, stage, key, all, request.partials, { label: `gradient/${request.iteration}`, ciphertexts: request.ciphertexts, sealed: false })
        if (cheaters.length > 0 || valid.length < key.tpk.threshold) return { cheaters }
        layout = Secure.gradientLayout(engine.pk, shape(session))
        plain = yield* Party.attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, all, valid, mine))
      }
      const me = Party.indexOf(session, session.self)
      const totals: Array<bigint> = []
      for (let k = 0; k < t.block.columns.length; k++) {
        const { ciphertext, slot } = Secure.gradientSlot(t.features, me, k, layout.slots)
        const slots = Packing.unpack(layout, plain[mine.indexOf(ciphertext)]!)
        totals.push(slots[slot]! - t.masks.get(ciphertext)!.get(slot)!)
      }
      t.w = Linear.step(t.hyper, t.w, totals, t.batch.length)
      t.batch = undefined
      t.masks = undefined
      // The iteration boundary a restarted coordinator resumes from, sealed before anyone learns it was reached.
      const progress = { taskId: session.taskId, iteration: request.iteration + 1, weights: Array.from(t.w), rpi: t.next.rpi.toString(), salt: t.next.salt, ids: t.ids }
      yield* Effect.mapError(PartialModels.saveProgress(session.self, progress), (e) => Party.failure(session, stage, "ProgressNotSaved", e.message))
      return { cheaters: [], reveal: { rpi: t.next.rpi.toString(), salt: t.next.salt } }
    })
  )

  // SVM: the label holder opens the summed masked gradients (one ciphertext per gradient layout's worth of features).
  const openHandler = handler(Spec.open, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.open.name
      const t = yield* Party.trainState(session, stage)
      const sk = t.judge?.sk
      if (sk === undefined || t.features === undefined || t.batch === undefined) return yield* Party.fail(session, stage, "NotLabelHolder", "only the label holder opens, after its judge")
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(sk.publicKey, request.ciphertexts))
      // Only the gradient's own ciphertexts: one per gradient layout's worth of every party's features.
      const expected = Secure.gradientCiphertexts(t.features, Secure.gradientLayout(sk.publicKey, shape(session)).slots)
      if (cs.length !== expected) return yield* Party.fail(session, stage, "InvalidRequest", `${cs.length} gradient ciphertexts, ${expected} expected`)
      const kernels = yield* Secure.kernels
      // With each value the randomness of its ciphertext, which the parties check it against (update).
      return {
        openings: cs.map((c) => {
          const { m, r } = Paillier.decryptWithProof(sk, c, kernels)
          return { value: Paillier.toSigned(sk.publicKey, m).toString(), randomness: r.toString() }
        })
      }
    })
  )

  const finishHandler = handler(Spec.finish, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.finish.name
      const t = yield* Party.trainState(session, stage)
      if (t.key === undefined) return yield* Party.fail(session, stage, "MissingState", "no key")
      const model: PartialModels.PartialModel = {
        modelId: session.taskId,
        kind: Spec.kinds[t.hyper.model],
        parties: session.participants,
        labelHolder: trainParams.labelHolder,
        idColumn: trainParams.idColumn,
        columns: t.block.columns,
        mean: t.block.mean,
        std: t.block.std,
        weights: Array.from(t.w),
        featureBound: trainParams.featureBound ?? Spec.defaults.featureBound,
        scaleBits: t.hyper.scaleBits,
        ids: t.ids,
        test: t.split.test,
        publicKey: ThresholdSerialization.encodePublicKey(t.key.tpk),
        share: ThresholdSerialization.encodeKeyShare(t.key.share),
        unsafeAllowTestKeySizes: t.key.policy.unsafeAllowTestKeySizes === true
      }
      const stored = yield* Effect.mapError(PartialModels.put(session.self, model), (e) => Party.failure(session, stage, "ModelNotStored", e.message))
      // The owner's own record of its partial model (never sent anywhere); the label holder adds its test predictions.
      const output = {
        taskId: session.taskId,
        kind: model.kind,
        columns: model.columns,
        weights: model.weights,
        scaling: { mean: model.mean, std: model.std },
        constantColumns: t.block.constantColumns,
        /** This party's own ids in the common aligned order (what its weights were trained over). */
        alignedIds: t.ids,
        /** Content hash of the sealed partial model this party stored (PartialModels.digestOf). */
        modelDigest: stored.digest,
        evaluation: t.evaluation
      }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { digest, location }
    })
  )

  // Stateless: a later attempt (or a failed task's coordinator) may send it without any training memory.
  const cleanupHandler = handler(Spec.cleanup, (_request, session) =>
    Effect.map(
      Effect.mapError(PartialModels.removeProgress(session.self, session.taskId), (e) => Party.failure(session, Spec.cleanup.name, "ProgressNotRemoved", e.message)),
      (removed) => ({ removed })
    ))

  return [prepare, deal, keys, score, blindHandler, judgeHandler, gradientHandler, openHandler, updateHandler, finishHandler, cleanupHandler]
}
