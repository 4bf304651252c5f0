/**
 * Reads a declarative tfjs/Keras `Sequential` topology (the JSON of `model.toJSON(null, false)`) without
 * tfjs: which layer types it uses, its input width and output units, and the shape of every weight in the
 * order `model.getWeights()` returns them. Consent policies judge a model by these facts, and the coordinator
 * checks every update against the shapes. Only layers whose weights follow from the config are accepted;
 * anything else (custom layers, Lambda, functional graphs) is refused with the reason, never executed.
 */
import { Schema } from "effect"

export const supportedLayers = ["InputLayer", "Dense", "Dropout", "Activation", "Flatten", "BatchNormalization"] as const

export interface Summary {
  readonly layerTypes: ReadonlyArray<string>
  readonly inputWidth: number
  readonly outputUnits: number
  /** Activation of the last layer that has one (decides the loss and how predictions are read). */
  readonly outputActivation: string
  readonly weightShapes: ReadonlyArray<ReadonlyArray<number>>
  readonly parameters: number
}

export class InvalidTopology extends Schema.TaggedError<InvalidTopology>()("InvalidTopology", {
  detail: Schema.String
}) {
  override get message() {
    return `model topology: ${this.detail}`
  }
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

const width = (shape: unknown, where: string): number => {
  if (!Array.isArray(shape) || shape.length < 2) throw new InvalidTopology({ detail: `${where}: batch_input_shape must be [null, …dims]` })
  const dims = shape.slice(1)
  if (!dims.every((d) => Number.isInteger(d) && (d as number) > 0)) throw new InvalidTopology({ detail: `${where}: input dims must be positive integers` })
  return (dims as Array<number>).reduce((p, d) => p * d, 1)
}

/** @throws InvalidTopology naming the first unsupported or inconsistent layer. */
export const summarize = (topology: unknown): Summary => {
  const root = isObject(topology) && isObject(topology.modelTopology) ? topology.modelTopology : topology
  if (!isObject(root) || root.class_name !== "Sequential" || !isObject(root.config)) {
    throw new InvalidTopology({ detail: "expected a Sequential model (class_name \"Sequential\")" })
  }
  const layers = root.config.layers
  if (!Array.isArray(layers) || layers.length === 0) throw new InvalidTopology({ detail: "config.layers must be a non-empty array" })
  const layerTypes: Array<string> = []
  const weightShapes: Array<Array<number>> = []
  let current: number | undefined
  let outputActivation = "linear"
  layers.forEach((layer, index) => {
    const where = `layer ${index}`
    if (!isObject(layer) || typeof layer.class_name !== "string" || !isObject(layer.config)) {
      throw new InvalidTopology({ detail: `${where}: expected { class_name, config }` })
    }
    const type = layer.class_name
    const config = layer.config
    if (!(supportedLayers as ReadonlyArray<string>).includes(type)) {
      throw new InvalidTopology({ detail: `${where}: layer type ${type} is not supported (supported: ${supportedLayers.join(", ")})` })
    }
    layerTypes.push(type)
    if (config.batch_input_shape !== undefined) current = width(config.batch_input_shape, where)
    else if (current === undefined) throw new InvalidTopology({ detail: `${where}: the first layer must declare batch_input_shape` })
    const input = current!
    switch (type) {
      case "Dense": {
        const units = config.units
        if (!Number.isInteger(units) || (units as number) < 1) throw new InvalidTopology({ detail: `${where}: units must be a positive integer` })
        weightShapes.push([input, units as number])
        if (config.use_bias !== false) weightShapes.push([units as number])
        current = units as number
        if (typeof config.activation === "string") outputActivation = config.activation
        break
      }
      case "BatchNormalization": {
        if (config.scale !== false) weightShapes.push([input])
        if (config.center !== false) weightShapes.push([input])
        weightShapes.push([input], [input])
        break
      }
      case "Activation":
        if (typeof config.activation === "string") outputActivation = config.activation
        break
      default:
        break
    }
  })
  const parameters = weightShapes.reduce((s, shape) => s + shape.reduce((p, d) => p * d, 1), 0)
  return { layerTypes, inputWidth: layers.length > 0 ? inputWidthOf(layers[0] as Json) : 0, outputUnits: current!, outputActivation, weightShapes, parameters }
}

const inputWidthOf = (first: Json) => width((first.config as Json).batch_input_shape, "layer 0")

/**
 * A copy of the topology with every initializer seeded (seed + layer index), so the initial weights are
 * the same wherever the model is built: the participant that initializes, a test's central baseline.
 */
export const withSeed = (topology: Json, seed: number): Json => {
  let counter = 0
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit)
    if (!isObject(value)) return value
    const out: Json = {}
    for (const [key, field] of Object.entries(value)) out[key] = visit(field)
    if (typeof value.class_name === "string" && /initializer|Uniform|Normal|VarianceScaling|Orthogonal/i.test(value.class_name) && isObject(value.config) && "seed" in value.config) {
      out.config = { ...(out.config as Json), seed: seed + counter++ }
    }
    return out
  }
  return visit(topology) as Json
}
