/** Participant side of encrypted linear inference: the requester's and the owner's handlers (spec.ts). */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { artifactId, problem } from "../../models/ModelArtifact.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import { Ckks, type CkksError, foldScaling, type RequesterKeys } from "./Ckks.ts"
import type { Params } from "./spec.ts"
import * as Spec from "./spec.ts"

const KEYS = "he/keys"

const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })

const ckksFailure = (session: ParticipantSession, stage: string) => (e: CkksError) => failure(session, stage, `Ckks${e.reason}`, e.detail)

export const handlers = (datasetName: string, params: Params) => [
  handler(Spec.encrypt, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.encrypt.name
      const data = yield* (yield* LocalData).dataset(datasetName)
      const missing = params.features.find((c) => !data.columnNames.includes(c) || !data.isNumeric(c))
      if (missing !== undefined) return yield* Effect.fail(failure(session, stage, "MissingColumn", `dataset ${data.name} has no numeric column ${missing}`))
      const columns = params.features.map((c) => data.numeric(c))
      const rows = Array.from({ length: data.rowCount }, (_, i) => Float64Array.from(columns, (c) => c[i]!))
      const bad = rows.findIndex((r) => r.some((v) => !Number.isFinite(v)))
      if (bad >= 0) return yield* Effect.fail(failure(session, stage, "NonFiniteFeature", `row ${bad + 1} holds a value that is not a finite number`))
      const { keys, request } = yield* Effect.mapError((yield* Ckks).encryptFeatures(rows, params.ckks), ckksFailure(session, stage))
      session.memory.set(KEYS, keys)
      return request
    })),

  handler(Spec.evaluate, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.evaluate.name
      if (request.modelId !== params.modelId) return yield* Effect.fail(failure(session, stage, "ModelMismatch", `asked for ${request.modelId}, the task names ${params.modelId}`))
      const model = yield* (yield* Spec.OwnedModels).linear(params.modelId)
      if (artifactId(model) !== params.modelId) return yield* Effect.fail(failure(session, stage, "ModelMismatch", `the stored artifact does not hash to ${params.modelId}`))
      const invalid = problem(model)
      if (invalid !== undefined) return yield* Effect.fail(failure(session, stage, "InvalidModel", invalid))
      if (model.featureColumns.join("\u0000") !== params.features.join("\u0000")) {
        return yield* Effect.fail(failure(session, stage, "FeatureMismatch", `the model reads ${model.featureColumns.join(", ")}; the task sends ${params.features.join(", ")}`))
      }
      return yield* Effect.mapError((yield* Ckks).evaluateLinear(request.features, foldScaling(model)), ckksFailure(session, stage))
    })),

  handler(Spec.decrypt, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.decrypt.name
      const keys = session.memory.get(KEYS) as RequesterKeys | undefined
      if (keys === undefined) return yield* Effect.fail(failure(session, stage, "MissingState", "no keys: he.encrypt did not run in this attempt"))
      const scores = yield* Effect.mapError((yield* Ckks).decryptScore(keys, request), ckksFailure(session, stage))
      const output = { modelId: params.modelId, scores: Array.from(scores) }
      yield* TaskOutput.deliver(session, output)
      session.memory.delete(KEYS)
      return { rows: scores.length, digest: "0x" + bytesToHex(sha256(new TextEncoder().encode(JSON.stringify(output)))) }
    }))
]
