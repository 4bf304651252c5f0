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

const decodeArtifact = (encoded: unknown): Artifact => {
  const decoded = Schema.decodeUnknownExit(ModelArtifact)(encoded)
  if (decoded._tag === "Failure") throw new Tampered({ message: `not a model artifact: ${String(decoded.cause)}` })
  const invalid = problem(decoded.value)
  if (invalid) throw new Tampered({ message: `not a usable model artifact: ${invalid}` })
  return decoded.value
}

export const make = (sql: Sql, options: { readonly runtime?: () => Promise<ModelRuntimeApi> } = {}) => {
  const cache = new Map<string, Artifact>()

  const toRow = (r: any): StoredModel => ({ id: r.id, format: r.format, taskId: r.task_id, createdAt: new Date(r.created_at).toISOString(), artifact: r.artifact })

  const get = async (id: string): Promise<StoredModel | undefined> => {
    const [row] = await sql.query(`select * from models where id = $1`, [id])
    return row ? toRow(row) : undefined
  }

  const artifact = async (id: string): Promise<Artifact> => {
    const cached = cache.get(id)
    if (cached) return cached
    const row = await get(id)
    if (!row) throw new UnknownModel({ message: `no model ${id}` })
    const decoded = decodeArtifact(row.artifact)
    cache.set(id, decoded)
    return decoded
  }

  return {
    /**
     * Stores an encoded artifact; returns its id. Idempotent. When `expectedId` is given (a task result's
     * `modelId`), a different content hash is refused.
     */
    put: async (encoded: unknown, meta: { readonly taskId?: string; readonly expectedId?: string } = {}): Promise<string> => {
      const decoded = decodeArtifact(encoded)
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
    list: async (): Promise<Array<Omit<StoredModel, "artifact">>> =>
      (await sql.query(`select id, format, task_id, created_at from models order by created_at desc limit 200`)).map((r: any) => ({
        id: r.id,
        format: r.format,
        taskId: r.task_id,
        createdAt: new Date(r.created_at).toISOString()
      })),

    /** Predicts rows given as feature-name → value objects or as arrays in the model's feature order. */
    predict: async (id: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>): Promise<Array<Prediction>> => {
      const model = await artifact(id)
      const width = model.featureColumns.length
      const matrix = rows.map((row, i) => {
        const values = Array.isArray(row) ? row : model.featureColumns.map((c) => (row as Record<string, number>)[c])
        if (values.length !== width || values.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
          throw new InvalidRows({ message: `row ${i}: needs ${width} finite numbers (${model.featureColumns.join(", ")})` })
        }
        return values as ReadonlyArray<number>
      })
      if (model.format === "linear") return matrix.map((row) => ({ prediction: predictLinear(model, row) }))
      if (!options.runtime) throw new Tampered({ message: "this coordinator has no tfjs runtime for tfjs-layers models" })
      const runtime = await options.runtime()
      const features = Float32Array.from(matrix.flatMap((row) => scaleRow(row, model.scaling)))
      const outputs = await Effect.runPromise(runtime.predict({ topology: model.topology, weights: bytesToFloat32(model.weights), features, rows: matrix.length }))
      const units = matrix.length === 0 ? 0 : outputs.length / matrix.length
      return matrix.map((_, i) => {
        const scores = Array.from(outputs.subarray(i * units, (i + 1) * units))
        const classes = model.classes
        if (!classes) return { prediction: units === 1 ? scores[0]! : scores.indexOf(Math.max(...scores)), scores }
        if (units === 1) return { prediction: classes[scores[0]! >= 0.5 ? 1 : 0]!, scores }
        return { prediction: classes[scores.indexOf(Math.max(...scores))]!, scores }
      })
    }
  }
}

export type ModelStore = ReturnType<typeof make>
