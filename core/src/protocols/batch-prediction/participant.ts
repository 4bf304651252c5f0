/** Participant side of batch prediction: verify the model, predict every row, store locally, return a digest. */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { LocalData } from "../../data/Tabular.ts"
import { artifactId, bytesToFloat32, predictLinear, problem } from "../../models/ModelArtifact.ts"
import { ModelRuntime } from "../federated-learning/ModelRuntime.ts"
import { featureMatrix } from "../federated-learning/Updates.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import type { Params } from "./spec.ts"
import { predict, PredictionSink } from "./spec.ts"

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)

export const handlers = (datasetName: string, params: Params) => [
  handler(predict, ({ modelId }, session) =>
    Effect.gen(function*() {
      const fail = (code: string, detail: string) => new ParticipantFailure({ participant: session.self, stage: predict.name, code, detail })
      const model = params.model
      if (modelId !== params.modelId || artifactId(model) !== params.modelId) return yield* fail("ModelMismatch", `the artifact does not hash to ${params.modelId}`)
      const invalid = problem(model)
      if (invalid) return yield* fail("InvalidModel", invalid)
      const data = yield* (yield* LocalData).dataset(datasetName)
      const missing = model.featureColumns.find((c) => !data.columnNames.includes(c) || !data.isNumeric(c))
      if (missing) return yield* fail("MissingColumn", `dataset ${data.name} has no numeric column ${missing}`)
      const features = featureMatrix(data, model.featureColumns, model.scaling)
      const width = model.featureColumns.length
      const lines: Array<string> = []
      if (model.format === "linear") {
        lines.push("row,prediction")
        for (let i = 0; i < data.rowCount; i++) lines.push(`${i},${predictLinear(model, features.subarray(i * width, (i + 1) * width))}`)
      } else {
        const runtime = yield* ModelRuntime
        const outputs = yield* Effect.mapError(
          runtime.predict({ topology: model.topology, weights: bytesToFloat32(model.weights), features, rows: data.rowCount }),
          (e) => fail(`Model${e.reason}`, e.detail)
        )
        const units = data.rowCount === 0 ? 0 : outputs.length / data.rowCount
        const classes = model.classes
        lines.push(classes ? "row,prediction,score" : `row,${Array.from({ length: units }, (_, j) => `output_${j}`).join(",")}`)
        for (let i = 0; i < data.rowCount; i++) {
          const row = outputs.subarray(i * units, (i + 1) * units)
          if (!classes) {
            lines.push(`${i},${Array.from(row).join(",")}`)
          } else if (units === 1) {
            lines.push(`${i},${csvCell(classes[row[0]! >= 0.5 ? 1 : 0]!)},${row[0]}`)
          } else {
            let best = 0
            for (let j = 1; j < units; j++) if (row[j]! > row[best]!) best = j
            lines.push(`${i},${csvCell(classes[best]!)},${row[best]}`)
          }
        }
      }
      const bytes = new TextEncoder().encode(lines.join("\n") + "\n")
      yield* Effect.mapError((yield* PredictionSink).write(session.taskId, bytes), (e) => fail("SinkFailed", e.detail))
      return { count: data.rowCount, digest: "0x" + bytesToHex(sha256(bytes)) }
    }))
]
