/**
 * `ModelRuntime` (core/src/protocols/federated-learning/ModelRuntime.ts) on tfjs with the WASM backend
 * (DESIGN.md §6: 2–4× the pure-JS backend here; tfjs-node cannot install). Browser-safe: where the WASM
 * binaries are is the caller's to say (`wasmPaths`): the Node backends point at the installed package's dist
 * folder so nothing is downloaded, a browser embedder at its bundler's asset URL (PortableBackends.ts).
 *
 * Each runtime instance keeps one built model per topology and runs its calls one at a time (tfjs models are
 * stateful), so give each participant its own instance. tfjs itself is one engine per thread: the first runtime
 * to run selects its WASM backend there (`setWasmPaths` only counts before that). Training is a plain minibatch
 * loop over `optimizer.minimize` rather than `model.fit`, so FedProx can add μ/2‖w − w_global‖² to the loss and
 * batch order is seeded.
 */
import * as tf from "@tensorflow/tfjs"
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm"
import { Effect } from "effect"
import type { Evaluation, LocalMatrix, Loss, ModelRuntimeApi, TrainingConfig } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Topology from "@jointly/core/internal/protocols/federated-learning/Topology"
import { prng } from "@jointly/core/internal/protocols/federated-learning/Updates"

export interface Options {
  /** A URL or path prefix where tfjs-backend-wasm's `.wasm` files are (tfjs' own default when absent). */
  readonly wasmPaths?: string
}

/** Selects tfjs' WASM backend on this thread if no runtime has yet. */
const selectBackend = async (options: Options): Promise<void> => {
  if (tf.getBackend() !== "wasm") {
    if (options.wasmPaths !== undefined) setWasmPaths(options.wasmPaths)
    if (!(await tf.setBackend("wasm"))) throw new Error("the tfjs WASM backend did not initialise")
  }
  await tf.ready()
}

type Json = Record<string, unknown>

const rowLoss = (loss: Loss, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor => {
  switch (loss) {
    case "categoricalCrossentropy": return tf.metrics.categoricalCrossentropy(yTrue, yPred)
    case "binaryCrossentropy": return tf.metrics.binaryCrossentropy(yTrue, yPred)
    case "meanSquaredError": return tf.metrics.meanSquaredError(yTrue, yPred)
  }
}

const targets = (loss: Loss, data: LocalMatrix, units: number): tf.Tensor =>
  loss === "categoricalCrossentropy"
    ? tf.oneHot(tf.tensor1d(Int32Array.from(data.labels), "int32"), units).toFloat()
    : tf.tensor2d(data.labels, [data.rows, 1])

const optimizerOf = (config: TrainingConfig): tf.Optimizer => {
  switch (config.optimizer) {
    case "sgd": return tf.train.sgd(config.learningRate)
    case "adam": return tf.train.adam(config.learningRate)
    case "rmsprop": return tf.train.rmsprop(config.learningRate)
  }
}

const shapeMismatch = (detail: string) => new ModelRuntimeError({ reason: "ShapeMismatch", detail })

/** A NaN or infinite input trains silently into NaN weights: reject it here, naming the first bad entry. */
const checkFinite = (what: string, values: Float32Array) => {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw shapeMismatch(`${what}[${i}] is ${values[i]}`)
  }
}

const checkMatrix = (data: LocalMatrix) => {
  if (!Number.isInteger(data.rows) || data.rows < 0 || !Number.isInteger(data.width) || data.width < 1) {
    throw shapeMismatch(`a matrix of ${data.rows} × ${data.width}`)
  }
  if (data.features.length !== data.rows * data.width) throw shapeMismatch(`${data.features.length} features for ${data.rows} × ${data.width}`)
  if (data.labels.length !== data.rows) throw shapeMismatch(`${data.labels.length} labels for ${data.rows} rows`)
  checkFinite("features", data.features)
  checkFinite("labels", data.labels)
}

/** Built models kept per runtime; a long-lived pool seat sees many tasks, so the oldest is disposed past this. */
const MAX_MODELS = 8

/** A fresh runtime (own model cache and call queue); tfjs' backend is selected on its first call. */
export const make = (options: Options = {}): ModelRuntimeApi => {
  const models = new Map<string, { model: tf.LayersModel; shapes: ReadonlyArray<ReadonlyArray<number>> }>()
  let backend: Promise<void> | undefined
  let queue: Promise<unknown> = Promise.resolve()

  const serial = <A>(reason: ModelRuntimeError["reason"], body: () => Promise<A>): Effect.Effect<A, ModelRuntimeError> =>
    Effect.tryPromise({
      try: () => {
        const next = queue.then(async () => {
          await (backend ??= selectBackend(options))
          return body()
        })
        queue = next.catch(() => {})
        return next
      },
      catch: (error) => error instanceof ModelRuntimeError ? error : new ModelRuntimeError({ reason, detail: error instanceof Error ? error.message : String(error) })
    })

  const modelOf = async (topology: Json, seed?: number) => {
    const key = JSON.stringify(topology) + (seed === undefined ? "" : `#${seed}`)
    const cached = models.get(key)
    if (cached) {
      models.delete(key)
      models.set(key, cached)
      return cached
    }
    let shapes: ReadonlyArray<ReadonlyArray<number>>
    try {
      shapes = Topology.summarize(topology).weightShapes
    } catch (error) {
      throw new ModelRuntimeError({ reason: "InvalidModel", detail: String((error as Error).message) })
    }
    const source = seed === undefined ? topology : Topology.withSeed(topology, seed)
    const model = await tf.models.modelFromJSON({ modelTopology: source } as never)
    const actual = model.weights.map((w) => w.shape)
    if (actual.length !== shapes.length || actual.some((s, i) => s.length !== shapes[i]!.length || s.some((d, j) => d !== shapes[i]![j]))) {
      model.dispose()
      throw new ModelRuntimeError({ reason: "ShapeMismatch", detail: `tfjs built weights ${JSON.stringify(actual)}, the topology reader expects ${JSON.stringify(shapes)}` })
    }
    const entry = { model, shapes }
    if (seed === undefined) {
      for (const [old, { model: stale }] of models) {
        if (models.size < MAX_MODELS) break
        models.delete(old)
        stale.dispose()
      }
      models.set(key, entry)
    }
    return entry
  }

  const setFlat = (entry: { model: tf.LayersModel; shapes: ReadonlyArray<ReadonlyArray<number>> }, flat: Float32Array) => {
    const expected = entry.shapes.reduce((sum, shape) => sum + shape.reduce((p, d) => p * d, 1), 0)
    if (flat.length !== expected) throw shapeMismatch(`${flat.length} weights, the model has ${expected}`)
    checkFinite("weights", flat)
    let offset = 0
    const tensors = entry.shapes.map((shape) => {
      const size = shape.reduce((p, d) => p * d, 1)
      const t = tf.tensor(flat.subarray(offset, offset + size), [...shape])
      offset += size
      return t
    })
    entry.model.setWeights(tensors)
    return tensors
  }

  const getFlat = (model: tf.LayersModel): Float32Array => {
    const parts = model.getWeights().map((w) => w.dataSync() as Float32Array)
    const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0))
    let offset = 0
    for (const p of parts) {
      out.set(p, offset)
      offset += p.length
    }
    return out
  }

  return {
    initialize: (topology, seed) =>
      serial("InvalidModel", async () => {
        const entry = await modelOf(topology, seed)
        const flat = getFlat(entry.model)
        entry.model.dispose()
        return flat
      }),

    train: ({ topology, weights, config, data }) =>
      serial("ComputeFailed", async () => {
        checkMatrix(data)
        const entry = await modelOf(topology)
        const globals = setFlat(entry, weights)
        const units = entry.model.outputs[0]!.shape[1] as number
        const x = tf.tensor2d(data.features, [data.rows, data.width])
        const y = targets(config.loss, data, units)
        const optimizer = optimizerOf(config)
        const weightsList = entry.model.weights
        const vars = weightsList.filter((w) => w.trainable).map((w) => w.read() as tf.Variable)
        const random = prng(config.seed)
        try {
          for (let epoch = 0; epoch < config.epochs; epoch++) {
            const order = Int32Array.from({ length: data.rows }, (_, i) => i)
            for (let i = order.length - 1; i > 0; i--) {
              const j = Math.floor(random() * (i + 1))
              const t = order[i]!
              order[i] = order[j]!
              order[j] = t
            }
            for (let start = 0; start < data.rows; start += config.batchSize) {
              const batch = order.subarray(start, Math.min(start + config.batchSize, data.rows))
              tf.tidy(() => {
                const index = tf.tensor1d(batch, "int32")
                const xb = tf.gather(x, index)
                const yb = tf.gather(y, index)
                optimizer.minimize(() => {
                  const prediction = entry.model.apply(xb, { training: true }) as tf.Tensor
                  let loss = rowLoss(config.loss, yb, prediction).mean() as tf.Scalar
                  if (config.proximalMu > 0) {
                    // FedProx (Li et al. 2020): μ/2 · ‖w − w_global‖² over the trainable weights.
                    let prox = tf.scalar(0)
                    weightsList.forEach((w, k) => {
                      if (w.trainable) prox = prox.add(tf.sum(tf.square(tf.sub(w.read(), globals[k]!))))
                    })
                    loss = loss.add(prox.mul(config.proximalMu / 2)) as tf.Scalar
                  }
                  return loss
                }, false, vars)
              })
            }
          }
          return getFlat(entry.model)
        } finally {
          tf.dispose([x, y, ...globals])
          optimizer.dispose()
        }
      }),

    evaluate: ({ topology, weights, loss, data }) =>
      serial("ComputeFailed", async (): Promise<Evaluation> => {
        checkMatrix(data)
        const entry = await modelOf(topology)
        tf.dispose(setFlat(entry, weights))
        const units = entry.model.outputs[0]!.shape[1] as number
        return tf.tidy(() => {
          const x = tf.tensor2d(data.features, [data.rows, data.width])
          const y = targets(loss, data, units)
          const prediction = entry.model.predict(x) as tf.Tensor
          const lossSum = tf.sum(rowLoss(loss, y, prediction)).dataSync()[0]!
          let correct = 0
          if (loss === "categoricalCrossentropy") {
            correct = tf.sum(tf.equal(tf.argMax(prediction, 1), tf.argMax(y, 1)).toInt()).dataSync()[0]!
          } else if (loss === "binaryCrossentropy") {
            correct = tf.sum(tf.equal(tf.greaterEqual(prediction, 0.5).toFloat(), y).toInt()).dataSync()[0]!
          }
          return { lossSum, correct, samples: data.rows }
        })
      }),

    predict: ({ topology, weights, features, rows }) =>
      serial("ComputeFailed", async () => {
        const entry = await modelOf(topology)
        tf.dispose(setFlat(entry, weights))
        const width = entry.shapes[0]![0]!
        if (!Number.isInteger(rows) || rows < 0 || features.length !== rows * width) throw shapeMismatch(`${features.length} features for ${rows} × ${width}`)
        return tf.tidy(() => (entry.model.predict(tf.tensor2d(features, [rows, width])) as tf.Tensor).dataSync() as Float32Array).slice()
      })
  }
}
