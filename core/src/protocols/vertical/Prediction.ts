/**
 * Joint prediction at one party (PROTOCOLS.md §3 item 6), for the prediction kinds and for the evaluation of a
 * training task's test split: each party encrypts its partial scores under the threshold key, every party's
 * partial decryptions (one batch, one proof) are sealed to the requester, who checks them, combines and keeps the
 * scores as its private output. The `decrypt` stage also serves training's judge and gradient rounds.
 */
import { Effect } from "effect"
import * as KeyAgreement from "../../crypto/KeyAgreement.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as PrgKernel from "../../crypto/PrgKernel.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import { handler, type ParticipantSession } from "../Protocol.ts"
import * as Linear from "./Linear.ts"
import * as MaskedSum from "./MaskedSum.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Party from "./Party.ts"
import * as Secure from "./Secure.ts"
import * as Spec from "./spec.ts"

// Decoded key material per stored model object: a store that hands out the same object for an unchanged model
// (participant/src/modeling/vertical/SealedModelStore.ts) gets the same key objects too, so the key is decoded
// and validated once and the kernels' per-key tables are reused by every prediction with that model.
const keysOf = new WeakMap<PartialModels.PartialModel, Party.Key>()

/** A prediction task's output at the requester: its ids, scores and labels stay with it; the digest is reported. */
const deliverScores = (session: ParticipantSession, modelId: string, ids: ReadonlyArray<string>, scores: ReadonlyArray<number>, positive: ReadonlyArray<boolean>) =>
  Effect.gen(function*() {
    const output = { taskId: session.taskId, modelId, ids, scores, positive }
    const digest = sha256Digest(output)
    const location = yield* TaskOutput.deliver(session, { ...output, digest })
    return { count: ids.length, digest, location }
  })

export const handlers = (datasetName: string, task: Party.Task, options: Party.Options = {}) => {
  const decryptHandler = handler(Spec.decrypt, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.decrypt.name
      const key = yield* Party.keyed(session, stage)
      const engine = yield* Party.engineOf(key)
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(engine.pk, request.ciphertexts))
      // Sealed to this party itself (the label holder's judge, a requester's threshold prediction): only it
      // combines the round, with the batch it keeps, so the batch needs no proof and is not sent at all.
      const ownRound = request.sealTo === session.self
      let partials = yield* Party.compute(session, stage, Secure.partialDecrypt(engine, key.share, cs, { prove: !ownRound }))
      // A round this party combines too is combined with this copy, not the one the coordinator relays back.
      if (ownRound || request.sealTo === undefined) Party.keepOwnPartials(session, request.label, request.ciphertexts, partials)
      if (ownRound) return { partials: new Uint8Array(0) }
      // One forged value in an otherwise honest batch: the batch proof must still catch it.
      if (options.cheat === "partial-decryption") partials = { ...partials, values: partials.values.map((v, j) => (j === partials.values.length - 1 ? (v * 4n) % engine.pk.n2 : v)) }
      const bytes = Secure.encodePartials(key.tpk, partials)
      return { partials: request.sealTo === undefined ? bytes : yield* Party.seal(session, stage, request.sealTo, `decrypt|${request.label}`, bytes) }
    })
  )

  const predictRows = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      const t = session.memory.get(Party.TRAIN) as Party.TrainState | undefined
      if (t !== undefined) {
        if (t.key === undefined) return yield* Party.fail(session, stage, "MissingState", "no key")
        return { key: t.key, scaleBits: t.hyper.scaleBits, ids: t.split.test.map((i) => t.ids[i]!), rows: t.split.test.map((i) => t.block.rows[i]!), w: Array.from(t.w), modelId: session.taskId }
      }
      const found = session.memory.get(Party.PREDICT) as Party.PredictState | undefined
      if (found !== undefined) return { key: found.key, scaleBits: found.model.scaleBits, ids: found.ids, rows: found.rows, w: found.model.weights, modelId: found.model.modelId }
      if (task.kind === "train") return yield* Party.fail(session, stage, "MissingState", "prepare has not run")
      const params = task.params
      const model = yield* Effect.mapError(PartialModels.get(session.self, params.model), (e) =>
        Party.failure(session, stage, e.reason === "Missing" ? "UnknownModel" : `PartialModel${e.reason}`, e.message))
      if (model.parties.length !== session.participants.length || model.parties.some((p, i) => p !== session.participants[i])) {
        return yield* Party.fail(session, stage, "ModelMismatch", "the prediction task must name the training task's parties in the same order")
      }
      let key = keysOf.get(model)
      if (key === undefined) {
        const policy = { unsafeAllowTestKeySizes: model.unsafeAllowTestKeySizes }
        const tpk = yield* Party.attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodePublicKey(model.publicKey, policy))
        const share = yield* Party.attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodeKeyShare(tpk, model.share))
        key = { tpk, share, policy }
        keysOf.set(model, key)
      }
      const ids = task.kind === "online" ? [...task.params.ids] : task.params.subset === "all" ? [...model.ids] : model.test.map((i) => model.ids[i]!)
      const data = yield* (yield* LocalData).dataset(datasetName)
      if (!data.columnNames.includes(params.idColumn)) return yield* Party.fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${params.idColumn}`)
      const text = data.strings(params.idColumn)
      const rowOf = new Map<string, number>()
      text.forEach((id, r) => {
        if (!rowOf.has(id)) rowOf.set(id, r)
      })
      const missing = ids.filter((id) => !rowOf.has(id))
      if (missing.length > 0) return yield* Party.fail(session, stage, "UnknownId", `${missing.length} requested id(s) are not in dataset ${data.name}`)
      const columns: Array<Float64Array | undefined> = []
      for (const c of model.columns) columns.push(c === Linear.BIAS ? undefined : (yield* Party.numericColumn(session, stage, data, c)).values)
      const rows: Array<Float64Array> = []
      for (const id of ids) {
        const r = rowOf.get(id)!
        const x = new Float64Array(model.columns.length)
        for (let k = 0; k < x.length; k++) {
          const col = columns[k]
          if (col === undefined) {
            x[k] = 1
            continue
          }
          const raw = col[r]!
          if (!Number.isFinite(raw)) return yield* Party.fail(session, stage, "InvalidFeature", `column ${model.columns[k]} of id ${id} is empty or not finite`)
          x[k] = Math.max(-model.featureBound, Math.min(model.featureBound, (raw - model.mean[k]!) / model.std[k]!))
        }
        rows.push(x)
      }
      session.memory.set(Party.PREDICT, { model, key, ids, rows } satisfies Party.PredictState)
      return { key, scaleBits: model.scaleBits, ids, rows, w: model.weights, modelId: model.modelId }
    })

  const predictScore = handler(Spec.predictScore, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictScore.name
      const p = yield* predictRows(session, stage)
      const engine = yield* Party.engineOf(p.key)
      const layout = Secure.predictionLayout(engine.pk, { parties: session.participants.length, scaleBits: p.scaleBits })
      const limit = 1n << BigInt(layout.valueBits - 1)
      const values = p.rows.map((x) => Linear.partialScore(p.w, x, p.scaleBits))
      if (values.some((z) => z >= limit || -z >= limit)) return yield* Party.fail(session, stage, "ScoreOverflow", "a partial score is out of range")
      const packed: Array<bigint> = []
      for (let i = 0; i < values.length; i += layout.slots) packed.push(Packing.pack(layout, values.slice(i, i + layout.slots)))
      const cs = yield* Party.compute(session, stage, Secure.encryptSigned(engine, packed))
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, cs), count: values.length, publicKey: ThresholdSerialization.encodePublicKey(p.key.tpk) }
    })
  )

  const predictOutput = handler(Spec.predictOutput, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictOutput.name
      const p = yield* predictRows(session, stage)
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(p.key.tpk.publicKey, request.ciphertexts))
      const { engine, cheaters, valid } = yield* Party.collectPartials(session, stage, p.key, cs, request.partials, { label: `predict/${request.requestId}`, ciphertexts: request.ciphertexts, sealed: true })
      if (cheaters.length > 0 || valid.length < p.key.tpk.threshold) return { cheaters, count: 0, digest: "", location: "" }
      const layout = Secure.predictionLayout(engine.pk, { parties: session.participants.length, scaleBits: p.scaleBits })
      const plain = yield* Party.attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, cs, valid))
      const totals = plain.flatMap((x) => Packing.unpack(layout, x)).slice(0, p.ids.length)
      const scale = 2 ** (2 * p.scaleBits)
      const scores = totals.map((z) => Number(z) / scale)
      const positive = totals.map((z) => z >= 0n)
      const t = session.memory.get(Party.TRAIN) as Party.TrainState | undefined
      let confusion: Linear.Confusion | undefined
      let roc: Linear.Roc | undefined
      if (t !== undefined) {
        t.evaluation = { ids: p.ids, scores, positive }
        if (t.positive !== undefined) {
          const actual = t.split.test.map((i) => t.positive![i]!)
          confusion = Linear.confusion(positive, actual)
          roc = Linear.roc(scores, actual)
        }
        const digest = sha256Digest(t.evaluation)
        return { cheaters: [], count: p.ids.length, digest, location: `memory:${session.taskId}`, confusion, roc }
      }
      return { cheaters: [], ...(yield* deliverScores(session, p.modelId, p.ids, scores, positive)) }
    })
  )

  /** This party's pair masks of a masked prediction (MaskedSum.ts): one per other party but the requester. */
  const pairMasks = (session: ParticipantSession, stage: string, requester: string, requestId: string) =>
    Effect.gen(function*() {
      const s = yield* Party.psiState(session, stage)
      const agreement = yield* KeyAgreement.KeyAgreement
      const self = Party.indexOf(session, session.self)
      const pairs: Array<MaskedSum.PairMask> = []
      for (const q of session.participants.filter((q) => q !== requester && q !== session.self)) {
        const peer = s.peers.get(q)
        if (peer === undefined) return yield* Party.fail(session, stage, "UnknownParty", q)
        // The channel keys are fresh for this task and attempt; the context binds the seed to this request too.
        const context = `jointly/vertical/predict-mask|${session.taskId}|${session.attempt}|${requestId}`
        const seed = yield* Party.attempt(session, stage, "KeyAgreementFailed", () => agreement.agree(s.channel.secretKey, peer.channelPublicKey, context))
        pairs.push({ seed, sign: self < Party.indexOf(session, q) ? 1 : -1 })
      }
      return pairs
    })

  /** Each row's partial score, checked against the masked sum's bound; and the prediction's requester. */
  const maskedScores = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      if (task.kind === "train") return yield* Party.fail(session, stage, "UnexpectedStage", "a training task's evaluation runs under the threshold key")
      const p = yield* predictRows(session, stage)
      const values = p.rows.map((x) => Linear.partialScore(p.w, x, p.scaleBits))
      if (!values.every(MaskedSum.inRange)) return yield* Party.fail(session, stage, "ScoreOverflow", "a partial score is out of range")
      return { p, values, requester: task.params.requester }
    })

  const predictMasked = handler(Spec.predictMasked, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictMasked.name
      const { values, requester } = yield* maskedScores(session, stage)
      // The requester adds its own scores when the others' arrive (predictMaskedOutput): it sends nothing.
      if (session.self === requester) return { count: values.length, payload: new Uint8Array(0) }
      const pairs = yield* pairMasks(session, stage, requester, request.requestId)
      const masked = MaskedSum.mask(values, pairs, `predict/${request.requestId}`, yield* PrgKernel.PrgKernel)
      return { count: values.length, payload: yield* Party.seal(session, stage, requester, `predict-masked/${request.requestId}`, masked) }
    })
  )

  const predictMaskedOutput = handler(Spec.predictMaskedOutput, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictMaskedOutput.name
      const { p, values, requester } = yield* maskedScores(session, stage)
      if (session.self !== requester) return yield* Party.fail(session, stage, "NotRequester", "only the requester adds the masked scores")
      const others = session.participants.filter((q) => q !== session.self)
      const payloads = new Map(request.payloads.map((x) => [x.participant, x.payload]))
      const missing = others.filter((q) => !payloads.has(q))
      if (missing.length > 0 || payloads.size !== others.length || request.payloads.length !== others.length) {
        return yield* Party.fail(session, stage, "MissingScores", `expected one masked vector from each of ${others.length} parties, got ${request.payloads.length} (missing ${missing.length})`)
      }
      const masked: Array<Array<bigint>> = []
      for (const q of others) {
        const bytes = yield* Party.open(session, stage, q, `predict-masked/${request.requestId}`, payloads.get(q)!)
        masked.push(yield* Party.attempt(session, stage, "InvalidScores", () => MaskedSum.decode(bytes, values.length)))
      }
      const totals = MaskedSum.total(values, masked)
      const scale = 2 ** (2 * p.scaleBits)
      return yield* deliverScores(session, p.modelId, p.ids, totals.map((z) => Number(z) / scale), totals.map((z) => z >= 0n))
    })
  )

  return [decryptHandler, predictScore, predictOutput, predictMasked, predictMaskedOutput]
}
