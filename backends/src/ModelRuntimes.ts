/**
 * The `ModelRuntime` service of both compositions: tfjs on its WASM backend (TfjsRuntime.ts), imported on the
 * first call only, so a host that never trains or predicts never loads tfjs (≈1 s and its WASM instantiation).
 */
import { Effect, Layer } from "effect"
import { ModelRuntime, type ModelRuntimeApi, ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import type * as TfjsRuntime from "./TfjsRuntime.ts"

/** A runtime that loads the real one on its first call and forwards every call to it. */
export const lazy = (load: () => Promise<ModelRuntimeApi>): ModelRuntimeApi => {
  let runtime: Promise<ModelRuntimeApi> | undefined
  const get = Effect.tryPromise({
    try: () => {
      const loading = (runtime ??= load())
      // A load that failed (e.g. the WASM files were not found) is retried by the next call, not cached.
      loading.catch(() => {
        if (runtime === loading) runtime = undefined
      })
      return loading
    },
    catch: (error) => new ModelRuntimeError({ reason: "ComputeFailed", detail: `the model runtime did not load: ${error instanceof Error ? error.message : String(error)}` })
  })
  return {
    initialize: (topology, seed) => Effect.flatMap(get, (r) => r.initialize(topology, seed)),
    train: (input) => Effect.flatMap(get, (r) => r.train(input)),
    evaluate: (input) => Effect.flatMap(get, (r) => r.evaluate(input)),
    predict: (input) => Effect.flatMap(get, (r) => r.predict(input))
  }
}

/** A fresh tfjs runtime per build of the layer (its own model cache and call queue). */
export const tfjs = (options: TfjsRuntime.Options): Layer.Layer<ModelRuntime> =>
  Layer.sync(ModelRuntime, () => lazy(() => import("./TfjsRuntime.ts").then((m) => m.make(options))))
