/**
 * The participant's model compute, named and typed here and implemented outside core (DESIGN.md §6, STYLE.md
 * "kernels named in core"): `backends/src/TfjsRuntime.ts` runs it with tfjs on the WASM backend,
 * and a participant with a worker pool forwards it there (`modeling/Compute.ts` poolRuntime, `fl.*` jobs in
 * `modeling/FlJobs.ts`). Bad input (a weight vector or matrix of the wrong size, a NaN or infinite value)
 * fails with ModelRuntimeError("ShapeMismatch") in either. Protocols only see flat float32 weight vectors (in `Topology.summarize(...).weightShapes` order) and a
 * feature matrix, so an implementation may live on this thread, in a worker of the pool, or in a browser.
 *
 * `LocalMatrix.key` identifies a matrix for the life of a task: an implementation that runs in another thread
 * may transfer the matrix once and cache it by key instead of copying it every round.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"

export const Optimizer = Schema.Literals(["sgd", "adam", "rmsprop"])
export type Optimizer = typeof Optimizer.Type
export const Loss = Schema.Literals(["categoricalCrossentropy", "binaryCrossentropy", "meanSquaredError"])
export type Loss = typeof Loss.Type

export interface LocalMatrix {
  readonly key: string
  readonly rows: number
  readonly width: number
  /** Row-major rows × width, already scaled. */
  readonly features: Float32Array
  /** Class index per row (categorical), 0/1 (binary) or the target (regression). */
  readonly labels: Float32Array
}

export interface TrainingConfig {
  readonly optimizer: Optimizer
  readonly learningRate: number
  readonly epochs: number
  readonly batchSize: number
  readonly loss: Loss
  /** FedProx proximal weight μ: adds μ/2·‖w − w_global‖² to the local loss (0 = FedAvg). */
  readonly proximalMu: number
  /** Seeds the shuffling of batches. */
  readonly seed: number
}

export interface Evaluation {
  /** Sum over rows of the per-row loss (divide by `samples` for the mean). */
  readonly lossSum: number
  /** Rows predicted right (classification; 0 for regression). */
  readonly correct: number
  readonly samples: number
}

export class ModelRuntimeError extends Schema.TaggedError<ModelRuntimeError>()("ModelRuntimeError", {
  reason: Schema.Literals(["InvalidModel", "ShapeMismatch", "ComputeFailed"]),
  detail: Schema.String
}) {
  override get message() {
    return `model runtime: ${this.reason}: ${this.detail}`
  }
}

export interface ModelRuntimeApi {
  /** Initial weights of the topology, deterministic for a seed. */
  readonly initialize: (topology: Record<string, unknown>, seed: number) => Effect.Effect<Float32Array, ModelRuntimeError>
  /** Local training from `weights`; returns the new weights. */
  readonly train: (input: {
    readonly topology: Record<string, unknown>
    readonly weights: Float32Array
    readonly config: TrainingConfig
    readonly data: LocalMatrix
  }) => Effect.Effect<Float32Array, ModelRuntimeError>
  readonly evaluate: (input: {
    readonly topology: Record<string, unknown>
    readonly weights: Float32Array
    readonly loss: Loss
    readonly data: LocalMatrix
  }) => Effect.Effect<Evaluation, ModelRuntimeError>
  /** Model outputs, rows × output units, row-major. */
  readonly predict: (input: {
    readonly topology: Record<string, unknown>
    readonly weights: Float32Array
    readonly features: Float32Array
    readonly rows: number
  }) => Effect.Effect<Float32Array, ModelRuntimeError>
}

export class ModelRuntime extends Context.Service<ModelRuntime, ModelRuntimeApi>()("jointly/ModelRuntime") {}
