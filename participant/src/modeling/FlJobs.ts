/**
 * Federated-learning training as worker-pool jobs (`fl.initialize`, `fl.train`, `fl.evaluate`, `fl.predict`),
 * registered in participant/src/worker/jobs.ts, and the wire format both sides of the pool use. Only the
 * training math runs here: the protocol thread keeps differential-privacy clipping and noise and every
 * secure-aggregation secret (PROTOCOLS.md §5, DESIGN.md §6); a seat sees the global weights and the
 * participant's own local matrix, nothing else.
 *
 * Seats are stateless to the pool (one FIFO queue, no affinity), so each seat's table (`make`, built once per
 * worker from its backends) keeps:
 * - the worker's model runtime (its backends' `ModelRuntime`, which imports tfjs on the first FL job so pool
 *   threads that never train skip tfjs and its WASM initialisation; built models are cached by topology);
 * - the local matrices it has been sent, by `LocalMatrix.key` (the caller adds a content hash), bounded by
 *   bytes. A job names its matrix by key; a seat that does not hold it answers `missing` and the caller
 *   resends it with the data, so the matrix crosses the thread boundary once per seat, not once per round.
 *
 * Browser-safe: JobCodec and Effect only.
 */
import { Effect } from "effect"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import type { LocalMatrix, Loss, ModelRuntimeApi, TrainingConfig } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"

type Job = (input: Uint8Array) => Promise<Uint8Array>

export const Jobs = { initialize: "fl.initialize", train: "fl.train", evaluate: "fl.evaluate", predict: "fl.predict" } as const

/** A matrix as a job names it: always key and size, the data only when the caller sends it. */
export interface MatrixRef {
  readonly key: string
  readonly rows: number
  readonly width: number
  readonly features?: Uint8Array
  readonly labels?: Uint8Array
}

/** A job's answer: the value, a typed runtime error, or a request for the matrix the seat does not hold. */
export type Reply = { readonly ok: JobCodec.JobValue } | { readonly error: { readonly reason: string; readonly detail: string } } | { readonly missing: string }

const bad = (detail: string) => new ModelRuntimeError({ reason: "ShapeMismatch", detail: `job input: ${detail}` })

/** The bytes of a float32 array (a view, copied by the encoder). */
export const float32Bytes = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, values.byteLength)

/** A float32 array from decoded bytes, copied so it is aligned and owns its buffer. */
export const bytesFloat32 = (what: string, bytes: unknown): Float32Array => {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength % 4 !== 0) throw bad(`${what} is not float32 bytes`)
  return new Float32Array(bytes.slice().buffer)
}

const record = (what: string, u: unknown): Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u) || u instanceof Uint8Array) throw bad(`${what} is not an object`)
  return u as Record<string, unknown>
}

const num = (what: string, u: unknown): number => {
  if (typeof u !== "number") throw bad(`${what} is not a number`)
  return u
}

const str = (what: string, u: unknown): string => {
  if (typeof u !== "string") throw bad(`${what} is not a string`)
  return u
}

const topologyOf = (u: unknown): Record<string, unknown> => {
  try {
    return record("topology", JSON.parse(str("topology", u)))
  } catch (error) {
    throw error instanceof ModelRuntimeError ? error : new ModelRuntimeError({ reason: "InvalidModel", detail: `topology is not JSON: ${String(error)}` })
  }
}

const oneOf = <A extends string>(what: string, allowed: ReadonlyArray<A>, u: unknown): A => {
  if (!allowed.includes(u as A)) throw bad(`${what} is ${JSON.stringify(u)}, not one of ${allowed.join(", ")}`)
  return u as A
}

const losses: ReadonlyArray<Loss> = ["categoricalCrossentropy", "binaryCrossentropy", "meanSquaredError"]

const trainingConfig = (u: unknown): TrainingConfig => {
  const c = record("config", u)
  return {
    optimizer: oneOf<TrainingConfig["optimizer"]>("config.optimizer", ["sgd", "adam", "rmsprop"], c.optimizer),
    learningRate: num("config.learningRate", c.learningRate),
    epochs: num("config.epochs", c.epochs),
    batchSize: num("config.batchSize", c.batchSize),
    loss: oneOf("config.loss", losses, c.loss),
    proximalMu: num("config.proximalMu", c.proximalMu),
    seed: num("config.seed", c.seed)
  }
}

/** Matrices cached on a seat, oldest first; bounded so a seat serving many tasks does not grow without end. */
const MAX_CACHED_BYTES = 256 * 2 ** 20

const sizeOf = (m: LocalMatrix) => m.features.byteLength + m.labels.byteLength

/** The `fl.*` jobs of one seat over its model runtime, with the seat's matrix cache. */
export const make = (runtime: ModelRuntimeApi): Readonly<Record<string, Job>> => {
  const matrices = new Map<string, LocalMatrix>()
  let cachedBytes = 0

  const remember = (matrix: LocalMatrix) => {
    const old = matrices.get(matrix.key)
    if (old !== undefined) {
      matrices.delete(matrix.key)
      cachedBytes -= sizeOf(old)
    }
    for (const [key, m] of matrices) {
      if (cachedBytes + sizeOf(matrix) <= MAX_CACHED_BYTES) break
      matrices.delete(key)
      cachedBytes -= sizeOf(m)
    }
    matrices.set(matrix.key, matrix)
    cachedBytes += sizeOf(matrix)
  }

  /** The matrix a job names, from its input or this seat's cache; undefined when the seat must ask for it. */
  const matrixOf = (u: unknown): LocalMatrix | undefined => {
    const ref = record("data", u)
    const key = str("data.key", ref.key)
    const rows = num("data.rows", ref.rows)
    const width = num("data.width", ref.width)
    if (ref.features === undefined) {
      const cached = matrices.get(key)
      if (cached === undefined) return undefined
      if (cached.rows !== rows || cached.width !== width) throw bad(`matrix ${key} is ${cached.rows} × ${cached.width} on this seat, ${rows} × ${width} in the job`)
      matrices.delete(key)
      matrices.set(key, cached)
      return cached
    }
    // The runtime checks sizes and finiteness before caching can matter: a bad matrix fails every job that uses it.
    const matrix: LocalMatrix = { key, rows, width, features: bytesFloat32("data.features", ref.features), labels: bytesFloat32("data.labels", ref.labels) }
    remember(matrix)
    return matrix
  }

  /**
   * Runs one job body and encodes its reply. A ModelRuntimeError (bad input included) travels as a value so
   * the caller gets the same typed error as from the in-thread runtime; anything else is a defect of the job.
   */
  const job = (body: (input: Record<string, unknown>, runtime: ModelRuntimeApi) => Effect.Effect<JobCodec.JobValue, ModelRuntimeError> | "missing"): Job =>
    async (bytes) => {
      let reply: Reply
      try {
        const input = record("input", JobCodec.decode(bytes))
        const outcome = body(input, runtime)
        reply = outcome === "missing"
          ? { missing: str("data.key", record("data", input.data).key) }
          : await Effect.runPromise(Effect.match(outcome, { onFailure: (e) => ({ error: { reason: e.reason, detail: e.detail } }), onSuccess: (ok) => ({ ok }) }))
      } catch (error) {
        if (!(error instanceof ModelRuntimeError)) throw error
        reply = { error: { reason: error.reason, detail: error.detail } }
      }
      return JobCodec.encode(reply as JobCodec.JobValue)
    }

  return {
    [Jobs.initialize]: job((input, runtime) =>
      Effect.map(runtime.initialize(topologyOf(input.topology), num("seed", input.seed)), float32Bytes)),

    [Jobs.train]: job((input, runtime) => {
      const data = matrixOf(input.data)
      if (data === undefined) return "missing"
      return Effect.map(
        runtime.train({ topology: topologyOf(input.topology), weights: bytesFloat32("weights", input.weights), config: trainingConfig(input.config), data }),
        float32Bytes
      )
    }),

    [Jobs.evaluate]: job((input, runtime) => {
      const data = matrixOf(input.data)
      if (data === undefined) return "missing"
      return Effect.map(
        runtime.evaluate({ topology: topologyOf(input.topology), weights: bytesFloat32("weights", input.weights), loss: oneOf("loss", losses, input.loss), data }),
        (e) => ({ lossSum: e.lossSum, correct: e.correct, samples: e.samples })
      )
    }),

    [Jobs.predict]: job((input, runtime) =>
      Effect.map(
        runtime.predict({ topology: topologyOf(input.topology), weights: bytesFloat32("weights", input.weights), features: bytesFloat32("features", input.features), rows: num("rows", input.rows) }),
        float32Bytes
      ))
  }
}
