import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { InvalidParams, Params } from "./spec.ts"
import { resolve } from "./Updates.ts"

const base = {
  model: {
    class_name: "Sequential",
    config: { name: "m", layers: [{ class_name: "Dense", config: { units: 2, activation: "softmax", batch_input_shape: [null, 3] } }] }
  },
  featureColumns: ["a", "b", "c"],
  labelColumn: "y",
  optimizer: "sgd",
  learningRate: 0.1,
  localEpochs: 1,
  batchSize: 8,
  rounds: 1
}

describe("federated-learning params.secagg", () => {
  it("decodes neighbours and keeps them for secure aggregation, refuses them with another aggregation", () => {
    const secure = Schema.decodeUnknownSync(Params)({ ...base, secagg: { neighbours: 8 } })
    const resolved = resolve(secure, 20)
    expect(resolved).not.toBeInstanceOf(InvalidParams)
    expect((resolved as Exclude<typeof resolved, InvalidParams>).params.secagg).toEqual({ neighbours: 8 })
    const plain = resolve(Schema.decodeUnknownSync(Params)({ ...base, aggregation: "plain", secagg: { neighbours: 8 } }), 20)
    expect(plain).toBeInstanceOf(InvalidParams)
    expect((plain as InvalidParams).field).toBe("secagg")
    expect(() => Schema.decodeUnknownSync(Params)({ ...base, secagg: { neighbours: 0 } })).toThrow()
  })

  it("decodes the masks' PRG, either known name, and refuses an unknown one at the edge", () => {
    for (const prg of ["aes128-ctr", "chacha20"] as const) {
      const resolved = resolve(Schema.decodeUnknownSync(Params)({ ...base, secagg: { prg } }), 20)
      expect((resolved as Exclude<typeof resolved, InvalidParams>).params.secagg).toEqual({ prg })
    }
    expect(() => Schema.decodeUnknownSync(Params)({ ...base, secagg: { prg: "aes-128-ctr" } })).toThrow(/prg/)
  })
})
