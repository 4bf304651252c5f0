/**
 * Trained models, content-addressed (core/src/models/ModelArtifact.ts): the id is sha256 of the artifact's
 * canonical JSON, checked on every `put`, so a stored model is exactly the one a task's notarized result names.
 * Rows live in the coordinator store's `models` table (migration 2). Online prediction runs here:
 * `linear` in plain arithmetic, `tfjs-layers` through the same tfjs runtime the participants use.
 */
import { Effect, Schema } from "effect"
import type { ModelArtifact as Artifact } from "@jointly/core/internal/models/ModelArtifact"
import { artifactId, bytesToFloat32, ModelArtifact, predictLinear, problem, scaleRow } from "@jointly/core/internal/models/ModelArtifact"
import type { ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { InvalidRows, Tampered, UnknownModel } from "@jointly/core/internal/api/Errors"
import type { Sql } from "../store/Sql.ts"

export interface StoredModel {
  readonly id: string
  readonly format: Artifact["format"]
  readonly taskId: string | null
  readonly createdAt: string
  /** Encoded form (weights as base64): what the API returns and batch-prediction specs embed. */
  readonly artifact: unknown
}

export interface Prediction {
  /** Class label (classifiers), ±1 (`sign`), probability (`sigmoid`) or the score. */
  readonly prediction: string | number
  readonly scores?: ReadonlyArray<number>
}

/** An artifact as stored, decoded and checked, or the Tampered naming why the row holds no usable model. */
const checkArtifact = (encoded: unknown): Artifact | Tampered => {
  const decoded = Schema.decodeUnknownExit(ModelArtifact)(encoded)
  if (decoded._tag === "Failure") return new Tampered({ message: `not a model artifact: ${String(decoded.cause)}` })
  const invalid = problem(decoded.value)
  return invalid ? new Tampered({ message: `not a usable model artifact: ${invalid}` }) : decoded.value
}

const decodeArtifact = (encoded: unknown): Effect.Effect<Artifact, Tampered> => {
  const checked = checkArtifact(encoded)
  return checked instanceof Tampered ? Effect.fail(checked) : Effect.succeed(checked)
}

/**
 * Reads and prediction are Effects whose refusals are the API's tagged errors (UnknownModel, InvalidRows, Tampered);
 * the store not answering a read is a defect, as for the coordinator's other reads. `put` stays a Promise: the
 * scheduler's write path turns its failure, whatever it is, into OutcomeNotStored.
 */
export const make = (sql: Sql, options: { readonly runtime?: () => Promise<ModelRuntimeApi> } = {}) => {
  const cache = new Map<string, Artifact>()
  const read = <A>(f: () => Promise<A>) => Effect.promise(f)

  const toRow = (r: any): StoredModel => ({ id: r.id, format: r.format, taskId: r.task_id, createdAt: new Date(r.created_at).toISOString(), artifact: r.artifact })

  /** The stored model, or undefined when there is none of that id. */
  const get = (id: string): Effect.Effect<StoredModel | undefined> =>
    Effect.map(read(() => sql.query(`select * from models where id = $1`, [id])), ([row]) => (row ? toRow(row) : undefined))

  const artifact = (id: string): Effect.Effect<Artifact, UnknownModel | Tampered> =>
    Effect.gen(function*() {
      const cached = cache.get(id)
      if (cached) return cached
      const row = yield* get(id)
      if (!row) return yield* new UnknownModel({ message: `no model ${id}` })
      const decoded = yield* decodeArtifact(row.artifact)
      cache.set(id, decoded)
      return decoded
    })

  /** The rows as arrays in the model's feature order; InvalidRows naming the first that is not `width` finite numbers. */
  const matrixOf = (model: Artifact, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>): Effect.Effect<Array<ReadonlyArray<number>>, InvalidRows> => {
    const width = model.featureColumns.length
    const matrix: Array<ReadonlyArray<number>> = []
    for (const [i, row] of rows.entries()) {
      const values = Array.isArray(row) ? row : model.featureColumns.map((c) => (row as Record<string, number>)[c])
      if (values.length !== width || values.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
        return Effect.fail(new InvalidRows({ message: `row ${i}: needs ${width} finite numbers (${model.featureColumns.join(", ")})` }))
      }
      matrix.push(values as ReadonlyArray<number>)
    }
    return Effect.succeed(matrix)
  }

  return {
    /**
     * Stores an encoded artifact; returns its id. Idempotent. When `expectedId` is given (a task result's
     * `modelId`), a different content hash is refused.
     */
    put: async (encoded: unknown, meta: { readonly taskId?: string; readonly expectedId?: string } = {}): Promise<string> => {
      const decoded = checkArtifact(encoded)
      if (decoded instanceof Tampered) throw decoded
      const id = artifactId(decoded)
      if (meta.expectedId !== undefined && meta.expectedId !== id) {
        throw new Tampered({ message: `the artifact hashes to ${id}, not ${meta.expectedId}` })
      }
      const canonical = Schema.encodeSync(ModelArtifact)(decoded)
      await sql.query(`insert into models(id, format, artifact, task_id) values ($1, $2, $3, $4) on conflict (id) do nothing`, [
        id,
        decoded.format,
        JSON.stringify(canonical),
        meta.taskId ?? null
      ])
      return id
    },
    get,
    /** The decoded artifact (cached): its feature columns for the API's metadata view. */
    artifact,
    list: (): Effect.Effect<Array<Omit<StoredModel, "artifact">>> =>
      Effect.map(read(() => sql.query(`select id, format, task_id, created_at from models order by created_at desc limit 200`)), (rows) =>
        rows.map((r: any) => ({
          id: r.id,
          format: r.format,
          taskId: r.task_id,
          createdAt: new Date(r.created_at).toISOString()
        }))),

    /** Predicts rows given as feature-name → value objects or as arrays in the model's feature order. */
    predict: (id: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>): Effect.Effect<Array<Prediction>, UnknownModel | InvalidRows | Tampered> =>
      Effect.gen(function*() {
        const model = yield* artifact(id)
        const matrix = yield* matrixOf(model, rows)
        if (model.format === "linear") return matrix.map((row) => ({ prediction: predictLinear(model, row) }))
        if (!options.runtime) return yield* new Tampered({ message: "this coordinator has no tfjs runtime for tfjs-layers models" })
        const runtime = yield* read(options.runtime)
        // The runtime failing on a model that decoded and rows that fit is a defect (500), as it was.
        const outputs = yield* Effect.orDie(runtime.predict({ topology: model.topology, weights: bytesToFloat32(model.weights), features: Float32Array.from(matrix.flatMap((row) => scaleRow(row, model.scaling))), rows: matrix.length }))
        const units = matrix.length === 0 ? 0 : outputs.length / matrix.length
        return matrix.map((_, i) => {
          const scores = Array.from(outputs.subarray(i * units, (i + 1) * units))
          const classes = model.classes
          if (!classes) return { prediction: units === 1 ? scores[0]! : scores.indexOf(Math.max(...scores)), scores }
          if (units === 1) return { prediction: classes[scores[0]! >= 0.5 ? 1 : 0]!, scores }
          return { prediction: classes[scores.indexOf(Math.max(...scores))]!, scores }
        })
      })
  }
}

export type ModelStore = ReturnType<typeof make>
