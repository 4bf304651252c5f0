/**
 * Both compositions held to every family's conformance suite (core/src/testing/kernel-conformance.ts), the
 * Node one checked to actually run its fast paths, and the two held to each other family by family on the same
 * inputs (`compositionAgreement`): the same bytes where the maths is deterministic, keys, ciphertexts and
 * signatures of one read by the other where it is not. The Node composition with every portable choice is held
 * to the default one too: the swaps benchmarks use as same-run baselines compute the same answers.
 */
import { existsSync } from "node:fs"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { backendConformance, compositionAgreement } from "@jointly/core/internal/testing/kernel-conformance"
import { defaultWasmUrl } from "@jointly/wasm"
import * as Backends from "./Backends.ts"
import * as NodeBackends from "./NodeBackends.ts"
import * as PortableBackends from "./PortableBackends.ts"
import { build as buildAddon } from "../native/build.mjs"
import * as NativeGroups from "./node/NativeGroups.ts"
import * as OpenSslKernels from "./node/OpenSslKernels.ts"
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
compositionAgreement("NodeBackends and PortableBackends agree", () => NodeBackends.layer(), () => Layer.unwrap(Effect.promise(portable)))
compositionAgreement("NodeBackends and its portable choices agree", () => NodeBackends.layer(), () => NodeBackends.layer(portableChoice))

/** Every family of the Node composition swapped for its portable implementation. */
const portableChoice: Backends.Choice = { bigint: "wasm", primes: "portable", prg: "noble", x25519: "noble", ed25519: "noble", groups: "wasm", aes: "webcrypto" }

const names = (layer: Layer.Layer<Backends.Services>) => Effect.runPromise(Effect.provide(Backends.describe, layer))

describe("the compositions", () => {
  it("Node runs OpenSSL for every family that has it, and the native groups that loaded", async () => {
    const native = NativeGroups.load()
    const chosen = await names(NodeBackends.layer())
    // The native BN kernels where the addon has them, else OpenSSL through Diffie–Hellman contexts.
    const bigint = OpenSslKernels.nativeProblem() === undefined ? "node-openssl" : "node-openssl-dh"
    expect(chosen).toMatchObject({ bigint, primes: "node-openssl", prg: "node-openssl", x25519: "node-openssl", ed25519: "node-openssl", aes: "node-openssl" })
    expect(chosen.x25519Group).toBe(native.kernels.x25519?.name ?? "libsodium WASM")
    expect(chosen.ristretto255Group).toBe(native.kernels.ristretto255?.name ?? "libsodium WASM")
  })

  it("Node's big integers keep fixed-base tables and CRT pairs in native code where the addon built", async () => {
    const made = OpenSslKernels.make()
    if (existsSync(NativeGroups.addonPath)) expect(OpenSslKernels.nativeProblem()).toBeUndefined()
    expect(made.fixedBase !== undefined && made.modPowPair !== undefined).toBe(OpenSslKernels.nativeProblem() === undefined)
    expect(OpenSslKernels.makeDh().fixedBase).toBeUndefined()
  })

  it("a Node choice swaps a family for its portable implementation, and nothing else", async () => {
    const chosen = await names(NodeBackends.layer({ bigint: "wasm", groups: "wasm", prg: "noble", aes: "webcrypto" }))
    expect(chosen).toMatchObject({ bigint: "wasm", prg: "noble", x25519: "node-openssl", x25519Group: "libsodium WASM", ristretto255Group: "libsodium WASM", aes: "webcrypto" })
  })

  it("the portable composition runs WASM and JS only", async () => {
    expect(await names(await portable())).toEqual({
      bigint: "wasm",
      primes: "portable (wasm)",
      prg: "noble+webcrypto",
      x25519: "noble",
      ed25519: "noble",
      x25519Group: "libsodium WASM",
      ristretto255Group: "libsodium WASM",
      aes: "webcrypto"
    })
  })
})
