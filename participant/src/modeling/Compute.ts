/**
 * The compute services a participant's protocols use besides its data: the tfjs model runtime and the sink
 * for batch predictions. Built once per runner (inline or in the protocol worker thread). tfjs loads on first
 * use only, so tasks that train nothing never pay for it.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { PredictionSink, PredictionSinkError } from "@jointly/core/protocols/batch-prediction/spec.ts"
import type { ModelRuntimeApi } from "@jointly/core/protocols/federated-learning/ModelRuntime.ts"
import { ModelRuntime } from "@jointly/core/protocols/federated-learning/ModelRuntime.ts"

/** Lazily imports the tfjs runtime on the first call. */
const lazyRuntime = (): ModelRuntimeApi => {
  let runtime: Promise<ModelRuntimeApi> | undefined
  const get = () => (runtime ??= import("./TfjsRuntime.ts").then((m) => m.make()))
  const call = <K extends keyof ModelRuntimeApi>(key: K) =>
    ((input: any, seed?: any) => Effect.flatMap(Effect.promise(get), (r) => (r[key] as any)(input, seed))) as ModelRuntimeApi[K]
  return { initialize: call("initialize"), train: call("train"), evaluate: call("evaluate"), predict: call("predict") }
}

/**
 * Predictions go to `<data dir>/predictions/<taskId>.csv`. The data dir comes from JOINTLY_DATA_DIR, which
 * `jointly participant` sets from its config (the environment reaches the protocol worker thread too).
 */
export const fileSink = (dataDir: string | undefined = process.env.JOINTLY_DATA_DIR) => ({
  write: (taskId: string, bytes: Uint8Array) =>
    Effect.tryPromise({
      try: async () => {
        if (!dataDir) throw new Error("no data directory is configured (JOINTLY_DATA_DIR)")
        const dir = join(dataDir, "predictions")
        await mkdir(dir, { recursive: true })
        await writeFile(join(dir, `${taskId}.csv`), bytes)
      },
      catch: (error) => new PredictionSinkError({ detail: error instanceof Error ? error.message : String(error) })
    })
})

export const layer = (options: { readonly dataDir?: string } = {}) =>
  Layer.mergeAll(Layer.succeed(ModelRuntime, lazyRuntime()), Layer.succeed(PredictionSink, fileSink(options.dataDir)))
