/**
 * Joint prediction at one party (PROTOCOLS.md §3 item 6), for the prediction kinds and for the evaluation of a
 * training task's test split: each party encrypts its partial scores under the threshold key, every party's
 * partial decryptions (one batch, one proof) are sealed to the requester, who checks them, combines and keeps the
 * scores as its private output. The `decrypt` stage also serves training's judge and gradient rounds.
 */
import { Effect } from "effect"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import { handler, type ParticipantSession } from "../Protocol.ts"
import * as Linear from "./Linear.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Party from "./Party.ts"
import * as Secure from "./Secure.ts"
import * as Spec from "./spec.ts"

// Decoded key material per stored model object: a store that hands out the same object for an unchanged model
// (participant/src/modeling/vertical/SealedModelStore.ts) gets the same key objects too, so the key is decoded
// and validated once and the kernels' per-key tables are reused by every prediction with that model.
const keysOf = new WeakMap<PartialModels.PartialModel, Party.Key>()

export const handlers = (datasetName: string, task: Party.Task, options: Party.Options = {}) => {
  const decryptHandler = handler(Spec.decrypt, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.decrypt.name
      const key = yield* Party.keyed(session, stage)
      const engine = yield* Party.engineOf(key)
      const cs = yield* Party.attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(engine.pk, request.ciphertexts))
      let partials = yield* Party.compute(session, stage, Secure.partialDecrypt(engine, key.share, cs))
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
      const { engine, cheaters, valid } = yield* Party.collectPartials(session, stage, p.key, cs, request.partials, `decrypt|predict/${request.requestId}`)
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
      const output = { taskId: session.taskId, modelId: p.modelId, ids: p.ids, scores, positive }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { cheaters: [], count: p.ids.length, digest, location }
    })
  )

  return [decryptHandler, predictScore, predictOutput]
}
