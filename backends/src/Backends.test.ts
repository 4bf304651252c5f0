/**
 * Both compositions held to every family's conformance suite (core/src/testing/kernel-conformance.ts), the
 * Node one checked to actually run its fast paths, and the two checked to interoperate where their outputs are
 * random (CKKS) or come from the same engine (tfjs).
 */
import { existsSync } from "node:fs"
import { Context, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Ckks } from "@jointly/core/protocols/encrypted-linear/Ckks.ts"
import { ModelRuntime } from "@jointly/core/protocols/federated-learning/ModelRuntime.ts"
import { backendConformance, conformanceMatrix, conformanceTopology } from "@jointly/core/testing/kernel-conformance.ts"
import { defaultWasmUrl } from "@jointly/wasm"
import * as Backends from "./Backends.ts"
import * as NodeBackends from "./NodeBackends.ts"
import * as PortableBackends from "./PortableBackends.ts"
import { build as buildAddon } from "./native/build.mjs"
import * as NativeGroups from "./node/NativeGroups.ts"
import * as NodeFiles from "./node/NodeFiles.ts"

// Built here when `npm run build` has not run; a machine without a C compiler, libsodium or OpenSSL keeps WASM groups.
if (!existsSync(NativeGroups.addonPath)) {
  try {
    buildAddon()
  } catch {
    // NativeGroups.load() reports why below
  }
}

const portable = async () =>
  PortableBackends.layer({ bigintWasm: await NodeFiles.readWasmFile(defaultWasmUrl()), tfjsWasmPaths: NodeFiles.tfjsWasmDir() })

backendConformance("NodeBackends", () => NodeBackends.layer())
backendConformance("PortableBackends", () => Layer.unwrap(Effect.promise(portable)))

const names = (layer: Layer.Layer<Backends.Services>) => Effect.runPromise(Effect.provide(Backends.describe, layer))

describe("the compositions", () => {
  it("Node runs OpenSSL for every family that has it, and the native groups that loaded", async () => {
    const native = NativeGroups.load()
    const chosen = await names(NodeBackends.layer())
    expect(chosen).toMatchObject({ bigint: "node-openssl", primes: "node-openssl", prg: "node-openssl", x25519: "node-openssl", ed25519: "node-openssl", aes: "node-openssl" })
    expect(chosen.x25519Group).toBe(native.kernels.x25519?.name ?? "libsodium WASM")
    expect(chosen.ristretto255Group).toBe(native.kernels.ristretto255?.name ?? "libsodium WASM")
  })

  it("a Node choice swaps a family for its portable implementation, and nothing else", async () => {
    const chosen = await names(NodeBackends.layer({ bigint: "wasm", groups: "wasm", prg: "noble", aes: "webcrypto" }))
    expect(chosen).toMatchObject({ bigint: "wasm", prg: "noble", x25519: "node-openssl", x25519Group: "libsodium WASM", ristretto255Group: "libsodium WASM", aes: "webcrypto" })
  })

  it("the portable composition runs WASM and JS only", async () => {
    expect(await names(await portable())).toEqual({
      bigint: "wasm",
      primes: "portable (wasm)",
      prg: "noble",
      x25519: "noble",
      ed25519: "noble",
      x25519Group: "libsodium WASM",
      ristretto255Group: "libsodium WASM",
      aes: "webcrypto"
    })
  })

  it("CKKS ciphertexts cross between the Node and the portable builds of SEAL", async () => {
    const [node, web] = await Promise.all([Backends.build(NodeBackends.layer()), Backends.build(await portable())])
    try {
      const a = Context.get(node.context, Ckks)
      const b = Context.get(web.context, Ckks)
      const run = Effect.runPromise
      const keys = await run(a.generateKeys())
      const x = [1.5, -2, 3.25]
      const y = [0.5, 4, -1]
      // Encrypted on each side, added on the portable one, decrypted on the Node one.
      const sum = await run(b.addCiphertexts(keys.parameters, [await run(a.encryptVector(keys, x)), await run(b.encryptVector(keys, y))]))
      const decrypted = await run(a.decryptVector(keys, sum, 3))
      decrypted.forEach((v, i) => expect(v).toBeCloseTo(x[i]! + y[i]!, 6))
    } finally {
      await Promise.all([node.close(), web.close()])
    }
  })

  it("both model runtimes initialize, train and predict to the same bytes", async () => {
    const [node, web] = await Promise.all([Backends.build(NodeBackends.layer()), Backends.build(await portable())])
    try {
      const data = conformanceMatrix(64)
      const config = { optimizer: "sgd", learningRate: 0.1, epochs: 3, batchSize: 16, loss: "categoricalCrossentropy", proximalMu: 0, seed: 3 } as const
      const outputs = await Promise.all([node, web].map(({ context }) => Effect.runPromise(Effect.gen(function*() {
        const runtime = Context.get(context, ModelRuntime)
        const weights = yield* runtime.initialize(conformanceTopology, 11)
        const trained = yield* runtime.train({ topology: conformanceTopology, weights, config, data })
        return [weights, trained, yield* runtime.predict({ topology: conformanceTopology, weights: trained, features: data.features, rows: data.rows })]
      }))))
      expect(outputs[1]).toEqual(outputs[0])
    } finally {
      await Promise.all([node.close(), web.close()])
    }
  })
})
