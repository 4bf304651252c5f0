/**
 * Trained models, content-addressed (core/src/models/ModelArtifact.ts): the id is sha256 of the artifact's
 * canonical JSON, checked on every `put`, so a stored model is exactly the one a task's notarized result names.
 * Rows live in the coordinator store's `models` table (migration 2). Online prediction runs here:
 * `linear` in plain arithmetic, `tfjs-layers` through the same tfjs runtime the participants use.
 */
import { Effect, Schema } from "effect"
import type { ModelArtifact as Artifact } from "@jointly/core/internal/models/ModelArtifact"
import { artifactId, bytesToFloat32, ModelArtifact, predictLinear, problem, scaleRow } from "@jointly/core/internal/models/ModelArtifact"
import type { ModelRuntimeApi, ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
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
const decodeArtifact = (encoded: unknown): Effect.Effect<Artifact, Tampered> => {
  const decoded = Schema.decodeUnknownExit(ModelArtifact)(encoded)
  if (decoded._tag === "Failure") return Effect.fail(new Tampered({ message: `not a model artifact: ${String(decoded.cause)}` }))
  const invalid = problem(decoded.value)
  return invalid ? Effect.fail(new Tampered({ message: `not a usable model artifact: ${invalid}` })) : Effect.succeed(decoded.value)
}

/** The store's database did not answer or refused a statement; `operation` names what was being done. Nothing was written. */
export class ModelStoreFailed extends Schema.TaggedError<ModelStoreFailed>()("ModelStoreFailed", {
  operation: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the model store failed (${this.operation}): ${this.detail}`
  }
}

/**
 * The tfjs runtime's failure on a model that decoded and rows that fit its feature columns. A model it cannot
 * build, or whose input width is not its feature columns', is a stored model this coordinator cannot run
 * (Tampered, 500, the same for every caller); a computation that failed (the runtime's own resources) may succeed
 * later, like a store that did not answer (ModelStoreFailed, which the API answers 503 Unavailable).
 */
const runtimeRefused = (id: string, error: ModelRuntimeError): Tampered | ModelStoreFailed =>
  error.reason === "ComputeFailed"
    ? new ModelStoreFailed({ operation: "predict", detail: error.message })
    : new Tampered({ message: `model ${id} cannot be run: ${error.message}` })

/**
 * Every method is an Effect: refusals are the API's tagged errors (UnknownModel, InvalidRows, Tampered), the
 * database not answering is ModelStoreFailed; the HTTP services decide what a caller is answered (Services.ts).
 */
export const make = (sql: Sql, options: { readonly runtime?: () => Promise<ModelRuntimeApi> } = {}) => {
  const cache = new Map<string, Artifact>()
  const query = <T = Record<string, unknown>>(operation: string, text: string, params?: ReadonlyArray<unknown>) =>
    Effect.tryPromise({ try: () => sql.query<T>(text, params), catch: (cause) => new ModelStoreFailed({ operation, detail: cause instanceof Error ? cause.message : String(cause) }) })

  const toRow = (r: any): StoredModel => ({ id: r.id, format: r.format, taskId: r.task_id, createdAt: new Date(r.created_at).toISOString(), artifact: r.artifact })

  /** The stored model, or undefined when there is none of that id. */
  const get = (id: string): Effect.Effect<StoredModel | undefined, ModelStoreFailed> =>
    Effect.map(query("get", `select * from models where id = $1`, [id]), ([row]) => (row ? toRow(row) : undefined))

  const artifact = (id: string): Effect.Effect<Artifact, UnknownModel | Tampered | ModelStoreFailed> =>
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
     * `modelId`), a different content hash is refused (Tampered, as an artifact that does not decode).
     */
    put: (encoded: unknown, meta: { readonly taskId?: string; readonly expectedId?: string } = {}): Effect.Effect<string, Tampered | ModelStoreFailed> =>
      Effect.gen(function*() {
        const decoded = yield* decodeArtifact(encoded)
        const id = artifactId(decoded)
        if (meta.expectedId !== undefined && meta.expectedId !== id) {
          return yield* new Tampered({ message: `the artifact hashes to ${id}, not ${meta.expectedId}` })
        }
        const canonical = Schema.encodeSync(ModelArtifact)(decoded)
        yield* query("put", `insert into models(id, format, artifact, task_id) values ($1, $2, $3, $4) on conflict (id) do nothing`, [
          id,
          decoded.format,
          JSON.stringify(canonical),
          meta.taskId ?? null
        ])
        return id
      }),
    get,
    /** The decoded artifact (cached): its feature columns for the API's metadata view. */
    artifact,
    list: (): Effect.Effect<Array<Omit<StoredModel, "artifact">>, ModelStoreFailed> =>
      Effect.map(query("list", `select id, format, task_id, created_at from models order by created_at desc limit 200`), (rows) =>
        rows.map((r: any) => ({
          id: r.id,
          format: r.format,
          taskId: r.task_id,
          createdAt: new Date(r.created_at).toISOString()
        }))),

    /** Predicts rows given as feature-name → value objects or as arrays in the model's feature order. */
    predict: (id: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>): Effect.Effect<Array<Prediction>, UnknownModel | InvalidRows | Tampered | ModelStoreFailed> =>
      Effect.gen(function*() {
        const model = yield* artifact(id)
        const matrix = yield* matrixOf(model, rows)
        if (model.format === "linear") return matrix.map((row) => ({ prediction: predictLinear(model, row) }))
        if (!options.runtime) return yield* new Tampered({ message: "this coordinator has no tfjs runtime for tfjs-layers models" })
        const runtime = yield* Effect.tryPromise({ try: options.runtime, catch: (cause) => new ModelStoreFailed({ operation: "load the tfjs runtime", detail: String(cause) }) })
        const outputs = yield* Effect.mapError(
          runtime.predict({ topology: model.topology, weights: bytesToFloat32(model.weights), features: Float32Array.from(matrix.flatMap((row) => scaleRow(row, model.scaling))), rows: matrix.length }),
          (error) => runtimeRefused(id, error)
        )
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
